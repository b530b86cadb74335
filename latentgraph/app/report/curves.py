"""Training-curve figures from logged rows and evaluation rows."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from latentgraph._atomic import save_figure


def _plot_series(
    ax: Axes, rows: Sequence[Mapping[str, float]], names: Sequence[str], **style
) -> None:
    for name in names:
        steps = np.array([r["step"] for r in rows if name in r])
        values = np.array([r[name] for r in rows if name in r], dtype=float)
        ax.plot(steps, values, label=name, **style)
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def _is_score(name: str, rows: Sequence[Mapping[str, float]]) -> bool:
    values = [r[name] for r in rows if name in r and r[name] == r[name]]
    return bool(values) and all(0 <= v <= 1 for v in values)


def draw_training_curves(
    rows: Sequence[Mapping[str, float]],
    evaluations: Sequence[Mapping[str, float]] = (),
    *,
    panels: Sequence[Sequence[str]] | None = None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """One panel per group of logged scalars, then the evaluation metrics.

    Args:
        rows: logged rows ``{"step": s, name: value, ...}``.
        evaluations: evaluation rows ``{"step": s, metric: value}``; scores in [0, 1] (MCC...)
            and counts (SHD, edges) get separate panels.
        panels: groups of names per panel; default: ``loss``/``neg_elbo`` (log scale when it
            spans more than two decades), every ``edges_*``/``bound_*``, every ``multiplier_*``.
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
    scores = [n for n in eval_names if _is_score(n, evaluations)]
    eval_panels = [g for g in (scores, [n for n in eval_names if n not in scores]) if g]
    n_panels = max(len(panels) + len(eval_panels), 1)
    figure = Figure(figsize=(4.2 * n_panels, 3.4), constrained_layout=True)
    axes = figure.subplots(1, n_panels, squeeze=False)[0]
    for ax, group in zip(axes, panels, strict=False):
        _plot_series(ax, rows, group)
        if group[0] in ("loss", "neg_elbo"):
            values = np.array([r[n] for r in rows for n in group if n in r], dtype=float)
            if (
                values.size
                and np.nanmin(values) > 0
                and np.nanmax(values) / np.nanmin(values) > 100
            ):
                ax.set_yscale("log")
    for ax, group in zip(axes[len(panels) :], eval_panels, strict=False):
        _plot_series(ax, evaluations, group, marker="o", ms=3)
        ax.set_title("evaluation (validation split)")
    if title:
        figure.suptitle(title)
    if path is not None:
        save_figure(figure, path, dpi=110)
    return figure
