"""Exact inference on the linear-Gaussian latent SCM: NUTS diagnostics and SVI agreement.

Issue 3, item 5: for a 4-latent linear model with known-target interventions, NUTS gives
R-hat <= 1.01 for every edge weight, posterior probability >= 0.9 on every true edge and
<= 0.1 on every absent edge (several random graphs), and the SVI posterior agrees in which
edges it finds. One row per graph seed; JSON to ``benchmarks/results/<name>.json`` and a
section of ``BENCHMARKS.md``.

    python benchmarks/linear_scm.py --graph-seeds 0,1,2,3,4
    python benchmarks/linear_scm.py --mixing learned --name linear_scm_learned_mixing
"""

from __future__ import annotations

import argparse
import json
import os
import time

import arviz
import jax
import numpy as np
import numpyro

try:
    from benchmarks._record import RESULTS, provenance, save_json, update_benchmarks_md
except ImportError:  # run as a script from benchmarks/
    from _record import RESULTS, provenance, save_json, update_benchmarks_md

from latentgraph.data import make_linear_scm_dataset
from latentgraph.families.linear_scm import (
    edge_diagnostics,
    edge_posterior,
    fit_nuts,
    fit_svi,
)
from latentgraph.families.linear_scm.posterior import importance_pareto_k

TARGET_RHAT = 1.01
TARGET_TRUE = 0.9
TARGET_ABSENT = 0.1


def run_graph(graph_seed: int, args: argparse.Namespace) -> dict:
    dataset = make_linear_scm_dataset(
        n_latents=args.n_latents,
        n_obs=args.n_obs,
        n_per_context=args.n_per_context,
        edge_density=args.edge_density,
        graph_seed=graph_seed,
        data_seed=graph_seed,
        mixing_seed=graph_seed,
    )
    truth = dataset.graphs["latent_graph"].astype(bool)
    off_diagonal = ~np.eye(args.n_latents, dtype=bool)
    absent = off_diagonal & ~truth

    nuts = fit_nuts(
        dataset,
        num_chains=args.chains,
        num_warmup=args.warmup,
        num_samples=args.samples,
        seed=args.seed,
        mixing=args.mixing,
        chain_method=args.chain_method,
        dense_mass=args.dense_mass,
        init_steps=args.init_steps,
    )
    nuts_probs = edge_posterior(nuts).probs
    diagnostics = edge_diagnostics(nuts)
    divergences = int(nuts["sample_stats"]["diverging"].sum())

    svi = fit_svi(
        dataset,
        steps=args.svi_steps,
        learning_rate=args.svi_lr,
        seed=args.seed,
        mixing=args.mixing,
    )
    svi_probs = edge_posterior(svi).probs
    pareto_k = importance_pareto_k(svi)

    nuts_edges = nuts_probs > 0.5
    svi_edges = svi_probs > 0.5
    row = {
        "graph_seed": graph_seed,
        "n_edges": int(truth.sum()),
        "edges": [f"z{j}->z{i}" for i, j in zip(*np.nonzero(truth), strict=True)],
        "max_rhat": diagnostics["max_rhat"],
        "min_ess_bulk": diagnostics["min_ess_bulk"],
        "min_ess_tail": diagnostics["min_ess_tail"],
        "divergences": divergences,
        "min_prob_true": float(nuts_probs[truth].min()) if truth.any() else None,
        "max_prob_absent": float(nuts_probs[absent].max()),
        "nuts_edges_equal_truth": bool(np.array_equal(nuts_edges, truth)),
        "svi_min_prob_true": float(svi_probs[truth].min()) if truth.any() else None,
        "svi_max_prob_absent": float(svi_probs[absent].max()),
        "svi_edges_equal_nuts": bool(np.array_equal(svi_edges, nuts_edges)),
        "svi_max_abs_prob_diff": float(np.abs(svi_probs - nuts_probs).max()),
        "svi_pareto_k": pareto_k,
        "nuts_wall_s": float(nuts.attrs["wall_time_s"]),
        "svi_wall_s": float(svi.attrs["wall_time_s"]),
        "weights_true": np.asarray(dataset.info["weights"]).round(3).tolist(),
        "weights_nuts_mean": nuts["posterior"]["weights"]
        .mean(("chain", "draw"))
        .values.round(3)
        .tolist(),
        "weights_svi_mean": svi["posterior"]["weights"]
        .mean(("chain", "draw"))
        .values.round(3)
        .tolist(),
    }
    row["meets_target"] = bool(
        row["max_rhat"] <= TARGET_RHAT
        and (row["min_prob_true"] is None or row["min_prob_true"] >= TARGET_TRUE)
        and row["max_prob_absent"] <= TARGET_ABSENT
        and row["svi_edges_equal_nuts"]
    )
    return row


