"""Closed-form moments of a linear-Gaussian SCM under interventions (numpy, float64).

The SCM over ``d`` scalar nodes, with ``weights[i, j] != 0`` iff ``x_j -> x_i`` (rows are
children, as everywhere in latentgraph):

.. math::

    x = W x + b + \\operatorname{diag}(\\omega)\\, \\varepsilon, \\quad
    \\varepsilon \\sim \\mathcal N(0, I)
    \\;\\Longrightarrow\\;
    \\mathbb E[x] = B b, \\quad \\operatorname{Cov}[x] = B \\operatorname{diag}(\\omega^2) B^\\top,
    \\quad B = (I - W)^{-1}.

Every intervention of :mod:`~latentgraph.models.interventions.contexts` on a node ``i`` with a
Gaussian (or point-mass) intervention distribution keeps the SCM linear-Gaussian; it only
changes row ``i`` of ``(W, b, omega)``:

* perfect ``do(x_i ~ N(m, s^2))`` (``s = 0``: ``do(x_i := m)``): ``W_i = 0``, ``b_i = m``,
  ``omega_i = s`` (:func:`perfect_linear_gaussian`);
* soft ``x_i = a (W_i x + b_i) + c + g omega_i eps_i``: ``W_i -> a W_i``, ``b_i -> a b_i + c``,
  ``omega_i -> g omega_i`` (:func:`soft_linear_gaussian`); a stochastic replacement by a
  linear-Gaussian mechanism is a soft intervention with ``g = new scale / omega_i``.

So the interventional moments are ``linear_gaussian_moments(*perfect_linear_gaussian(...))``.
The moments follow from the reduced form ``x = (I - W)^{-1} (b + diag(omega) eps)``.
References: Peters, Janzing, Schölkopf 2017, *Elements of Causal Inference*, §6.3
(interventions); Squires, Seigal, Bhate, Uhler 2023, "Linear Causal Disentanglement via
Interventions", ICML, §2 (the same linear SCM with perfect interventions). :func:`latentgraph.data.linear_scm_moments` gives the same
perfect-intervention moments for single targets seen through a linear mixing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from latentgraph.models.interventions.contexts import Soft

__all__ = ["linear_gaussian_moments", "perfect_linear_gaussian", "soft_linear_gaussian"]


def linear_gaussian_moments(
    weights: np.ndarray, noise_scales: np.ndarray, intercepts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and covariance ``(d, d)`` of ``x = W x + b + diag(omega) eps``.

    Args:
        weights: ``(d, d)``, ``weights[i, j]`` is the effect of ``x_j`` on ``x_i``; ``I - W``
            must be invertible (true for a DAG).
        noise_scales: ``(d,)`` non-negative noise standard deviations ``omega`` (0 for a node
            fixed by a perfect intervention).
        intercepts: ``(d,)`` intercepts ``b``; zeros if None.

    Example:
        >>> mean, cov = linear_gaussian_moments([[0, 0], [2, 0]], [1, 1], [1, 0])
        >>> mean.tolist(), cov.tolist()
        ([1.0, 2.0], [[1.0, 2.0], [2.0, 5.0]])
    """
    weights, noise_scales, intercepts = _check_scm(weights, noise_scales, intercepts)
    d = weights.shape[0]
    total = np.linalg.inv(np.eye(d) - weights)
    return total @ intercepts, total @ np.diag(noise_scales**2) @ total.T


def perfect_linear_gaussian(
    weights: np.ndarray,
    noise_scales: np.ndarray,
    intercepts: np.ndarray | None,
    targets: Mapping[int, tuple[float, float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W, omega, b)`` after ``do(x_i ~ N(loc, scale^2))`` for every ``i: (loc, scale)`` in
    ``targets`` (``scale = 0`` is ``do(x_i := loc)``): row ``i`` of ``W`` is cut."""
    weights, noise_scales, intercepts = _check_scm(weights, noise_scales, intercepts)
    weights, noise_scales, intercepts = weights.copy(), noise_scales.copy(), intercepts.copy()
    for node, (loc, scale) in _check_targets(targets, weights.shape[0]).items():
        if not (np.isfinite(loc) and np.isfinite(scale) and scale >= 0):
            raise ValueError(
                f"`targets[{node}]` must be (loc, scale) with finite loc and scale >= 0, "
                f"got {(loc, scale)!r}"
            )
        weights[node] = 0.0
        intercepts[node] = loc
        noise_scales[node] = scale
    return weights, noise_scales, intercepts


def soft_linear_gaussian(
    weights: np.ndarray,
    noise_scales: np.ndarray,
    intercepts: np.ndarray | None,
    targets: Mapping[int, Soft],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W, omega, b)`` after the soft interventions ``targets`` (node index -> :class:`Soft`
    with scalar parameters): ``W_i -> a W_i``, ``b_i -> a b_i + c``, ``omega_i -> g omega_i``."""
    weights, noise_scales, intercepts = _check_scm(weights, noise_scales, intercepts)
    weights, noise_scales, intercepts = weights.copy(), noise_scales.copy(), intercepts.copy()
    for node, soft in _check_targets(targets, weights.shape[0]).items():
        if not isinstance(soft, Soft):
            raise TypeError(f"`targets[{node}]` must be a Soft, got {type(soft).__name__}")
        try:
            factor, shift, scale = (
                float(soft.loc_factor),
                float(soft.loc_shift),
                float(soft.scale_factor),
            )
        except TypeError as err:
            raise TypeError(
                f"`targets[{node}]` must have scalar parameters for a scalar node"
            ) from err
        weights[node] *= factor
        intercepts[node] = factor * intercepts[node] + shift
        noise_scales[node] *= scale
    return weights, noise_scales, intercepts


def _check_scm(
    weights: object, noise_scales: object, intercepts: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    weights = _real_array(weights, "weights")
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1] or weights.shape[0] == 0:
        raise ValueError(f"`weights` must be a square (d, d) matrix, got shape {weights.shape}")
    d = weights.shape[0]
    noise_scales = _real_array(noise_scales, "noise_scales")
    if noise_scales.shape != (d,):
        raise ValueError(f"`noise_scales` must have shape ({d},), got {noise_scales.shape}")
    if np.any(noise_scales < 0):
        raise ValueError(f"`noise_scales` must be >= 0, got {noise_scales.tolist()}")
    if intercepts is None:
        intercepts = np.zeros(d)
    intercepts = _real_array(intercepts, "intercepts")
    if intercepts.shape != (d,):
        raise ValueError(f"`intercepts` must have shape ({d},), got {intercepts.shape}")
    if abs(np.linalg.det(np.eye(d) - weights)) < 1e-12:
        raise ValueError("`weights` must make I - W invertible (a DAG does)")
    return weights, noise_scales, intercepts


def _check_targets(targets: object, d: int) -> dict[int, object]:
    if not isinstance(targets, Mapping):
        raise TypeError(f"`targets` must be a mapping node -> intervention, got {type(targets)}")
    checked = {}
    for node, value in targets.items():
        if isinstance(node, bool) or not isinstance(node, (int, np.integer)) or not 0 <= node < d:
            raise ValueError(f"`targets` keys must be node indices in [0, {d}), got {node!r}")
        checked[int(node)] = value
    return checked


def _real_array(value: object, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"`{name}` must be an array of real numbers, got {type(value)}") from err
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be finite")
    return array
