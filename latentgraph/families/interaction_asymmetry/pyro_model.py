"""The regularised Transformer VAE of Brady et al. (2025, arXiv 2411.07784) as a Pyro program.

Generative model for a batch of ``B`` images (``docs/interaction_asymmetry.md#model``,
``docs/interaction_asymmetry.md#pyro-and-numpyro-formulation``):

.. math::
    z_b &\\sim \\mathcal N(0, I_{K \\times d}) \\qquad (\\text{site ``slots``, scaled by } \\beta) \\\\
    x_{b,p,c} &\\sim \\mathcal N\\big(\\hat x_{p,c}(z_b),\\; s_{\\text{obs}}^2\\big), \\quad
        s_{\\text{obs}}^2 = 1/(2\\sigma) \\qquad (\\text{site ``pixels``}) \\\\
    &\\text{factor ``interaction''}: \\; -\\alpha_t\\, L_{\\text{int}}(A_b)

and the guide is the amortised slot encoder, :math:`q(z_b \\mid x_b) = \\mathcal N(\\mu_b,
(0.5 e^{s_b})^2)` on the same site. With the analytic-KL mean-field ELBO, the negative ELBO per
image is :math:`\\sigma\\,\\mathrm{SSE} + \\beta\\,\\mathrm{KL} + \\alpha_t L_{\\text{int}}` plus
the constant :math:`3P(\\log s_{\\text{obs}} + \\tfrac12 \\log 2\\pi)` (tested).

* **beta**: :func:`pyro.poutine.scale` on the ``slots`` site in model and guide. Pyro refuses a
  scale of 0, so ``beta = 0`` masks the site's KL instead (:func:`pyro.poutine.mask`), which
  contributes exactly 0 with no gradient: the same program, ablated.
* **alpha_t**: an argument of the program (it follows the warm-up schedule), entering through
  :func:`pyro.factor`; at ``alpha_t = 0`` the factor is left out (and the decoder may then run
  its fused attention, which returns no weights, see :meth:`InteractionAsymmetryVAE.set_speed`).
* **pixels**: optional indices of the pixels to decode, ``(m,)`` or ``(B, m)``. The likelihood
  is then scaled by ``P / m``, so for a uniformly random subset (without replacement) the ELBO
  is an unbiased estimate of the full-image ELBO; ``L_int`` is averaged over the subset, also
  unbiased.
* **pixel_weights**: optional importance weights ``(B, m)`` of pixels drawn *with* replacement
  from a per-image distribution ``q`` (:func:`.fit_pyro.intensity_pixels`):
  ``w_{b,i} = 1 / (m q_b(p_i))``. Each drawn pixel's log-likelihood is then scaled by its own
  weight (a ``pixel_draws`` plate inside the image plate) and ``L_int`` is the weighted sum
  ``sum_i w_i g(p_i) / P``; since ``E_q[1 / (m q(p))\\, f(p)]`` summed over the ``m`` draws is
  ``sum_p f(p)``, both stay unbiased estimates of the full-image terms for any ``q > 0``
  (tested). Uniform draws without replacement are the special case ``w = P / m``.

Precision and speed (:meth:`InteractionAsymmetryVAE.set_speed`): the networks may run under
bf16 autocast and through :func:`torch.compile`; their outputs are cast to float32 before they
enter any distribution, so the ELBO's sums are always float32 (or float64 for a float64 model).
"""

from __future__ import annotations

import contextlib

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from latentgraph.families.interaction_asymmetry.config import InteractionAsymmetryConfig
from latentgraph.families.interaction_asymmetry.decoder_torch import CrossAttentionDecoder
from latentgraph.families.interaction_asymmetry.encoder_torch import SlotEncoder
from latentgraph.pyro import interaction_penalty

PRECISIONS = ("float32", "bf16")


def select_pixels(images: torch.Tensor, pixels: torch.Tensor | None) -> torch.Tensor:
    """Images ``(B, H, W, 3)`` -> their pixels ``(B, P, 3)`` (row-major), or the subset
    ``pixels`` (``(m,)`` for all images or ``(B, m)`` per image) ``(B, m, 3)``."""
    flat = images.flatten(1, 2)
    if pixels is None:
        return flat
    if pixels.dim() == 1:
        return flat[:, pixels]
    return torch.gather(flat, 1, pixels[..., None].expand(-1, -1, flat.shape[-1]))


def weighted_penalty(
    attention: torch.Tensor, pixel_weights: torch.Tensor | None, n_pixels: int
) -> torch.Tensor:
    """``L_int`` per image ``(B,)`` from attention ``(B, L, H, m, K)`` at drawn pixels.

    Without weights, the mean over the ``m`` pixels (:func:`latentgraph.pyro.interaction_penalty`);
    with importance weights ``w = 1 / (m q)`` ``(B, m)``, :math:`\\sum_i w_i g_i / P` with ``g``
    the per-pixel penalty and ``P = n_pixels`` the image's pixel count (an unbiased estimate of
    the full-image mean :math:`\\frac1P \\sum_p g_p`).
    """
    if pixel_weights is None:
        return interaction_penalty(attention)
    per_pixel = interaction_penalty(attention, reduction="none")
    return (per_pixel * pixel_weights.to(per_pixel.dtype)).sum(dim=-1) / n_pixels


