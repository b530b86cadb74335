"""Concept-level scores beyond the context-module paper: block R^2 and the concept graph.

Markham et al. (2025, arXiv 2507.04754) evaluate only with SWD and the ELBO
(``docs/context_module.md#beyond-the-paper``). Because the generators keep their ground truth, two more checks are possible:

1. **Per-concept recovery.** The identifiability reading of ``docs/context_module.md#identifiability`` says a model that fits
   every context has concept blocks equal to the true concepts up to an invertible map
   *within each block*; known targets fix which block is which concept, so no matching is
   needed. :func:`concept_r2` regresses each true concept on its learned block, fitting on
   train rows and scoring ``R^2`` on test rows. The default regression is linear (ordinary
   least squares with intercept, the block-wise linear/affine indeterminacy);
   ``regressor="knn"`` (k-nearest neighbours on train-standardised features) is a
   nonparametric check for blocks that are a nonlinear function of the concept, e.g. after
   the expressive layer's GELUs.
2. **Concept graph.** :func:`concept_graph_scores` and :func:`maximal_dag` are the read-out
   of ``docs/context_module.md#graph-read-out`` (block-average the causal layer's obs and ivn matrices, take their elementwise
   minimum, zero the diagonal, raise a threshold until the graph is acyclic);
   :func:`compare_concept_graphs` compares the result with the true DAG (SHD and edge
   confusion from :mod:`latentgraph.metrics.graph_distance`) and returns both as
   ``networkx.DiGraph``.

Matrices are ``[child, parent]`` (rows children), as everywhere in latentgraph; the causal
layer's ``E[r, s]`` is the effect of concept ``s`` on concept ``r``, so it reads the same way.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.neighbors import KNeighborsRegressor

from latentgraph.graphs._validation import as_binary_matrix, as_real_array
from latentgraph.graphs.beliefs import EdgeBeliefs
from latentgraph.metrics.graph_distance import EdgeConfusion, edge_confusion

__all__ = [
    "ConceptGraphComparison",
    "block_average",
    "compare_concept_graphs",
    "concept_graph_scores",
    "concept_r2",
    "concept_r2_matrix",
    "maximal_dag",
]

Regressor = Literal["linear", "knn"]


def _as_rows(value: ArrayLike, name: str, n_rows: int | None = None) -> NDArray[np.float64]:
    array = as_real_array(value, name)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must be 2-D (n_rows, n_columns); received shape {array.shape}")
    if n_rows is not None and array.shape[0] != n_rows:
        raise ValueError(f"{name} must have {n_rows} rows; received {array.shape[0]}")
    if array.shape[0] < 2:
        raise ValueError(f"{name} must have at least 2 rows; received {array.shape[0]}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; found NaN or infinite values")
    return array


def _check_columns(
    concept_columns: Sequence[Sequence[int]] | None, n_columns: int
) -> list[list[int]]:
    if concept_columns is None:
        return [[j] for j in range(n_columns)]
    if isinstance(concept_columns, str) or not isinstance(concept_columns, Sequence):
        raise TypeError("concept_columns must be a sequence of column-index lists")
    groups = []
    for group in concept_columns:
        if isinstance(group, numbers.Integral) and not isinstance(group, bool):
            group = [group]
        if (
            isinstance(group, str)
            or not isinstance(group, Sequence)
            or not group
            or not all(
                isinstance(j, numbers.Integral) and not isinstance(j, bool) and 0 <= j < n_columns
                for j in group
            )
        ):
            raise ValueError(
                f"concept_columns entries must be non-empty lists of column indices in "
                f"[0, {n_columns}); received {group!r}"
            )
        groups.append([int(j) for j in group])
    if not groups:
        raise ValueError("concept_columns must name at least one concept")
    return groups


def _check_regressor(regressor: str, n_neighbors: object) -> None:
    if regressor not in ("linear", "knn"):
        raise ValueError(f"regressor must be 'linear' or 'knn'; received {regressor!r}")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, numbers.Integral):
        raise TypeError(f"n_neighbors must be an int; received {type(n_neighbors).__name__}")
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be >= 1; received {n_neighbors}")


def _fit_score(
    x_train: NDArray[np.float64],
    y_train: NDArray[np.float64],
    x_test: NDArray[np.float64],
    y_test: NDArray[np.float64],
    regressor: Regressor,
    n_neighbors: int,
) -> float:
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale[scale == 0] = 1.0
    x_train = (x_train - mean) / scale
    x_test = (x_test - mean) / scale
    if regressor == "linear":
        model = LinearRegression()
    else:
        model = KNeighborsRegressor(n_neighbors=min(n_neighbors, x_train.shape[0]))
    prediction = model.fit(x_train, y_train).predict(x_test).reshape(y_test.shape)
    return float(r2_score(y_test, prediction, multioutput="uniform_average"))


def concept_r2_matrix(
    learned_train: ArrayLike,
    concepts_train: ArrayLike,
    learned_test: ArrayLike,
    concepts_test: ArrayLike,
    *,
    concept_columns: Sequence[Sequence[int]] | None = None,
    n_blocks: int | None = None,
    regressor: Regressor = "linear",
    n_neighbors: int = 10,
) -> NDArray[np.float64]:
    """``R^2[i, j]``: true concept ``i`` predicted from learned block ``j`` (test rows).

    Args:
        learned_train, learned_test: ``(n, n_blocks * width)`` learned representation (e.g.
            the module's ``c`` or ``z``), split into ``n_blocks`` equal consecutive blocks.
        concepts_train, concepts_test: ``(n, n_columns)`` ground-truth concepts.
        concept_columns: columns of ``concepts`` per concept (a concept may span several
            columns, e.g. a shift ``(dx, dy)``; its ``R^2`` is the mean over them);
            default one column per concept.
        n_blocks: number of learned blocks; default the number of concepts.
        regressor: ``"linear"`` (OLS with intercept) or ``"knn"`` (module docstring).
        n_neighbors: neighbours of the ``"knn"`` regressor.

    ``R^2 = 1 - SS_res / SS_tot`` on test rows (``sklearn.metrics.r2_score``); out of sample
    it can be negative (worse than a constant prediction), and is about 0 for a block
    independent of the concept. A concept column that is constant on the test rows scores 1
    if predicted exactly and 0 otherwise (scikit-learn's ``force_finite`` convention).
    """
    _check_regressor(regressor, n_neighbors)
    z_train = _as_rows(learned_train, "learned_train")
    y_train = _as_rows(concepts_train, "concepts_train", z_train.shape[0])
    z_test = _as_rows(learned_test, "learned_test")
    y_test = _as_rows(concepts_test, "concepts_test", z_test.shape[0])
    if z_test.shape[1] != z_train.shape[1]:
        raise ValueError(
            f"learned_test must have {z_train.shape[1]} columns like learned_train; "
            f"received {z_test.shape[1]}"
        )
    if y_test.shape[1] != y_train.shape[1]:
        raise ValueError(
            f"concepts_test must have {y_train.shape[1]} columns like concepts_train; "
            f"received {y_test.shape[1]}"
        )
    groups = _check_columns(concept_columns, y_train.shape[1])
    if n_blocks is None:
        n_blocks = len(groups)
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, numbers.Integral) or n_blocks < 1:
        raise ValueError(f"n_blocks must be a positive int; received {n_blocks!r}")
    if z_train.shape[1] % n_blocks:
        raise ValueError(
            f"learned_train's {z_train.shape[1]} columns cannot be split into {n_blocks} "
            "equal blocks"
        )
    width = z_train.shape[1] // n_blocks
    scores = np.empty((len(groups), n_blocks))
    for j in range(n_blocks):
        block = slice(j * width, (j + 1) * width)
        for i, columns in enumerate(groups):
            scores[i, j] = _fit_score(
                z_train[:, block],
                y_train[:, columns],
                z_test[:, block],
                y_test[:, columns],
                regressor,
                int(n_neighbors),
            )
    return scores


def concept_r2(
    learned_train: ArrayLike,
    concepts_train: ArrayLike,
    learned_test: ArrayLike,
    concepts_test: ArrayLike,
    *,
    concept_columns: Sequence[Sequence[int]] | None = None,
    regressor: Regressor = "linear",
    n_neighbors: int = 10,
) -> NDArray[np.float64]:
    """Per-concept ``R^2`` of true concept ``k`` from learned block ``k`` (test rows).

    The diagonal of :func:`concept_r2_matrix` with one block per concept (see there for the
    arguments). 1 for a block that is an invertible affine map of its concept (linear
    regressor).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> truth = rng.normal(size=(400, 2))
        >>> blocks = np.hstack([truth[:, :1] @ [[2.0, -1.0]], truth[:, 1:] @ [[0.5, 3.0]]])
        >>> np.round(concept_r2(blocks[:200], truth[:200], blocks[200:], truth[200:]), 6)
        array([1., 1.])
    """
    return np.diag(
        concept_r2_matrix(
            learned_train,
            concepts_train,
            learned_test,
            concepts_test,
            concept_columns=concept_columns,
            regressor=regressor,
            n_neighbors=n_neighbors,
        )
    ).copy()


def block_average(matrix: ArrayLike, n_concepts: int) -> NDArray[np.float64]:
    """``(K b, K b)`` -> ``(K, K)`` means of the ``b x b`` blocks (the graph read-out, step 1).

    Example:
        >>> block_average(np.arange(16.0).reshape(4, 4), 2).tolist()
        [[2.5, 4.5], [10.5, 12.5]]
    """
    array = as_real_array(matrix, "matrix")
    if isinstance(n_concepts, bool) or not isinstance(n_concepts, numbers.Integral):
        raise TypeError(f"n_concepts must be an int; received {type(n_concepts).__name__}")
    if n_concepts < 1:
        raise ValueError(f"n_concepts must be >= 1; received {n_concepts}")
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] % n_concepts:
        raise ValueError(
            f"matrix must be square with a side divisible by n_concepts={n_concepts}; "
            f"received shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("matrix must be finite")
    width = array.shape[0] // n_concepts
    return array.reshape(n_concepts, width, n_concepts, width).mean(axis=(1, 3))


def concept_graph_scores(
    obs_matrix: ArrayLike, ivn_matrix: ArrayLike | None, n_concepts: int
) -> NDArray[np.float64]:
    """Concept edge scores from the causal layer (``docs/context_module.md#graph-read-out``, steps 1-3).

    ``min(blockavg(E^obs), blockavg(E^ivn))`` with the diagonal set to 0. Either the raw
    ``Q`` or the effective ``E = I + Q (1 - D_b)`` may be passed: they differ only on the
    diagonal blocks, which are zeroed. ``ivn_matrix=None`` scores the obs matrix alone.

    Args:
        obs_matrix, ivn_matrix: ``(K b, K b)`` causal-layer matrices, ``[child, parent]``.
        n_concepts: ``K``.

    Returns:
        ``(K, K)`` scores, ``[r, s]`` for the edge ``s -> r``.
    """
    scores = block_average(obs_matrix, n_concepts)
    if ivn_matrix is not None:
        ivn = block_average(ivn_matrix, n_concepts)
        if ivn.shape != scores.shape or np.shape(ivn_matrix) != np.shape(obs_matrix):
            raise ValueError(
                f"ivn_matrix must have obs_matrix's shape {np.shape(obs_matrix)}; "
                f"received {np.shape(ivn_matrix)}"
            )
        scores = np.minimum(scores, ivn)
    np.fill_diagonal(scores, 0.0)
    return scores


def _check_scores(scores: ArrayLike) -> NDArray[np.float64]:
    array = as_real_array(scores, "scores")
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] < 1:
        raise ValueError(f"scores must be a non-empty square matrix; received {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("scores must be finite")
    return array


def maximal_dag(scores: ArrayLike) -> tuple[NDArray[np.int8], float]:
    """The "maximal DAG" of ``docs/context_module.md#graph-read-out``, step 4: raise a threshold until the graph is acyclic.

    Edges are ``scores > t`` off the diagonal. ``t`` starts at 0 and is raised through the
    distinct edge scores in increasing order (all edges at a score leave together) until
    the kept graph is acyclic.

    Returns:
        ``(adjacency, t)``: the ``int8`` 0/1 DAG (rows children) and the threshold used.

    Example:
        >>> scores = np.array([[0.0, 0.0, 0.3], [0.9, 0.0, 0.0], [0.0, 0.8, 0.0]])
        >>> adjacency, t = maximal_dag(scores)  # cycle 0 -> 1 -> 2 -> 0; 2 -> 0 is weakest
        >>> adjacency.tolist(), t
        ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], 0.3)
    """
    array = _check_scores(scores).copy()
    np.fill_diagonal(array, 0.0)
    candidates = np.unique(array[array > 0])
    threshold = 0.0
    for level in [0.0, *candidates.tolist()]:
        threshold = float(level)
        adjacency = array > threshold
        if nx.is_directed_acyclic_graph(nx.DiGraph(adjacency.T)):
            break
    return (array > threshold).astype(np.int8), threshold


@dataclass(frozen=True, eq=False)
class ConceptGraphComparison:
    """A learned concept graph against the true DAG (no matching: known targets label blocks).

    Attributes:
        learned_graph: ``networkx.DiGraph`` of the learned edges ``parent -> child``; each
            edge carries its ``score``.
        true_graph: ``networkx.DiGraph`` of the true DAG.
        learned_adjacency: ``(K, K)`` int8, rows children.
        threshold: the threshold the learned edges exceed.
        confusion: edge confusion counts (:class:`~latentgraph.metrics.EdgeConfusion`).
    """

    learned_graph: nx.DiGraph
    true_graph: nx.DiGraph
    learned_adjacency: NDArray[np.int8]
    threshold: float
    confusion: EdgeConfusion

    @property
    def shd(self) -> int:
        """Structural Hamming distance (false negatives + false positives; a reversed edge
        counts twice)."""
        return self.confusion.shd


def compare_concept_graphs(
    scores: ArrayLike,
    true_graph: ArrayLike,
    *,
    concept_names: Sequence[str] = (),
    threshold: float | None = None,
) -> ConceptGraphComparison:
    """Threshold learned concept scores and compare them with the true DAG.

    Args:
        scores: ``(K, K)`` learned edge scores, rows children (e.g.
            :func:`concept_graph_scores`); the diagonal is ignored.
        true_graph: ``(K, K)`` 0/1 true DAG, rows children (e.g. a data set's
            ``graphs["concept_graph"]``).
        concept_names: node names (default ``c0, c1, ...``).
        threshold: keep ``scores > threshold``; ``None`` uses the maximal DAG of
            :func:`maximal_dag` (``docs/context_module.md#graph-read-out``).

    Example:
        >>> truth = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])  # 2 -> 1 -> 0, 2 -> 0
        >>> scores = np.array([[0.0, 0.7, 0.0], [0.0, 0.0, 0.0], [0.0, 0.6, 0.0]])
        >>> result = compare_concept_graphs(scores, truth)  # 1 right, 1 reversed, 1 missing
        >>> result.shd, sorted(result.learned_graph.edges)
        (3, [('c1', 'c0'), ('c1', 'c2')])
    """
    array = _check_scores(scores)
    k = array.shape[0]
    truth = as_binary_matrix(true_graph, "true_graph", shape=(k, k))
    if np.any(np.diag(truth)):
        raise ValueError("true_graph must have a zero diagonal (a DAG has no self loops)")
    if threshold is None:
        adjacency, level = maximal_dag(array)
    else:
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise TypeError(f"threshold must be a real number; received {threshold!r}")
        level = float(threshold)
        off_diagonal = array.copy()
        np.fill_diagonal(off_diagonal, -np.inf)
        adjacency = (off_diagonal > level).astype(np.int8)
    names = tuple(concept_names)
    learned = EdgeBeliefs.from_adjacency(adjacency, "concept", names, names).to_networkx()
    index = {name: data["index"] for name, data in learned.nodes(data=True)}
    for parent, child in learned.edges:
        learned.edges[parent, child]["score"] = float(array[index[child], index[parent]])
    true_digraph = EdgeBeliefs.from_adjacency(truth, "concept", names, names).to_networkx()
    return ConceptGraphComparison(
        learned_graph=learned,
        true_graph=true_digraph,
        learned_adjacency=adjacency,
        threshold=level,
        confusion=edge_confusion(truth, adjacency, None, "latent"),
    )
