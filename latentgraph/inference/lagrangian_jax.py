"""Constrained sparsity by simultaneous gradient descent-ascent (JAX, pure functions).

The twin of :mod:`latentgraph.inference.lagrangian_torch`: minimise ``loss`` subject to
``g = sum_ij sigma(alpha_ij) - B(t) <= 0`` through ``L = loss + nu * g`` (Lachapelle et al.
2024; ``docs/mechanism_sparsity.md#sparsity-penalty-and-constraint``). The primal optimiser
descends ``L`` with ``nu`` held fixed; after the step
``nu <- max(0, nu + lr_dual * g)``, reset to 0 whenever the constraint holds (dual restarts).
Everything here is a pure ``jnp`` function of traced values, so bounds, dual learning rates and
steps may differ across a :func:`jax.vmap` of runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def linear_schedule(step, start, end, duration, delay=0) -> jax.Array:
    """:class:`~latentgraph.inference.schedules.LinearSchedule` as a traceable function.

    .. math:: v(t) = s + (e - s)\\,\\min\\big(1, \\max(0, t - d) / D\\big)

    with ``duration = 0`` jumping to ``end`` at ``t = delay``; equal to
    ``LinearSchedule(start, end, duration, delay)(step)`` (tested).
    """
    elapsed = jnp.asarray(step) - delay
    duration = jnp.asarray(duration)
    annealed = jnp.clip(elapsed / jnp.maximum(duration, 1), 0.0, 1.0)
    frac = jnp.where(duration > 0, annealed, jnp.where(elapsed >= 0, 1.0, 0.0))
    return start + (end - start) * frac


def lagrangian_term(multiplier, defect) -> jax.Array:
    """``nu * g`` with ``nu`` held fixed (no gradient flows into the multiplier)."""
    return lax.stop_gradient(multiplier) * defect


def dual_ascent(multiplier, defect, lr, *, restarts: bool = True) -> jax.Array:
    """One projected ascent step ``max(0, nu + lr * g)`` with the defect ``g`` of the same step;
    with ``restarts`` the multiplier is reset to 0 whenever ``g <= 0``."""
    defect = lax.stop_gradient(defect)
    nu = jnp.maximum(multiplier + lr * defect, 0.0)
    if restarts:
        nu = jnp.where(defect <= 0, jnp.zeros_like(nu), nu)
    return nu
