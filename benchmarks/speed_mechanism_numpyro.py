"""Speed: time per training step of the NumPyro backend against the Pyro one.

Both sides run the same constrained training step on ``action_sparsity_non_trivial``
(d_z = d_a = 10, d_x = 20): one minibatch, the mean-field negative ELBO with the Lagrangian
term, Adam (a separate rate for the edge logits) and the dual update. The Pyro step is what
``fit_pyro`` runs per step (objective, backward, optimiser step, dual update); the NumPyro step is
one step of a jitted ``svi_jax.train_chunk`` of ``--chunk`` steps (time per chunk / chunk).
Compilation is timed apart. The two alternate in rounds to share machine noise; the median of
the rounds is reported, with the load average before and after (the machine may be shared).

    python benchmarks/speed_mechanism_numpyro.py [--rounds 3] [--official-steps 5] [--threads 1]

``--threads N`` gives both backends N threads (torch ``set_num_threads``; XLA through
``XLA_FLAGS``, set before JAX starts its CPU backend). On a shared machine one thread each
is the steadier comparison: two OpenMP threads on two busy cores lose most to contention.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import numpy as np
import numpyro
import pyro
import torch
from jax import random

from latentgraph.data import make_mechanism_dataset
from latentgraph.families.mechanism_sparsity import model_config_for
from latentgraph.families.mechanism_sparsity.config import NetworkSizes, demo_sizes
from latentgraph.families.mechanism_sparsity.numpyro_model import NumPyroMechanismSparsityVAE
from latentgraph.families.mechanism_sparsity.objective_numpyro import (
    MechanismSparsityObjective as NumPyroObjective,
)
from latentgraph.families.mechanism_sparsity.objective_pyro import MechanismSparsityObjective
from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE
from latentgraph.inference.lagrangian_torch import DualAscent, EdgeCountConstraint
from latentgraph.inference.schedules import LinearSchedule
from latentgraph.inference.svi_jax import RunHyper, SVISettings, init_state, train_chunk

try:
    from benchmarks._record import provenance, save_json, update_benchmarks_md
except ImportError:  # run as a script from benchmarks/
    from _record import provenance, save_json, update_benchmarks_md

DATASET = "action_sparsity_non_trivial"
BOUND, STEPS, LR, GRAPH_LR, DUAL_LR = 20.0, 300_000, 5e-4, 5e-4, 5e-4
CASES = {
    "official (6x512 enc/dec, 10 x 5x512 transitions, batch 1024)": (NetworkSizes(), 1024),
    "demo (3x128 enc/dec, 10 x 2x64 transitions, batch 256)": (demo_sizes(), 256),
}


def pyro_constrained_run(config, data, batch: int):
    """``run(n)``: n constrained Pyro training steps (what ``fit_pyro`` runs per step)."""
    torch.manual_seed(0)
    vae = MechanismSparsityVAE(config)
    constraint = EdgeCountConstraint(
        LinearSchedule(start=100.0, end=BOUND, duration=STEPS // 2), DualAscent(lr=DUAL_LR)
    )
    objective = MechanismSparsityObjective(
        vae, "constraint", constraints={"action_graph": constraint}
    )
    graph = list(vae.edge_logits.parameters())
    others = [p for n, p in vae.named_parameters() if not n.startswith("edge_logits")]
    opt = torch.optim.Adam([{"params": others}, {"params": graph, "lr": GRAPH_LR}], lr=LR)
    x = torch.as_tensor(data["x"])
    actions = torch.as_tensor(data["actions"])
    generator = torch.Generator().manual_seed(0)
    step = [0]

    def run(n: int) -> None:
        for _ in range(n):
            step[0] += 1
            index = torch.randint(len(x), (batch,), generator=generator)
            opt.zero_grad(set_to_none=True)
            loss, logs = objective.loss({"x": x[index], "actions": actions[index]}, step[0])
            loss.backward()
            opt.step()
            objective.after_step(step[0], logs)

    return run


def numpyro_chunk_run(config, data, batch: int, chunk: int):
    """``run(n_chunks)``: n_chunks jitted ``train_chunk`` calls of ``chunk`` steps each, waited for
    (the first call compiles)."""
    vae = NumPyroMechanismSparsityVAE(config)
    objective = NumPyroObjective(vae, "constraint", ("action_graph",))
    device_data = jax.device_put({k: np.asarray(v) for k, v in data.items()})
    params = jax.jit(vae.init_params)(
        random.key(0), device_data["x"][:2], device_data["actions"][:2]
    )
    settings = SVISettings(
        batch_size=batch, lr=LR, graph_lr=GRAPH_LR, graph_params=("action_graph_logits",)
    )
    state = [jax.jit(init_state, static_argnames="settings")(
        params, objective.initial_dual(), random.key(1), settings=settings
    )]  # fmt: skip
    hyper = RunHyper(
        lr_scale=jax.numpy.asarray(1.0),
        dual_lr=jax.numpy.asarray(DUAL_LR),
        total_steps=jax.numpy.asarray(STEPS),
        objective=objective.hyper(bounds={"action_graph": BOUND}, anneal_steps=STEPS // 2),
    )

    def run(n_chunks: int) -> None:
        for _ in range(n_chunks):
            state[0], logs = train_chunk(
                state[0], device_data, hyper, objective=objective, settings=settings, n_steps=chunk
            )
        jax.block_until_ready(state[0])

    return run


def time_case(sizes: NetworkSizes, batch: int, data, rounds: int, steps: int) -> dict:
    config = model_config_for(data["dataset"], sizes)
    arrays = {"x": data["x"], "actions": data["actions"]}
    pyro_run = pyro_constrained_run(config, arrays, batch)
    numpyro_run = numpyro_chunk_run(config, arrays, batch, steps)
    start = time.perf_counter()
    numpyro_run(1)  # compiles
    compile_s = time.perf_counter() - start
    pyro_run(2)  # warm-up
    times: dict[str, list[float]] = {"pyro": [], "numpyro": []}
    for _ in range(rounds):  # alternate so both share the machine's noise
        start = time.perf_counter()
        pyro_run(steps)
        times["pyro"].append((time.perf_counter() - start) / steps)
        start = time.perf_counter()
        numpyro_run(1)
        times["numpyro"].append((time.perf_counter() - start) / steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    return {
        "pyro_ms": 1e3 * med["pyro"],
        "numpyro_ms": 1e3 * med["numpyro"],
        "speedup": med["pyro"] / med["numpyro"],
        "pyro_best_ms": 1e3 * best["pyro"],
        "numpyro_best_ms": 1e3 * best["numpyro"],
        "speedup_best": best["pyro"] / best["numpyro"],
        "numpyro_first_chunk_s": compile_s,
        "pyro_ms_rounds": [1e3 * t for t in times["pyro"]],
        "numpyro_ms_rounds": [1e3 * t for t in times["numpyro"]],
        "batch": batch,
        "steps_per_round": steps,
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--official-steps", type=int, default=5, help="steps per round, official")
    parser.add_argument("--demo-steps", type=int, default=50, help="steps per round, demo")
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per backend (default: theirs)"
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        if args.threads == 1:  # before the first JAX computation starts the CPU backend
            os.environ["XLA_FLAGS"] = (
                os.environ.get("XLA_FLAGS", "")
                + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            )
        else:
            raise SystemExit("--threads supports 1 (or leave it out for each backend's default)")
    if jax.default_backend() != "cpu":
        raise SystemExit("this benchmark measures the CPU; run it with JAX_PLATFORMS=cpu")
    pyro.enable_validation(False)
    meta = provenance()
    meta.update(
        jax=jax.__version__,
        numpyro=numpyro.__version__,
        load_average_before=os.getloadavg(),
        torch_threads=torch.get_num_threads(),
        xla_flags=os.environ.get("XLA_FLAGS", ""),
    )
    dataset = make_mechanism_dataset(DATASET, n_samples=20_000)
    train = dataset.split("train")
    data = {"dataset": dataset, "x": train["x"], "actions": train["actions"]}
    results = {}
    for label, (sizes, batch) in CASES.items():
        steps = args.official_steps if sizes.transition_hidden >= 512 else args.demo_steps
        r = results[label] = time_case(sizes, batch, data, args.rounds, steps)
        print(
            f"{label}: median pyro {r['pyro_ms']:.2f} ms, numpyro {r['numpyro_ms']:.2f} ms "
            f"(x{r['speedup']:.2f}); best pyro {r['pyro_best_ms']:.2f} ms, numpyro "
            f"{r['numpyro_best_ms']:.2f} ms (x{r['speedup_best']:.2f}); "
            f"numpyro compile + first chunk {r['numpyro_first_chunk_s']:.1f} s"
        )
    meta["load_average_after"] = os.getloadavg()
    suffix = "" if args.threads is None else f"_{args.threads}thread"
    save_json(f"speed_mechanism_numpyro_cpu{suffix}", {"meta": meta, "results": results})
    rows = "\n".join(
        f"| {label} | {r['pyro_ms']:.1f} ({r['pyro_best_ms']:.1f}) |"
        f" {r['numpyro_ms']:.1f} ({r['numpyro_best_ms']:.1f}) |"
        f" **{r['speedup']:.2f}** ({r['speedup_best']:.2f}) |"
        f" {r['numpyro_first_chunk_s']:.1f} | {r['steps_per_round']} x {r['rounds']} |"
        for label, r in results.items()
    )
    load = ", ".join(
        f"{a:.2f}/{b:.2f}/{c:.2f}"
        for a, b, c in (meta["load_average_before"], meta["load_average_after"])
    )
    threads_note = (
        " With each backend's default threads (two), torch's OpenMP threads are the most"
        " affected by the other load, so read the 1-thread section (`--threads 1`) for the"
        " backends themselves."
        if args.threads is None
        else ""
    )
    update_benchmarks_md(
        "Speed: NumPyro (JAX) training step vs Pyro training step (cpu"
        + ("" if args.threads is None else f", {args.threads} thread each")
        + ")",
        f"""Command: `{meta["command"]}`; machine: {meta["machine"]}; date: {meta["date"]};
commit: `{meta["commit"]}`; torch {meta["torch"]} (threads: {meta["torch_threads"]}), jax {meta["jax"]}
(XLA_FLAGS `{meta["xla_flags"].strip() or "none"}`), numpyro {meta["numpyro"]}.
Constrained step on {DATASET} (Adam, dual update); NumPyro runs the steps of a round as one
jitted `lax.scan` chunk. Median (best) over {args.rounds} alternating rounds. The machine was
shared with other work: 1/5/15-min load average before / after: {load} (2 cores), so the
times are inflated and torch's threads suffer most from the contention; the best round is
the closer estimate of an idle machine.{threads_note}

| case | Pyro step, ms: median (best) | NumPyro step, ms | speed-up | NumPyro compile + first chunk (s) | steps x rounds |
|---|---|---|---|---|---|
{rows}
""",
    )


if __name__ == "__main__":
    main()