def render(payload: dict) -> str:
    prov = payload["provenance"]
    settings = payload["settings"]
    lines = [
        f"Command: `{prov['command']}`; machine: {prov['machine']}; date: {prov['date']}; "
        f"commit: `{prov['commit']}`; jax {payload['versions']['jax']}, numpyro "
        f"{payload['versions']['numpyro']}, arviz {payload['versions']['arviz']}.",
        "",
        f"{settings['n_latents']} latents, {settings['n_obs']} observed, "
        f"{settings['n_per_context']} rows per context ({settings['train_rows_per_context']} in "
        f"the fitted train split) in {settings['n_latents'] + 1} contexts (observational + "
        f"one perfect intervention per latent, known targets), edge density "
        f"{settings['edge_density']}, mixing **{settings['mixing']}**, default prior "
        f"(edge prob 0.3, spike 0.05, slab 1). NUTS: {settings['chains']} chains "
        f"({settings['chain_method']}, {'dense' if settings['dense_mass'] else 'diagonal'} "
        f"mass matrix, each chain climbing {settings.get('init_steps', 500)} Adam steps from its "
        f"own random start first), {settings['warmup']} warmup + {settings['samples']} draws "
        "each; SVI: "
        f"AutoMultivariateNormal, Adam lr {settings['svi_lr']} cosine-decayed over "
        f"{settings['svi_steps']} steps, 4 ELBO particles, 2000 draws; SVI PSIS k is the Pareto k "
        "of the importance weights p/q (Yao et al. 2018; < 0.7 is good). "
        "Edge found = posterior probability > 0.5. Targets: R-hat <= 1.01 on every edge "
        "weight, P >= 0.9 on every true edge, P <= 0.1 on every absent edge, SVI finds the "
        "same edges.",
        "",
        "| graph seed | true edges | max R-hat (weights) | min ESS bulk / tail | divergences "
        "| min P(true edge) | max P(absent edge) | NUTS edges = truth | SVI edges = NUTS "
        "| SVI min P(true) / max P(absent) | max abs P diff (SVI vs NUTS) | SVI PSIS k "
        "| NUTS s | SVI s | target met |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in payload["rows"]:
        true_prob = "n/a" if row["min_prob_true"] is None else f"{row['min_prob_true']:.3f}"
        svi_true = "n/a" if row["svi_min_prob_true"] is None else f"{row['svi_min_prob_true']:.3f}"
        lines.append(
            f"| {row['graph_seed']} | {row['n_edges']} ({', '.join(row['edges'])}) "
            f"| {row['max_rhat']:.4f} | {row['min_ess_bulk']:.0f} / {row['min_ess_tail']:.0f} "
            f"| {row['divergences']} | {true_prob} | {row['max_prob_absent']:.3f} "
            f"| {'yes' if row['nuts_edges_equal_truth'] else 'NO'} "
            f"| {'yes' if row['svi_edges_equal_nuts'] else 'NO'} "
            f"| {svi_true} / {row['svi_max_prob_absent']:.3f} | {row['svi_max_abs_prob_diff']:.3f} "
            f"| {row['svi_pareto_k']:.2f} "
            f"| {row['nuts_wall_s']:.1f} | {row['svi_wall_s']:.1f} "
            f"| {'yes' if row['meets_target'] else 'NO'} |"
        )
    met = sum(row["meets_target"] for row in payload["rows"])
    lines += ["", f"Target met on {met} of {len(payload['rows'])} graphs."]
    if payload.get("note"):
        lines += ["", payload["note"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph-seeds", default="0,1,2,3,4")
    parser.add_argument("--n-latents", type=int, default=4)
    parser.add_argument("--n-obs", type=int, default=8)
    parser.add_argument("--n-per-context", type=int, default=1250)
    parser.add_argument("--edge-density", type=float, default=0.5)
    parser.add_argument("--mixing", choices=("known", "learned"), default="known")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--chain-method", default="vectorized")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument(
        "--dense-mass", action=argparse.BooleanOptionalAction, default=True, help="NUTS mass"
    )
    parser.add_argument("--init-steps", type=int, default=500, help="Adam climb per chain")
    parser.add_argument("--svi-steps", type=int, default=5000)
    parser.add_argument("--svi-lr", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0, help="inference seed")
    parser.add_argument("--name", default=None, help="results name (default: linear_scm_<mixing>)")
    parser.add_argument("--note", default="", help="a sentence appended to the section")
    parser.add_argument("--render", metavar="NAME", help="only rewrite BENCHMARKS.md from JSON")
    args = parser.parse_args()
    meta = provenance()  # the commit and date the runs start from

    if args.render:
        payload = json.loads((RESULTS / f"{args.render}.json").read_text())
        update_benchmarks_md(payload["section"], render(payload))
        return

    name = args.name or f"linear_scm_{args.mixing}_mixing"
    rows = []
    for graph_seed in (int(s) for s in args.graph_seeds.split(",")):
        start = time.perf_counter()
        row = run_graph(graph_seed, args)
        rows.append(row)
        print(
            f"graph {graph_seed}: R-hat {row['max_rhat']:.4f}, min P(true) {row['min_prob_true']}, "
            f"max P(absent) {row['max_prob_absent']:.3f}, SVI agrees {row['svi_edges_equal_nuts']}"
            f" ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    train_fraction = 0.8
    payload = {
        "section": f"Exact inference: linear SCM, {args.mixing} mixing ({name})",
        "provenance": meta,
        "versions": {
            "jax": jax.__version__,
            "numpyro": numpyro.__version__,
            "arviz": arviz.__version__,
        },
        "settings": {
            "n_latents": args.n_latents,
            "n_obs": args.n_obs,
            "n_per_context": args.n_per_context,
            "train_rows_per_context": round(args.n_per_context * train_fraction),
            "edge_density": args.edge_density,
            "mixing": args.mixing,
            "chains": args.chains,
            "chain_method": args.chain_method,
            "warmup": args.warmup,
            "samples": args.samples,
            "dense_mass": args.dense_mass,
            "init_steps": args.init_steps,
            "svi_steps": args.svi_steps,
            "svi_lr": args.svi_lr,
            "seed": args.seed,
            "cpu_count": os.cpu_count(),
        },
        "rows": rows,
        "note": args.note,
    }
    path = save_json(name, payload)
    update_benchmarks_md(payload["section"], render(payload))
    print(f"wrote {path} and BENCHMARKS.md")


if __name__ == "__main__":
    main()
