"""Quality benchmark: the regularised Transformer VAE and its ablations on sprites.

Variants (``docs/interaction_asymmetry.md#baselines-and-ablations``): ``both`` (alpha = beta =
0.05, the proposed model), ``beta-only`` (alpha = 0), ``alpha-only`` (beta = 0) and ``neither`` (the unregularised autoencoder). The
expected ordering of J-ARI and JIS is both > alpha-only, beta-only > neither. ``both-heads``
keeps the penalty's weight against the reconstruction as in the official 12-head network when
the network has 4 heads (the ``cpu`` preset): L_int grows as H^2, so alpha = 0.05 * 144 / 16 =
0.45. Each run is a
``latentgraph fit interaction-asymmetry`` subprocess writing a run folder under
``benchmarks/runs/``; per-run metrics and a mean +- sd summary over seeds go to
``benchmarks/results/<name>.json`` and the summary is printed as Markdown (this script does not
edit BENCHMARKS.md).

Presets:
  cpu       the command line's cpu preset: 32x32 sprites (2-4 objects of 0.16-0.24 of the
            side, 20k images), the ``cpu`` network (head-dim logit scale, key-value
            LayerNorm), 256 intensity-weighted pixels per image and step, 16k steps at batch
            32, the peak rate held (``--schedule hold``), on the CPU
  official  64x64 sprites (100k images), the official network and schedule (500k steps at
            batch 64; a GPU job of about a day per run at the official 0.08 s/step)

    python benchmarks/interaction_asymmetry.py --preset cpu --variants both,neither --seeds 0
    python benchmarks/interaction_asymmetry.py --preset cpu --objects 2-3 --variants both
    python benchmarks/interaction_asymmetry.py --preset official --device cuda --seeds 0,1,2
"""

from __future__ import annotations

import argparse
from pathlib import Path

try:
    from benchmarks._record import ROOT, provenance, run_fit, save_json, summarise
except ImportError:  # run as a script from benchmarks/
    from _record import ROOT, provenance, run_fit, save_json, summarise

from latentgraph.app.interaction_asymmetry.presets import RUN_PRESETS  # noqa: E402
from latentgraph.app.presets import preset_flags  # noqa: E402

PRESETS = {
    "cpu": ["--preset", "cpu", *preset_flags(RUN_PRESETS["cpu"])],
    "official": [
        "--preset", "paper",
        *preset_flags({**RUN_PRESETS["paper"], "jacobian_images": 1200, "readout_images": 5000,
                       "schedule": "official"}),
    ],
}  # fmt: skip
"""The command line's presets (``latentgraph/app/interaction_asymmetry/presets.py``); official
evaluates on more images and runs the official schedule as is."""
VARIANTS = {
    "both": ["--alpha", "0.05", "--beta", "0.05"],
    "beta-only": ["--alpha", "0", "--beta", "0.05"],
    "alpha-only": ["--alpha", "0.05", "--beta", "0"],
    "neither": ["--alpha", "0", "--beta", "0"],
    "both-heads": ["--alpha", "0.45", "--beta", "0.05"],
}
COLUMNS = ("j_ari", "jis", "slot_r2", "recon_id", "l_int", "kl", "s_per_step", "train_wall_s")


def run_one(out: Path, variant: str, seed: int, extra: list[str], threads: int) -> dict:
    arguments = [
        *extra, *VARIANTS[variant], "--seed", str(seed), "--data-seed", "0", "--overwrite",
    ]  # fmt: skip
    return run_fit("interaction-asymmetry", arguments, out, threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--variants", default="both,beta-only,alpha-only,neither")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    parser.add_argument(
        "--objects", default=None, metavar="MIN-MAX", help="override the preset's objects per image"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("float32", "bf16"), default="float32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--schedule", choices=("scaled", "official", "hold"), default=None, help="LR schedule"
    )
    parser.add_argument("--name", default=None, help="results file name (default: the preset)")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {sorted(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    extra = [*PRESETS[args.preset], "--device", args.device, "--precision", args.precision]
    if args.steps is not None:
        extra += ["--steps", str(args.steps)]
    if args.objects is not None:
        extra += ["--objects", args.objects]
    if args.schedule is not None:
        extra += ["--schedule", args.schedule]
    name = args.name or f"interaction_asymmetry_{args.preset}"
    runs_dir = ROOT / "benchmarks" / "runs" / name
    meta = provenance()  # the commit and date the runs start from
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for variant in variants:
        for seed in seeds:
            out = runs_dir / f"{variant}-seed{seed}"
            metrics = run_one(out, variant, seed, extra, args.threads)
            results[variant].append({"seed": seed, "run": str(out.relative_to(ROOT)), **metrics})
            shown = "  ".join(f"{k}={metrics[k]:.4g}" for k in COLUMNS if k in metrics)
            print(f"{variant} seed {seed}: {shown}", flush=True)
    summary = {
        variant: {
            column: summarise([r[column] for r in rows if column in r])
            for column in COLUMNS
            if any(column in r for r in rows)
        }
        for variant, rows in results.items()
    }
    payload = {**meta, "preset": args.preset, "arguments": extra, "runs": results,
               "summary": summary}  # fmt: skip
    path = save_json(name, payload)
    header = "| variant | " + " | ".join(COLUMNS) + " |"
    print("\n" + header + "\n|" + "---|" * (len(COLUMNS) + 1))
    for variant, row in summary.items():
        print(f"| {variant} | " + " | ".join(row.get(c, "") for c in COLUMNS) + " |")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
