"""Linear-Gaussian mechanisms as an effectful site, and the moments they imply (NumPyro/JAX).

The mechanisms of ``d`` latents in one context are ``z = W z + mu + diag(omega) eps``,
``eps ~ N(0, I)``: row ``i`` of ``W`` holds the weights of the parents of ``z_i`` (rows are
children, as everywhere in latentgraph), ``mu`` and ``omega`` the mean and scale of its
exogenous noise. :func:`linear_mechanisms` announces them to the effect-handler stack under a
name, with a leading context axis, so that a handler such as
:class:`~latentgraph.families.linear_scm.intervention_numpyro.PerfectIntervention` can replace
the mechanisms of intervened latents *from outside the program*; with no handler the value
passes through unchanged.

The site has its own message type (``"mechanism"``): NumPyro's inference handlers (``seed``,
``substitute``, ``plate``, ...) act only on the types they know, so the site is neither
sampled nor recorded as a posterior variable, while :func:`numpyro.handlers.trace` still shows
it. The latents themselves are never sampled: :func:`observation_moments` marginalises them.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from numpyro.primitives import _PYRO_STACK, apply_stack

__all__ = ["LinearMechanisms", "linear_mechanisms", "observation_moments"]

MECHANISM_MESSAGE = "mechanism"


class LinearMechanisms(NamedTuple):
    """Linear-Gaussian mechanisms, batched over leading (context) axes.

    Attributes:
        weights: ``(..., d, d)``; ``weights[..., i, j]`` is the weight of ``z_j -> z_i``.
        loc: ``(..., d)`` exogenous means ``mu``.
        scale: ``(..., d)`` exogenous standard deviations ``omega``.
    """

    weights: jax.Array
    loc: jax.Array
    scale: jax.Array


def linear_mechanisms(name: str, mechanisms: LinearMechanisms) -> LinearMechanisms:
    """Send ``mechanisms`` through the handler stack as the site ``name``; return the
    (possibly intervened) mechanisms."""
    if not _PYRO_STACK:
        return mechanisms
    msg = {
        "type": MECHANISM_MESSAGE,
        "name": name,
        "fn": lambda value: value,
        "args": (mechanisms,),
        "kwargs": {},
        "value": mechanisms,
        "cond_indep_stack": [],
        "infer": {},
    }
    return apply_stack(msg)["value"]


def observation_moments(
    mechanisms: LinearMechanisms, mixing: jax.Array, obs_scale: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Mean and Cholesky factor of the covariance of ``x = A z + sigma_x eta``, ``z`` marginalised.

    With ``B = (I - W)^{-1}`` (so ``z = B (mu + diag(omega) eps)``):

    .. math:: \\mathbb E[x] = A B \\mu, \\qquad
              \\operatorname{Cov}[x] = A B \\operatorname{diag}(\\omega^2) B^\\top A^\\top
              + \\sigma_x^2 I.

    Args:
        mechanisms: weights ``(..., d, d)``, loc and scale ``(..., d)``.
        mixing: ``A``, ``(p, d)``.
        obs_scale: ``sigma_x``, a scalar.

    Returns:
        ``(loc, scale_tril)`` of shapes ``(..., p)`` and ``(..., p, p)``.
    """
    d = mechanisms.weights.shape[-1]
    p = mixing.shape[0]
    identity = jnp.eye(d, dtype=mechanisms.weights.dtype)
    # A B = A (I - W)^{-1}, solved rather than inverted: (I - W)^T (A B)^T = A^T
    total = jnp.swapaxes(
        jnp.linalg.solve(
            jnp.swapaxes(identity - mechanisms.weights, -1, -2),
            jnp.broadcast_to(mixing.T, mechanisms.weights.shape[:-2] + (d, p)),
        ),
        -1,
        -2,
    )
    loc = jnp.einsum("...pd,...d->...p", total, mechanisms.loc)
    factor = total * mechanisms.scale[..., None, :]
    cov = factor @ jnp.swapaxes(factor, -1, -2) + obs_scale**2 * jnp.eye(p, dtype=total.dtype)
    return loc, jnp.linalg.cholesky(cov)
