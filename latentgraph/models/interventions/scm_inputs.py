"""Inputs of the linear-Gaussian SCM programs, checked once for both backends (numpy only).

:func:`check_linear_scm` validates what :func:`~.scm_pyro.linear_gaussian_scm_pyro` and
:func:`~.scm_numpyro.linear_gaussian_scm_numpyro` take and returns it as numpy arrays with a
parents-first node order, so the two programs differ only in their backend's sample calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["LinearSCMInputs", "check_linear_scm", "topological_order"]


class LinearSCMInputs(NamedTuple):
    """Checked SCM inputs: ``weights`` ``(d, d)``, ``noise_scales`` and ``intercepts`` ``(d,)``,
    the site ``names``, a parents-first ``order`` and each node's ``parents``."""

    weights: np.ndarray
    noise_scales: np.ndarray
    intercepts: np.ndarray
    names: list[str]
    order: list[int]
    parents: list[list[int]]


def check_linear_scm(
    weights: object,
    noise_scales: object,
    intercepts: object = None,
    names: Sequence[str] | None = None,
    plate_name: str = "samples",
) -> LinearSCMInputs:
    """Every check of the SCM programs' arguments (ValueError/TypeError naming the argument)."""
    weights_np = _real(weights, "weights")
    if weights_np.ndim != 2 or weights_np.shape[0] != weights_np.shape[1] or not weights_np.size:
        raise ValueError(f"`weights` must be a square (d, d) matrix, got shape {weights_np.shape}")
    d = weights_np.shape[0]
    scales_np = _real(noise_scales, "noise_scales")
    if scales_np.shape != (d,) or np.any(scales_np <= 0):
        raise ValueError(f"`noise_scales` must be ({d},) and positive, got {scales_np.tolist()}")
    intercepts_np = np.zeros(d) if intercepts is None else _real(intercepts, "intercepts")
    if intercepts_np.shape != (d,):
        raise ValueError(f"`intercepts` must have shape ({d},), got {intercepts_np.shape}")
    if names is None:
        names = [f"x{i}" for i in range(d)]
    names = list(names)
    if len(names) != d or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"`names` must be {d} non-empty strings, got {names!r}")
    if len(set(names)) != d:
        raise ValueError(f"`names` must be distinct, got {names!r}")
    if not isinstance(plate_name, str) or not plate_name or plate_name in names:
        raise ValueError(
            f"`plate_name` must be a non-empty str other than a site name, got {plate_name!r}"
        )
    order = topological_order(weights_np)
    parents = [np.flatnonzero(weights_np[i]).tolist() for i in range(d)]
    return LinearSCMInputs(weights_np, scales_np, intercepts_np, names, order, parents)


def topological_order(weights: np.ndarray) -> list[int]:
    """Nodes ordered parents-first (Kahn's algorithm); ValueError if ``weights`` has a cycle.

    Example:
        >>> topological_order(np.array([[0.0, 1.0], [0.0, 0.0]]))  # x1 -> x0
        [1, 0]
    """
    adjacency = np.asarray(weights) != 0
    d = adjacency.shape[0]
    remaining = set(range(d))
    order: list[int] = []
    while remaining:
        roots = sorted(i for i in remaining if not any(adjacency[i, j] for j in remaining))
        if not roots:
            raise ValueError(f"`weights` must be a DAG; nodes {sorted(remaining)} form a cycle")
        order.extend(roots)
        remaining.difference_update(roots)
    return order


def _real(value: object, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"`{name}` must be an array of real numbers, got {type(value)}") from err
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be finite")
    return array
