"""Identifiability theory of mechanism sparsity as computable checks.

Graphs follow the library convention: rows are children, columns are parents.

- ``action_graph`` ``G^a`` has shape ``(n_latents, n_actions)``; ``G^a[i, l] = 1`` iff
  ``a_l -> z_i``.
- ``latent_graph`` ``G^z`` has shape ``(n_latents, n_latents)``; ``G^z[i, j] = 1`` iff
  ``z_j^{t-1} -> z_i^t``.

The entanglement graph ``E`` (Lachapelle et al., "Nonparametric Partial Disentanglement via
Mechanism Sparsity", arXiv 2401.04890; ``docs/mechanism_sparsity.md#theory-as-checks``) has
rows = ground-truth latents ``z_j`` and columns = learned latents in ground-truth order:
``E[j, i]`` is True iff ``z_j`` may appear in ``hat z_{pi(i)}``. It equals the consistency
pattern ``C`` of the consistency-R metric.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike, NDArray

from latentgraph.graphs._validation import as_binary_matrix

__all__ = [
    "complete_disentanglement_identifiable",
    "empty_rows",
    "entangled_blocks",
    "entanglement_graph",
    "guaranteed_disentangled",
    "is_completely_disentangled",
]


def _subset_pattern(graph: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``S[j, i]`` True iff the support of row ``j`` is a subset of the support of row ``i``.

    ``(G (1 - G)^T)[j, i]`` counts the parents of ``j`` that ``i`` lacks.
    """
    g = graph.astype(np.int64)
    return (g @ (1 - g).T) == 0


def entanglement_graph(
    action_graph: ArrayLike | None = None,
    latent_graph: ArrayLike | None = None,
) -> NDArray[np.bool_]:
    """Entanglement graph ``E`` allowed by the true graphs (matrix form of
    ``docs/mechanism_sparsity.md#entanglement-graph``).

    .. math::

        E_a = [G^a (1 - G^a)^T = 0], \\quad
        E_z = [G^z (1 - G^z)^T = 0] \\odot [G^{z\\top} (1 - G^z) = 0], \\quad
        E = E_a \\odot E_z .

    So ``E[j, i]`` is True iff ``N^a_j ⊆ N^a_i`` (action parents) and ``Pa_j ⊆ Pa_i`` and
    ``Ch_j ⊆ Ch_i`` (latent parents and children); a missing graph contributes no condition.
    ``E`` is reflexive and transitive (a preorder).

    Args:
        action_graph: 0/1 matrix ``(n_latents, n_actions)`` or ``None``.
        latent_graph: 0/1 matrix ``(n_latents, n_latents)`` or ``None``.

    Returns:
        Boolean matrix ``(n_latents, n_latents)``.

    Example:
        >>> import numpy as np
        >>> entanglement_graph(action_graph=np.eye(3)).sum()
        np.int64(3)
    """
    if action_graph is None and latent_graph is None:
        raise ValueError("entanglement_graph needs action_graph, latent_graph or both; got none")
    pattern = np.ones((0, 0), dtype=bool)
    n_latents: int | None = None
    if action_graph is not None:
        ga = as_binary_matrix(action_graph, "action_graph")
        n_latents = ga.shape[0]
        pattern = _subset_pattern(ga)
    if latent_graph is not None:
        gz = as_binary_matrix(latent_graph, "latent_graph", square=True, shape=(n_latents, None))
        ez = _subset_pattern(gz) & _subset_pattern(gz.T)
        pattern = ez if action_graph is None else pattern & ez
    return pattern


def _as_entanglement(entanglement: ArrayLike) -> NDArray[np.bool_]:
    return as_binary_matrix(entanglement, "entanglement", square=True)


def guaranteed_disentangled(entanglement: ArrayLike) -> NDArray[np.intp]:
    """Indices ``i`` of the latents guaranteed to be disentangled (``docs/mechanism_sparsity.md#derived-checks``).

    Latent ``i`` is guaranteed disentangled (``hat z_{pi(i)}`` depends on ``z_i`` only, and
    ``z_i`` is recoverable from ``hat z_{pi(i)}`` alone) iff column ``i`` of ``E`` is ``e_i``.

    Args:
        entanglement: boolean or 0/1 matrix ``E`` of shape ``(n_latents, n_latents)``.

    Returns:
        Sorted integer array of latent indices (possibly empty).
    """
    e = _as_entanglement(entanglement)
    identity = np.eye(e.shape[0], dtype=bool)
    return np.flatnonzero(np.all(e == identity, axis=0)).astype(np.intp)


def is_completely_disentangled(entanglement: ArrayLike) -> bool:
    """True iff ``E`` is the identity, i.e. every latent is identified up to permutation and
    element-wise maps (``docs/mechanism_sparsity.md#derived-checks``)."""
    e = _as_entanglement(entanglement)
    return bool(np.array_equal(e, np.eye(e.shape[0], dtype=bool)))


def complete_disentanglement_identifiable(
    action_graph: ArrayLike | None = None,
    latent_graph: ArrayLike | None = None,
) -> bool:
    """True iff the true graphs satisfy the graphical criterion, i.e. ``E = I``
    (``docs/mechanism_sparsity.md#derived-checks``).

    Note that a latent with no action parents makes the action-only criterion fail: the
    intersection over an empty index set is the set of all latents.
    """
    return is_completely_disentangled(entanglement_graph(action_graph, latent_graph))


def entangled_blocks(entanglement: ArrayLike) -> list[tuple[int, ...]]:
    """Groups of mutually entangled latents: strongly connected components of ``E``.

    ``E`` is read as a relation (edge ``j -> i`` iff ``E[j, i]``); latents in one component can
    each appear in the others' learned counterparts, e.g. latents with identical parent and
    child sets (``docs/mechanism_sparsity.md#derived-checks``). One-way leaks (``E[j, i]`` without ``E[i, j]``) do not merge blocks.

    Returns:
        A partition of ``range(n_latents)`` as sorted tuples, ordered by their smallest index;
        singletons are included.
    """
    e = _as_entanglement(entanglement)
    relation = nx.DiGraph()
    relation.add_nodes_from(range(e.shape[0]))
    relation.add_edges_from((int(j), int(i)) for j, i in zip(*np.nonzero(e), strict=True))
    blocks = [tuple(sorted(component)) for component in nx.strongly_connected_components(relation)]
    return sorted(blocks, key=lambda block: block[0])


def empty_rows(graph: ArrayLike) -> NDArray[np.intp]:
    """Indices of the children (rows) with no parents at all.

    For an action graph such a latent has a constant transition mean: it is unidentifiable and
    may leak into every learned latent (``docs/mechanism_sparsity.md#empty-action-rows``).
    """
    g = as_binary_matrix(graph, "graph")
    return np.flatnonzero(~g.any(axis=1)).astype(np.intp)
