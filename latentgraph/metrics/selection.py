"""Label-free hyperparameter selection with UDR (unsupervised disentanglement ranking).

Spec ``mechanism_sparsity.md`` 2.7 (after Duan et al., ICLR 2020, with MCC as similarity):
for one hyperparameter setting, ``UDR`` is the mean MCC over pairs of the seeds' encodings of
the same test data; the setting with the highest UDR is selected.

Caveat (``docs/mechanism_sparsity.md#udr-across-different-graphs``): UDR is only meaningful when every seed was trained on the *same* data and
ground truth. With random graphs drawn per training seed the runs do not share a ground truth;
fix the graph seed independently of the training seed before selecting with UDR.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from latentgraph.graphs._validation import as_real_array
from latentgraph.metrics._validation import (
    DEFAULT_MAX_ROWS,
    CorrelationMethod,
    as_latents,
    check_max_rows,
    check_method,
)
from latentgraph.metrics.correlation import mean_correlation

__all__ = ["pairwise_mcc", "select_by_udr", "udr"]


def _check_encodings(
    encodings: Sequence[ArrayLike], name: str, max_rows: int | None
) -> list[NDArray[np.float64]]:
    if isinstance(encodings, np.ndarray) and encodings.ndim in (0, 2):
        raise TypeError(
            f"{name} must be a sequence of 2-D arrays (one per seed), not one array of shape "
            f"{encodings.shape}"
        )
    if not isinstance(encodings, Sequence | np.ndarray):
        raise TypeError(
            f"{name} must be a sequence of 2-D arrays; received {type(encodings).__name__}"
        )
    if len(encodings) < 2:
        raise ValueError(f"{name} needs at least 2 encodings (seeds); received {len(encodings)}")
    checked = []
    for k, encoding in enumerate(encodings):
        full = as_real_array(encoding, f"{name}[{k}]")
        as_latents(full, f"{name}[{k}]", max_rows=max_rows)
        if checked and full.shape != checked[0].shape:
            raise ValueError(
                f"{name}[{k}] must have the shape of {name}[0] {checked[0].shape} (the same test "
                f"rows encoded by every seed); received {full.shape}"
            )
        checked.append(full)
    return checked


def pairwise_mcc(
    encodings: Sequence[ArrayLike],
    method: CorrelationMethod = "pearson",
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> NDArray[np.float64]:
    """Symmetric matrix of MCCs between every pair of encodings (diagonal 1).

    Each encoding is ``(n_rows, n_latents)``: one seed's encoder means on the same test rows.
    The MCC of a pair with equal widths is symmetric, so each unordered pair is computed once.
    """
    method = check_method(method)
    max_rows = check_max_rows(max_rows)
    checked = _check_encodings(encodings, "encodings", max_rows)
    scores = np.eye(len(checked))
    for a, b in combinations(range(len(checked)), 2):
        score = mean_correlation(checked[a], checked[b], method, max_rows=max_rows).score
        scores[a, b] = scores[b, a] = score
    return scores


def udr(
    encodings: Sequence[ArrayLike],
    method: CorrelationMethod = "pearson",
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> float:
    """UDR of one setting: the mean pairwise MCC between its seeds' encodings (Duan et al., 2020;
    ``docs/mechanism_sparsity.md#model-selection-with-udr``).

    Args:
        encodings: at least two ``(n_rows, n_latents)`` arrays of equal shape, the encodings
            of the same test rows by models trained with different seeds.
        method: correlation used inside the MCC (``"pearson"`` as in the paper).
        max_rows: use only the first ``max_rows`` rows (``None``: all).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(300, 4))
        >>> round(udr([z, -3.0 * z[:, ::-1]]), 6)
        1.0
    """
    scores = pairwise_mcc(encodings, method, max_rows=max_rows)
    upper = np.triu_indices(scores.shape[0], k=1)
    return float(scores[upper].mean())


def select_by_udr[Setting: Hashable](
    encodings_by_setting: Mapping[Setting, Sequence[ArrayLike]],
    method: CorrelationMethod = "pearson",
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> tuple[Setting, dict[Setting, float]]:
    """Pick the hyperparameter setting whose seeds agree most (highest :func:`udr`).

    Args:
        encodings_by_setting: for each setting (e.g. a sparsity bound), its seeds' encodings.
        method, max_rows: passed to :func:`udr`.

    Returns:
        ``(best_setting, {setting: udr})``. Ties go to the setting listed first.
    """
    if not isinstance(encodings_by_setting, Mapping):
        raise TypeError(
            "encodings_by_setting must be a mapping setting -> encodings; "
            f"received {type(encodings_by_setting).__name__}"
        )
    if not encodings_by_setting:
        raise ValueError("encodings_by_setting must hold at least one setting; received none")
    method = check_method(method)
    max_rows = check_max_rows(max_rows)
    for setting, encodings in encodings_by_setting.items():
        _check_encodings(encodings, f"encodings_by_setting[{setting!r}]", max_rows)
    scores = {
        setting: udr(encodings, method, max_rows=max_rows)
        for setting, encodings in encodings_by_setting.items()
    }
    best = max(scores, key=scores.__getitem__)
    return best, scores
