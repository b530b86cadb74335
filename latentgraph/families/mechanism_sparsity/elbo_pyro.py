"""Per-example ELBO terms of a fitted Pyro mechanism-sparsity model at given noise.

The Pyro half of :func:`.evaluate.validation_elbo` (the NumPyro half is :mod:`.elbo_numpyro`):
the guide is traced once, its sites are set to the reparameterised draws of the given standard
noise, and the model is replayed on them, so both backends see the same draws.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyro
import torch
from torch.distributions import kl_divergence


@torch.no_grad()
def elbo_terms(
    fitted,
    x: np.ndarray,
    actions: np.ndarray | None,
    latent_noise: np.ndarray,
    edge_noise: Mapping[str, np.ndarray],
) -> tuple[float, float]:
    """``(sum_n log p(x_n | z_n, M), sum_n KL(q(z_n | x_n) || p(z_n | M, a_n)))`` in nats;
    arguments as :func:`.elbo_numpyro.elbo_terms` (``fitted``: a
    :class:`~.fit_pyro.FittedMechanismSparsity`)."""
    vae = fitted.vae
    if fitted.sparsity.mode == "none":
        model, guide = vae.frozen(vae.model), vae.frozen(vae.guide)
    else:
        model, guide = vae.model, vae.guide
    parameter = next(vae.parameters())

    def tensor(a):
        return torch.as_tensor(np.asarray(a), dtype=parameter.dtype, device=parameter.device)

    x_t = tensor(x)
    a_t = None if actions is None else tensor(actions)
    was_training = vae.training
    vae.eval()
    try:
        guide_trace = pyro.poutine.trace(guide).get_trace(x_t, a_t)
        for name, site in guide_trace.nodes.items():
            if site["type"] != "sample":
                continue
            if name.startswith("z_"):
                loc, var = vae.encode(x_t)
                t = int(name[2:])
                site["value"] = loc[:, t] + var[:, t].sqrt() * tensor(latent_noise[:, t])
            elif name in vae.graph_names:
                logits = vae.edge_logits[name]
                soft = torch.sigmoid((logits + tensor(edge_noise[name])) / vae.config.temperature)
                site["value"] = (soft > 0.5).to(soft.dtype) if vae.config.straight_through else soft
        model_trace = pyro.poutine.trace(pyro.poutine.replay(model, trace=guide_trace)).get_trace(
            x_t, a_t
        )
        log_lik = float(model_trace.nodes["x"]["fn"].log_prob(x_t).sum())
        kl = 0.0
        for name, site in model_trace.nodes.items():
            if site["type"] == "sample" and name.startswith("z_"):
                kl += float(kl_divergence(guide_trace.nodes[name]["fn"], site["fn"]).sum())
    finally:
        vae.train(was_training)
    return log_lik, kl
