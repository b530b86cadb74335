"""Label-free selection of the edge bound: plain UDR beside UDR restricted by validation ELBO.

Trains ``bounds x seeds`` mechanism-sparsity runs in one vmapped NumPyro program
(:func:`latentgraph.families.mechanism_sparsity.sweep_numpyro.fit_many`, the program of
``latentgraph sweep mechanism-sparsity --backend numpyro``), then records per run the
validation ELBO (:func:`...evaluate.validation_elbo`, label-free), the validation encodings
(for UDR, label-free) and the label-side test MCC / SHD, and per setting both selections
(:func:`latentgraph.metrics.select_setting` with ``rule="udr"`` and ``rule="udr-elbo"``).

Writes ``benchmarks/results/<name>.json`` and, beside the scratch folder ``--keep DIR``, each
run's validation encodings (``encodings.npz``) so the selection can be recomputed with
``--analyse-only`` without training again. Example (the BENCHMARKS.md section
"Selection: UDR and UDR-ELBO over bounds ..."):

    python benchmarks/selection_udr_elbo.py --dataset action_sparsity_non_trivial \
        --bounds 10,15,20,25,50 --seeds 3 --steps 40000 --graph-lr 5e-3 --dual-lr 5e-3 \
        --name selection_udr_elbo_action_non_trivial_cpu
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import RESULTS, provenance, save_json  # noqa: E402

UDR_ROWS = 10_000  # as latentgraph.app.mechanism_sparsity.sweep
TOLERANCES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 100.0)
"""udr-elbo tolerances (standard errors) whose choice is recorded, to show how robust it is."""


def _numbers(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="action_sparsity_non_trivial")
    p.add_argument("--graph-density", type=float, default=None)
    p.add_argument("--graph-seed", type=int, default=0)
    p.add_argument("--n-samples", type=int, default=200_000)
    p.add_argument("--sizes", choices=("small", "official"), default="small")
    p.add_argument("--bounds", type=_numbers, default=[10, 15, 20, 25, 50])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=40_000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--graph-lr", type=float, default=5e-2)
    p.add_argument("--dual-lr", type=float, default=5e-2)
    p.add_argument("--anneal-fraction", type=float, default=0.5)
    p.add_argument("--tolerance", type=float, default=None, help="udr-elbo tolerance (default)")
    p.add_argument("--name", required=True, help="results file benchmarks/results/<name>.json")
    p.add_argument("--keep", type=Path, default=None, help="scratch folder (default /tmp/<name>)")
    p.add_argument("--analyse-only", action="store_true", help="recompute from --keep")
    return p.parse_args(argv)


def _dataset(args):
    from latentgraph.data import make_mechanism_dataset

    return make_mechanism_dataset(
        args.dataset,
        n_samples=args.n_samples,
        graph_seed=args.graph_seed,
        graph_density=args.graph_density,
    )


def train(args, keep: Path) -> dict:
    """Fit every run; write ``keep/runs.json`` and ``keep/encodings.npz``."""
    from latentgraph import TrainConfig
    from latentgraph.families.mechanism_sparsity import (
        NetworkSizes,
        SparsitySettings,
        demo_sizes,
        evaluate,
        model_config_for,
    )
    from latentgraph.families.mechanism_sparsity.evaluate import validation_elbo
    from latentgraph.families.mechanism_sparsity.sweep_numpyro import fit_many

    dataset = _dataset(args)
    sizes = demo_sizes() if args.sizes == "small" else NetworkSizes()
    model_config = model_config_for(dataset, sizes)
    settings = [
        SparsitySettings(
            mode="constraint",
            bound=float(b),
            dual_lr=args.dual_lr,
            graph_lr=args.graph_lr,
            anneal_fraction=args.anneal_fraction,
        )
        for b in args.bounds
    ]
    seeds = list(range(args.seeds))
    train_config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, device="cpu", progress=False
    )
    started = time.perf_counter()
    fitted = fit_many(
        dataset, model_config=model_config, settings=settings, seeds=seeds,
        train_config=train_config,
    )  # fmt: skip
    train_wall_s = time.perf_counter() - started
    valid_x = dataset.split("valid")["x"][: -(-UDR_ROWS // dataset.n_steps)]
    runs, encodings = [], {}
    pairs = [(float(b), seed) for b in args.bounds for seed in seeds]
    for (bound, seed), run in zip(pairs, fitted, strict=True):
        t0 = time.perf_counter()
        metrics = evaluate(run, dataset, "test").metrics
        elbo = validation_elbo(run, dataset, "valid")
        z = run.encode(valid_x)
        encodings[f"{bound:g}/{seed}"] = z.reshape(-1, z.shape[-1]).astype(np.float32)
        last = run.history.rows[-1] if run.history.rows else {}
        runs.append({
            "bound": bound, "seed": seed, "validation_elbo": elbo,
            "train_loss_last_chunk": last.get("loss"),
            "diverged": any(e.get("diverged") for e in run.history.events),
            **{k: metrics[k] for k in ("mcc", "shd", "n_edges_learned", "consistency_r")
               if k in metrics},
            "eval_s": time.perf_counter() - t0,
        })  # fmt: skip
        print(json.dumps(runs[-1]), flush=True)
    np.savez(keep / "encodings.npz", **encodings)
    payload = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "runs": runs,
        "train_wall_s": train_wall_s,
        "run_steps_per_s": len(pairs) * args.steps / train_wall_s,
        "provenance": provenance(),
    }
    (keep / "runs.json").write_text(json.dumps(payload, indent=2))
    return payload


def analyse(args, keep: Path) -> dict:
    """Both selections from ``keep``; writes ``benchmarks/results/<name>.json``."""
    from latentgraph.metrics import select_setting

    payload = json.loads((keep / "runs.json").read_text())
    stored = np.load(keep / "encodings.npz")
    bounds = sorted({r["bound"] for r in payload["runs"]})
    encodings = {b: [] for b in bounds}
    elbos = {b: [] for b in bounds}
    for r in payload["runs"]:
        encodings[r["bound"]].append(stored[f"{r['bound']:g}/{r['seed']}"])
        elbos[r["bound"]].append(r["validation_elbo"])
    selections = {}
    for rule in ("udr", "udr-elbo"):
        sel = select_setting(encodings, elbos, rule=rule, tolerance=args.tolerance)
        selections[rule] = {
            "selected": sel.selected,
            "tolerance": sel.tolerance,
            "scores": {k: {f"{b:g}": v for b, v in s.items()} for k, s in sel.scores.items()},
        }
    payload["selections"] = selections
    payload["tolerance_sweep"] = {
        f"{t:g}": select_setting(encodings, elbos, rule="udr-elbo", tolerance=t).selected
        for t in TOLERANCES
    }
    payload["analysed"] = provenance()
    save_json(args.name, payload)
    return payload


def render_table(payload: dict) -> str:
    """The markdown table of one results file: per bound both rules' criteria and the labels."""
    scores = payload["selections"]["udr-elbo"]["scores"]
    runs = payload["runs"]
    lines = [
        "| bound | UDR | val. ELBO mean ± sd (nats/example) | ELBO per seed | gap / se | "
        "eligible | MCC mean | MCC per seed | SHD per seed | learned edges per seed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in scores["udr"]:
        rows = [r for r in runs if f"{r['bound']:g}" == key]

        def per_seed(field, fmt, rows=rows):
            return " / ".join(fmt.format(r[field]) for r in rows)

        gap, se = scores["elbo_gap"][key], scores["elbo_se"][key]
        ratio = "best" if gap == 0 else (f"{gap / se:.1f}" if se > 0 else "inf")
        lines.append(
            f"| {key} | {scores['udr'][key]:.3f} | {scores['elbo'][key]:.2f} ± "
            f"{scores['elbo_sd'][key]:.2f} | {per_seed('validation_elbo', '{:.2f}')} | {ratio} | "
            f"{'yes' if scores['eligible'][key] else 'no'} | "
            f"{np.mean([r['mcc'] for r in rows]):.3f} | {per_seed('mcc', '{:.3f}')} | "
            f"{per_seed('shd', '{:.0f}')} | {per_seed('n_edges_learned', '{:.0f}')} |"
        )
    sel = payload["selections"]
    sweep = ", ".join(f"{t}: {v:g}" for t, v in payload["tolerance_sweep"].items())
    lines.append("")
    lines.append(
        f"Plain UDR selects **{sel['udr']['selected']:g}**; UDR-ELBO (tolerance "
        f"{sel['udr-elbo']['tolerance']:g} standard errors) selects "
        f"**{sel['udr-elbo']['selected']:g}**. UDR-ELBO's choice by tolerance: {sweep}."
    )
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse(argv)
    keep = args.keep or Path("/tmp") / args.name
    keep.mkdir(parents=True, exist_ok=True)
    if not args.analyse_only:
        train(args, keep)
    out = analyse(args, keep)
    print(render_table(out))
    print(f"wrote {RESULTS / (args.name + '.json')}")


if __name__ == "__main__":
    main()
