"""The figure of a sweep: a score per setting over seeds, and the label-free criterion."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from latentgraph._atomic import save_figure


def _label(setting) -> str:
    return f"{setting:g}" if isinstance(setting, float) else str(setting)


def draw_sweep(
    settings: Sequence,
    scores_by_setting: Mapping[object, Sequence[float]],
    udr_by_setting: Mapping[object, float] | None = None,
    *,
    selected=None,
    setting_name: str = "bound",
    score_name: str = "MCC",
    criterion_name: str = "UDR",
    path: str | os.PathLike | None = None,
):
    """Per setting: the mean and spread of ``score`` over seeds, and the criterion (one value).

    The score (e.g. MCC) needs ground truth; UDR (``docs/sweeps.md#selection``) does not, so the
    figure shows whether the label-free choice (the vertical line at ``selected``) lands where
    the score is best. ``settings`` are numbers (bounds) or labels (``"alpha=0.05,beta=0"``);
    the y axis is ``[0, 1]`` when every value lies there. Returns the figure (saved to ``path``
    when given).
    """
    xs = np.arange(len(settings))
    fig = Figure(figsize=(max(6, 0.9 * len(settings)), 3.6), layout="constrained")
    ax = fig.add_subplot()
    scores = {s: list(scores_by_setting.get(s, ())) for s in settings}
    means = [np.mean(scores[s]) if scores[s] else np.nan for s in settings]
    for x, s in zip(xs, settings, strict=True):
        ax.scatter(np.full(len(scores[s]), x), scores[s], s=14, color="tab:blue", alpha=0.5)
    ax.plot(xs, means, "-o", color="tab:blue", label=f"{score_name} (mean over seeds)")
    values = [v for s in settings for v in scores[s]]
    if udr_by_setting is not None:
        criterion = [udr_by_setting.get(s) for s in settings]
        criterion = [np.nan if c is None else c for c in criterion]
        ax.plot(xs, criterion, "-s", color="tab:orange", label=criterion_name)
        values += criterion
    if selected is not None and selected in list(settings):
        ax.axvline(list(settings).index(selected), color="gray", ls="--",
                   label=f"{criterion_name}'s choice")  # fmt: skip
    ax.set_xticks(xs, [_label(s) for s in settings], rotation=30 if len(settings) > 6 else 0)
    ax.set_xlabel(setting_name)
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if finite and 0 <= min(finite) and max(finite) <= 1:
        ax.set_ylim(0, 1.02)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    if path is not None:
        save_figure(fig, path, dpi=120)
    return fig
