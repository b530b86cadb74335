"""Quality benchmark: mechanism sparsity vs. the no-sparsity control, several seeds.

Each run is a ``latentgraph fit mechanism-sparsity`` subprocess writing a full run folder under
``benchmarks/runs/``; the table (mean +- sd over seeds of MCC, SHD, linear R, consistency-R,
edges and wall time) goes to ``benchmarks/results/<name>.json`` and ``BENCHMARKS.md``.

Presets:
  cpu       small networks for a 2-core CPU, <= 15 minutes per run (the issue's CPU target)
  official  the paper's sizes and schedule (300k steps; a GPU job)

    python benchmarks/mechanism_sparsity.py --preset cpu --seeds 11,22,33 --jobs 2
    python benchmarks/mechanism_sparsity.py --preset official --dataset temporal_sparsity_trivial
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    from benchmarks._record import (
        RESULTS,
        ROOT,
        provenance,
        run_fit,
        save_json,
        summarise,
        update_benchmarks_md,
    )
except ImportError:  # run as a script from benchmarks/
    from _record import (
        RESULTS,
        ROOT,
        provenance,
        run_fit,
        save_json,
        summarise,
        update_benchmarks_md,
    )

from latentgraph.app.mechanism_sparsity.presets import RUN_PRESETS  # noqa: E402
from latentgraph.app.presets import preset_flags  # noqa: E402

PRESETS = {
    "cpu": ["--preset", "cpu", *preset_flags(RUN_PRESETS["cpu"]), "--device", "cpu"],
    "official": ["--preset", "paper", *preset_flags(RUN_PRESETS["paper"])],
}
"""The command line's presets (one table, ``latentgraph/app/mechanism_sparsity/presets.py``)."""
SETTINGS = {"constraint": ["--sparsity", "constraint"], "none": ["--sparsity", "none"]}
COLUMNS = ("mcc", "shd", "linear_r", "consistency_r", "n_edges_learned", "train_wall_s")


def run_one(
    out: Path, dataset: str, setting: str, seed: int, extra: list[str], threads: int
) -> dict:
    arguments = ["--dataset", dataset, *SETTINGS[setting], "--seed", str(seed), *extra]
    return run_fit("mechanism-sparsity", arguments, out, threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--dataset", default="action_sparsity_non_trivial")
    parser.add_argument("--settings", default="constraint,none")
    parser.add_argument("--seeds", default="11,22,33")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (threads are split)")
    parser.add_argument("--name", default=None, help="results name (default: preset_dataset)")
    parser.add_argument(
        "--render", metavar="NAME", help="only rewrite BENCHMARKS.md from results/NAME.json"
    )
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="more fit options after --")
    args = parser.parse_args()
    if args.render:
        record(json.loads((RESULTS / f"{args.render}.json").read_text()))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    settings = args.settings.split(",")
    extra = list(PRESETS[args.preset])
    if args.steps is not None:
        extra += ["--steps", str(args.steps)]
    extra += [e for e in args.extra if e != "--"]
    name = args.name or f"{args.preset}_{args.dataset}"
    runs_dir = ROOT / "benchmarks" / "runs" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    meta = provenance()  # the commit and date the runs start from
    jobs = [(s, seed) for s in settings for seed in seeds]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            job: pool.submit(
                run_one,
                runs_dir / f"{job[0]}-seed{job[1]}",
                args.dataset,
                job[0],
                job[1],
                extra,
                threads,
            )
            for job in jobs
        }
        results = {f"{s}-seed{seed}": fut.result() for (s, seed), fut in futures.items()}
    payload = {
        "meta": meta,
        "name": name,
        "preset": args.preset,
        "dataset": args.dataset,
        "settings": settings,
        "seeds": seeds,
        "options": extra,
        "jobs": args.jobs,
        "threads": threads,
        "runs": results,
    }
    save_json(name, payload)
    record(payload)


def record(payload: dict) -> None:
    """Write the ``BENCHMARKS.md`` section of one saved result (see ``--render``)."""
    seeds, meta = payload["seeds"], payload["meta"]
    rows = []
    for s in payload["settings"]:
        per_seed = [payload["runs"][f"{s}-seed{seed}"] for seed in seeds]
        row = {"setting": s}
        for col in COLUMNS:
            vals = [m[col] for m in per_seed if col in m]
            row[col] = summarise(vals) if vals else "n/a"
        row["per seed (MCC / SHD)"] = ", ".join(
            f"{seed}: {m['mcc']:.3f} / {m.get('shd', float('nan')):g}"
            for seed, m in zip(seeds, per_seed, strict=True)
        )
        rows.append(row)
        print(row)
    cols = ("setting", *COLUMNS, "per seed (MCC / SHD)")
    lines = "\n".join("| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows)
    update_benchmarks_md(
        f"Quality: {payload['dataset']}, {payload['name']}",
        f"""Command: `{meta["command"]}`; machine: {meta["machine"]}; date: {meta["date"]};
commit: `{meta["commit"]}`. Seeds {seeds}; fit options `{" ".join(payload["options"])}`;
{payload["jobs"]} run(s) in parallel with {payload["threads"]} thread(s) each. Mean ± sd over
seeds, test split; run folders under `benchmarks/runs/` (not committed).

| setting | MCC | SHD | linear R | consistency-R | edges | train s | per seed (MCC / SHD) |
|---|---|---|---|---|---|---|---|
{lines}
""",
    )


if __name__ == "__main__":
    main()
