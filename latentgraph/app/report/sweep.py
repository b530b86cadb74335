"""The figure of a hyperparameter sweep: a score and the label-free UDR against the setting."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure


def draw_sweep(
    settings: Sequence[float],
    scores_by_setting: Mapping[float, Sequence[float]],
    udr_by_setting: Mapping[float, float],
    *,
    selected: float | None = None,
    setting_name: str = "bound",
    score_name: str = "MCC",
    path: str | os.PathLike | None = None,
):
    """Per setting: the mean and spread of ``score`` over seeds, and the UDR (one value).

    The score (e.g. MCC) needs ground truth; UDR does not, so the figure shows whether the
    label-free choice (the vertical line at ``selected``) lands where the score is best.
    Returns the figure (saved to ``path`` when given).
    """
    xs = np.arange(len(settings))
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.add_subplot()
    means = [
        np.mean(scores_by_setting[s]) if len(scores_by_setting[s]) else np.nan for s in settings
    ]
    for x, s in zip(xs, settings, strict=True):
        ax.scatter(np.full(len(scores_by_setting[s]), x), scores_by_setting[s], s=14,
                   color="tab:blue", alpha=0.5)  # fmt: skip
    ax.plot(xs, means, "-o", color="tab:blue", label=f"{score_name} (mean over seeds)")
    ax.plot(xs, [udr_by_setting[s] for s in settings], "-s", color="tab:orange", label="UDR")
    if selected is not None:
        ax.axvline(list(settings).index(selected), color="gray", ls="--", label="UDR's choice")
    ax.set_xticks(xs, [f"{s:g}" for s in settings])
    ax.set_xlabel(setting_name)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
