"""``latentgraph demo``: the method's main claim in a few CPU minutes.

Fits the mechanism-sparsity VAE to ``action_sparsity_non_trivial`` twice, with the sparsity
constraint at the true edge count and with graphs frozen at all-ones (the paper's control), at
small sizes that fit a 2-core machine, then prints a comparison table and writes a report.
The settings are chosen for the time budget, not the paper's; the official-size comparison is
in ``benchmarks/mechanism_sparsity.py``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from latentgraph.app.mechanism_sparsity.run import run_fit
from latentgraph.app.report import markdown_table, write_report
from latentgraph.app.runs import prepare_run_dir
from latentgraph.data import make_mechanism_dataset
from latentgraph.families.mechanism_sparsity.config import demo_sizes
from latentgraph.families.mechanism_sparsity.fit_pyro import SparsitySettings, model_config_for
from latentgraph.inference.svi_torch import TrainConfig

DEMO_DATASET = "action_sparsity_non_trivial"
DEMO_SAMPLES = 60_000
DEMO_TRAIN = TrainConfig(
    steps=10_000, batch_size=256, lr=5e-3, seed=0, device="cpu", eval_every=1000
)
# Short runs need edges pruned on schedule: a faster edge-logit lr, a faster dual ascent and a
# bound annealed over the first quarter of the steps (the paper: 5e-4, 5e-4 and half of 300k).
DEMO_SPARSITY = SparsitySettings(
    mode="constraint", graph_lr=5e-2, dual_lr=5e-2, anneal_fraction=0.25
)
COLUMNS = ("setting", "mcc", "shd", "n_edges_learned", "linear_r", "train_wall_s")


def run_demo(
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    steps: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> list[dict]:
    """Run both fits, print the table, write ``report.md`` in ``out``; returns the table rows."""
    train = replace(DEMO_TRAIN, device=device, progress=progress)
    if steps is not None:
        train = replace(train, steps=steps, eval_every=max(steps // 12, 1))
    if out is None:
        out = Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    out = prepare_run_dir(out, overwrite=overwrite)
    dataset = make_mechanism_dataset(DEMO_DATASET, n_samples=DEMO_SAMPLES)
    config = model_config_for(dataset, demo_sizes())
    rows = []
    for label, sparsity in (
        (
            "constraint (B = true 20 edges)",
            DEMO_SPARSITY,
        ),
        ("no sparsity (all-ones graph)", SparsitySettings(mode="none")),
    ):
        folder = out / sparsity.mode
        print(f"fitting {DEMO_DATASET}: {label}")
        metrics = run_fit(
            dataset,
            folder,
            model_config=config,
            sparsity=sparsity,
            train_config=train,
            overwrite=overwrite,
        )
        rows.append(
            {"setting": label, **{k: metrics[k] for k in COLUMNS[1:]}, "folder": folder.name}
        )
    table = markdown_table(rows, COLUMNS)
    print()
    print(table)
    figures = []
    for row in rows:
        figures.append(
            (
                f"{row['setting']}: learned vs. true action graph",
                f"{row['folder']}/graph_action_graph.png",
            )
        )
        figures.append(
            (f"{row['setting']}: matched correlations", f"{row['folder']}/correlation.png")
        )
    figures.append(("Training curves (constraint)", "constraint/training.png"))
    write_report(
        out / "report.md",
        title="latentgraph demo: mechanism sparsity on action non-trivial",
        summary=(
            f"{DEMO_SAMPLES} samples, small networks, {train.steps} steps per fit on {train.device}. "
            "Sparsity should identify the latents (MCC near 1, SHD near 0) while the all-ones "
            "control stays entangled (the paper, at full scale: 0.998 vs 0.758)."
        ),
        tables=[("Comparison (test split)", table)],
        figures=figures,
        notes=[
            f"Each setting's full run folder (metrics.json, graphs, checkpoint) is in {out}/<mode>/."
        ],
    )
    print(f"report: {out / 'report.md'}")
    return rows
