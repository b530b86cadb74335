"""Context-module metrics: sliced Wasserstein, block R^2, concept-graph read-out, ELBO BPD.

References: the analytic sliced W2 of a shifted set (``sqrt(mean_p (theta_p . v)^2)``, whose
expectation over the sphere is ``|v| / sqrt(D)``) and of two isotropic Gaussians
(``|1 - sigma|`` on every direction); a second formulation of SWD by sorted projections;
R^2 of an invertible linear map (1) and of independent noise (~0); hand-computed block
averages, maximal DAGs and SHDs; the quad_causal DAG of ``docs/context_module.md#graph-read-out``.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from latentgraph.data.quad import QUAD_CONCEPTS, quad_scm
from latentgraph.metrics import (
    ContextSWD,
    block_average,
    compare_concept_graphs,
    concept_graph_scores,
    concept_r2,
    concept_r2_matrix,
    context_swd,
    elbo_bpd,
    group_by_context,
    maximal_dag,
    random_projections,
    sliced_wasserstein,
    sliced_wasserstein_by_context,
)


# --------------------------------------------------------------------------- SWD
def _sorted_swd(x: np.ndarray, y: np.ndarray, theta: np.ndarray, p: float = 2.0) -> float:
    """Second formulation for equal sizes: W_p^p = mean |sorted(x theta) - sorted(y theta)|^p."""
    px, py = np.sort(x @ theta, axis=0), np.sort(y @ theta, axis=0)
    return float(np.mean(np.abs(px - py) ** p) ** (1 / p))


def test_swd_of_identical_sets_is_zero() -> None:
    x = np.random.default_rng(0).normal(size=(50, 7))
    assert sliced_wasserstein(x, x) == 0.0
    assert sliced_wasserstein(x, x[::-1]) == 0.0  # order of the samples is irrelevant


def test_swd_of_a_shift_is_analytic() -> None:
    rng = np.random.default_rng(1)
    dim = 8
    x = rng.normal(size=(40, dim))
    v = rng.normal(size=dim)
    theta = random_projections(dim, 50, seed=4)
    # exact for any direction set: every projected sample moves by theta . v
    expected = math.sqrt(np.mean((v @ theta) ** 2))
    assert sliced_wasserstein(x, x + v, seed=4) == pytest.approx(expected, rel=1e-10)
    # with many directions, E[(theta . v)^2] = |v|^2 / D on the unit sphere
    many = sliced_wasserstein(x, x + v, n_projections=20_000, seed=0)
    assert many == pytest.approx(np.linalg.norm(v) / math.sqrt(dim), rel=0.02)


def test_swd_of_isotropic_gaussians_is_the_scale_gap() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4000, 5))
    y = 1.5 * rng.normal(size=(4000, 5))
    # every projection is N(0, 1) vs N(0, 1.5^2): W2 = |1 - 1.5|
    assert sliced_wasserstein(x, y, n_projections=200) == pytest.approx(0.5, abs=0.03)


def test_swd_matches_sorted_projections_and_normalisation() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(size=(30, 6)), rng.uniform(size=(30, 6)) + 0.1
    theta = random_projections(6, 50, seed=9)
    assert np.allclose(np.linalg.norm(theta, axis=0), 1.0)
    for p in (1.0, 2.0, 3.0):
        assert sliced_wasserstein(x, y, p=p, seed=9) == pytest.approx(
            _sorted_swd(x, y, theta, p), rel=1e-10
        )


def test_swd_is_seeded_and_reads_uint8_as_unit_scale() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, size=(20, 4, 4, 3), dtype=np.uint8)
    b = rng.integers(0, 256, size=(25, 4, 4, 3), dtype=np.uint8)
    first = sliced_wasserstein(a, b, seed=1)
    assert sliced_wasserstein(a, b, seed=1) == first
    assert sliced_wasserstein(a, b, seed=2) != first
    as_float = sliced_wasserstein(a / 255.0, b / 255.0, seed=1)
    assert first == pytest.approx(as_float, rel=1e-5)  # uint8 is divided by 255


def test_swd_by_context_shares_directions_and_subsamples() -> None:
    rng = np.random.default_rng(5)
    names = ["obs", "quad1", "quad1_quad2"]
    real = {name: rng.normal(size=(60, 3, 2)) for name in names}
    generated = {name: rng.normal(loc=k, size=(60, 3, 2)) for k, name in enumerate(names)}
    scores = sliced_wasserstein_by_context(generated, real, seed=7)
    for name in names:
        assert scores[name] == sliced_wasserstein(generated[name], real[name], seed=7)
    assert scores["obs"] < scores["quad1"] < scores["quad1_quad2"]
    # subsampling to all rows without replacement is a permutation: same value
    full = sliced_wasserstein_by_context(generated, real, seed=7, n_samples=60)
    assert full == pytest.approx(scores, rel=1e-12)
    sub = sliced_wasserstein_by_context(generated, real, seed=7, n_samples=20, sample_seed=3)
    assert sub == sliced_wasserstein_by_context(
        generated, real, seed=7, n_samples=20, sample_seed=3
    )
    assert sub != scores
    # concept / composition split
    result = context_swd(
        generated, real, concept_contexts=names[:2], composition_contexts=names[2:], seed=7
    )
    assert isinstance(result, ContextSWD)
    assert result.concept_mean == pytest.approx((scores["obs"] + scores["quad1"]) / 2)
    assert result.composition_mean == pytest.approx(scores["quad1_quad2"])


def test_group_by_context() -> None:
    images = np.arange(10)[:, None] * np.ones((1, 3))
    groups = group_by_context(images, np.array([0, 2, 0, 2, 2, 0, 0, 2, 0, 0]), ["a", "b", "c"])
    assert list(groups) == ["a", "c"]  # "b" has no rows
    assert groups["a"][:, 0].tolist() == [0, 2, 5, 6, 8, 9]
    assert groups["c"][:, 0].tolist() == [1, 3, 4, 7]


def test_swd_bad_inputs() -> None:
    x = np.zeros((5, 4))
    with pytest.raises(ValueError, match="trailing shape"):
        sliced_wasserstein(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="x must be finite"):
        sliced_wasserstein(np.full((5, 4), np.nan), x)
    with pytest.raises(TypeError, match="n_projections"):
        sliced_wasserstein(x, x, n_projections=2.0)
    with pytest.raises(ValueError, match="p must"):
        sliced_wasserstein(x, x, p=0.5)
    with pytest.raises(ValueError, match="missing from generated"):
        sliced_wasserstein_by_context({}, {"obs": x})
    with pytest.raises(ValueError, match="n_samples"):
        sliced_wasserstein_by_context({"obs": x}, {"obs": x}, n_samples=6)
    with pytest.raises(ValueError, match="overlap"):
        context_swd({"obs": x}, {"obs": x}, concept_contexts=["obs"], composition_contexts=["obs"])
    with pytest.raises(ValueError, match="context must index"):
        group_by_context(x, np.array([0, 1, 2, 3, 4]), ["a"])


# --------------------------------------------------------------------------- concept R^2
def _blocks(concepts: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
    """Each concept mapped into its own block by a random full-rank affine map."""
    columns = []
    for k in range(concepts.shape[1]):
        weights = rng.normal(size=(1, width))
        columns.append(concepts[:, [k]] @ weights + rng.normal(size=width))
    return np.hstack(columns)


def test_r2_is_one_for_invertible_block_maps_and_zero_for_noise() -> None:
    rng = np.random.default_rng(6)
    truth = rng.normal(size=(3000, 4))
    learned = _blocks(truth, 3, rng)
    train, test = slice(0, 1500), slice(1500, None)
    scores = concept_r2(learned[train], truth[train], learned[test], truth[test])
    np.testing.assert_allclose(scores, 1.0, atol=1e-10)
    matrix = concept_r2_matrix(learned[train], truth[train], learned[test], truth[test])
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-10)
    off_diagonal = matrix[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off_diagonal) < 0.01)  # independent concepts: nothing to explain
    noise = rng.normal(size=learned.shape)
    scores = concept_r2(noise[train], truth[train], noise[test], truth[test])
    assert np.all(np.abs(scores) < 0.01)


def test_r2_matches_a_second_formulation() -> None:
    rng = np.random.default_rng(7)
    truth = rng.normal(size=(200, 2))
    learned = np.hstack([truth[:, :1] + rng.normal(size=(200, 2)), rng.normal(size=(200, 2))])
    train, test = slice(0, 120), slice(120, None)
    score = concept_r2(learned[train], truth[train], learned[test], truth[test])[0]
    design = np.column_stack([np.ones(120), learned[train, :2]])
    coef = np.linalg.lstsq(design, truth[train, 0], rcond=None)[0]
    prediction = np.column_stack([np.ones(80), learned[test, :2]]) @ coef
    y = truth[test, 0]
    expected = 1 - np.sum((y - prediction) ** 2) / np.sum((y - y.mean()) ** 2)
    assert score == pytest.approx(expected, rel=1e-10)


def test_knn_recovers_a_nonlinear_block_and_grouped_columns() -> None:
    rng = np.random.default_rng(8)
    angle = rng.uniform(-np.pi, np.pi, size=(2000, 1))
    learned = np.hstack([np.sin(angle), np.cos(angle)])  # invertible, but not linearly
    train, test = slice(0, 1500), slice(1500, None)
    linear = concept_r2(learned[train], angle[train], learned[test], angle[test])[0]
    knn = concept_r2(learned[train], angle[train], learned[test], angle[test], regressor="knn")[0]
    assert linear < 0.8 and knn > 0.97
    # a concept spanning two columns scores the mean over them
    shift = rng.normal(size=(2000, 2))
    both = concept_r2(
        shift[train], shift[train], shift[test], shift[test], concept_columns=[[0, 1]]
    )
    np.testing.assert_allclose(both, [1.0], atol=1e-10)


def test_r2_bad_inputs() -> None:
    x = np.zeros((10, 6))
    with pytest.raises(ValueError, match="equal blocks"):
        concept_r2(x, np.zeros((10, 4)), x, np.zeros((10, 4)))
    with pytest.raises(ValueError, match="concepts_train must have 10 rows"):
        concept_r2(x, np.zeros((9, 3)), x, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="regressor"):
        concept_r2(x, np.zeros((10, 3)), x, np.zeros((10, 3)), regressor="mlp")
    with pytest.raises(ValueError, match="concept_columns"):
        concept_r2(x, np.zeros((10, 3)), x, np.zeros((10, 3)), concept_columns=[[0], [5]])


# --------------------------------------------------------------------------- concept graph
def test_block_average_and_scores_by_hand() -> None:
    obs = np.array(
        [
            [1.0, 0.0, 0.2, 0.4],
            [0.0, 1.0, 0.6, 0.8],
            [0.1, 0.1, 1.0, 0.0],
            [0.1, 0.1, 0.0, 1.0],
        ]
    )
    np.testing.assert_allclose(block_average(obs, 2), [[0.5, 0.5], [0.1, 0.5]])
    ivn = obs.copy()
    ivn[:2, 2:] = 0.3  # block (0, 1) averages 0.3 < 0.5
    ivn[2:, :2] = 0.9  # block (1, 0) averages 0.9 > 0.1
    np.testing.assert_allclose(concept_graph_scores(obs, ivn, 2), [[0.0, 0.3], [0.1, 0.0]])
    np.testing.assert_allclose(concept_graph_scores(obs, None, 2), [[0.0, 0.5], [0.1, 0.0]])


def test_maximal_dag_by_hand() -> None:
    # 0 -> 1 (0.9), 1 -> 2 (0.8), 2 -> 0 (0.3) closes a cycle; 0 -> 2 (0.5) does not
    scores = np.zeros((3, 3))
    scores[1, 0], scores[2, 1], scores[0, 2], scores[2, 0] = 0.9, 0.8, 0.3, 0.5
    adjacency, threshold = maximal_dag(scores)
    assert threshold == 0.3
    assert adjacency.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    # ties leave together: a 2-cycle of equal scores empties the graph
    adjacency, threshold = maximal_dag(np.array([[0.0, 0.4], [0.4, 0.0]]))
    assert threshold == 0.4 and not adjacency.any()
    # already acyclic: threshold 0, every positive score kept, diagonal ignored
    adjacency, threshold = maximal_dag(np.array([[0.7, 0.0], [0.2, 0.7]]))
    assert threshold == 0.0 and adjacency.tolist() == [[0, 0], [1, 0]]


def test_compare_with_the_quad_dag() -> None:
    truth = quad_scm().concept_graph("total")
    names = list(QUAD_CONCEPTS)
    perfect = compare_concept_graphs(truth * 0.7, truth, concept_names=names)
    assert perfect.shd == 0 and perfect.threshold == 0.0
    assert set(perfect.learned_graph.edges) == set(perfect.true_graph.edges)
    assert set(perfect.learned_graph.nodes) == set(names)
    assert ("quad4", "quad1") in perfect.true_graph.edges  # parent -> child
    assert perfect.learned_graph.edges["quad4", "quad1"]["score"] == 0.7
    # hand-computed: reverse orientation -> size, drop quad2 -> quad1, add size -> quad3
    scores = truth.astype(float) * 0.7
    c = {name: i for i, name in enumerate(names)}
    scores[c["size"], c["orientation"]] = 0.0
    scores[c["orientation"], c["size"]] = 0.6
    scores[c["quad1"], c["quad2"]] = 0.0
    scores[c["quad3"], c["size"]] = 0.2
    result = compare_concept_graphs(scores, truth, concept_names=names)
    # false negatives: orientation -> size, quad2 -> quad1; false positives: size ->
    # orientation, size -> quad3
    assert (result.confusion.false_negative, result.confusion.false_positive) == (2, 2)
    assert result.shd == 4
    assert nx.is_directed_acyclic_graph(result.learned_graph)
    # a fixed threshold can drop the weak false edge
    assert compare_concept_graphs(scores, truth, concept_names=names, threshold=0.3).shd == 3
    # an all-equal score matrix is cyclic at every level below its value: empty graph
    flat = compare_concept_graphs(np.full((6, 6), 0.5), truth)
    assert flat.shd == int(truth.sum()) == 9


def test_graph_bad_inputs() -> None:
    with pytest.raises(ValueError, match="divisible"):
        block_average(np.zeros((5, 5)), 2)
    with pytest.raises(ValueError, match="true_graph must have 3 rows"):
        compare_concept_graphs(np.zeros((3, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="zero diagonal"):
        compare_concept_graphs(np.zeros((2, 2)), np.eye(2))
    with pytest.raises(ValueError, match="scores must be finite"):
        maximal_dag(np.array([[0.0, np.nan], [0.0, 0.0]]))


# --------------------------------------------------------------------------- ELBO BPD
def test_elbo_bpd_by_hand() -> None:
    # docs/context_module.md#elbo-bpd: mean(negative ELBO) / (H W ln 2); channels left out unless asked for
    values = np.array([1000.0, 3000.0])
    assert elbo_bpd(values, height=64, width=64) == pytest.approx(2000 / (4096 * math.log(2)))
    assert elbo_bpd(values, height=28, width=28, channels=1) == pytest.approx(
        2000 / (784 * math.log(2))
    )
    assert elbo_bpd(values, height=64, width=64, channels=3) == pytest.approx(
        elbo_bpd(values, height=64, width=64) / 3
    )
    with pytest.raises(ValueError, match="negative_elbo"):
        elbo_bpd(np.zeros((2, 2)), height=8, width=8)
    with pytest.raises(TypeError, match="height"):
        elbo_bpd(values, height=8.0, width=8)
