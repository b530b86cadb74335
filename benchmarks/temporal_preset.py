"""Search for the ``cpu`` preset of the temporal setting (mechanism sparsity), one factor at a time.

Each variant is the action setting's ``cpu`` preset (``latentgraph/app/mechanism_sparsity/
presets.py``) with one option changed, fitted with the sparsity constraint at the true edge count
to ``temporal_sparsity_non_trivial`` (Lachapelle et al., arXiv 2401.04890, Sec. 8.1: 55 true
edges, official best MCC 0.825) on the NumPyro backend with one thread, on search seeds that
the study does not report (training and data seed both set to the seed). Finished runs are read
back from ``--keep`` and not re-run, so a search can be continued. Records
``benchmarks/results/<name>.json`` and the BENCHMARKS.md section "Search: temporal cpu preset".

    python benchmarks/temporal_preset.py --variants base,anneal025 --seeds 101,102 --keep DIR
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import provenance, read_run, save_json, update_benchmarks_md  # noqa: E402

DATASET = "temporal_sparsity_non_trivial"
VARIANTS = {
    "base": [],
    "anneal025": ["--anneal-fraction", "0.25"],
    "anneal075": ["--anneal-fraction", "0.75"],
    "steps60k": ["--steps", "60000"],
    "samples4e5": ["--n-samples", "400000"],
    "lr1e-3": ["--lr", "1e-3"],
    "graphlr5e-3": ["--graph-lr", "5e-3"],
    "duallr5e-3": ["--dual-lr", "5e-3"],
}
"""Variant -> the options it changes on top of ``--preset cpu``."""
SECTION = "Search: temporal cpu preset (temporal_sparsity_non_trivial)"
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def fit_args(variant: str, seed: int) -> list[str]:
    """The ``latentgraph fit mechanism-sparsity`` options of one search run."""
    return [
        "--dataset", DATASET, "--preset", "cpu", "--backend", "numpyro",
        "--seed", str(seed), "--data-seed", str(seed), *VARIANTS[variant],
    ]  # fmt: skip


def run_one(variant: str, seed: int, out: Path) -> dict:
    """Fit one run in a fresh one-thread process; its metrics plus wall and CPU seconds
    (user + sys of the child, from ``getrusage``) and the load average at the end."""
    if (out / "metrics.json").exists():
        metrics = read_run(out)
        metrics.setdefault("resumed", True)
        return metrics
    cmd = [sys.executable, "-m", "latentgraph", "fit", "mechanism-sparsity"]
    cmd += [*fit_args(variant, seed), "--out", str(out), "--no-progress", "--overwrite"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=dict(os.environ, **ONE_THREAD), capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"run failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    metrics = read_run(out)
    metrics["process_wall_s"] = wall
    metrics["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    metrics["load_1min_end"] = os.getloadavg()[0]
    return metrics


def table(results: dict) -> str:
    """The Markdown search table: one row per variant, per-seed MCC / SHD."""
    lines = [
        "| variant | options on top of `--preset cpu` | seed: MCC / SHD / edges | mean MCC | "
        "CPU s per fit | wall s per fit (load) |",
        "|---|---|---|---|---|---|",
    ]
    for variant, runs in results.items():
        seeds = sorted(runs, key=int)
        cells = ", ".join(
            f"{s}: {runs[s]['mcc']:.3f} / {runs[s]['shd']:.0f} / {runs[s]['n_edges_learned']:.0f}"
            for s in seeds
        )
        mean = sum(runs[s]["mcc"] for s in seeds) / len(seeds)
        cpu = ", ".join(f"{runs[s].get('cpu_s', float('nan')):.0f}" for s in seeds)
        wall = ", ".join(
            f"{runs[s].get('process_wall_s', float('nan')):.0f} "
            f"({runs[s].get('load_1min_end', float('nan')):.1f})"
            for s in seeds
        )
        options = " ".join(VARIANTS[variant]) or "(none)"
        lines.append(f"| {variant} | `{options}` | {cells} | {mean:.3f} | {cpu} | {wall} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="base", help=f"comma list of {sorted(VARIANTS)}")
    parser.add_argument("--seeds", default="101,102")
    parser.add_argument("--keep", required=True, help="folder of the run folders (resumable)")
    parser.add_argument("--name", default="temporal_preset_search")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; expected names from {sorted(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    path = Path(__file__).resolve().parent / "results" / f"{args.name}.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    results = saved.get("results", {})
    for variant in variants:
        for seed in seeds:
            if str(seed) in results.get(variant, {}):
                continue
            metrics = run_one(variant, seed, Path(args.keep) / variant / f"seed{seed}")
            metrics.pop("curve", None)
            results.setdefault(variant, {})[str(seed)] = metrics
            print(
                f"{variant} seed {seed}: mcc={metrics['mcc']:.3f} shd={metrics['shd']:.0f} "
                f"cpu_s={metrics.get('cpu_s', float('nan')):.0f}",
                flush=True,
            )
            save_json(args.name, {**provenance(), "dataset": DATASET, "results": results})
    update_benchmarks_md(SECTION, _section_body(results))


def _section_body(results: dict) -> str:
    info = provenance()
    return (
        f"Command: `python benchmarks/temporal_preset.py --variants V1,V2,... --seeds 101,102 "
        f"--keep DIR`; machine: {info['machine']}, shared by several agents (load average at the "
        f"end of each fit in the last column); last update {info['date']}, commit "
        f"`{info['commit']}`. Dataset `{DATASET}` (55 true edges), constraint at the true edge "
        "count, NumPyro backend, one thread per fit, training and data seed = the search seed "
        "(101, 102: not the study's seeds). Each variant changes one option of the action "
        "setting's `--preset cpu`. CPU s = user + sys of the fit's process: it depends less "
        "on the load than the wall time, but a machine loaded far beyond its cores inflates it "
        "too (shared caches), so a free core runs a fit in at most about its CPU seconds."
        "\n\n" + table(results)
    )


if __name__ == "__main__":
    main()
