"""A linear-Gaussian SCM as a plain NumPyro program, one sample site per node.

.. math::

    x_i \\mid \\mathrm{pa}_i \\sim \\mathcal N\\Bigl(b_i + \\sum_j W_{ij} x_j,\\; \\omega_i^2\\Bigr),

sampled in a topological order inside ``numpyro.plate(plate_name, n_samples)``;
``weights[i, j]`` is the effect of ``x_j`` on ``x_i`` (rows are children). The NumPyro twin of
:func:`~latentgraph.models.interventions.scm_pyro.linear_gaussian_scm_pyro` (same arguments,
sites and checks). Its closed-form moments, with or without interventions, are in
:mod:`~latentgraph.models.interventions.linear_gaussian` (Peters, Janzing, Schölkopf 2017,
§6.3; Squires et al. 2023, "Linear Causal Disentanglement via Interventions", §2). A small
program for tests and examples of the intervention handlers: interventions are applied to it
from outside (:func:`~latentgraph.models.interventions.intervene_numpyro.intervene`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

__all__ = ["linear_gaussian_scm_numpyro", "topological_order"]


def linear_gaussian_scm_numpyro(
    weights: object,
    noise_scales: object,
    intercepts: object = None,
    *,
    names: Sequence[str] | None = None,
    plate_name: str = "samples",
    dtype: object = None,
) -> Callable[[int], dict[str, jax.Array]]:
    """The program ``model(n_samples) -> {name: (n_samples,) array}`` of a linear-Gaussian SCM.

    Args:
        weights: ``(d, d)`` weights of a DAG, ``weights[i, j]`` the effect of ``x_j`` on
            ``x_i``.
        noise_scales: ``(d,)`` positive noise standard deviations ``omega``.
        intercepts: ``(d,)`` intercepts ``b`` (zeros if None).
        names: the ``d`` site names (default ``x0, x1, ...``).
        plate_name: name of the plate over samples.
        dtype: of the parameters (default JAX's default float, float32 unless x64 is on).

    Example:
        >>> from numpyro.handlers import seed
        >>> model = linear_gaussian_scm_numpyro([[0.0, 0.0], [2.0, 0.0]], [1.0, 0.5])
        >>> {name: value.shape for name, value in seed(model, 0)(4).items()}
        {'x0': (4,), 'x1': (4,)}
    """
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
    dtype = jnp.result_type(float) if dtype is None else dtype
    W = jnp.asarray(weights_np, dtype=dtype)
    omega = jnp.asarray(scales_np, dtype=dtype)
    b = jnp.asarray(intercepts_np, dtype=dtype)
    parents = [np.flatnonzero(weights_np[i]).tolist() for i in range(d)]

    def model(n_samples: int) -> dict[str, jax.Array]:
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"`n_samples` must be an int >= 1, got {n_samples!r}")
        values: dict[int, jax.Array] = {}
        with numpyro.plate(plate_name, n_samples):
            for i in order:
                loc = jnp.broadcast_to(b[i], (n_samples,))
                for j in parents[i]:
                    loc = loc + W[i, j] * values[j]
                values[i] = numpyro.sample(names[i], dist.Normal(loc, omega[i]))
        return {names[i]: values[i] for i in range(d)}

    return model


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
