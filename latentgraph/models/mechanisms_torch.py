"""Masked per-latent mechanism networks (PyTorch).

One small MLP per latent computes the mean of that latent's transition from its *masked*
parents, as in Lachapelle et al. (2024, arXiv 2401.04890, Sec. 8;
``docs/mechanism_sparsity.md#model``). All
latents' MLPs run as one batched computation (:class:`~latentgraph.models.nn_torch.ParallelLinear`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from latentgraph.models.nn_torch import LEAKY_SLOPE, ParallelLinear


class MaskedMechanisms(nn.Module):
    """Means :math:`\\hat\\mu_i(M^z_{i,:} \\odot z^{t-1},\\; M^a_{i,:} \\odot a^{t-1})` for every latent i.

    The first hidden layer is a bias-free linear map per parent group (latents, actions), summed,
    plus one learned input bias, then LeakyReLU(0.2); then ``n_layers - 1`` further hidden layers
    of width ``hidden``; a linear output gives one mean per latent. Masked-out parents are
    multiplied by zero (the reference code's dummy value gamma, frozen at 0).

    Args:
        n_latents: number of children (one network each).
        n_latent_parents: number of latent parents (0 when there is no latent graph).
        n_action_parents: number of action parents (0 when there are no actions).
        hidden: width of every hidden layer.
        n_layers: number of hidden layers (>= 1).

    Shapes: ``latent_parents`` ``(batch, n_latent_parents)`` with ``latent_mask``
    ``(n_latents, n_latent_parents)``; ``actions`` ``(batch, n_action_parents)`` with
    ``action_mask`` ``(n_latents, n_action_parents)``; output ``(batch, n_latents)``.
    """

    def __init__(
        self,
        n_latents: int,
        *,
        n_latent_parents: int = 0,
        n_action_parents: int = 0,
        hidden: int = 512,
        n_layers: int = 5,
    ):
        super().__init__()
        if n_latent_parents == 0 and n_action_parents == 0:
            raise ValueError("MaskedMechanisms needs latent parents or action parents, got neither")
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.n_latents = n_latents
        self.latent_in = (
            ParallelLinear(n_latents, n_latent_parents, hidden, bias=False)
            if n_latent_parents
            else None
        )
        self.action_in = (
            ParallelLinear(n_latents, n_action_parents, hidden, bias=False)
            if n_action_parents
            else None
        )
        fan_in = n_latent_parents + n_action_parents
        self.input_bias = nn.Parameter(
            torch.empty(n_latents, hidden).uniform_(-(fan_in**-0.5), fan_in**-0.5)
        )
        self.hidden_layers = nn.ModuleList(
            ParallelLinear(n_latents, hidden, hidden) for _ in range(n_layers - 1)
        )
        self.out = ParallelLinear(n_latents, hidden, 1)

    def forward(
        self,
        latent_parents: torch.Tensor | None = None,
        latent_mask: torch.Tensor | None = None,
        actions: torch.Tensor | None = None,
        action_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        h = self.input_bias
        if self.latent_in is not None:
            # (batch, 1, parents) * (children, parents) -> (batch, children, parents)
            h = h + self.latent_in(latent_parents.unsqueeze(-2) * latent_mask)
        if self.action_in is not None:
            h = h + self.action_in(actions.unsqueeze(-2) * action_mask)
        h = F.leaky_relu(h, LEAKY_SLOPE)
        for layer in self.hidden_layers:
            h = F.leaky_relu(layer(h), LEAKY_SLOPE)
        return self.out(h).squeeze(-1)
