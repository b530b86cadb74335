"""Fit the regularised Transformer VAE (Pyro) to images.

The family's Python entry point: training images and settings in, a fitted model and its
history out; the loop is :func:`latentgraph.inference.svi_torch.train`. Evaluation lives in
:mod:`.evaluate`, the run folder in :mod:`.run`.

The objective is the negative analytic-KL mean-field ELBO of
:class:`~.pyro_model.InteractionAsymmetryVAE` per image, minus the Gaussian likelihood's
normalising constant, i.e. exactly the paper's loss (``docs/interaction_asymmetry.md#objective``)

.. math:: L = \\sigma\\,\\mathrm{SSE} + \\beta\\,\\mathrm{KL} + \\alpha_t L_{\\text{int}}

averaged over the batch. ``pixels_per_image`` decodes a uniformly random subset of each image's
pixels per step, an unbiased estimate of ``L`` at a fraction of the decoder's cost (the CPU
setting); ``precision="bf16"`` and ``compile=True`` are the GPU speed paths.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyro
import pyro.poutine as poutine
import torch
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import site_is_subsample
from torch.distributions import kl_divergence

from latentgraph import History, TrainConfig
from latentgraph.families.interaction_asymmetry.config import InteractionAsymmetryConfig
from latentgraph.families.interaction_asymmetry.pyro_model import (
    PRECISIONS,
    InteractionAsymmetryVAE,
    select_pixels,
    weighted_penalty,
)
from latentgraph.families.interaction_asymmetry.schedules import alpha_schedule
from latentgraph.pyro import resolve_device, train


def elbo_terms(
    model, guide, *args, **kwargs
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], object]:
    """Per-site contributions to the negative ELBO, the raw KLs and the model trace.

    The estimator of :class:`latentgraph.inference.elbo_pyro.AnalyticMeanFieldELBO` (one joint
    guide sample, analytic KL for latent sites, scales and masks applied), split by site:
    ``{site: -scaled log-likelihood}`` for observed sites (``pyro.factor`` included) and
    ``{site: scaled KL}`` for latent ones; their sum is the negative ELBO (tested). The second
    dict holds each latent site's KL summed without scale or mask (detached, for logs).
    """
    guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
    terms: dict[str, torch.Tensor] = {}
    raw_kl: dict[str, torch.Tensor] = {}
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        if site["is_observed"]:
            log_p = site["fn"].log_prob(site["value"])
            terms[name] = -scale_and_mask(log_p, site["scale"], site["mask"]).sum()
            continue
        guide_site = guide_trace.nodes.get(name)
        if guide_site is None or guide_site["type"] != "sample":
            raise NotImplementedError(f"latent site {name!r} is in the model but not the guide")
        kl = kl_divergence(guide_site["fn"], site["fn"])
        terms[name] = scale_and_mask(kl, guide_site["scale"], guide_site["mask"]).sum()
        raw_kl[name] = kl.detach().sum()
    return terms, raw_kl, model_trace


def likelihood_constant(config: InteractionAsymmetryConfig) -> float:
    """``3 P (log s_obs + log(2 pi) / 2)``: what the Gaussian likelihood adds to ``sigma SSE``
    in the negative ELBO of one image (a constant; ``docs/interaction_asymmetry.md#pyro-and-numpyro-formulation``)."""
    s_obs = config.observation_scale
    return 3 * config.n_pixels * (math.log(s_obs) + 0.5 * math.log(2 * math.pi))


def random_pixels(batch: int, n_pixels: int, per_image: int, device: torch.device) -> torch.Tensor:
    """``(batch, per_image)`` pixel indices, uniform without replacement within each image
    (torch's global RNG, so runs are reproducible and resumable)."""
    return torch.rand(batch, n_pixels, device=device).argsort(dim=1)[:, :per_image]


PIXEL_SAMPLERS = ("uniform", "intensity")


def intensity_pixels(
    images: torch.Tensor, per_image: int, foreground_share: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels drawn where the image is bright, with the importance weights that unbias them.

    Per image ``b`` with intensity :math:`I_{b,p} = \\max_c x_{b,p,c}` (images ``(B, H, W, 3)``
    in [0, 1]; the sprites' background is black), the proposal mixes the normalised intensity
    with the uniform distribution,

    .. math:: q_b(p) = s\\, \\frac{I_{b,p}}{\\sum_{p'} I_{b,p'}} + \\frac{1 - s}{P},

    (``s = foreground_share``; ``q_b`` is uniform for an all-black image), and ``per_image``
    pixels are drawn i.i.d. from it (with replacement, torch's global RNG). The weights
    :math:`w_{b,i} = 1 / (m\\, q_b(p_i))` make :math:`\\sum_i w_{b,i} f(p_i)` an unbiased
    estimate of :math:`\\sum_p f(p)` for any per-pixel ``f`` (squared error, ``L_int``), since
    ``q > 0`` everywhere when ``s < 1``. No labels are used: a foreground-aware sampler (the
    issue's probe on the objects' share of a 32x32 image, a few percent) whose estimate is the
    same loss as the full image's.

    Returns ``(indices (B, m) int64, weights (B, m))``.
    """
    if not (isinstance(foreground_share, float | int) and 0.0 <= foreground_share < 1.0):
        raise ValueError(f"foreground_share must be in [0, 1), got {foreground_share!r}")
    intensity = images.flatten(1, 2).amax(dim=-1).float()  # (B, P)
    n_pixels = intensity.shape[1]
    total = intensity.sum(dim=1, keepdim=True)
    share = torch.where(total > 0, float(foreground_share), 0.0)
    q = share * intensity / total.clamp_min(1e-12) + (1.0 - share) / n_pixels
    indices = torch.multinomial(q, per_image, replacement=True)
    weights = 1.0 / (per_image * torch.gather(q, 1, indices))
    return indices, weights


class InteractionAsymmetryObjective:
    """The loss of :func:`~latentgraph.inference.svi_torch.train` for one batch.

    Args:
        vae: the model.
        alpha: ``alpha_t`` as a function of the 0-based step (the warm-up schedule).
        pixels_per_image: decode this many random pixels per image (None: all).
        pixel_sampler: ``"uniform"`` (without replacement, weight ``P / m``) or
            ``"intensity"`` (:func:`intensity_pixels`, importance-weighted); both unbiased.
        foreground_share: ``s`` of :func:`intensity_pixels`.

    Logged per step: ``recon_sse`` (the unweighted sum of squared errors per image,
    estimated from the subset), ``kl`` (unweighted, summed over ``K d``), ``l_int`` and
    ``alpha``; ``loss`` is ``sigma recon_sse + beta kl + alpha l_int``.
    """

    def __init__(
        self,
        vae: InteractionAsymmetryVAE,
        *,
        alpha: Callable[[int], float],
        pixels_per_image: int | None = None,
        pixel_sampler: str = "uniform",
        foreground_share: float = 0.5,
    ):
        if pixel_sampler not in PIXEL_SAMPLERS:
            raise ValueError(
                f"pixel_sampler must be one of {PIXEL_SAMPLERS}, got {pixel_sampler!r}"
            )
        self.vae = vae
        self.alpha = alpha
        self.pixels_per_image = pixels_per_image
        self.pixel_sampler = pixel_sampler
        self.foreground_share = foreground_share
        self.constant = likelihood_constant(vae.config)

    def evaluate_loss(
        self,
        images: torch.Tensor,
        pixels: torch.Tensor | None,
        alpha: float,
        pixel_weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss and logs for ``images`` ``(B, H, W, 3)`` in [0, 1] (one guide draw);
        ``pixel_weights`` ``(B, m)``: importance weights of ``pixels`` (:func:`intensity_pixels`)."""
        terms, raw_kl, model_trace = elbo_terms(
            self.vae.model, self.vae.guide, images, pixels, alpha, pixel_weights
        )
        batch = images.shape[0]
        loss = sum(terms.values()) / batch - self.constant
        rgb, attention = model_trace.nodes["_RETURN"]["value"]
        with torch.no_grad():
            target = select_pixels(images, pixels)
            n_pixels = self.vae.config.n_pixels
            weights = (
                torch.full(target.shape[:2], n_pixels / target.shape[1], dtype=rgb.dtype).to(rgb)
                if pixel_weights is None
                else pixel_weights
            )
            logs = {
                "recon_sse": ((rgb - target).square().sum(-1) * weights).sum() / batch,
                "alpha": torch.tensor(float(alpha), device=images.device),
            }
            logs["kl"] = raw_kl["slots"] / batch
            if attention is not None:
                logs["l_int"] = weighted_penalty(attention, pixel_weights, n_pixels).mean()
        return loss, logs

    def loss(self, batch: Mapping[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict]:
        images = batch["images"] / 255.0
        pixels = weights = None
        if self.pixels_per_image is not None and self.pixel_sampler == "intensity":
            pixels, weights = intensity_pixels(images, self.pixels_per_image, self.foreground_share)
        elif self.pixels_per_image is not None:
            pixels = random_pixels(
                images.shape[0], self.vae.config.n_pixels, self.pixels_per_image, images.device
            )
        return self.evaluate_loss(images, pixels, self.alpha(step - 1), weights)

    def after_step(self, step: int, logs: dict) -> None:
        pass


@dataclass(frozen=True)
class SpeedSettings:
    """How the networks run (the loss is the same within bf16 tolerance).

    Attributes:
        precision: ``"float32"`` or ``"bf16"`` (autocast; for GPUs).
        compile: :func:`torch.compile` the encoder and decoder.
        attention: decoder attention, ``"folded"`` (default, fastest measured) or
            ``"projected"`` (fused kernel when no weights are needed).
        pixels_per_image: decode this many random pixels per image and step (None: all).
        pixel_sampler: how those pixels are drawn, ``"uniform"`` or ``"intensity"``
            (:func:`intensity_pixels`; both give an unbiased estimate of the full loss).
        foreground_share: the intensity sampler's share ``s`` of draws from the bright pixels.
    """

    precision: str = "float32"
    compile: bool = False
    attention: str = "folded"
    pixels_per_image: int | None = None
    pixel_sampler: str = "uniform"
    foreground_share: float = 0.5

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.compile, bool):
            raise TypeError(f"compile must be a bool, got {type(self.compile).__name__}")
        if self.attention not in ("folded", "projected"):
            raise ValueError(f"attention must be 'folded' or 'projected', got {self.attention!r}")
        if self.pixels_per_image is not None and (
            not isinstance(self.pixels_per_image, int)
            or isinstance(self.pixels_per_image, bool)
            or self.pixels_per_image < 1
        ):
            raise ValueError(
                f"pixels_per_image must be a positive int or None, got {self.pixels_per_image!r}"
            )
        if self.pixel_sampler not in PIXEL_SAMPLERS:
            raise ValueError(
                f"pixel_sampler must be one of {PIXEL_SAMPLERS}, got {self.pixel_sampler!r}"
            )
        share = self.foreground_share
        if not (isinstance(share, float | int) and not isinstance(share, bool) and 0 <= share < 1):
            raise ValueError(f"foreground_share must be a number in [0, 1), got {share!r}")


@dataclass
class FittedInteractionAsymmetry:
    """A trained model with what produced it."""

    vae: InteractionAsymmetryVAE
    history: History
    train_config: TrainConfig
    speed: SpeedSettings

    @property
    def config(self) -> InteractionAsymmetryConfig:
        return self.vae.config

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    def _batches(self, images: np.ndarray, batch_size: int):
        for start in range(0, len(images), batch_size):
            chunk = np.asarray(images[start : start + batch_size])
            yield torch.as_tensor(chunk, device=self.device).float() / 255.0

    @torch.no_grad()
    def encode(self, images: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and stds ``(n, K, d)`` of uint8 images ``(n, H, W, 3)``.

        Evaluation runs the plain float32 networks (no autocast, no compiled wrappers)."""
        locs, scales = [], []
        for chunk in self._batches(images, batch_size):
            loc, log_scale = self.vae.encoder(chunk)
            locs.append(loc.cpu().numpy())
            scales.append((self.config.posterior_scale_factor * log_scale.exp()).cpu().numpy())
        return np.concatenate(locs), np.concatenate(scales)

    @torch.no_grad()
    def decode(self, slots: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Images ``(n, H, W, 3)`` (floats, unclipped) and the layer-averaged attention
        averaged over heads ``(n, H, W, K')`` (``S / H``; rows sum to 1) of slots ``(n, K', d)``
        (float32, folded attention)."""
        size = self.config.image_size
        images, maps = [], []
        for start in range(0, len(slots), batch_size):
            z = torch.as_tensor(np.asarray(slots[start : start + batch_size]), device=self.device)
            rgb, attention = self.vae.decoder(z.float(), attention="folded")
            mean_attention = attention.mean(dim=(1, 2))  # (B, P, K)
            images.append(rgb.view(-1, size, size, 3).cpu().numpy())
            maps.append(mean_attention.view(-1, size, size, z.shape[1]).cpu().numpy())
        return np.concatenate(images), np.concatenate(maps)

    def decoder_function(self, pixels: np.ndarray | None = None):
        """The decoder as a function of slots for Jacobians (float32, folded attention):
        ``(B, K, d) -> (B, H, W, 3)``, or ``(B, m, 3)`` at the pixel indices ``pixels``
        (row-major; the decoder is per-pixel, so this costs ``m / P`` of the full image)."""
        size = self.config.image_size
        decoder = self.vae.decoder
        index = None if pixels is None else torch.as_tensor(pixels, device=self.device)

        def decode(z: torch.Tensor) -> torch.Tensor:
            rgb = decoder(z, index, attention="folded")[0]
            return rgb if index is not None else rgb.reshape(z.shape[0], size, size, 3)

        return decode


def check_fit_arguments(
    images: np.ndarray,
    config: InteractionAsymmetryConfig,
    train_config: TrainConfig,
    speed: SpeedSettings,
) -> None:
    """Every check :func:`fit` makes before it builds anything (ValueError/TypeError)."""
    if not isinstance(config, InteractionAsymmetryConfig):
        raise TypeError(
            f"config must be an InteractionAsymmetryConfig, got {type(config).__name__}"
        )
    if not isinstance(train_config, TrainConfig):
        raise TypeError(f"train_config must be a TrainConfig, got {type(train_config).__name__}")
    if not isinstance(speed, SpeedSettings):
        raise TypeError(f"speed must be SpeedSettings, got {type(speed).__name__}")
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array, got {type(images).__name__}")
    size = config.image_size
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise ValueError(
            f"images must be uint8 of shape (n, {size}, {size}, 3), got {images.dtype} "
            f"{images.shape}"
        )
    if train_config.batch_size > len(images):
        raise ValueError(
            f"batch_size must be <= the {len(images)} training images, got "
            f"{train_config.batch_size}"
        )
    if speed.pixels_per_image is not None and speed.pixels_per_image > config.n_pixels:
        raise ValueError(
            f"pixels_per_image must be <= the {config.n_pixels} pixels of an image, got "
            f"{speed.pixels_per_image}"
        )
    device = resolve_device(train_config.device)
    if speed.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision 'bf16' is not supported by this GPU ({device})")


def fit(
    images: np.ndarray,
    *,
    config: InteractionAsymmetryConfig,
    train_config: TrainConfig,
    speed: SpeedSettings = SpeedSettings(),
    evaluate: Callable[[FittedInteractionAsymmetry, int], dict] | None = None,
    checkpoint_path=None,
    resume: bool = False,
) -> FittedInteractionAsymmetry:
    """Train the regularised Transformer VAE on ``images``.

    Args:
        images: uint8 ``(n, H, W, 3)`` training images (a memory map is read batch by batch
            on an accelerator).
        config: the model and loss (:func:`~.config.official_config`, :func:`~.config.cpu_config`).
        train_config: steps, batch size, seed, device...; a
            :class:`~.schedules.ScheduledTrainConfig` carries the official learning-rate schedule.
        speed: :class:`SpeedSettings`.
        evaluate: optional ``evaluate(fitted, step) -> dict`` called periodically.
        checkpoint_path, resume: see :func:`~latentgraph.inference.svi_torch.train`.
    """
    check_fit_arguments(images, config, train_config, speed)
    torch.manual_seed(train_config.seed)  # the initial weights depend on the seed alone
    vae = InteractionAsymmetryVAE(config).set_speed(
        precision=speed.precision, compile=speed.compile, attention=speed.attention
    )
    objective = InteractionAsymmetryObjective(
        vae,
        alpha=alpha_schedule(config.alpha, config.alpha_warmup_steps),
        pixels_per_image=speed.pixels_per_image,
        pixel_sampler=speed.pixel_sampler,
        foreground_share=speed.foreground_share,
    )
    fitted = FittedInteractionAsymmetry(vae, History(), train_config, speed)
    callback = None if evaluate is None else (lambda step: evaluate(fitted, step))
    ablation = f"alpha={config.alpha:g}, beta={config.beta:g}"
    with pyro.validation_enabled(False):
        fitted.history = train(
            vae,
            objective,
            {"images": images},
            train_config,
            evaluate=callback,
            checkpoint_path=checkpoint_path,
            resume=resume,
            description=f"interaction-asymmetry ({ablation})",
        )
    return fitted
