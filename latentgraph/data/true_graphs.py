"""Ground-truth graphs of the mechanism-sparsity synthetic data.

Lachapelle et al. (2024, arXiv 2401.04890), Sec. 8.1-8.2;
``docs/mechanism_sparsity.md#synthetic-data``.

Orientation everywhere: rows are children (latents ``z_i^t``), columns are parents
(actions ``a_l`` for an action graph, previous latents ``z_j^{t-1}`` for a latent graph).
Indices are 0-based. All graphs are int8 0/1 matrices.
"""

from __future__ import annotations

import numpy as np

from latentgraph.data._checks import check_fraction, check_int, check_seed, describe

__all__ = ["GRAPH_NAMES", "named_graph", "random_graph"]

# Graphs named in Lachapelle et al. (2024), Sec. 8.2 (fixed to 10 latents).
GRAPH_NAMES: tuple[str, ...] = (
    "graph_action_3_easy",
    "graph_action_3_hard",
    "graph_temporal_3_easy",
    "graph_temporal_3_hard",
)

# Dataset name -> graph recipe.
_DATASET_GRAPHS: dict[str, str] = {
    "action_sparsity_trivial": "identity",
    "action_sparsity_non_trivial": "identity_plus_shift",
    "action_sparsity_non_trivial_k=2": "identity_plus_shift",
    "action_sparsity_non_trivial_no_suff_var": "identity_plus_shift",
    "action_sparsity_non_trivial_no_graph_crit": "pair_blocks",
    "temporal_sparsity_trivial": "identity",
    "temporal_sparsity_non_trivial": "lower_triangular",
    "temporal_sparsity_non_trivial_k=2": "lower_triangular",
    "temporal_sparsity_non_trivial_no_suff_var": "lower_triangular",
    "temporal_sparsity_non_trivial_no_graph_crit": "two_blocks",
}


def _blocks(n_latents: int, block: int) -> np.ndarray:
    """Block-diagonal all-ones matrix with square blocks of size ``block``."""
    index = np.arange(n_latents) // block
    return (index[:, None] == index[None, :]).astype(np.int8)


def _recipe(recipe: str, n_latents: int) -> np.ndarray:
    eye = np.eye(n_latents, dtype=np.int8)
    if recipe == "identity":
        return eye
    if recipe == "identity_plus_shift":
        # z_i <- {a_i, a_{(i-1) mod n}}
        return eye | np.roll(eye, -1, axis=1)
    if recipe == "lower_triangular":
        # z_j^{t-1} -> z_i^t iff j <= i
        return np.tril(np.ones((n_latents, n_latents), dtype=np.int8))
    if recipe == "pair_blocks":
        return _blocks(n_latents, 2)
    if recipe == "two_blocks":
        return _blocks(n_latents, n_latents // 2)
    raise AssertionError(recipe)  # pragma: no cover


def _paper_graph(name: str) -> np.ndarray:
    """The four 10-latent graphs of Lachapelle et al. (2024), Sec. 8.2
    (``docs/mechanism_sparsity.md#named-and-random-graphs``)."""
    if name.startswith("graph_action_3"):
        graph = np.zeros((10, 5), dtype=np.int8)
        for k in range(5):
            graph[2 * k : 2 * k + 2, k] = 1  # z_{2k}, z_{2k+1} <- a_k
        if name == "graph_action_3_hard":
            graph[8:10, 0] = 1  # z_8, z_9 <- a_0
        return graph
    graph = _blocks(10, 2)
    if name == "graph_temporal_3_hard":
        graph[0:2, 8:10] = 1  # rows 0-1 <- {8, 9}
        graph[8:10, [0, 1, 4, 5]] = 1  # rows 8-9 <- {0, 1, 4, 5}
    return graph


def named_graph(name: str, *, n_latents: int = 10) -> np.ndarray:
    """The ground-truth graph of a mechanism data set or of a named Sec. 8.2 graph.

    Args:
        name: a data set name (e.g. ``"temporal_sparsity_non_trivial"``; the ``k=2`` and
            ``no_suff_var`` variants share the ``non_trivial`` graph) or one of
            :data:`GRAPH_NAMES`.
        n_latents: number of latents. The ``graph_*`` names exist only for 10; the
            ``no_graph_crit`` graphs (pairs for actions, two halves for time) need an even number.

    Returns:
        int8 0/1 matrix, rows = latents (children), columns = parents. Action graphs are
        ``(n_latents, n_actions)`` (10×5 for ``graph_action_3_*``), latent graphs are square.

    Edge counts at 10 latents (``docs/mechanism_sparsity.md#exact-sanity-values``): trivial 10; action non-trivial 20; temporal
    non-trivial 55; no_graph_crit 20 (action) / 50 (temporal); ``graph_action_3_easy``/``hard``
    10 / 12; ``graph_temporal_3_easy``/``hard`` 20 / 32.

    Example:
        >>> int(named_graph("graph_temporal_3_hard").sum())
        32
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a str, got {describe(name)}")
    valid = (*_DATASET_GRAPHS, *GRAPH_NAMES)
    if name not in valid:
        raise ValueError(f"`name` must be one of {list(valid)}, got {name!r}")
    n_latents = check_int(n_latents, "n_latents", minimum=1)
    if name in GRAPH_NAMES:
        if n_latents != 10:
            raise ValueError(f"`n_latents` must be 10 for graph {name!r}, got {n_latents}")
        return _paper_graph(name)
    recipe = _DATASET_GRAPHS[name]
    if recipe in ("pair_blocks", "two_blocks") and n_latents % 2:
        raise ValueError(f"`n_latents` must be even for {name!r}, got {n_latents}")
    return _recipe(recipe, n_latents)


def random_graph(
    kind: str,
    n_latents: int,
    n_actions: int | None,
    density: float,
    seed: int,
) -> np.ndarray:
    """A random ground-truth graph with i.i.d. Bernoulli(``density``) entries
    (``docs/mechanism_sparsity.md#named-and-random-graphs``).

    Args:
        kind: ``"action"`` (shape ``(n_latents, n_actions)``; empty rows are kept,
            ``docs/mechanism_sparsity.md#empty-action-rows``) or ``"temporal"`` (shape ``(n_latents, n_latents)``, diagonal forced to 1).
        n_latents: number of latents.
        n_actions: number of actions for ``kind="action"`` (None means ``n_latents``); must be
            None for ``kind="temporal"``.
        density: edge probability p in (0, 1].
        seed: non-negative int; the draw is ``np.random.default_rng(seed).random(shape) < p``.

    The draw does not reproduce the official graphs entry for entry.
    """
    if kind not in ("action", "temporal"):
        raise ValueError(f"`kind` must be 'action' or 'temporal', got {kind!r}")
    n_latents = check_int(n_latents, "n_latents", minimum=1)
    if kind == "temporal":
        if n_actions is not None:
            raise ValueError(f"`n_actions` must be None for kind='temporal', got {n_actions!r}")
        shape = (n_latents, n_latents)
    else:
        n_actions = n_latents if n_actions is None else check_int(n_actions, "n_actions", minimum=1)
        shape = (n_latents, n_actions)
    density = check_fraction(density, "density")
    seed = check_seed(seed, "seed")
    graph = (np.random.default_rng(seed).random(shape) < density).astype(np.int8)
    if kind == "temporal":
        np.fill_diagonal(graph, 1)
    return graph
