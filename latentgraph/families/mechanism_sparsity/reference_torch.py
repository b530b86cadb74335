"""The same negative ELBO written as plain PyTorch, with no Pyro machinery.

A second formulation of :class:`~latentgraph.families.mechanism_sparsity.pyro_model.MechanismSparsityVAE`'s
objective, used (1) by the tests, which check that Pyro's ``TraceMeanField_ELBO`` on the program
gives the same number for the same weights and noise, and (2) by the speed benchmark, which
times a Pyro step against this plain step.

With :math:`q_t = \\mathcal N(m_t, s_t^2)` the encoder at step t and :math:`p_t` the model's prior
for :math:`z^t` (evaluated at the sampled :math:`\\tilde z^{t-1}`), per example

.. math:: \\mathcal L = \\frac{1}{T d_x}\\Big[\\sum_t -\\log \\mathcal N(x^t; f(\\tilde z^t), \\sigma_x^2)
          + \\beta \\sum_t \\mathrm{KL}(q_t \\| p_t)\\Big]

averaged over the batch, plus :math:`\\frac{1}{d_x}\\sum_{ij} -l_{ij}\\sigma(\\alpha_{ij})` for the
edge prior (``docs/mechanism_sparsity.md#objective``).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def gaussian_kl(loc_q, scale_q, loc_p, scale_p) -> torch.Tensor:
    """Elementwise :math:`\\mathrm{KL}(\\mathcal N(m_q, s_q^2) \\| \\mathcal N(m_p, s_p^2))`."""
    var_ratio = (scale_q / scale_p) ** 2
    return 0.5 * (var_ratio + ((loc_q - loc_p) / scale_p) ** 2 - 1 - torch.log(var_ratio))


def negative_elbo(
    vae: MechanismSparsityVAE,
    x: torch.Tensor,
    actions: torch.Tensor | None,
    *,
    latent_noise: torch.Tensor,
    masks: dict[str, torch.Tensor],
) -> torch.Tensor:
    """Per-dimension negative ELBO for given reparameterisation noise and graph masks.

    Args:
        x: ``(batch, T, d_x)``; actions: ``(batch, d_a)`` or None.
        latent_noise: standard normal ``(batch, T, d_z)`` used for ``z = m + s * eps``.
        masks: graph name -> mask value (e.g. a relaxed sample, or ones when frozen).
    """
    c = vae.config
    batch, n_steps, n_obs = x.shape
    loc, var = vae.encode(x)
    scale = var.sqrt()
    z = loc + scale * latent_noise
    trans_scale = vae.transition_scale()
    kl = x.new_zeros(())
    if n_steps == 1:
        prior_loc = vae.mechanisms(actions=actions, action_mask=masks.get("action_graph"))
        kl = kl + gaussian_kl(loc[:, 0], scale[:, 0], prior_loc, trans_scale).sum()
    else:
        init_scale = F.softplus(vae.initial_raw_var).sqrt()
        kl = kl + gaussian_kl(loc[:, 0], scale[:, 0], vae.initial_loc, init_scale).sum()
        for t in range(1, n_steps):
            prior_loc = vae.mechanisms(
                latent_parents=z[:, t - 1],
                latent_mask=masks.get("latent_graph"),
                actions=actions if c.n_actions else None,
                action_mask=masks.get("action_graph"),
            )
            kl = kl + gaussian_kl(loc[:, t], scale[:, t], prior_loc, trans_scale).sum()
    std = vae.decoder_std()
    residual = (x - vae.decoder(z)) / std
    nll = (0.5 * residual**2 + torch.log(std) + _HALF_LOG_2PI).sum()
    loss = (nll + c.beta * kl) / (batch * n_steps * n_obs)
    for name, logits in vae.edge_logits.items():
        if name in masks and masks[name] is not None:
            q = torch.sigmoid(logits)
            prior = getattr(vae, f"{name}_prior_logits")
            edge_term = -(q * prior)
            if c.include_edge_entropy:
                edge_term = edge_term + q * F.logsigmoid(logits) + (1 - q) * F.logsigmoid(-logits)
            loss = loss + edge_term.sum() / n_obs
    return loss


def relaxed_masks(
    vae: MechanismSparsityVAE, uniforms: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Gumbel-sigmoid masks ``sigma((alpha + log u - log(1-u)) / tau)`` from given uniforms."""
    tau = vae.config.temperature
    return {
        name: torch.sigmoid(
            (logits + torch.log(uniforms[name]) - torch.log1p(-uniforms[name])) / tau
        )
        for name, logits in vae.edge_logits.items()
    }