class InteractionAsymmetryVAE(nn.Module):
    """Slot encoder, cross-attention decoder and the Pyro ``model``/``guide`` pair.

    Args:
        config: an :class:`InteractionAsymmetryConfig`.

    Both programs take ``images`` ``(B, H, W, 3)`` as floats in [0, 1], ``pixels`` (None or
    indices, see module docstring) and ``alpha`` (the current ``alpha_t``).

    Example:
        >>> from latentgraph.families.interaction_asymmetry.config import cpu_config
        >>> from latentgraph.inference.elbo_pyro import AnalyticMeanFieldELBO
        >>> vae = InteractionAsymmetryVAE(cpu_config())
        >>> x = torch.rand(4, 32, 32, 3)
        >>> loss = AnalyticMeanFieldELBO().differentiable_loss(vae.model, vae.guide, x, None, 0.05)
    """

    def __init__(self, config: InteractionAsymmetryConfig):
        super().__init__()
        if not isinstance(config, InteractionAsymmetryConfig):
            raise TypeError(
                f"config must be an InteractionAsymmetryConfig, got {type(config).__name__}"
            )
        self.config = config
        self.encoder = SlotEncoder(config)
        self.decoder = CrossAttentionDecoder(config)
        self.precision = "float32"
        self.attention = "folded"
        self._compiled: dict[str, object] = {}  # plain dict: compiled wrappers are not submodules

    # ---- speed paths -------------------------------------------------------------------------

    def set_speed(
        self, *, precision: str = "float32", compile: bool = False, attention: str = "folded"
    ) -> InteractionAsymmetryVAE:
        """Choose how the networks run; the program and its loss stay the same.

        Args:
            precision: ``"float32"`` or ``"bf16"`` (autocast of the networks; sums in float32).
            compile: run encoder and decoder through :func:`torch.compile`.
            attention: the decoder's attention formulation, ``"folded"`` (weights come for
                free; the fastest measured) or ``"projected"`` (textbook; when no weights are
                needed, ``alpha_t = 0``, it runs the fused kernel
                :func:`~torch.nn.functional.scaled_dot_product_attention`).
        """
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if attention not in ("folded", "projected"):
            raise ValueError(f"attention must be 'folded' or 'projected', got {attention!r}")
        if not isinstance(compile, bool):
            raise TypeError(f"compile must be a bool, got {type(compile).__name__}")
        self.precision, self.attention = precision, attention
        self._compiled = (
            {"encoder": torch.compile(self.encoder), "decoder": torch.compile(self.decoder)}
            if compile
            else {}
        )
        return self

    def _autocast(self, device: torch.device):
        if self.precision == "bf16":
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ---- deterministic pieces ----------------------------------------------------------------

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and std ``(B, K, d)`` of images ``(B, H, W, 3)`` in [0, 1]."""
        encoder = self._compiled.get("encoder", self.encoder)
        with self._autocast(images.device):
            loc, log_scale = encoder(images)
        dtype = images.dtype if images.dtype == torch.float64 else torch.float32
        loc, log_scale = loc.to(dtype), log_scale.to(dtype)
        return loc, self.config.posterior_scale_factor * torch.exp(log_scale)

    def decode(
        self,
        slots: torch.Tensor,
        pixels: torch.Tensor | None = None,
        *,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """RGB ``(B, P', 3)`` (in the slots' dtype) and attention ``(B, L, H, P', K)``.

        Without ``need_weights``, the projected formulation runs the fused attention kernel and
        the weights are ``None``.
        """
        mode = self.attention
        if not need_weights and mode == "projected":
            mode = "fused"
        decoder = self._compiled.get("decoder", self.decoder)
        with self._autocast(slots.device):
            rgb, attention = decoder(slots, pixels, attention=mode)
        return rgb.to(slots.dtype), attention

    # ---- the probabilistic program -----------------------------------------------------------

    def _capacity(self, device: torch.device):
        """beta on the slots site: a scale, or (beta = 0) a mask that removes the KL."""
        if self.config.beta > 0:
            return pyro.poutine.scale(scale=float(self.config.beta))
        return pyro.poutine.mask(mask=torch.tensor(False, device=device))

    def model(
        self,
        images: torch.Tensor,
        pixels: torch.Tensor | None = None,
        alpha: float = 0.0,
        pixel_weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The generative model; returns the decoded pixels and attention weights."""
        c = self.config
        batch = images.shape[0]
        with pyro.plate("images", batch):
            with self._capacity(images.device):
                zeros = images.new_zeros((c.n_slots, c.slot_dim))
                slots = pyro.sample("slots", dist.Normal(zeros, torch.ones_like(zeros)).to_event(2))
            rgb, attention = self.decode(slots, pixels, need_weights=alpha > 0)
            target = select_pixels(images, pixels)
            if pixel_weights is None:
                subsample = c.n_pixels / target.shape[1]
                with pyro.poutine.scale(scale=subsample):
                    likelihood = dist.Normal(rgb, c.observation_scale).to_event(2)
                    pyro.sample("pixels", likelihood, obs=target)
            else:
                weights = pixel_weights.to(rgb.dtype)
                with (
                    pyro.plate("pixel_draws", target.shape[1], dim=-2),
                    pyro.poutine.scale(scale=weights.transpose(0, 1)),
                ):  # batch shape (m, B): one weight per drawn pixel
                    likelihood = dist.Normal(rgb.transpose(0, 1), c.observation_scale).to_event(1)
                    pyro.sample("pixels", likelihood, obs=target.transpose(0, 1))
            if alpha > 0:
                pyro.factor(
                    "interaction", -alpha * weighted_penalty(attention, pixel_weights, c.n_pixels)
                )
        return rgb, attention

    def guide(
        self,
        images: torch.Tensor,
        pixels: torch.Tensor | None = None,
        alpha: float = 0.0,
        pixel_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The amortised slot encoder; returns the sampled slots ``(B, K, d)``."""
        loc, scale = self.encode(images)
        with pyro.plate("images", images.shape[0]), self._capacity(images.device):
            return pyro.sample("slots", dist.Normal(loc, scale).to_event(2))
