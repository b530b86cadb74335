"""The context-module VAE as a Pyro program (Markham et al., arXiv 2507.04754).

``docs/context_module.md#model`` and ``docs/context_module.md#objective``.

Generative model for an image ``x`` from a context with target mask ``t`` (``t_k = 1`` iff
concept ``k`` is intervened on):

.. math::
    z &\\sim \\mathcal N(0, I_{D}) \\quad \\text{(the same prior in every context)} \\\\
    d &= \\mathrm{head}(z, t) \\quad \\text{(the context module, or the identity)} \\\\
    x &\\sim \\prod_{\\text{pixels, channels}} \\mathrm{Bernoulli}(\\sigma(\\mathrm{dec}(d)))

observed at continuous ``x in [0, 1]``, so ``-log p(x | z)`` is the summed binary cross-entropy
of the reference (not a normalised density). The guide is the amortised encoder
``q(z | x) = N(mu(x), diag sigma^2(x))`` (log-variance head), which does not see the context.
Both ``z`` sites are scaled by ``beta``; with an analytic-KL mean-field ELBO the loss is
``BCE + beta * KL(q || N(0, I))`` per image.

The context enters only as the ``targets`` argument routed through the module's masks, so
contexts can be mixed within a batch (``docs/context_module.md#per-sample-form``) and any target set, seen or not, can be
generated (``docs/context_module.md#generation-and-composition``).
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from latentgraph.families.context_module.backbone_torch import ConvDecoder, ConvEncoder
from latentgraph.families.context_module.config import ContextModuleConfig
from latentgraph.families.context_module.layers_torch import ContextModule

LOG_VAR_RANGE = (-12.0, 8.0)
"""The encoder's log-variance is clamped here (a guard against overflow, not a prior)."""


class ContextModuleVAE(nn.Module):
    """Encoder, optional context module and decoder, with the Pyro ``model`` and ``guide``.

    Images are ``(B, H, W, C)`` floats in ``[0, 1]``; ``targets`` is ``(B, K)`` (bool or 0/1).

    Example:
        >>> from latentgraph.families.context_module.config import cpu_config
        >>> vae = ContextModuleVAE(cpu_config(n_concepts=2))
        >>> images, targets = torch.rand(4, 32, 32, 3), torch.zeros(4, 2, dtype=torch.bool)
        >>> elbo = pyro.infer.TraceMeanField_ELBO()
        >>> loss = elbo.differentiable_loss(vae.model, vae.guide, images, targets)
        >>> vae.model(None, targets).shape  # generation: mean images from the prior
        torch.Size([4, 32, 32, 3])
    """

    def __init__(self, config: ContextModuleConfig):
        super().__init__()
        if not isinstance(config, ContextModuleConfig):
            raise TypeError(f"config must be a ContextModuleConfig, got {type(config).__name__}")
        self.config = config
        sizes = config.backbone
        self.encoder = ConvEncoder(sizes)
        self.loc_head = nn.Linear(sizes.hidden, config.latent_dim)
        self.log_var_head = nn.Linear(sizes.hidden, config.latent_dim)
        self.head = (
            None
            if config.module is None
            else ContextModule(config.n_concepts, config.module, sizes.decode_dim)
        )
        self.decoder = ConvDecoder(sizes)

    # ---- deterministic pieces ----------------------------------------------------------------

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Encoder trunk and decoder: the part a fine-tune variant loads from a base model."""
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z | x)``: mean and standard deviation, ``(B, H, W, C) -> 2 x (B, D)``."""
        h = self.encoder(images.permute(0, 3, 1, 2))
        log_var = self.log_var_head(h).clamp(*LOG_VAR_RANGE)
        return self.loc_head(h), torch.exp(0.5 * log_var)

    def decode(
        self, z: torch.Tensor, targets: torch.Tensor, compose: str | None = None
    ) -> torch.Tensor:
        """Bernoulli logits ``(B, H, W, C)`` of images from ``z`` in the contexts ``targets``."""
        d = z if self.head is None else self.head(z, targets, compose)
        return self.decoder(d).permute(0, 2, 3, 1)

    def project_(self) -> None:
        """Project the causal weights to their feasible set (after every optimiser step)."""
        if self.head is not None:
            self.head.project_()

    def penalty(self, targets: torch.Tensor) -> torch.Tensor:
        """Per-sample sparsity penalty on ``E_T`` (zeros without a module), ``(B,)``."""
        c = self.config
        if self.head is None or (c.group_lasso == 0 and c.l2 == 0):
            return torch.zeros(targets.shape[0], device=targets.device)
        return self.head.penalty(targets, group_lasso=c.group_lasso, l2=c.l2)

    # ---- the probabilistic program -----------------------------------------------------------

    def model(
        self, images: torch.Tensor | None, targets: torch.Tensor, compose: str | None = None
    ) -> torch.Tensor:
        """Generative model; ``images=None`` samples. Returns the mean images ``(B, H, W, C)``."""
        batch = targets.shape[0]
        param = self.loc_head.weight
        zeros = param.new_zeros(batch, self.config.latent_dim)
        with pyro.plate("data", batch):
            with pyro.poutine.scale(scale=self.config.beta):
                z = pyro.sample("z", dist.Normal(zeros, 1.0).to_event(1))
            logits = self.decode(z, targets, compose)
            likelihood = dist.Independent(
                dist.Bernoulli(logits=logits, validate_args=False), 3, validate_args=False
            )
            pyro.sample("x", likelihood, obs=images)
        return torch.sigmoid(logits)

    def guide(
        self, images: torch.Tensor, targets: torch.Tensor, compose: str | None = None
    ) -> torch.Tensor:
        """Amortised encoder (context-free). Same arguments as :meth:`model`."""
        loc, scale = self.encode(images)
        with pyro.plate("data", images.shape[0]):
            with pyro.poutine.scale(scale=self.config.beta):
                pyro.sample("z", dist.Normal(loc, scale).to_event(1))
        return loc
