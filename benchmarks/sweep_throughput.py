"""Throughput of a vmapped sweep against the same runs trained one after another (NumPyro).

Issue 3: "a sweep of 8 runs against 8 sequential single NumPyro runs, run-steps per second".
Both sides train the same 8 runs (2 bounds x 4 seeds) of the same model for the same steps
after a warm-up that compiles their programs, so the numbers compare steady-state training.

    python benchmarks/sweep_throughput.py --sizes demo --steps 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import provenance, save_json, update_benchmarks_md  # noqa: E402

from latentgraph.data import make_mechanism_dataset  # noqa: E402
from latentgraph.families.mechanism_sparsity import (  # noqa: E402
    NetworkSizes,
    SparsitySettings,
    model_config_for,
)
from latentgraph.families.mechanism_sparsity.config import demo_sizes  # noqa: E402
from latentgraph.families.mechanism_sparsity.fit_numpyro import fit  # noqa: E402
from latentgraph.families.mechanism_sparsity.sweep_numpyro import fit_many  # noqa: E402
from latentgraph.inference.svi_torch import TrainConfig  # noqa: E402

SIZES = {"demo": (demo_sizes, 256), "official": (NetworkSizes, 1024)}


def measure(
    sizes: str,
    steps: int,
    chunk: int,
    device: str,
    *,
    strategies: tuple[str, ...] = ("vmap", "map"),
    batch_size: int | None = None,
    n_samples: int = 50_000,
    network: NetworkSizes | None = None,
) -> dict:
    """Seconds and run-steps per second of the 8 runs as one sweep (each of ``strategies``)
    and as 8 sequential single fits; ``batch_size`` and ``network`` override the sizes'."""
    make_sizes, batch = SIZES[sizes]
    batch = batch_size or batch
    dataset = make_mechanism_dataset("action_sparsity_non_trivial", n_samples=n_samples)
    model_config = model_config_for(dataset, network or make_sizes())
    settings = [SparsitySettings(bound=b, graph_lr=5e-2, dual_lr=5e-2) for b in (15.0, 20.0)]
    seeds = [0, 1, 2, 3]
    config = TrainConfig(steps=steps, batch_size=batch, lr=5e-3, progress=False, device=device)
    warm = replace(config, steps=chunk)
    swept = {}
    for strategy in strategies:
        fit_many(dataset, model_config=model_config, settings=settings, seeds=seeds,
                 train_config=warm, chunk_steps=chunk, strategy=strategy)  # fmt: skip
        start = time.perf_counter()
        fit_many(dataset, model_config=model_config, settings=settings, seeds=seeds,
                 train_config=config, chunk_steps=chunk, strategy=strategy)  # fmt: skip
        swept[strategy] = time.perf_counter() - start
    fit(dataset, model_config=model_config, sparsity=settings[0], train_config=warm,
        chunk_steps=chunk)  # fmt: skip
    start = time.perf_counter()
    for setting in settings:
        for seed in seeds:
            fit(dataset, model_config=model_config, sparsity=setting,
                train_config=replace(config, seed=seed), chunk_steps=chunk)  # fmt: skip
    sequential = time.perf_counter() - start
    run_steps = len(settings) * len(seeds) * steps
    return {
        "sizes": sizes,
        "batch_size": batch,
        "steps": steps,
        "runs": len(settings) * len(seeds),
        "sweep_s": swept,
        "sequential_s": sequential,
        "sweep_run_steps_per_s": {k: run_steps / v for k, v in swept.items()},
        "sequential_run_steps_per_s": run_steps / sequential,
        "speedup": {k: sequential / v for k, v in swept.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", choices=sorted(SIZES), nargs="+", default=["demo"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    prov = provenance()
    load = os.getloadavg()
    rows = [measure(s, args.steps, args.chunk, args.device) for s in args.sizes]
    load_after = os.getloadavg()
    result = {"provenance": prov, "rows": rows, "load_before": load, "load_after": load_after}
    save_json(f"sweep_throughput_{'gpu' if 'CUDA' in prov['machine'] else 'cpu'}", result)
    lines = [
        f"Command: `{prov['command']}`; machine: {prov['machine']}; date: {prov['date']}; "
        f"commit: `{prov['commit']}`. 8 runs (bounds 15, 20 x seeds 0-3) on "
        "action_sparsity_non_trivial, after a warm-up that compiles the programs; `fit_many(strategy='auto')` uses vmap on an "
        "accelerator and lax.map on the CPU. "
        f"1/5/15-min load average before / after: {'/'.join(f'{x:.2f}' for x in load)}, "
        f"{'/'.join(f'{x:.2f}' for x in load_after)}.",
        "",
        "| sizes | batch | steps per run | 8 sequential fits (run-steps/s) | sweep, vmap "
        "(run-steps/s, speed-up) | sweep, lax.map (run-steps/s, speed-up) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"{r['sweep_run_steps_per_s'][k]:.1f}, **{r['speedup'][k]:.2f}**"
            for k in ("vmap", "map")
        ]
        lines.append(
            f"| {r['sizes']} | {r['batch_size']} | {r['steps']} | "
            f"{r['sequential_run_steps_per_s']:.1f} | {cells[0]} | {cells[1]} |"
        )
    text = "\n".join(lines)
    print(text)
    kind = "GPU" if "CUDA" in prov["machine"] else "CPU"
    update_benchmarks_md(
        f"Throughput: vmapped sweep of 8 NumPyro runs vs 8 sequential ({kind})", text
    )


if __name__ == "__main__":
    main()
