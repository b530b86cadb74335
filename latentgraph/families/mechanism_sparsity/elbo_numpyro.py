"""Per-example ELBO terms of a fitted NumPyro mechanism-sparsity model at given noise.

The NumPyro half of :func:`.evaluate.validation_elbo` (the Pyro half is :mod:`.elbo_pyro`):
the guide is traced once, its sites are set to the reparameterised draws of the given standard
noise, and the model is replayed on them, so both backends see the same draws.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import random
from numpyro import handlers


def _base(fn):
    while isinstance(fn, dist.Independent):
        fn = fn.base_dist
    return fn


def elbo_terms(
    fitted,
    x: np.ndarray,
    actions: np.ndarray | None,
    latent_noise: np.ndarray,
    edge_noise: Mapping[str, np.ndarray],
) -> tuple[float, float]:
    """``(sum_n log p(x_n | z_n, M), sum_n KL(q(z_n | x_n) || p(z_n | M, a_n)))`` in nats.

    Args:
        fitted: a :class:`~.fit_numpyro.FittedMechanismSparsityNumPyro`.
        x: ``(n, T, d_x)``; actions: ``(n, d_a)`` or None.
        latent_noise: standard normal ``(n, T, d_z)``: ``z = m + s * eps``.
        edge_noise: graph name -> standard logistic noise of the graph's shape (one graph draw
            for all ``n`` rows, as in a training minibatch); unused when the graphs are frozen.
    """
    vae = fitted.vae
    if fitted.sparsity.mode == "none":
        model, guide = vae.frozen(vae.model), vae.frozen(vae.guide)
    else:
        model, guide = vae.model, vae.guide
    dtype = jnp.result_type(float)
    x = jnp.asarray(x, dtype)
    actions = None if actions is None else jnp.asarray(actions, dtype)
    guide = handlers.substitute(handlers.seed(guide, random.key(0)), data=fitted.params)
    model = handlers.substitute(handlers.seed(model, random.key(0)), data=fitted.params)
    guide_trace = handlers.trace(guide).get_trace(x, actions, 0.0)
    for name, site in guide_trace.items():
        if site["type"] != "sample":
            continue
        fn = _base(site["fn"])
        if name.startswith("z_"):
            eps = jnp.asarray(latent_noise[:, int(name[2:])], dtype)
            site["value"] = fn.loc + fn.scale * eps
        elif name in vae.graph_names:
            site["value"] = fn.from_noise(jnp.asarray(edge_noise[name], dtype))
    model_trace = handlers.trace(handlers.replay(model, trace=guide_trace)).get_trace(
        x, actions, 0.0
    )
    log_lik = float(jnp.sum(model_trace["x"]["fn"].log_prob(x)))
    kl = 0.0
    for name, site in model_trace.items():
        if site["type"] == "sample" and name.startswith("z_"):
            kl += float(jnp.sum(dist.kl_divergence(guide_trace[name]["fn"], site["fn"])))
    return log_lik, kl
