"""Masked per-latent mechanism networks (Flax).

The twin of :mod:`latentgraph.models.mechanisms_torch`: one small MLP per latent computes the
mean of that latent's transition from its *masked* parents (Lachapelle et al. 2024,
``docs/mechanism_sparsity.md#model``). All latents' MLPs run as one batched contraction
(:class:`~latentgraph.models.nn_flax.ParallelDense`), never as a Python loop over latents.
"""

from __future__ import annotations

import jax
from flax import linen as nn

from latentgraph.models.nn_flax import LEAKY_SLOPE, ParallelDense, torch_uniform


class MaskedMechanisms(nn.Module):
    """Means :math:`\\hat\\mu_i(M^z_{i,:} \\odot z^{t-1},\\; M^a_{i,:} \\odot a^{t-1})` for every latent i.

    The first hidden layer is a bias-free linear map per parent group (``latent_in``,
    ``action_in``), summed, plus one learned ``input_bias`` ``(n_latents, hidden)``, then
    LeakyReLU(0.2); then ``n_layers - 1`` layers ``hidden_layers_k`` of width ``hidden``; a linear
    ``out`` layer gives one mean per latent. Masked-out parents are multiplied by zero.

    Attributes:
        n_latents: number of children (one network each).
        n_latent_parents: number of latent parents (0 when there is no latent graph).
        n_action_parents: number of action parents (0 when there are no actions).
        hidden: width of every hidden layer.
        n_layers: number of hidden layers (>= 1).

    Shapes: ``latent_parents`` ``(batch, n_latent_parents)`` with ``latent_mask``
    ``(n_latents, n_latent_parents)``; ``actions`` ``(batch, n_action_parents)`` with
    ``action_mask`` ``(n_latents, n_action_parents)``; output ``(batch, n_latents)``.
    """

    n_latents: int
    n_latent_parents: int = 0
    n_action_parents: int = 0
    hidden: int = 512
    n_layers: int = 5

    def setup(self) -> None:
        if self.n_latent_parents == 0 and self.n_action_parents == 0:
            raise ValueError("MaskedMechanisms needs latent parents or action parents, got neither")
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")
        if self.n_latent_parents:
            self.latent_in = ParallelDense(self.n_latents, self.hidden, use_bias=False)
        if self.n_action_parents:
            self.action_in = ParallelDense(self.n_latents, self.hidden, use_bias=False)
        fan_in = self.n_latent_parents + self.n_action_parents
        self.input_bias = self.param(
            "input_bias", torch_uniform(fan_in), (self.n_latents, self.hidden)
        )
        self.hidden_layers = [
            ParallelDense(self.n_latents, self.hidden) for _ in range(self.n_layers - 1)
        ]
        self.out = ParallelDense(self.n_latents, 1)

    def __call__(
        self,
        latent_parents: jax.Array | None = None,
        latent_mask: jax.Array | None = None,
        actions: jax.Array | None = None,
        action_mask: jax.Array | None = None,
    ) -> jax.Array:
        # Hidden activations are (children, batch, hidden): see ParallelDense.
        h = self.input_bias[:, None, :]
        if self.n_latent_parents:
            # (children, 1, parents) * (1, batch, parents) -> (children, batch, parents)
            h = h + self.latent_in(latent_mask[:, None, :] * latent_parents[None])
        if self.n_action_parents:
            h = h + self.action_in(action_mask[:, None, :] * actions[None])
        h = nn.leaky_relu(h, LEAKY_SLOPE)
        for layer in self.hidden_layers:
            h = nn.leaky_relu(layer(h), LEAKY_SLOPE)
        return self.out(h)[..., 0].T
