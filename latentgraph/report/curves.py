"""Training-curve figures from a :class:`~latentgraph.inference.svi_torch.History`-like record."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure


def draw_training_curves(
    rows: Sequence[Mapping[str, float]],
    evaluations: Sequence[Mapping[str, float]] = (),
    *,
    panels: Sequence[Sequence[str]] | None = None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """One panel per group of logged scalars, plus one for evaluation metrics.

    Args:
        rows: logged rows ``{"step": s, name: value, ...}``.
        evaluations: evaluation rows ``{"step": s, metric: value}`` (plotted in the last panel).
        panels: groups of names per panel; default: ``loss``/``neg_elbo``, then every
            ``edges_*``/``bound_*``, then every ``multiplier_*`` present.
        path: save as PNG here (and still return the figure).
    """
    names = set().union(*(r.keys() for r in rows)) if rows else set()
    if panels is None:
        panels = [
            [n for n in ("loss", "neg_elbo") if n in names],
            sorted(n for n in names if n.startswith(("edges_", "bound_"))),
            sorted(n for n in names if n.startswith("multiplier_")),
        ]
    panels = [list(p) for p in panels if p]
    eval_names = (
        sorted(set().union(*(e.keys() for e in evaluations)) - {"step"}) if evaluations else []
    )
    n_panels = len(panels) + (1 if eval_names else 0)
    figure = Figure(figsize=(4.2 * max(n_panels, 1), 3.4), constrained_layout=True)
    axes = figure.subplots(1, max(n_panels, 1), squeeze=False)[0]
    for ax, group in zip(axes, panels, strict=False):
        for name in group:
            steps = np.array([r["step"] for r in rows if name in r])
            values = np.array([r[name] for r in rows if name in r], dtype=float)
            ax.plot(steps, values, label=name)
        if group and group[0] in ("loss", "neg_elbo"):
            finite = np.concatenate([[r[n] for r in rows if n in r] for n in group]).astype(float)
            if (
                finite.size
                and np.nanmin(finite) > 0
                and np.nanmax(finite) / np.nanmin(finite) > 100
            ):
                ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if eval_names:
        ax = axes[len(panels)]
        for name in eval_names:
            steps = np.array([e["step"] for e in evaluations if name in e])
            values = np.array([e[name] for e in evaluations if name in e], dtype=float)
            ax.plot(steps, values, marker="o", ms=3, label=name)
        ax.set_xlabel("step")
        ax.set_title("evaluation")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    if path is not None:
        figure.savefig(path, dpi=110)
    return figure
