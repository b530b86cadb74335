"""Quality benchmark: context-module variants on quad_causal, several seeds.

Each run is a ``latentgraph fit context-module`` subprocess writing a full run folder under
``benchmarks/runs/``; per-run metrics and a summary (mean +- sd over seeds of concept and
composition SWD, reconstruction, concept R^2, graph SHD and wall time) go to
``benchmarks/results/<name>.json``, and the summary table is printed as Markdown (this script
does not edit BENCHMARKS.md). ``cm-frozen`` and ``cm-finetune`` start from the ``base-pooled``
run of the same seed, which is then run first.

Presets:
  cpu       the command line's cpu preset: quad_causal at 32x32 (20k training images per
            context), the ``cpu`` network, 15k steps at batch 64, the reference's BatchNorm with
            single-context batches, 2 CPU cores
  official  the paper's 64x64 network and schedule (48k steps at batch 512; a GPU job)

    python benchmarks/context_module.py --preset cpu --variants cm,base-pooled,cm-pooled --seeds 0,1,2
    python benchmarks/context_module.py --render cpu_quad_causal
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    from benchmarks._record import (
        RESULTS,
        ROOT,
        provenance,
        read_run,
        run_fit,
        save_json,
        summarise,
    )
except ImportError:  # run as a script from benchmarks/
    from _record import RESULTS, ROOT, provenance, read_run, run_fit, save_json, summarise

from latentgraph.app.context_module.presets import RUN_PRESETS  # noqa: E402
from latentgraph.app.presets import preset_flags  # noqa: E402

PRESETS = {
    "cpu": ["--preset", "cpu", *preset_flags(RUN_PRESETS["cpu"]), "--lr", "1e-3", "--n-eval",
            "1000", "--device", "cpu"],
    "official": ["--preset", "paper",
                 *preset_flags({**RUN_PRESETS["paper"], "image_size": 64}), "--n-eval", "1280"],
}  # fmt: skip
"""The command line's presets (``latentgraph/app/context_module/presets.py``)."""
COLUMNS = (
    "swd_concept",
    "swd_composition",
    "swd_composition_joint_perfect",
    "recon_bpd",
    "recon_bpd_ood",
    "elbo_bpd_ref",
    "concept_r2",
    "graph_shd",
    "train_wall_s",
)
NEEDS_BASE = ("cm-frozen", "cm-finetune")


def run_one(out: Path, dataset: str, variant: str, seed: int, extra: list[str],
            threads: int, pretrained: Path | None = None) -> dict:  # fmt: skip
    arguments = [
        "--dataset", dataset, "--variant", variant, "--seed", str(seed), "--data-seed", str(seed),
        *extra,
    ]  # fmt: skip
    if pretrained is not None:
        arguments += ["--pretrained", str(pretrained)]
    if (out / "metrics.json").is_file():  # finished in an earlier, interrupted benchmark
        saved = json.loads((out / "config.json").read_text())
        if saved["variant"]["name"] != variant or saved["train"]["seed"] != seed:
            raise ValueError(
                f"{out} holds another run (variant, seed): {saved['variant']['name']}, {saved['train']['seed']}"
            )
        return read_run(out)
    return run_fit("context-module", arguments, out, threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--dataset", default="quad_causal", choices=("quad_causal", "quad"))
    parser.add_argument("--variants", default="cm,base-pooled,cm-pooled")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (threads are split)")
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per run (default: cores / jobs)"
    )
    parser.add_argument("--name", default=None, help="results name (default: preset_dataset)")
    parser.add_argument(
        "--render", metavar="NAME", help="only print the table of results/NAME.json"
    )
    parser.add_argument(
        "--runs-dir", type=Path, default=None,
        help="run folders to use (default: a new one); finished runs in it are read, not rerun",
    )  # fmt: skip
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="more fit options after --")
    args = parser.parse_args()
    if args.render:
        print(table(json.loads((RESULTS / f"{args.render}.json").read_text())))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    if any(v in NEEDS_BASE for v in variants) and "base-pooled" not in variants:
        variants.insert(0, "base-pooled")
    extra = list(PRESETS[args.preset])
    if args.steps is not None:
        extra += ["--steps", str(args.steps)]
    extra += [e for e in args.extra if e != "--"]
    name = args.name or f"{args.preset}_{args.dataset}"
    runs_dir = (
        args.runs_dir or ROOT / "benchmarks" / "runs" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    meta = provenance()
    first = [(v, s) for v in variants if v not in NEEDS_BASE for s in seeds]
    second = [(v, s) for v in variants if v in NEEDS_BASE for s in seeds]
    results: dict[str, dict] = {}
    for wave in (first, second):
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {
                (v, s): pool.submit(
                    run_one, runs_dir / f"{v}-seed{s}", args.dataset, v, s, extra, threads,
                    runs_dir / f"base-pooled-seed{s}" if v in NEEDS_BASE else None,
                )
                for v, s in wave
            }  # fmt: skip
            results.update({f"{v}-seed{s}": f.result() for (v, s), f in futures.items()})
    payload = {
        "meta": meta,
        "name": name,
        "preset": args.preset,
        "dataset": args.dataset,
        "variants": variants,
        "seeds": seeds,
        "options": extra,
        "jobs": args.jobs,
        "threads": threads,
        "runs": results,
        "summary": summary(variants, seeds, results),
    }
    save_json(name, payload)
    print(table(payload))


def summary(variants: list[str], seeds: list[int], runs: dict) -> dict:
    """Mean and sd over seeds of every column, per variant."""
    out = {}
    for v in variants:
        per_seed = [runs[f"{v}-seed{s}"] for s in seeds]
        out[v] = {}
        for col in COLUMNS:
            vals = [m[col] for m in per_seed if m.get(col) is not None]
            if vals:
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                out[v][col] = {"mean": statistics.mean(vals), "sd": sd, "n": len(vals)}
    return out


def table(payload: dict) -> str:
    """The summary as a Markdown table with the command, machine and commit."""
    meta = payload["meta"]
    lines = [
        f"Command: `{meta['command']}`; machine: {meta['machine']}; date: {meta['date']}; "
        f"commit: `{meta['commit']}`. Seeds {payload['seeds']}; fit options "
        f"`{' '.join(payload['options'])}`. Mean ± sd over seeds; clean evaluation protocol.",
        "",
        "| variant | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for v in payload["variants"]:
        per_seed = [payload["runs"][f"{v}-seed{s}"] for s in payload["seeds"]]
        cells = []
        for col in COLUMNS:
            vals = [m[col] for m in per_seed if m.get(col) is not None]
            cells.append(summarise(vals) if vals else "n/a")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
