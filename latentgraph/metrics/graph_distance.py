"""Comparison of a learned graph with the true graph after latent matching.

Lachapelle et al. (2024, arXiv 2401.04890), Sec. 8; ``docs/mechanism_sparsity.md#shd``: the
learned graph (``1[sigmoid(alpha) > 0.5]``) is put in
ground-truth order with the MCC matching and compared edge by edge; the structural Hamming
distance counts false negatives plus false positives, with no special handling of reversals.
Under partial disentanglement the matching inside an entangled block is arbitrary, so SHD can
be positive for a graph that is correct up to some other permutation
(``docs/mechanism_sparsity.md#consistency-orientation-and-shd-within-blocks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from latentgraph.graphs._validation import as_binary_matrix, as_permutation

__all__ = [
    "EdgeConfusion",
    "GraphKind",
    "edge_confusion",
    "permute_learned_graph",
    "structural_hamming_distance",
]

GraphKind = Literal["latent", "action"]


def _check_kind(kind: str) -> GraphKind:
    if kind not in ("latent", "action"):
        raise ValueError(f"kind must be 'latent' or 'action'; received {kind!r}")
    return kind  # type: ignore[return-value]


def _permute(
    graph: NDArray[np.bool_], perm: NDArray[np.intp], kind: GraphKind
) -> NDArray[np.bool_]:
    if kind == "latent":
        return graph[np.ix_(perm, perm)]
    return graph[perm]


def permute_learned_graph(
    learned_graph: ArrayLike,
    permutation: ArrayLike,
    kind: GraphKind = "latent",
) -> NDArray[np.int8]:
    """Learned graph in ground-truth order (``docs/mechanism_sparsity.md#shd``).

    - ``kind="latent"`` (``(n_learned, n_learned)``): ``G_perm[i, j] = G[pi(i), pi(j)]``, i.e.
      ``P G P^T`` with ``P[i, pi(i)] = 1``.
    - ``kind="action"`` (``(n_learned, n_actions)``): rows only, ``G_perm[i, l] = G[pi(i), l]``.

    ``permutation[i]`` is the learned latent matched to true latent ``i``; a permutation
    shorter than ``n_learned`` keeps the matched latents only.
    """
    kind = _check_kind(kind)
    graph = as_binary_matrix(learned_graph, "learned_graph", square=kind == "latent")
    if permutation is None:
        raise TypeError("permutation must be a 1-D integer array; received None")
    perm = as_permutation(permutation, n_true=None, n_learned=graph.shape[0])
    if perm.size == 0:
        raise ValueError("permutation must have at least one entry; received none")
    return _permute(graph, perm, kind).astype(np.int8)


@dataclass(frozen=True)
class EdgeConfusion:
    """Edge-wise confusion counts of a learned graph against the truth (after matching)."""

    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int

    @property
    def shd(self) -> int:
        """Structural Hamming distance, ``false_negative + false_positive``."""
        return self.false_negative + self.false_positive

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)``; 1.0 when no edge was learned (nothing claimed, nothing wrong)."""
        claimed = self.true_positive + self.false_positive
        return 1.0 if claimed == 0 else self.true_positive / claimed

    @property
    def recall(self) -> float:
        """``tp / (tp + fn)``; 1.0 when the true graph has no edge."""
        present = self.true_positive + self.false_negative
        return 1.0 if present == 0 else self.true_positive / present

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (0.0 when both are 0)."""
        total = self.precision + self.recall
        return 0.0 if total == 0 else 2.0 * self.precision * self.recall / total


def edge_confusion(
    true_graph: ArrayLike,
    learned_graph: ArrayLike,
    permutation: ArrayLike | None,
    kind: GraphKind = "latent",
) -> EdgeConfusion:
    """Confusion counts of ``learned_graph`` (permuted into ground-truth order) vs the truth.

    Args:
        true_graph: 0/1 matrix, ``(n_true, n_true)`` for ``kind="latent"`` or
            ``(n_true, n_actions)`` for ``kind="action"``; rows are children.
        learned_graph: thresholded learned 0/1 matrix in learned order, ``(n_learned,
            n_learned)`` or ``(n_learned, n_actions)``.
        permutation: ``permutation[i]`` = learned latent matched to true latent ``i``
            (``MCCResult.permutation``); ``None`` means the learned graph is already in
            ground-truth order and must have the true graph's shape.
        kind: ``"latent"`` (rows and columns permuted) or ``"action"`` (rows only).
    """
    kind = _check_kind(kind)
    truth = as_binary_matrix(true_graph, "true_graph", square=kind == "latent")
    n_true = truth.shape[0]
    n_columns = None if kind == "latent" else truth.shape[1]
    learned = as_binary_matrix(
        learned_graph, "learned_graph", square=kind == "latent", shape=(None, n_columns)
    )
    if permutation is None:
        if learned.shape != truth.shape:
            raise ValueError(
                f"learned_graph must have the true graph's shape {truth.shape} when "
                f"permutation is None; received {learned.shape}"
            )
        ordered = learned
    else:
        perm = as_permutation(permutation, n_true=n_true, n_learned=learned.shape[0])
        ordered = _permute(learned, perm, kind)
    return EdgeConfusion(
        true_positive=int(np.sum(truth & ordered)),
        false_positive=int(np.sum(~truth & ordered)),
        false_negative=int(np.sum(truth & ~ordered)),
        true_negative=int(np.sum(~truth & ~ordered)),
    )


def structural_hamming_distance(
    true_graph: ArrayLike,
    learned_graph: ArrayLike,
    permutation: ArrayLike | None,
    kind: GraphKind = "latent",
) -> int:
    """Structural Hamming distance after matching: false negatives + false positives.

    See :func:`edge_confusion` for the arguments. For the no-sparsity control (all-ones learned
    graph) it equals ``n_entries - n_true_edges``, e.g. 100 - 20 = 80 for the 10x10 action
    non-trivial graph (``docs/mechanism_sparsity.md#exact-sanity-values``).

    Example:
        >>> true = np.array([[1, 0], [1, 1]])
        >>> learned = np.array([[1, 1], [0, 1]])  # the same graph, latents swapped
        >>> structural_hamming_distance(true, learned, [1, 0])
        0
    """
    return edge_confusion(true_graph, learned_graph, permutation, kind).shd
