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
import numpyro
import numpyro.distributions as dist

from latentgraph.models.interventions.scm_inputs import check_linear_scm

__all__ = ["linear_gaussian_scm_numpyro"]


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
    weights_np, scales_np, intercepts_np, names, order, parents = check_linear_scm(
        weights, noise_scales, intercepts, names, plate_name
    )
    d = len(names)
    dtype = jnp.result_type(float) if dtype is None else dtype
    W = jnp.asarray(weights_np, dtype=dtype)
    omega = jnp.asarray(scales_np, dtype=dtype)
    b = jnp.asarray(intercepts_np, dtype=dtype)

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
