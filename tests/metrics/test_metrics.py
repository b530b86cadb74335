"""Tests for latentgraph.metrics against analytic cases, hand computations and second
formulations (``docs/mechanism_sparsity.md#metrics``,
``docs/mechanism_sparsity.md#model-selection-with-udr``)."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
from scipy.stats import spearmanr

from latentgraph.metrics import (
    DEFAULT_MAX_ROWS,
    MCCResult,
    consistency_r,
    consistency_r_columns,
    consistency_r_rows,
    correlation_matrix,
    edge_confusion,
    linear_r,
    mcc,
    mean_correlation,
    pairwise_mcc,
    permute_learned_graph,
    select_by_udr,
    structural_hamming_distance,
    udr,
)


def _permuted_copy(z, perm, transform, rng, noise=0.0):
    """``z_hat[:, perm[i]] = transform_i(z[:, i]) (+ noise)``, so true i matches learned
    perm[i]."""
    z_hat = np.empty_like(z)
    for i, j in enumerate(perm):
        z_hat[:, j] = transform(i, z[:, i])
    return z_hat + noise * rng.normal(size=z.shape)


# ---------------------------------------------------------------------------------------------
# MCC


def test_affine_permuted_copy_has_mcc_near_one_and_right_permutation():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 6))
    perm = rng.permutation(6)
    scales = np.array([2.0, -0.5, 3.0, -1.0, 0.7, 10.0])
    z_hat = _permuted_copy(z, perm, lambda i, x: scales[i] * x + i, rng, noise=0.01)
    result = mean_correlation(z, z_hat)
    assert isinstance(result, MCCResult)
    assert result.score > 0.999
    assert result.permutation.tolist() == perm.tolist()
    assert np.allclose(result.matched, result.correlation[np.arange(6), perm])
    assert result.score == pytest.approx(result.matched.mean())
    assert mcc(z, z_hat) == result.score


def test_near_linear_monotone_copy_pearson_close_spearman_exact():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3000, 5))
    perm = rng.permutation(5)
    near_linear = _permuted_copy(z, perm, lambda i, x: np.tanh(0.2 * x), rng)
    pearson = mean_correlation(near_linear, z)  # either argument order works
    assert pearson.score > 0.99
    assert mean_correlation(z, near_linear).permutation.tolist() == perm.tolist()

    # strongly nonlinear but monotone (some decreasing): Spearman is exactly 1
    maps = [np.exp, lambda x: x**3, lambda x: -np.exp(2 * x), np.arctan, lambda x: -x]
    monotone = _permuted_copy(z, perm, lambda i, x: maps[i](x), rng)
    spearman = mean_correlation(z, monotone, method="spearman")
    np.testing.assert_allclose(spearman.score, 1.0, rtol=0, atol=1e-12)
    assert spearman.permutation.tolist() == perm.tolist()
    assert mcc(z, monotone, method="pearson") < 0.95  # exp is far from linear


def test_independent_noise_has_small_mcc():
    rng = np.random.default_rng(2)
    n_rows, n_latents = 20_000, 8
    score = mcc(rng.normal(size=(n_rows, n_latents)), rng.normal(size=(n_rows, n_latents)))
    # every |corr| of independent columns is about N(0, 1/n); the matched mean is at most the
    # largest of the d^2 entries, bounded by a union bound at failure probability delta
    delta = 1e-6
    bound = np.sqrt(2.0 * np.log(2.0 * n_latents**2 / delta) / n_rows)
    assert 0.0 < score < bound
    assert bound < 0.05  # the bound is informative


def test_hand_computed_two_by_two():
    z_true = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]])
    z_hat = np.array([[0.0, 1.0], [1.0, 2.0], [0.0, 4.0], [1.0, 3.0]])
    # centred true columns (-1.5, -.5, .5, 1.5), (-.5, .5, -.5, .5); learned column 1 centred
    # (-1.5, -.5, 1.5, .5): corr = 4/5; true 0 vs learned 0 = 1/sqrt(5); true 1 vs learned 1 = 0
    expected = np.array([[1 / np.sqrt(5), 0.8], [1.0, 0.0]])
    result = mean_correlation(z_true, z_hat)
    np.testing.assert_allclose(result.correlation, expected, atol=1e-12)
    assert result.permutation.tolist() == [1, 0]
    np.testing.assert_allclose(result.matched, [0.8, 1.0], atol=1e-12)
    assert result.score == pytest.approx(0.9, abs=1e-12)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_matching_is_optimal_and_correlation_matches_scipy(method):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(300, 4))
    z_hat = z @ rng.normal(size=(4, 5)) + 0.5 * rng.normal(size=(300, 5))
    z_hat[:, 2] = np.exp(z_hat[:, 2])
    signed = correlation_matrix(z, z_hat, method)
    if method == "pearson":
        reference = np.corrcoef(z, z_hat, rowvar=False)[:4, 4:]
    else:
        reference = spearmanr(z, z_hat).statistic[:4, 4:]
    np.testing.assert_allclose(signed, reference, atol=1e-12)
    # brute force over every injective matching of 4 true into 5 learned latents
    best = max(
        np.abs(signed)[np.arange(4), list(choice)].mean() for choice in permutations(range(5), 4)
    )
    assert mcc(z, z_hat, method) == pytest.approx(best, abs=1e-12)


def test_extra_learned_columns_stay_unmatched():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(2000, 3))
    z_hat = rng.normal(size=(2000, 6))
    z_hat[:, [4, 0, 2]] = z
    result = mean_correlation(z, z_hat)
    assert result.permutation.tolist() == [4, 0, 2]
    assert result.correlation.shape == (3, 6)
    assert result.score == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="z_hat must have at least as many columns"):
        mean_correlation(z_hat, z)


def test_constant_columns_count_as_zero_not_nan():
    rng = np.random.default_rng(6)
    z = rng.normal(size=(500, 3))
    z[:, 1] = 0.1  # constant; its float mean is not exactly 0.1
    z_hat = z.copy()
    z_hat[:, 1] = 7.0
    for method in ("pearson", "spearman"):
        result = mean_correlation(z, z_hat, method)
        assert np.all(np.isfinite(result.correlation))
        assert np.all(result.correlation[1] == 0.0)
        assert np.all(result.correlation[:, 1] == 0.0)
        assert result.score == pytest.approx(2.0 / 3.0, abs=1e-12)


def test_max_rows_uses_the_first_rows_only():
    rng = np.random.default_rng(7)
    z = rng.normal(size=(DEFAULT_MAX_ROWS + 50, 2))
    z_hat = z.copy()
    z_hat[DEFAULT_MAX_ROWS:] = np.nan  # beyond the default cap: never read
    assert mcc(z, z_hat) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="z_hat must be finite"):
        mcc(z, z_hat, max_rows=None)
    small = rng.normal(size=(400, 2))
    partial = small.copy()
    partial[100:] = rng.normal(size=(300, 2))
    assert mcc(small, partial, max_rows=100) == pytest.approx(1.0, abs=1e-12)
    assert mcc(small, partial, max_rows=None) < 0.5


@pytest.mark.parametrize(
    ("z_true", "z_hat", "kwargs", "error", "pattern"),
    [
        (np.ones(5), np.ones((5, 1)), {}, ValueError, "z_true must be 2-D"),
        (np.ones((5, 2)), np.ones((5, 2, 1)), {}, ValueError, "z_hat must be 2-D"),
        (np.ones((5, 2)), np.ones((4, 2)), {}, ValueError, "z_hat must have the same number"),
        (np.ones((1, 2)), np.ones((1, 2)), {}, ValueError, "z_true must have at least 2 rows"),
        (np.ones((5, 2)), np.full((5, 2), np.inf), {}, ValueError, "z_hat must be finite"),
        (np.full((5, 2), np.nan), np.ones((5, 2)), {}, ValueError, "z_true must be finite"),
        (np.ones((5, 2), bool), np.ones((5, 2)), {}, TypeError, "z_true must hold real"),
        (np.ones((5, 2)), np.full((5, 2), "x"), {}, TypeError, "z_hat must hold real"),
        (np.ones((5, 2)), np.ones((5, 2)), {"method": "kendall"}, ValueError, "method must"),
        (np.ones((5, 2)), np.ones((5, 2)), {"max_rows": 1}, ValueError, "max_rows must be at"),
        (np.ones((5, 2)), np.ones((5, 2)), {"max_rows": 2.5}, TypeError, "max_rows must be an"),
    ],
)
def test_mcc_input_validation(z_true, z_hat, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        mean_correlation(z_true, z_hat, **kwargs)


# ---------------------------------------------------------------------------------------------
# linear R and consistency-R


def _ols_r(features, targets):
    """Reference multiple correlation via numpy least squares (second formulation)."""
    design = np.column_stack([np.ones(len(features)), features])
    coefficients, *_ = np.linalg.lstsq(design, targets, rcond=None)
    residual = ((targets - design @ coefficients) ** 2).sum(axis=0)
    total = ((targets - targets.mean(axis=0)) ** 2).sum(axis=0)
    return np.sqrt(1.0 - residual / total)


def test_linear_r_is_one_for_invertible_linear_mix():
    rng = np.random.default_rng(8)
    z = rng.normal(size=(1500, 5))
    mixing = rng.normal(size=(5, 5)) + 3.0 * np.eye(5)
    assert linear_r(z, z @ mixing + 4.0) == pytest.approx(1.0, abs=1e-10)
    assert mcc(z, z @ mixing) < 0.99  # mixed, so not disentangled


def test_linear_r_matches_least_squares_reference():
    rng = np.random.default_rng(9)
    z = rng.normal(size=(800, 4))
    z_hat = np.tanh(z @ rng.normal(size=(4, 3))) + 0.3 * rng.normal(size=(800, 3))
    expected = _ols_r(z_hat, z).mean()
    assert linear_r(z, z_hat) == pytest.approx(expected, abs=1e-10)
    assert 0.2 < linear_r(z, z_hat) < 0.95


def test_consistency_r_with_identity_equals_mcc():
    rng = np.random.default_rng(10)
    z = rng.normal(size=(2000, 5))
    z_hat = np.tanh(z @ (np.eye(5) + 0.3 * rng.normal(size=(5, 5))))
    z_hat = np.column_stack([z_hat, rng.normal(size=2000)])[:, rng.permutation(6)]
    result = mean_correlation(z, z_hat)
    assert result.score < 0.99
    for transposed in (False, True):
        value = consistency_r(z, z_hat, np.eye(5), result.permutation, transposed=transposed)
        np.testing.assert_allclose(value, result.score, rtol=1e-12, atol=0)


def _block_rotated(z, rng):
    """z_hat mixes latents (0, 1) and (2, 3) by 45 degree rotations, then shuffles columns."""
    rotation = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2.0)
    z_hat = z.copy()
    z_hat[:, 0:2] = z[:, 0:2] @ rotation
    z_hat[:, 2:4] = z[:, 2:4] @ rotation
    shuffle = rng.permutation(z.shape[1])
    return z_hat[:, shuffle]


def test_consistency_r_block_entanglement():
    rng = np.random.default_rng(11)
    z = rng.normal(size=(3000, 5))
    z_hat = _block_rotated(z, rng)
    permutation = mean_correlation(z, z_hat).permutation
    blocks = np.zeros((5, 5), dtype=bool)
    blocks[0:2, 0:2] = blocks[2:4, 2:4] = True
    blocks[4, 4] = True
    assert consistency_r_rows(z, z_hat, blocks, permutation) == pytest.approx(1.0, abs=1e-10)
    assert consistency_r_columns(z, z_hat, blocks, permutation) == pytest.approx(1.0, abs=1e-10)
    assert consistency_r(z, z_hat, np.eye(5), permutation) < 0.9


def test_consistency_r_orientations_differ_on_asymmetric_entanglement():
    # E[0, 2] = 1: z0 may appear in z_hat_2, and indeed z_hat_2 = z2 + z0
    rng = np.random.default_rng(12)
    z = rng.normal(size=(3000, 3))
    learned = np.column_stack([z[:, 0], z[:, 1], z[:, 2] + z[:, 0]])
    shuffle = np.array([1, 2, 0])  # learned latent k is stored in column shuffle[k]
    z_hat = np.empty_like(learned)
    z_hat[:, shuffle] = learned
    pattern = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 1]])
    # columns: z2 is regressed on {z_hat_0, z_hat_2} and recovered exactly
    assert consistency_r_columns(z, z_hat, pattern, shuffle) == pytest.approx(1.0, abs=1e-10)
    # rows: z2 is regressed on z_hat_2 alone, R = |corr(z2, z2 + z0)|
    corr = abs(np.corrcoef(z[:, 2], z[:, 2] + z[:, 0])[0, 1])
    rows = consistency_r_rows(z, z_hat, pattern, shuffle)
    assert rows == pytest.approx((2.0 + corr) / 3.0, abs=1e-10)
    assert rows < 0.95
    assert consistency_r(z, z_hat, pattern, shuffle, transposed=True) == pytest.approx(1.0)


def test_regression_input_validation():
    z = np.random.default_rng(13).normal(size=(50, 3))
    with pytest.raises(ValueError, match="entanglement must have 3 rows"):
        consistency_r(z, z, np.eye(4), [0, 1, 2])
    with pytest.raises(ValueError, match="entanglement must be reflexive"):
        consistency_r(z, z, np.zeros((3, 3)), [0, 1, 2])
    with pytest.raises(ValueError, match="entanglement must contain only 0 and 1"):
        consistency_r(z, z, 2 * np.eye(3), [0, 1, 2])
    with pytest.raises(ValueError, match="permutation entries must be distinct"):
        consistency_r(z, z, np.eye(3), [0, 0, 2])
    with pytest.raises(ValueError, match="permutation must have one entry per true latent"):
        consistency_r(z, z, np.eye(3), [0, 1])
    with pytest.raises(TypeError, match="transposed must be a bool"):
        consistency_r(z, z, np.eye(3), [0, 1, 2], transposed="yes")
    with pytest.raises(ValueError, match="z_hat must have the same number of rows"):
        linear_r(z, z[:10])


# ---------------------------------------------------------------------------------------------
# SHD

TRUE_LATENT = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1]])  # z0 -> z1 -> z2, self loops
LEARNED_LATENT = np.array([[1, 0, 1], [1, 1, 0], [0, 0, 1]])  # the same, relabelled
LATENT_PERM = np.array([2, 0, 1])


def test_permute_learned_latent_graph_recovers_truth():
    assert np.array_equal(permute_learned_graph(LEARNED_LATENT, LATENT_PERM), TRUE_LATENT)
    assert structural_hamming_distance(TRUE_LATENT, LEARNED_LATENT, LATENT_PERM) == 0
    # identity matching: one extra edge (0 <- 2) and one missing edge (2 <- 1)
    confusion = edge_confusion(TRUE_LATENT, LEARNED_LATENT, [0, 1, 2])
    assert (confusion.false_positive, confusion.false_negative) == (1, 1)
    assert (confusion.true_positive, confusion.true_negative) == (4, 3)
    assert confusion.shd == 2
    assert confusion.precision == confusion.recall == pytest.approx(0.8)
    assert confusion.f1 == pytest.approx(0.8)
    assert structural_hamming_distance(TRUE_LATENT, LEARNED_LATENT, None) == 2


def test_action_graph_permutes_rows_only():
    true = np.array([[1, 0], [0, 1], [1, 1]])
    learned = np.array([[1, 1], [1, 0], [0, 1]])  # rows of true in order perm^-1
    perm = [1, 2, 0]
    assert np.array_equal(permute_learned_graph(learned, perm, kind="action"), true)
    assert structural_hamming_distance(true, learned, perm, kind="action") == 0
    assert structural_hamming_distance(true, learned, [0, 1, 2], kind="action") == 4
    # swapping the action columns is a real difference: actions are never permuted
    assert structural_hamming_distance(true, learned[:, ::-1], perm, kind="action") == 4


def test_latent_and_action_kinds_differ_on_square_graphs():
    rng = np.random.default_rng(14)
    true = (rng.random((5, 5)) < 0.4).astype(int)
    perm = rng.permutation(5)
    learned = np.zeros_like(true)
    learned[np.ix_(perm, perm)] = true
    assert structural_hamming_distance(true, learned, perm, kind="latent") == 0
    assert structural_hamming_distance(true, learned, perm, kind="action") > 0


def test_more_learned_latents_than_true():
    learned = np.zeros((4, 4), dtype=int)
    learned[np.ix_([3, 1, 0], [3, 1, 0])] = TRUE_LATENT
    learned[2] = 1  # an unmatched learned latent does not count
    assert structural_hamming_distance(TRUE_LATENT, learned, [3, 1, 0]) == 0


def test_graph_distance_validation():
    with pytest.raises(ValueError, match="kind must be 'latent' or 'action'"):
        structural_hamming_distance(TRUE_LATENT, TRUE_LATENT, [0, 1, 2], kind="time")
    with pytest.raises(ValueError, match="learned_graph must contain only 0 and 1"):
        structural_hamming_distance(TRUE_LATENT, TRUE_LATENT * 0.7, [0, 1, 2])
    with pytest.raises(ValueError, match="true_graph must be square"):
        structural_hamming_distance(np.ones((3, 2)), np.ones((3, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match="learned_graph must have 2 columns"):
        structural_hamming_distance(np.ones((3, 2)), np.ones((3, 3)), [0, 1, 2], kind="action")
    with pytest.raises(ValueError, match=r"permutation entries must lie in \[0, 3\)"):
        structural_hamming_distance(TRUE_LATENT, TRUE_LATENT, [0, 1, 3])
    with pytest.raises(TypeError, match="permutation must have an integer dtype"):
        structural_hamming_distance(TRUE_LATENT, TRUE_LATENT, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="learned_graph must have the true graph's shape"):
        structural_hamming_distance(TRUE_LATENT, np.ones((4, 4)), None)
    with pytest.raises(TypeError, match="permutation"):
        permute_learned_graph(TRUE_LATENT, None)


# ---------------------------------------------------------------------------------------------
# UDR


def _seed_encodings(z, n_seeds, noise, rng):
    """Encodings of the same rows by 'seeds' that agree up to permutation, scale and noise."""
    encodings = []
    for _ in range(n_seeds):
        perm = rng.permutation(z.shape[1])
        scales = rng.uniform(0.5, 2.0, size=z.shape[1]) * rng.choice([-1, 1], size=z.shape[1])
        encodings.append(z[:, perm] * scales + noise * rng.normal(size=z.shape))
    return encodings


def test_udr_is_one_for_encodings_equal_up_to_permutation():
    rng = np.random.default_rng(15)
    z = rng.normal(size=(1000, 4))
    encodings = _seed_encodings(z, 4, 0.0, rng)
    assert udr(encodings) == pytest.approx(1.0, abs=1e-12)
    scores = pairwise_mcc(encodings)
    assert scores.shape == (4, 4)
    np.testing.assert_allclose(scores, 1.0, atol=1e-12)


def test_udr_is_the_mean_over_ordered_pairs():
    rng = np.random.default_rng(16)
    z = rng.normal(size=(600, 3))
    encodings = _seed_encodings(z, 3, 0.8, rng)
    ordered = [
        mcc(a, b) for i, a in enumerate(encodings) for j, b in enumerate(encodings) if i != j
    ]
    assert udr(encodings) == pytest.approx(np.mean(ordered), abs=1e-12)
    scores = pairwise_mcc(encodings)
    assert np.array_equal(scores, scores.T)
    assert np.all(np.diag(scores) == 1.0)


def test_select_by_udr_picks_the_consistent_setting():
    rng = np.random.default_rng(17)
    z = rng.normal(size=(1500, 5))
    by_setting = {
        5: [rng.normal(size=z.shape) for _ in range(3)],  # seeds disagree completely
        10: _seed_encodings(z, 3, 0.05, rng),  # seeds agree
        20: _seed_encodings(z, 3, 1.0, rng),  # seeds agree loosely
    }
    best, scores = select_by_udr(by_setting)
    assert best == 10
    assert list(scores) == [5, 10, 20]
    assert scores[10] > scores[20] > scores[5]
    assert scores[10] > 0.99
    # ties go to the setting listed first
    same = _seed_encodings(z, 2, 0.0, rng)
    assert select_by_udr({"b": same, "a": same})[0] == "b"


def test_udr_validation():
    rng = np.random.default_rng(18)
    single = rng.normal(size=(20, 3))
    with pytest.raises(ValueError, match="encodings needs at least 2 encodings"):
        udr([single])
    with pytest.raises(TypeError, match="not one array"):
        udr(single)
    with pytest.raises(ValueError, match=r"encodings\[1\] must have the shape of encodings\[0\]"):
        udr([single, single[:, :2]])
    with pytest.raises(ValueError, match=r"encodings\[1\] must be finite"):
        udr([single, np.full_like(single, np.nan)])
    with pytest.raises(ValueError, match="at least one setting"):
        select_by_udr({})
    with pytest.raises(ValueError, match=r"encodings_by_setting\['x'\] needs at least 2"):
        select_by_udr({"x": [single]})
    with pytest.raises(TypeError, match="encodings_by_setting must be a mapping"):
        select_by_udr([[single, single]])
