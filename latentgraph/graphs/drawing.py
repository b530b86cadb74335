"""Figures for learned graphs and latent matchings (matplotlib, no pyplot).

Figures are built with :class:`matplotlib.figure.Figure` directly, so nothing here selects a
backend or opens a window; it works under ``Agg`` and in headless runs. Every function returns
the figure, draws into caller-supplied axes when given, and saves to ``path`` when given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment

from latentgraph._atomic import save_figure
from latentgraph.graphs._validation import (
    as_binary_matrix,
    as_name_sequence,
    as_permutation,
    as_real_array,
)
from latentgraph.graphs.beliefs import EdgeBeliefs

__all__ = ["draw_correlation_matrix", "draw_graph_comparison"]

_MAX_TICK_LABELS = 30
_MAX_ANNOTATED = 12

# difference panel categories
_TRUE_NEGATIVE, _TRUE_POSITIVE, _FALSE_POSITIVE, _FALSE_NEGATIVE = 0, 1, 2, 3
_DIFFERENCE_COLOURS = ("#ffffff", "#7f7f7f", "#d62728", "#1f77b4")
_DIFFERENCE_LABELS = ("absent in both", "edge in both", "false positive", "false negative")

_PARENT_LABELS = {
    "action_to_latent": "parent action $a_j$",
    "latent_to_latent": "parent latent $z_j^{t-1}$",
    "concept": "parent concept",
}


def _label_axis(ax: Axes, x_names: Sequence[str], y_names: Sequence[str]) -> None:
    if len(x_names) <= _MAX_TICK_LABELS:
        ax.set_xticks(np.arange(len(x_names)), labels=list(x_names), rotation=90)
    if len(y_names) <= _MAX_TICK_LABELS:
        ax.set_yticks(np.arange(len(y_names)), labels=list(y_names))


def _resolve_axes(axes: Sequence[Axes] | Axes | None, count: int, width: float) -> list[Axes]:
    if axes is None:
        figure = Figure(figsize=(width * count, width), layout="constrained")
        created = figure.subplots(1, count, squeeze=False)[0]
        return list(created)
    given = [axes] if isinstance(axes, Axes) else list(axes)
    if len(given) != count or not all(isinstance(ax, Axes) for ax in given):
        raise ValueError(f"axes must be {count} matplotlib Axes; received {len(given)} object(s)")
    if any(ax.figure is not given[0].figure for ax in given):
        raise ValueError("axes must all belong to the same figure")
    return given


def _finish(figure: Figure, path: str | os.PathLike[str] | None) -> Figure:
    if path is not None:
        save_figure(figure, path, dpi=150)
    return figure


def draw_graph_comparison(
    learned: EdgeBeliefs,
    true_graph: ArrayLike | EdgeBeliefs,
    permutation: ArrayLike | None = None,
    *,
    threshold: float = 0.5,
    axes: Sequence[Axes] | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Side-by-side heat maps of a true graph and learned edge beliefs.

    Panels: the true 0/1 graph; the learned probabilities in ground-truth order (with a colour
    bar); and the difference of ``1[probs > threshold]`` against the truth, marking false
    positives and false negatives, with the SHD (``docs/mechanism_sparsity.md#shd``) in its
    title. The learned beliefs are first reordered with
    ``learned.permuted(permutation)`` (rows, and columns too for a graph among one node set);
    ``permutation=None`` means they are already in ground-truth order. Free-form roles (e.g. a
    concept -> pixel graph) label the axes with their roles.

    Args:
        learned: learned edge beliefs.
        true_graph: 0/1 matrix (or certain :class:`EdgeBeliefs`) in ground-truth order, of the
            same shape as the permuted learned beliefs.
        permutation: ``permutation[i]`` = learned latent matched to true latent ``i``.
        threshold: probability above which a learned edge counts as present.
        axes: three Axes of one figure to draw into; a new figure is made when ``None``.
        path: where to save the figure (format from the suffix), if given.

    Returns:
        The figure: three panels plus one colour-bar axes.
    """
    if not isinstance(learned, EdgeBeliefs):
        raise TypeError(f"learned must be EdgeBeliefs; received {type(learned).__name__}")
    ordered = learned if permutation is None else learned.permuted(permutation)
    if isinstance(true_graph, EdgeBeliefs):
        true_beliefs = true_graph
    else:
        truth = as_binary_matrix(true_graph, "true_graph", shape=ordered.shape)
        # parents of two node sets (e.g. actions) are never permuted, so the learned parent
        # names are the true ones
        parents = () if ordered.one_node_set else ordered.parent_names
        free = learned.kind is None
        true_beliefs = EdgeBeliefs.from_adjacency(
            truth,
            learned.kind,
            parent_names=parents,
            child_role=learned.child_role if free else None,
            parent_role=learned.parent_role if free else None,
        )
    if true_beliefs.shape != ordered.shape:
        raise ValueError(
            f"true_graph must have the shape of the permuted learned beliefs {ordered.shape}; "
            f"received {true_beliefs.shape}"
        )
    truth = true_beliefs.adjacency(0.5).astype(bool)
    true_rows, true_columns = true_beliefs.child_names, true_beliefs.parent_names
    hard = ordered.adjacency(threshold).astype(bool)

    panels = _resolve_axes(axes, 3, 4.2)
    figure = panels[0].figure
    true_ax, learned_ax, difference_ax = panels

    true_ax.imshow(truth, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    true_ax.set_title(f"True graph ({int(truth.sum())} edges)")

    image = learned_ax.imshow(ordered.probs, cmap="viridis", vmin=0, vmax=1)
    learned_ax.set_title(f"Learned P(edge), {int(hard.sum())} edges > {threshold:g}")
    figure.colorbar(image, ax=learned_ax, shrink=0.8, label="edge probability")

    categories = np.full(truth.shape, _TRUE_NEGATIVE, dtype=np.int8)
    categories[truth & hard] = _TRUE_POSITIVE
    categories[~truth & hard] = _FALSE_POSITIVE
    categories[truth & ~hard] = _FALSE_NEGATIVE
    n_false_positive = int(np.sum(~truth & hard))
    n_false_negative = int(np.sum(truth & ~hard))
    difference_ax.imshow(
        categories,
        cmap=ListedColormap(_DIFFERENCE_COLOURS),
        norm=BoundaryNorm(np.arange(-0.5, 4.5), 4),
        interpolation="nearest",
    )
    difference_ax.set_title(
        f"SHD = {n_false_positive + n_false_negative} "
        f"(FP {n_false_positive}, FN {n_false_negative})"
    )
    difference_ax.legend(
        handles=[
            Patch(facecolor=colour, edgecolor="black", label=label)
            for colour, label in zip(_DIFFERENCE_COLOURS, _DIFFERENCE_LABELS, strict=True)
        ],
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize="small",
        frameon=False,
    )

    if learned.kind is not None:
        parent_label = _PARENT_LABELS[learned.kind]
        true_child, learned_child = "child (true latent $z_i$)", r"learned latent matched to $z_i$"
    else:
        parent_label = f"parent {learned.parent_role}"
        true_child = f"child (true {learned.child_role} $i$)"
        learned_child = f"learned {learned.child_role} matched to $i$"
    for ax, rows in (
        (true_ax, true_rows),
        (learned_ax, ordered.child_names),
        (difference_ax, true_rows),
    ):
        _label_axis(ax, true_columns, rows)
        ax.set_xlabel(parent_label)
    true_ax.set_ylabel(true_child)
    learned_ax.set_ylabel(learned_child)
    difference_ax.set_ylabel(true_child)
    return _finish(figure, path)


def draw_correlation_matrix(
    correlation: ArrayLike,
    permutation: ArrayLike | None = None,
    *,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    true_names: Sequence[str] = (),
    learned_names: Sequence[str] = (),
) -> Figure:
    """Heat map of ``|corr|`` between true (rows) and learned (columns) latents, matched.

    Columns are reordered so that the learned latent matched to true latent ``i`` sits in
    column ``i`` (unmatched learned latents follow in their original order); the title gives
    the MCC, the mean matched ``|corr|`` (``docs/mechanism_sparsity.md#mcc``).

    Args:
        correlation: ``(n_true, n_learned)`` correlations (signed or absolute), with
            ``n_learned >= n_true``, e.g. ``MCCResult.correlation``.
        permutation: the matching, e.g. ``MCCResult.permutation``; solved with the Hungarian
            algorithm on ``-|corr|`` when ``None``.
        ax: Axes to draw into; a new figure is made when ``None``.
        path: where to save the figure, if given.
        true_names, learned_names: tick labels; default ``z0, ...`` and ``ẑ0, ...``.

    Returns:
        The figure (the heat map and its colour bar).
    """
    values = as_real_array(correlation, "correlation")
    if values.ndim != 2 or 0 in values.shape:
        raise ValueError(f"correlation must be a non-empty 2-D array; received {values.shape}")
    n_true, n_learned = values.shape
    if n_learned < n_true:
        raise ValueError(
            "correlation must have at least as many columns (learned) as rows (true); "
            f"received shape {values.shape}"
        )
    if not np.all(np.isfinite(values)) or np.abs(values).max() > 1.0 + 1e-9:
        raise ValueError("correlation must be finite with entries in [-1, 1]")
    magnitude: NDArray[np.float64] = np.abs(values)
    if permutation is None:
        _, perm = linear_sum_assignment(-magnitude)
    else:
        perm = as_permutation(permutation, n_true=n_true, n_learned=n_learned)
    order = np.concatenate([perm, np.setdiff1d(np.arange(n_learned), perm)])
    score = float(magnitude[np.arange(n_true), perm].mean())

    rows = as_name_sequence(true_names, "true_names") or tuple(
        f"$z_{{{i}}}$" for i in range(n_true)
    )
    columns = as_name_sequence(learned_names, "learned_names") or tuple(
        f"$\\hat z_{{{j}}}$" for j in range(n_learned)
    )
    if len(rows) != n_true:
        raise ValueError(f"true_names must have {n_true} entries; received {len(rows)}")
    if len(columns) != n_learned:
        raise ValueError(f"learned_names must have {n_learned} entries; received {len(columns)}")

    (axis,) = _resolve_axes(ax, 1, 5.0)
    figure = axis.figure
    shown = magnitude[:, order]
    image = axis.imshow(shown, cmap="viridis", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, shrink=0.8, label="|correlation|")
    if n_true <= _MAX_ANNOTATED and n_learned <= _MAX_ANNOTATED:
        for i in range(n_true):
            for j in range(n_learned):
                colour = "black" if shown[i, j] > 0.6 else "white"
                axis.text(
                    j,
                    i,
                    f"{shown[i, j]:.2f}",
                    ha="center",
                    va="center",
                    color=colour,
                    fontsize="x-small",
                )
    _label_axis(axis, [columns[j] for j in order], rows)
    axis.set_xlabel("learned latent (matched order)")
    axis.set_ylabel("true latent")
    axis.set_title(f"|corr|, MCC = {score:.3f}")
    return _finish(figure, path)
