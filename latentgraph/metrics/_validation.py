"""Argument checks for the metrics; all run before any computation starts."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from latentgraph.graphs._validation import as_real_array

CorrelationMethod = Literal["pearson", "spearman"]

DEFAULT_MAX_ROWS = 100_000
"""Metrics use at most this many (first) rows, as the official evaluation does (``docs/mechanism_sparsity.md#metrics``)."""


def check_method(method: str) -> CorrelationMethod:
    if method not in get_args(CorrelationMethod):
        raise ValueError(
            f"method must be one of {get_args(CorrelationMethod)}; received {method!r}"
        )
    return method  # type: ignore[return-value]


def check_max_rows(max_rows: int | None) -> int | None:
    if max_rows is None:
        return None
    if isinstance(max_rows, bool) or not isinstance(max_rows, int | np.integer):
        raise TypeError(f"max_rows must be an int or None; received {type(max_rows).__name__}")
    if max_rows < 2:
        raise ValueError(f"max_rows must be at least 2; received {max_rows}")
    return int(max_rows)


def as_latents(
    value: ArrayLike, name: str, *, max_rows: int | None, n_rows: int | None = None
) -> NDArray[np.float64]:
    """Check a ``(n_rows, n_latents)`` array of finite reals; return its first ``max_rows`` rows.

    ``n_rows`` (the full row count of a companion array) must match when given. Finiteness is
    checked on the rows actually used.
    """
    array = as_real_array(value, name)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_rows, n_latents), with time steps stacked as rows; "
            f"received {array.ndim}-D array of shape {array.shape}"
        )
    if n_rows is not None and array.shape[0] != n_rows:
        raise ValueError(
            f"{name} must have the same number of rows as the ground truth ({n_rows}); "
            f"received {array.shape[0]}"
        )
    if array.shape[0] < 2:
        raise ValueError(f"{name} must have at least 2 rows; received {array.shape[0]}")
    if array.shape[1] < 1:
        raise ValueError(f"{name} must have at least 1 column; received shape {array.shape}")
    used = array if max_rows is None else array[:max_rows]
    if not np.all(np.isfinite(used)):
        n_bad = int(np.sum(~np.isfinite(used)))
        raise ValueError(f"{name} must be finite; found {n_bad} NaN or infinite value(s)")
    return used


def as_latent_pair(
    z_true: ArrayLike,
    z_hat: ArrayLike,
    *,
    max_rows: int | None,
    true_name: str = "z_true",
    hat_name: str = "z_hat",
    require_wider: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate a ground-truth / learned pair of latent arrays (rows capped at ``max_rows``)."""
    max_rows = check_max_rows(max_rows)
    full_true = as_real_array(z_true, true_name)
    truth = as_latents(full_true, true_name, max_rows=max_rows)
    learned = as_latents(z_hat, hat_name, max_rows=max_rows, n_rows=full_true.shape[0])
    if require_wider and learned.shape[1] < truth.shape[1]:
        raise ValueError(
            f"{hat_name} must have at least as many columns as {true_name} "
            f"({truth.shape[1]}) so every true latent can be matched; "
            f"received {learned.shape[1]}"
        )
    return truth, learned
