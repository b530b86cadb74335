"""From a :class:`~latentgraph.data.Dataset` to the inputs of the linear SCM (numpy only).

The data set holds rows ``x`` ``(n, 1, n_obs)`` and intervention targets ``actions``
``(n, n_latents)`` (see :mod:`latentgraph.data.linear_scm`); the model needs the contexts
(observational + ``do(z_k)``), their known targets and intervention distributions, the
per-context sufficient statistics and, for a known mixing, the matrix ``A``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np

from latentgraph.data import Dataset, check_real_array, context_index, describe

__all__ = ["LinearSCMInputs", "MixingChoice", "context_statistics", "linear_scm_inputs"]

MixingChoice = Literal["known", "learned"]


@dataclass(frozen=True, eq=False)
class LinearSCMInputs:
    """Everything the model and the fits need, as float64 numpy arrays.

    Attributes:
        x: ``(n, n_obs)`` rows.
        context: int ``(n,)``: 0 observational, ``k + 1`` for ``do(z_k)``.
        counts, mean, scatter: per-context sufficient statistics (:func:`context_statistics`).
        targets: 0/1 ``(C, n_latents)``, ``targets[c, k] = 1`` iff ``z_k`` is intervened in
            context ``c`` (so ``targets[0] = 0`` and ``targets[k + 1] = e_k``).
        intervention_loc, intervention_scale: ``(C, n_latents)`` intervention distributions.
        mixing: known ``A`` ``(n_obs, n_latents)``, or None when it is learned.
        context_names: one name per context.
    """

    x: np.ndarray
    context: np.ndarray
    counts: np.ndarray
    mean: np.ndarray
    scatter: np.ndarray
    targets: np.ndarray
    intervention_loc: np.ndarray
    intervention_scale: np.ndarray
    mixing: np.ndarray | None
    context_names: tuple[str, ...]

    @property
    def n_latents(self) -> int:
        return int(self.targets.shape[1])

    @property
    def n_obs(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_contexts(self) -> int:
        return int(self.targets.shape[0])


def linear_scm_inputs(
    dataset: Dataset,
    *,
    split: str = "train",
    mixing: MixingChoice | np.ndarray = "known",
    intervention_loc: float | np.ndarray | None = None,
    intervention_scale: float | np.ndarray | None = None,
) -> LinearSCMInputs:
    """Read one split of ``dataset`` into :class:`LinearSCMInputs`, checking everything.

    Args:
        dataset: rows ``x`` ``(n, 1, n_obs)`` and single-target indicators ``actions``
            ``(n, n_latents)``; every context (observational and each ``do(z_k)``) must have
            more than ``n_obs`` rows (the Wishart likelihood of the scatter needs it).
        split: which split to read.
        mixing: ``"known"`` reads ``A`` from ``dataset.info["mixing_matrix"]``; an array is
            used as the known ``A``; ``"learned"`` leaves it to the model.
        intervention_loc, intervention_scale: the known intervention distributions, a float or
            ``(n_latents,)``; None reads ``dataset.info["intervention"]``.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"`dataset` must be a latentgraph Dataset, got {describe(dataset)}")
    arrays = dataset.split(split)
    if "actions" not in arrays:
        raise ValueError(
            "`dataset` must hold intervention targets as 'actions' (n, n_latents); "
            f"split {split!r} has only {sorted(arrays)}"
        )
    x = np.asarray(arrays["x"], dtype=np.float64)
    if x.shape[1] != 1:
        raise ValueError(f"`dataset` must have one step per row (T = 1), got T = {x.shape[1]}")
    x = x[:, 0]
    n_obs = x.shape[1]
    context = context_index(arrays["actions"])
    n_latents = int(arrays["actions"].shape[1])
    if n_latents < 2:
        raise ValueError(f"`dataset` must have at least 2 latents, got {n_latents}")
    if n_obs < n_latents:
        raise ValueError(f"`dataset` must have n_obs >= n_latents={n_latents}, got {n_obs}")
    n_contexts = n_latents + 1
    counts, mean, scatter = context_statistics(x, context, n_contexts)
    names = dataset.info.get("contexts")
    if not (isinstance(names, list) and len(names) == n_contexts):
        names = ["observational", *(f"do(z{k})" for k in range(n_latents))]
    small = [f"{names[c]!r}: {int(counts[c])}" for c in range(n_contexts) if counts[c] <= n_obs]
    if small:
        raise ValueError(
            f"`dataset` split {split!r} needs more than n_obs={n_obs} rows in every context; "
            f"got {', '.join(small)}"
        )

    stored = dataset.info.get("intervention", {})
    loc = _per_latent(
        stored.get("loc") if intervention_loc is None else intervention_loc,
        "intervention_loc",
        n_latents,
    )
    scale = _per_latent(
        stored.get("scale") if intervention_scale is None else intervention_scale,
        "intervention_scale",
        n_latents,
    )
    if np.any(scale <= 0):
        raise ValueError(f"`intervention_scale` must be positive, got {scale.tolist()}")
    targets = np.zeros((n_contexts, n_latents))
    targets[np.arange(1, n_contexts), np.arange(n_latents)] = 1.0

    if isinstance(mixing, str):
        if mixing == "learned":
            known = None
        elif mixing == "known":
            if "mixing_matrix" not in dataset.info:
                raise ValueError(
                    "`mixing`='known' needs dataset.info['mixing_matrix']; pass the matrix "
                    "as `mixing` or use mixing='learned'"
                )
            known = _mixing_matrix(dataset.info["mixing_matrix"], n_obs, n_latents)
        else:
            raise ValueError(f"`mixing` must be 'known', 'learned' or an array, got {mixing!r}")
    else:
        known = _mixing_matrix(mixing, n_obs, n_latents)
    return LinearSCMInputs(
        x=x,
        context=context,
        counts=counts,
        mean=mean,
        scatter=scatter,
        targets=targets,
        intervention_loc=targets * loc,
        intervention_scale=np.where(targets == 1, scale, 1.0),
        mixing=known,
        context_names=tuple(str(name) for name in names),
    )


