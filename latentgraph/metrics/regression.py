"""Regression-based identifiability scores: linear R and consistency-R.

Lachapelle et al. (2024, arXiv 2401.04890), Sec. 8; ``docs/mechanism_sparsity.md#metrics``. Both
fit ordinary least squares with an intercept, in-sample, on standardised latents, and report
the coefficient of multiple correlation ``R = sqrt(R^2)`` averaged over the true latents.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.linear_model import LinearRegression

from latentgraph.graphs._validation import as_binary_matrix, as_permutation
from latentgraph.metrics._validation import DEFAULT_MAX_ROWS, as_latent_pair
from latentgraph.metrics.correlation import _unit_range_columns

__all__ = ["consistency_r", "consistency_r_columns", "consistency_r_rows", "linear_r"]


def _standardise(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Zero mean, unit variance per column; exactly constant columns become zero.

    Columns are first divided by their largest magnitude, so that finite values near the
    float64 limits neither overflow nor underflow on the way (R is scale invariant).
    """
    constant = np.all(values == values[0], axis=0)
    values = _unit_range_columns(values)
    centred = values - values.mean(axis=0)
    centred[:, constant] = 0.0
    scale = centred.std(axis=0)
    scale[scale == 0] = 1.0
    return centred / scale


def _multiple_correlation(
    features: NDArray[np.float64], targets: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per-target ``sqrt(R^2)`` of an in-sample OLS fit with intercept.

    A constant target has no variance to explain and gets R = 0 (the same convention as a
    constant column's correlation in the MCC).
    """
    fitted = LinearRegression(fit_intercept=True).fit(features, targets).predict(features)
    fitted = fitted.reshape(targets.shape)
    residual = np.sum((targets - fitted) ** 2, axis=0)
    total = np.sum((targets - targets.mean(axis=0)) ** 2, axis=0)
    explained = np.zeros(targets.shape[1])
    varies = total > 0
    explained[varies] = 1.0 - residual[varies] / total[varies]
    # in-sample OLS with intercept has R^2 in [0, 1]; clip rounding residues before the sqrt
    return np.sqrt(np.clip(explained, 0.0, 1.0))


def linear_r(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> float:
    """Linear identifiability score ``R`` (``docs/mechanism_sparsity.md#linear-score-r``, the official ``r_final``).

    Standardise ``z`` and ``hat z``, fit one multi-output OLS regression ``hat z -> z`` with
    intercept, in-sample, and return ``mean_i sqrt(R^2_i)``. It is 1 iff ``z`` is an affine
    function of ``hat z``; no matching is needed, so ``z_hat`` may have any number of columns.

    Args:
        z_true: ``(n_rows, n_true)`` ground-truth latents.
        z_hat: ``(n_rows, n_learned)`` learned latents.
        max_rows: use only the first ``max_rows`` rows (``None``: all).
    """
    truth, learned = as_latent_pair(z_true, z_hat, max_rows=max_rows, require_wider=False)
    return float(_multiple_correlation(_standardise(learned), _standardise(truth)).mean())


def consistency_r(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    entanglement: ArrayLike,
    permutation: ArrayLike,
    *,
    transposed: bool = False,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> float:
    """Consistency-R: R of each true latent regressed on the learned latents it may mix with.

    With the matching ``pi`` (``permutation``) and the entanglement pattern ``E`` (rows = true
    latents, columns = matched learned latents in ground-truth order; see
    :func:`latentgraph.graphs.entanglement_graph`), true ``z_i`` is regressed (OLS with
    intercept, in-sample) on

    - ``transposed=False`` (official ``consistent_r``, row-wise): ``{hat z_{pi(k)} : E[i, k]}``;
    - ``transposed=True`` (official ``transposed_consistent_r``, column-wise):
      ``{hat z_{pi(k)} : E[k, i]}``, the theoretically correct set: under the group property of
      graph-preserving maps, ``z_i`` is a function of exactly these learned latents
      (``docs/mechanism_sparsity.md#consistency-orientation-and-shd-within-blocks``).

    The score is ``mean_i sqrt(R^2_i)``. With ``E = I`` each regression has one regressor,
    whose R is ``|corr|``, so both variants equal the Pearson MCC (up to rounding).
    :func:`consistency_r_rows` and :func:`consistency_r_columns` name the two orientations.

    Args:
        z_true: ``(n_rows, n_true)`` ground-truth latents.
        z_hat: ``(n_rows, n_learned)`` learned latents, ``n_learned >= n_true``.
        entanglement: ``(n_true, n_true)`` 0/1 pattern with a true diagonal (reflexive).
        permutation: ``permutation[i]`` = learned latent matched to true latent ``i``, e.g.
            ``mean_correlation(...).permutation``.
        transposed: choose the column-wise regressor sets.
        max_rows: use only the first ``max_rows`` rows (``None``: all).
    """
    if not isinstance(transposed, bool):
        raise TypeError(f"transposed must be a bool; received {type(transposed).__name__}")
    truth, learned = as_latent_pair(z_true, z_hat, max_rows=max_rows)
    n_true = truth.shape[1]
    pattern = as_binary_matrix(entanglement, "entanglement", shape=(n_true, n_true))
    if not np.all(np.diag(pattern)):
        missing = np.flatnonzero(~np.diag(pattern)).tolist()
        raise ValueError(
            "entanglement must be reflexive (every true latent may appear in its own match); "
            f"diagonal entries {missing} are 0"
        )
    perm = as_permutation(permutation, n_true=n_true, n_learned=learned.shape[1])

    support = pattern.T if transposed else pattern
    targets = _standardise(truth)
    features = _standardise(learned)
    scores = [
        _multiple_correlation(features[:, perm[support[i]]], targets[:, [i]])[0]
        for i in range(n_true)
    ]
    return float(np.mean(scores))


def consistency_r_rows(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    entanglement: ArrayLike,
    permutation: ArrayLike,
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> float:
    """Row-wise consistency-R, the official ``consistent_r``; see :func:`consistency_r`."""
    return consistency_r(z_true, z_hat, entanglement, permutation, max_rows=max_rows)


def consistency_r_columns(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    entanglement: ArrayLike,
    permutation: ArrayLike,
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> float:
    """Column-wise consistency-R, the official ``transposed_consistent_r`` and the variant the
    theory supports; see :func:`consistency_r`."""
    return consistency_r(
        z_true, z_hat, entanglement, permutation, transposed=True, max_rows=max_rows
    )
