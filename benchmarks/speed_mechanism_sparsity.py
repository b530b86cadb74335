"""Speed: time per SVI step of the Pyro program against a plain PyTorch step of the same loss.

Both steps use the same module, the same Adam optimiser and the same minibatch; the plain step
computes the identical negative ELBO (``reference_torch.negative_elbo``, checked equal to Pyro's
in the tests) without any Pyro machinery. Steps alternate in rounds to share machine noise; the
median of the rounds is reported.

    python benchmarks/speed_mechanism_sparsity.py [--device cpu|cuda] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import pyro
import torch

from latentgraph.families.mechanism_sparsity.config import (
    MechanismSparsityConfig,
    NetworkSizes,
    demo_sizes,
)
from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE
from latentgraph.families.mechanism_sparsity.reference_torch import negative_elbo, relaxed_masks
from latentgraph.inference.elbo_pyro import AnalyticMeanFieldELBO

try:
    from benchmarks._record import provenance, save_json, update_benchmarks_md
except ImportError:  # run as a script from benchmarks/
    from _record import provenance, save_json, update_benchmarks_md

CASES = {
    "official (6x512 enc/dec, 10 x 5x512 transitions, batch 1024)": (NetworkSizes(), 1024),
    "demo (3x128 enc/dec, 10 x 2x64 transitions, batch 256)": (demo_sizes(), 256),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_case(
    sizes: NetworkSizes, batch: int, device: torch.device, rounds: int, steps: int
) -> dict:
    torch.manual_seed(0)
    config = MechanismSparsityConfig(n_latents=10, n_obs=20, n_actions=10, sizes=sizes)
    vae = MechanismSparsityVAE(config).to(device)
    opt = torch.optim.Adam(vae.parameters(), lr=5e-4)
    x = torch.randn(batch, 1, 20, device=device)
    a = torch.rand(batch, 10, device=device) * 4 - 2
    lean, trace_mf = AnalyticMeanFieldELBO(), pyro.infer.TraceMeanField_ELBO()

    def pyro_step():  # what training uses
        opt.zero_grad(set_to_none=True)
        lean.differentiable_loss(vae.model, vae.guide, x, a).backward()
        opt.step()

    def pyro_trace_mean_field_step():  # Pyro's stock estimator, same value
        opt.zero_grad(set_to_none=True)
        trace_mf.differentiable_loss(vae.model, vae.guide, x, a).backward()
        opt.step()

    def plain_step():
        opt.zero_grad(set_to_none=True)
        masks = relaxed_masks(vae, {"action_graph": torch.rand(10, 10, device=device)})
        noise = torch.randn(batch, 1, 10, device=device)
        negative_elbo(vae, x, a, latent_noise=noise, masks=masks).backward()
        opt.step()

    def run(fn) -> float:
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        _sync(device)
        return (time.perf_counter() - start) / steps

    step_fns = {"pyro": pyro_step, "pyro_tmf": pyro_trace_mean_field_step, "plain": plain_step}
    for fn in step_fns.values():  # warm-up
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {k: [] for k in step_fns}
    for _ in range(rounds):  # alternate so all three share the machine's noise
        for k, fn in step_fns.items():
            times[k].append(run(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "pyro_ms": 1e3 * med["pyro"],
        "pyro_trace_mean_field_ms": 1e3 * med["pyro_tmf"],
        "plain_ms": 1e3 * med["plain"],
        "ratio": med["pyro"] / med["plain"],
        "ratio_trace_mean_field": med["pyro_tmf"] / med["plain"],
        "batch": batch,
        "steps_per_round": steps,
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    pyro.enable_validation(False)
    results = {}
    for label, (sizes, batch) in CASES.items():
        steps = 3 if sizes.transition_hidden >= 512 and device.type == "cpu" else 50
        results[label] = time_case(sizes, batch, device, args.rounds, steps)
        r = results[label]
        print(
            f"{label}: pyro {r['pyro_ms']:.2f} ms, plain {r['plain_ms']:.2f} ms, ratio {r['ratio']:.3f};"
            f" stock TraceMeanField {r['pyro_trace_mean_field_ms']:.2f} ms ({r['ratio_trace_mean_field']:.3f})"
        )
    meta = provenance()
    save_json(f"speed_mechanism_sparsity_{device.type}", {"meta": meta, "results": results})
    rows = "\n".join(
        f"| {label} | {r['pyro_ms']:.2f} | {r['plain_ms']:.2f} | **{r['ratio']:.3f}** |"
        f" {r['pyro_trace_mean_field_ms']:.2f} ({r['ratio_trace_mean_field']:.3f}) |"
        for label, r in results.items()
    )
    update_benchmarks_md(
        f"Speed: Pyro SVI step vs plain PyTorch step ({device.type})",
        f"""Command: `{meta["command"]}`; machine: {meta["machine"]}; date: {meta["date"]};
commit: `{meta["commit"]}`; torch {meta["torch"]}. Median over {args.rounds} alternating rounds.

| case | Pyro step (ms) | plain PyTorch step (ms) | ratio | Pyro with stock TraceMeanField_ELBO (ms, ratio) |
|---|---|---|---|---|
{rows}
""",
    )


if __name__ == "__main__":
    main()