def context_statistics(
    x: np.ndarray, context: np.ndarray, n_contexts: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-context ``(counts, mean, scatter)`` of rows ``x`` ``(n, p)`` (float64).

    ``scatter[c] = sum_{r in c} (x_r - mean[c]) (x_r - mean[c])^T``; a context without rows
    gets count 0, mean 0 and scatter 0.

    Example:
        >>> x = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
        >>> counts, mean, scatter = context_statistics(x, np.array([0, 0, 1]), 2)
        >>> counts.tolist(), mean.tolist(), scatter[0].tolist()
        ([2.0, 1.0], [[2.0, 1.0], [5.0, 5.0]], [[2.0, 2.0], [2.0, 2.0]])
    """
    x = np.asarray(x, dtype=np.float64)
    p = x.shape[1]
    counts = np.zeros(n_contexts)
    mean = np.zeros((n_contexts, p))
    scatter = np.zeros((n_contexts, p, p))
    for c in range(n_contexts):
        rows = x[context == c]
        counts[c] = len(rows)
        if len(rows):
            mean[c] = rows.mean(axis=0)
            centred = rows - mean[c]
            scatter[c] = centred.T @ centred
    return counts, mean, scatter


def _per_latent(value: object, name: str, n_latents: int) -> np.ndarray:
    if value is None:
        raise ValueError(f"`{name}` is needed: pass it or store it in dataset.info['intervention']")
    if isinstance(value, bool) or not (isinstance(value, numbers.Real | list | tuple | np.ndarray)):
        raise TypeError(f"`{name}` must be a float or an array (n_latents,), got {describe(value)}")
    array = check_real_array(value, name, ndims=(0, 1), layout=f"() or ({n_latents},)")
    if array.ndim == 1 and array.shape != (n_latents,):
        raise ValueError(f"`{name}` must have shape ({n_latents},), got {array.shape}")
    return np.broadcast_to(array, (n_latents,)).copy()


def _mixing_matrix(value: object, n_obs: int, n_latents: int) -> np.ndarray:
    matrix = check_real_array(value, "mixing", ndims=(2,), layout=f"({n_obs}, {n_latents})")
    if matrix.shape != (n_obs, n_latents):
        raise ValueError(f"`mixing` must have shape ({n_obs}, {n_latents}), got {matrix.shape}")
    return matrix
