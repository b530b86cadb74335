"""Mean correlation coefficient (MCC) with Hungarian matching.

Lachapelle et al. (2024, arXiv 2401.04890), Sec. 8; ``docs/mechanism_sparsity.md#mcc``:
``corr[i, j]`` is the correlation of true ``z_i`` and learned ``hat z_j`` over rows; the
matching ``pi`` maximises ``sum_i |corr[i, pi(i)]|`` (linear assignment on ``-|corr|``) and

.. math:: \\mathrm{MCC} = \\frac{1}{d_z} \\sum_i |\\mathrm{corr}[i, \\pi(i)]| .
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

from latentgraph.metrics._validation import (
    DEFAULT_MAX_ROWS,
    CorrelationMethod,
    as_latent_pair,
    check_method,
)

__all__ = ["MCCResult", "correlation_matrix", "mcc", "mean_correlation"]


@dataclass(frozen=True, eq=False)
class MCCResult:
    """Outcome of :func:`mean_correlation`; arrays are read-only.

    Attributes:
        score: the MCC, mean of ``matched``.
        permutation: ``(n_true,)`` ints, ``permutation[i]`` = learned latent matched to true
            latent ``i`` (the permutation matrix is ``P[i, permutation[i]] = 1``).
        correlation: ``(n_true, n_learned)`` absolute correlations, rows true, columns learned.
        matched: ``(n_true,)`` absolute correlation of each true latent with its match.
    """

    score: float
    permutation: NDArray[np.intp]
    correlation: NDArray[np.float64]
    matched: NDArray[np.float64]

    def __float__(self) -> float:
        return self.score


def _unit_range_columns(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each column divided by its largest magnitude, so entries lie in ``[-1, 1]``.

    Correlations are scale invariant; the division keeps finite values near the float64
    limits from overflowing (``1e308 - (-1e308)``, ``(1e200)**2``) or underflowing
    (``(1e-200)**2``, subnormals) while columns are centred and normalised.
    """
    scale = np.max(np.abs(values), axis=0)
    scale[scale == 0] = 1.0
    return values / scale


def _centred_unit_columns(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Columns centred and scaled to unit norm; exactly constant columns become zero."""
    # rounding in the mean leaves ~1e-17 residues in a constant column, which would otherwise
    # be normalised into noise of unit size
    constant = np.all(values == values[0], axis=0)
    values = _unit_range_columns(values)
    centred = values - values.mean(axis=0)
    centred[:, constant] = 0.0
    norms = np.linalg.norm(centred, axis=0)
    norms[norms == 0] = 1.0
    return centred / norms


def _correlation(
    truth: NDArray[np.float64], learned: NDArray[np.float64], method: CorrelationMethod
) -> NDArray[np.float64]:
    if method == "spearman":
        truth = rankdata(truth, axis=0)
        learned = rankdata(learned, axis=0)
    corr = _centred_unit_columns(truth).T @ _centred_unit_columns(learned)
    return np.clip(corr, -1.0, 1.0)


def correlation_matrix(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    method: CorrelationMethod = "pearson",
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> NDArray[np.float64]:
    """Signed correlation matrix ``(n_true, n_learned)`` between true and learned latents.

    ``method="spearman"`` is the Pearson correlation of column-wise ranks (ties averaged),
    which equals :func:`scipy.stats.spearmanr`. A constant column has correlation 0 with
    everything (instead of NaN). Only the first ``max_rows`` rows are used (``None``: all).
    """
    method = check_method(method)
    truth, learned = as_latent_pair(z_true, z_hat, max_rows=max_rows, require_wider=False)
    return _correlation(truth, learned, method)


def mean_correlation(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    method: CorrelationMethod = "pearson",
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> MCCResult:
    """Mean correlation coefficient with the optimal one-to-one matching (``docs/mechanism_sparsity.md#mcc``).

    Args:
        z_true: ground-truth latents ``(n_rows, n_true)``; temporal data stack time steps as
            rows.
        z_hat: learned latents ``(n_rows, n_learned)`` with ``n_learned >= n_true`` (extra
            learned latents stay unmatched).
        method: ``"pearson"`` (the official metric) or ``"spearman"`` (rank correlation,
            invariant to monotone element-wise maps).
        max_rows: use only the first ``max_rows`` rows (official: 100 000); ``None`` uses all.

    Returns:
        :class:`MCCResult`. A constant column counts as correlation 0, never NaN.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(500, 3))
        >>> result = mean_correlation(z, 2.0 * z[:, [2, 0, 1]])
        >>> round(result.score, 6), result.permutation.tolist()
        (1.0, [1, 2, 0])
    """
    method = check_method(method)
    truth, learned = as_latent_pair(z_true, z_hat, max_rows=max_rows)
    magnitude = np.abs(_correlation(truth, learned, method))
    rows, columns = linear_sum_assignment(magnitude, maximize=True)
    permutation = np.empty(truth.shape[1], dtype=np.intp)
    permutation[rows] = columns
    matched = magnitude[np.arange(truth.shape[1]), permutation]
    for array in (permutation, magnitude, matched):
        array.setflags(write=False)
    return MCCResult(
        score=float(matched.mean()),
        permutation=permutation,
        correlation=magnitude,
        matched=matched,
    )


def mcc(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    method: CorrelationMethod = "pearson",
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> float:
    """The MCC score alone; see :func:`mean_correlation`."""
    return mean_correlation(z_true, z_hat, method, max_rows=max_rows).score
