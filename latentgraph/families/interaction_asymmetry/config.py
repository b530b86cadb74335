"""Configuration of the regularised Transformer VAE (Brady et al. 2025, arXiv 2411.07784).

Backend-neutral dataclasses. :func:`official_config` holds the official Sprites sizes and
weights (``docs/interaction_asymmetry.md#model``; encoder 0.37 M and decoder 2.98 M
parameters at 64x64);
:func:`cpu_config` is a 32x32 model sized for a 2-core CPU. Every value the official code
hard-codes (``docs/interaction_asymmetry.md#hard-coded-overrides``,
``docs/interaction_asymmetry.md#magic-numbers``) is a named field here, so every ablation
(``alpha = 0``, ``beta = 0``, both) is a setting of the same program.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

ATTENTION_SCALES = ("width", "head_dim")
OFFICIAL_IMAGE_SIZE = 64


def _check_positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_number(value, name: str, *, positive: bool = False) -> None:
    ok = isinstance(value, float | int) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        raise ValueError(
            f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}"
        )


@dataclass(frozen=True)
class EncoderSizes:
    """The slot encoder (``docs/interaction_asymmetry.md#encoder``). Its width is ``2 * slot_dim`` (it outputs ``[mu, s]``).

    Attributes:
        cnn_channels: width ``C`` of the four 5x5 full-resolution convolutions.
        n_layers: Transformer layers (cross-attention to the tokens, self-attention among the
            slots, feed-forward), pre-LN.
        n_heads: attention heads.
        ff_multiplier: the feed-forward hidden width is ``ff_multiplier * 2 * slot_dim``.
    """

    cnn_channels: int = 32
    n_layers: int = 5
    n_heads: int = 4
    ff_multiplier: int = 2

    def __post_init__(self) -> None:
        for name in ("cnn_channels", "n_layers", "n_heads", "ff_multiplier"):
            _check_positive_int(getattr(self, name), f"encoder.{name}")


@dataclass(frozen=True)
class DecoderSizes:
    """The cross-attention decoder (``docs/interaction_asymmetry.md#decoder``).

    Attributes:
        slot_width: width of the projected slots, keys and values (516; ``n_heads`` must divide
            it: 12 heads of 43).
        slot_hidden: hidden width of the slot projection MLP ``d -> slot_hidden -> slot_width``.
        query_width: width of the pixel-query stream (180).
        query_hidden: hidden width of the Fourier-feature MLP ``4 * octaves -> query_hidden ->
            query_width``.
        fourier_octaves: octaves ``o = 0..octaves-1`` of ``sin/cos(2^o pi c)`` per coordinate.
        n_layers: cross-attention layers (pixels attend to slots; no pixel self-attention).
        n_heads: heads per layer.
        ff_hidden: feed-forward hidden width of each layer (``query_width -> ff_hidden ->
            query_width``).
        out_hidden: width of the two hidden layers of the output MLP (``-> 3``).
    """

    slot_width: int = 516
    slot_hidden: int = 4 * 516
    query_width: int = 180
    query_hidden: int = 360
    fourier_octaves: int = 8
    n_layers: int = 2
    n_heads: int = 12
    ff_hidden: int = 360
    out_hidden: int = 180

    def __post_init__(self) -> None:
        for name in (
            "slot_width",
            "slot_hidden",
            "query_width",
            "query_hidden",
            "fourier_octaves",
            "n_layers",
            "n_heads",
            "ff_hidden",
            "out_hidden",
        ):
            _check_positive_int(getattr(self, name), f"decoder.{name}")
        if self.slot_width % self.n_heads:
            raise ValueError(
                f"decoder.slot_width must be a multiple of decoder.n_heads = {self.n_heads}, "
                f"got {self.slot_width}"
            )


@dataclass(frozen=True)
class InteractionAsymmetryConfig:
    """Everything that defines one regularised Transformer VAE and its loss.

    Loss per image (``docs/interaction_asymmetry.md#objective``), averaged over the batch:

    .. math:: \\sigma \\sum_{p,c} (x - \\hat x)^2 + \\beta\\, \\mathrm{KL}(q(z \\mid x) \\| N(0, I))
              + \\alpha_t L_{\\text{int}}

    Attributes:
        image_size: images are ``image_size x image_size`` RGB.
        n_slots: ``K`` (objects + background; 5 for 2-4-object Sprites).
        slot_dim: ``d``, the latent dimension per slot (32 official).
        encoder, decoder: network sizes.
        sigma: reconstruction weight on the *sum* of squared errors (reproduced,
            ``docs/interaction_asymmetry.md#summed-reconstruction-error``).
            ``None`` takes the official 5.0 rescaled to the image size,
            ``5 * 64**2 / image_size**2``, so that the sum over fewer pixels keeps the official
            balance against the KL (20 at 32x32) *(derived)*.
        beta: KL weight (0.05); 0 is the "no capacity penalty" ablation.
        alpha: final interaction weight (0.05); 0 is the "no interaction penalty" ablation.
        alpha_warmup_steps: ``alpha_t`` ramps linearly from 0 to ``alpha`` over these steps.
        posterior_scale_factor: posterior std is ``factor * exp(s)`` (0.5, reproduced,
            ``docs/interaction_asymmetry.md#posterior-scale``).
        attention_scale: ``"width"``: logits scaled by the model width to the -1/2 (``2d`` in
            the encoder, ``query_width`` in the decoder; the official default,
            ``docs/interaction_asymmetry.md#attention-logit-scale``) or
            ``"head_dim"``: by the head dimension to the -1/2 (standard).
        kv_norm: a LayerNorm (learned affine) on the keys' and values' input of every
            cross-attention layer, the encoder's tokens and the decoder's projected slots, as
            the official Transformer layer has (``docs/interaction_asymmetry.md#key-value-layernorm``).
            Without it the decoder's projected slots have a standard deviation of about 0.2 at
            initialisation and the attention logits about 0.1, so the softmax over slots starts
            (and, at CPU budgets, stays) almost uniform. ``False`` is the library before the fix
            (run folders written without the field load with ``False``).
    """

    image_size: int = OFFICIAL_IMAGE_SIZE
    n_slots: int = 5
    slot_dim: int = 32
    encoder: EncoderSizes = field(default_factory=EncoderSizes)
    decoder: DecoderSizes = field(default_factory=DecoderSizes)
    sigma: float | None = None
    beta: float = 0.05
    alpha: float = 0.05
    alpha_warmup_steps: int = 25_000
    posterior_scale_factor: float = 0.5
    attention_scale: str = "width"
    kv_norm: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.encoder, dict):
            object.__setattr__(self, "encoder", EncoderSizes(**self.encoder))
        if isinstance(self.decoder, dict):
            object.__setattr__(self, "decoder", DecoderSizes(**self.decoder))
        if not isinstance(self.encoder, EncoderSizes):
            raise TypeError(f"encoder must be EncoderSizes, got {type(self.encoder).__name__}")
        if not isinstance(self.decoder, DecoderSizes):
            raise TypeError(f"decoder must be DecoderSizes, got {type(self.decoder).__name__}")
        for name in ("image_size", "n_slots", "slot_dim"):
            _check_positive_int(getattr(self, name), name)
        if self.image_size < 4:
            raise ValueError(f"image_size must be >= 4, got {self.image_size}")
        if (2 * self.slot_dim) % self.encoder.n_heads:
            raise ValueError(
                f"encoder.n_heads = {self.encoder.n_heads} must divide the encoder width "
                f"2 * slot_dim = {2 * self.slot_dim}"
            )
        if self.sigma is not None:
            _check_number(self.sigma, "sigma", positive=True)
        _check_number(self.beta, "beta")
        _check_number(self.alpha, "alpha")
        _check_number(self.posterior_scale_factor, "posterior_scale_factor", positive=True)
        if (
            not isinstance(self.alpha_warmup_steps, int)
            or isinstance(self.alpha_warmup_steps, bool)
            or self.alpha_warmup_steps < 0
        ):
            raise ValueError(
                f"alpha_warmup_steps must be a non-negative int, got {self.alpha_warmup_steps!r}"
            )
        if not isinstance(self.kv_norm, bool):
            raise ValueError(f"kv_norm must be a bool, got {self.kv_norm!r}")
        if self.attention_scale not in ATTENTION_SCALES:
            raise ValueError(
                f"attention_scale must be one of {ATTENTION_SCALES}, got {self.attention_scale!r}"
            )

    @property
    def reconstruction_weight(self) -> float:
        """``sigma``, or the official 5.0 rescaled to this image size when ``sigma`` is None."""
        if self.sigma is not None:
            return float(self.sigma)
        return 5.0 * OFFICIAL_IMAGE_SIZE**2 / self.image_size**2

    @property
    def observation_scale(self) -> float:
        """Std of the Gaussian likelihood equivalent to ``sigma * SSE``: ``(2 sigma)^(-1/2)``
        (``docs/interaction_asymmetry.md#pyro-and-numpyro-formulation``): 0.316 for
        ``sigma = 5``."""
        return (2.0 * self.reconstruction_weight) ** -0.5

    @property
    def n_pixels(self) -> int:
        return self.image_size**2

    @property
    def encoder_width(self) -> int:
        return 2 * self.slot_dim

    def with_updates(self, **changes) -> InteractionAsymmetryConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> InteractionAsymmetryConfig:
        data = dict(data)
        data.setdefault("kv_norm", False)  # configs written before the field had no such norm
        return cls(
            encoder=EncoderSizes(**data.pop("encoder", {})),
            decoder=DecoderSizes(**data.pop("decoder", {})),
            **data,
        )


def official_config(image_size: int = OFFICIAL_IMAGE_SIZE, **changes) -> InteractionAsymmetryConfig:
    """The official Sprites model (``docs/interaction_asymmetry.md#model``): K = 5, d = 32, C = 32, 5x4 encoder layers,
    516/180-wide decoder with 2 layers of 12 heads, sigma = 5, beta = alpha = 0.05."""
    return InteractionAsymmetryConfig(image_size=image_size, **changes)


def cpu_config(image_size: int = 32, **changes) -> InteractionAsymmetryConfig:
    """A model for 32x32 Sprites on a 2-core CPU (about 0.1 M parameters).

    Same architecture and loss as :func:`official_config`, narrower: d = 16, encoder C = 16,
    3 layers of 4 heads; decoder keys/values 64 wide, queries 64 wide, 2 layers of 4 heads,
    6 Fourier octaves (the finest, ``sin(32 pi c)``, has a 2-pixel period at 32x32).
    """
    defaults = {
        "slot_dim": 16,
        "encoder": EncoderSizes(cnn_channels=16, n_layers=3, n_heads=4),
        "decoder": DecoderSizes(
            slot_width=64,
            slot_hidden=128,
            query_width=64,
            query_hidden=128,
            fourier_octaves=6,
            n_layers=2,
            n_heads=4,
            ff_hidden=128,
            out_hidden=64,
        ),
    }
    return InteractionAsymmetryConfig(image_size=image_size, **{**defaults, **changes})


PRESETS = {"official": official_config, "cpu": cpu_config}
