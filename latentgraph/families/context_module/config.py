"""Configuration of the context-module family (backend-neutral).

Markham et al., "Intervening to Learn and Compose Causally Disentangled Representations"
(Markham et al., 2025, arXiv 2507.04754; ``docs/context_module.md#model`` and
``docs/context_module.md#training``). A VAE is a convolutional *backbone* (encoder and decoder,
:class:`BackboneSizes`) and, between the latent and the decoder, optionally the *context module*
(:class:`ModuleSizes`; ``None`` gives the plain VAE of the base variants).

Two presets:

- :func:`official_config`: the paper's lightweight ``simple64bn`` network (64x64x3, conv
  32-64-128-256, hidden 128, decode_dim 128) and the ``2.32.8`` module
  (``docs/context_module.md#backbones``).
- :func:`cpu_config`: a network sized for 2 CPU cores at 32x32 (conv 16-32-64, hidden 64,
  decode_dim 64, module ``2.16.4``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

MODULE_NORMS: tuple[str, ...] = ("layer", "none", "batch")
BACKBONE_NORMS: tuple[str, ...] = ("group", "none", "batch")
BATCHINGS: tuple[str, ...] = ("mixed", "single-context")  # minibatches mix contexts or not
OBS_NOISE_MASKS: tuple[str, ...] = ("block", "dense")
COMPOSE_MODES: tuple[str, ...] = ("reference", "joint_perfect")
EFFECT_SIGNS: tuple[str, ...] = ("clamp01", "free")
IMAGE_SIZES: tuple[int, ...] = (32, 64)


def _positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _choice(value, options: tuple, name: str) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")


@dataclass(frozen=True)
class BackboneSizes:
    """The convolutional VAE around the latent (``docs/context_module.md#backbones``, ``simple64bn`` family).

    Encoder: ``len(conv_channels)`` convolutions (kernel 4, stride 2, padding 1), each followed
    by ReLU and ``norm``, taking ``image_size`` down to 4; flatten; ``Linear -> hidden``, ReLU.
    Decoder: ``Linear(decode_dim -> hidden)``, ReLU, ``Linear(hidden -> c_last * 4 * 4)``, ReLU,
    then the transposed convolutions in reverse (ReLU and ``norm`` after all but the last).

    Attributes:
        image_size: height = width of the images (32 or 64).
        channels: image channels (3 for quad, 1 or 3 for digits).
        conv_channels: output channels of the encoder's convolutions; there must be
            ``log2(image_size / 4)`` of them.
        hidden: width of the encoder's feature ``h`` and of the decoder's first layer.
        decode_dim: width of the decoder's input (the module's unpool output, or the latent of
            a plain VAE).
        norm: ``"group"`` (GroupNorm, per sample; default), ``"none"`` or ``"batch"``: the
            reference's BatchNorm, offered only for fits with single-context batches (the
            reference option of ``docs/context_module.md#batch-statistics-leak``; with mixed-context batches its statistics would leak the
            context, and in any case training normalises per context while evaluation uses
            running statistics pooled over contexts).
    """

    image_size: int = 64
    channels: int = 3
    conv_channels: tuple[int, ...] = (32, 64, 128, 256)
    hidden: int = 128
    decode_dim: int = 128
    norm: str = "group"

    def __post_init__(self) -> None:
        _choice(self.image_size, IMAGE_SIZES, "image_size")
        for name in ("channels", "hidden", "decode_dim"):
            _positive_int(getattr(self, name), name)
        n_conv = int(math.log2(self.image_size // 4))
        if not isinstance(self.conv_channels, tuple) or len(self.conv_channels) != n_conv:
            raise ValueError(
                f"conv_channels must be a tuple of {n_conv} ints for image_size "
                f"{self.image_size} (down to 4x4), got {self.conv_channels!r}"
            )
        for width in self.conv_channels:
            _positive_int(width, "conv_channels[i]")
        _choice(self.norm, BACKBONE_NORMS, "norm")


@dataclass(frozen=True)
class ModuleSizes:
    """The context module's shape and semantics options (``docs/context_module.md#model`` and
    "Where we differ from the original code and why" there).

    Attributes:
        block_in: ``a``, the latent width per concept (z has ``K * a`` entries).
        block_out: ``b``, the concept width after the expressive layer (``eps, c`` have
            ``K * b``).
        depth: ``L``, the number of widths ``int(linspace(a, b, L))`` of the expressive layer.
        norm: ``"layer"`` (default; a per-sample LayerNorm over each concept block, where the
            reference has BatchNorm, which leaks the context through batch statistics,
            ``docs/context_module.md#batch-statistics-leak``) or
            ``"none"``. The LayerNorm keeps each concept block on a common scale without
            looking at other samples (its measured effect is in BENCHMARKS.md). ``"batch"``:
            the reference's
            BatchNorm over the ``K w`` features, only with single-context batches.
        obs_noise_mask: ``"block"`` (default; the noise layer is block-diagonal in every context)
            or ``"dense"`` (the reference: the observational context uses the full ``P^obs``,
            ``docs/context_module.md#obs-noise-layer-mixes-blocks``).
        compose: default semantics of multi-target contexts in the causal layer:
            ``"reference"`` (the rule table of ``docs/context_module.md#causal-layer``) or ``"joint_perfect"`` (every incoming block
            of every target cut, ``docs/context_module.md#approximate-intervention-semantics``);
            identical for ``|T| <= 1``.
        effect_sign: ``"clamp01"`` (the reference: total effects projected to ``[0, 1]`` after
            every step) or ``"free"``.
    """

    block_in: int = 32
    block_out: int = 8
    depth: int = 2
    norm: str = "layer"
    obs_noise_mask: str = "block"
    compose: str = "reference"
    effect_sign: str = "clamp01"

    def __post_init__(self) -> None:
        for name in ("block_in", "block_out"):
            _positive_int(getattr(self, name), name)
        _positive_int(self.depth, "depth")
        if self.depth < 2:
            raise ValueError(f"depth must be >= 2 (at least one a -> b map), got {self.depth}")
        _choice(self.norm, MODULE_NORMS, "norm")
        _choice(self.obs_noise_mask, OBS_NOISE_MASKS, "obs_noise_mask")
        _choice(self.compose, COMPOSE_MODES, "compose")
        _choice(self.effect_sign, EFFECT_SIGNS, "effect_sign")

    def widths(self) -> tuple[int, ...]:
        """``int(linspace(a, b, L))`` truncated toward zero (``docs/context_module.md#expressive-layer``).

        >>> ModuleSizes(block_in=16, block_out=8, depth=4).widths()
        (16, 13, 10, 8)
        >>> ModuleSizes(block_in=7, block_out=50, depth=6).widths()
        (7, 15, 24, 32, 41, 50)
        """
        a, b, n = self.block_in, self.block_out, self.depth
        return tuple([int(a + (b - a) * i / (n - 1)) for i in range(n - 1)] + [b])


@dataclass(frozen=True)
class ContextModuleConfig:
    """Everything that defines one VAE of the family.

    Attributes:
        n_concepts: ``K``, concepts (blocks) that contexts can target.
        backbone: :class:`BackboneSizes`.
        module: :class:`ModuleSizes`, or ``None`` for the plain VAE of the base variants
            (latent width ``decode_dim``, ``docs/context_module.md#variants``).
        beta: weight of the KL term (1 in the paper's main results).
        group_lasso: ``lambda_g`` per sample: weight of ``sum_rs ||E_T[r, s]||_F`` (the
            reference's per-micro-batch value divided by 64, ``docs/context_module.md#penalty-scale``).
        l2: ``lambda_2`` per sample: weight of ``||E_T||_F``.
    """

    n_concepts: int
    backbone: BackboneSizes = field(default_factory=BackboneSizes)
    module: ModuleSizes | None = field(default_factory=ModuleSizes)
    beta: float = 1.0
    group_lasso: float = 0.0
    l2: float = 0.0

    def __post_init__(self) -> None:
        _positive_int(self.n_concepts, "n_concepts")
        if not isinstance(self.backbone, BackboneSizes):
            raise TypeError(f"backbone must be a BackboneSizes, got {type(self.backbone).__name__}")
        if self.module is not None and not isinstance(self.module, ModuleSizes):
            raise TypeError(
                f"module must be a ModuleSizes or None, got {type(self.module).__name__}"
            )
        for name in ("beta", "group_lasso", "l2"):
            value = getattr(self, name)
            if not (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and value >= 0
            ):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.beta == 0:
            raise ValueError("beta must be > 0 (the prior would not be fitted), got 0")

    @property
    def latent_dim(self) -> int:
        """Width of ``z``: ``K * a`` with the module, ``decode_dim`` without."""
        if self.module is None:
            return self.backbone.decode_dim
        return self.n_concepts * self.module.block_in

    @property
    def uses_batch_norm(self) -> bool:
        """Whether any layer normalises with batch statistics (needs single-context batches)."""
        return self.backbone.norm == "batch" or (
            self.module is not None and self.module.norm == "batch"
        )

    def with_norms(
        self, backbone: str | None = None, module: str | None = None
    ) -> ContextModuleConfig:
        """The same network with other normalisations (``None``: keep that part's).

        ``with_norms("batch", "batch")`` is the reference's BatchNorm everywhere
        (``docs/context_module.md#batch-statistics-leak``), to be trained with
        ``batching="single-context"``. On quad_causal at 32x32 (15k steps, two
        seeds; BENCHMARKS.md) it gives the module its measured gain over base pooled, which the
        per-sample default does not, at the cost of a worse reconstruction.
        """
        new_backbone = self.backbone if backbone is None else replace(self.backbone, norm=backbone)
        new_module = self.module
        if module is not None:
            if self.module is None:
                raise ValueError("module norm given for a network without the module")
            new_module = replace(self.module, norm=module)
        return ContextModuleConfig(
            self.n_concepts, new_backbone, new_module, self.beta, self.group_lasso, self.l2
        )

    def with_module(self, module: ModuleSizes | None) -> ContextModuleConfig:
        return ContextModuleConfig(
            self.n_concepts, self.backbone, module, self.beta, self.group_lasso, self.l2
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ContextModuleConfig:
        backbone = dict(data["backbone"])
        backbone["conv_channels"] = tuple(backbone["conv_channels"])
        module = data.get("module")
        return cls(
            n_concepts=data["n_concepts"],
            backbone=BackboneSizes(**backbone),
            module=None if module is None else ModuleSizes(**module),
            beta=data.get("beta", 1.0),
            group_lasso=data.get("group_lasso", 0.0),
            l2=data.get("l2", 0.0),
        )


def official_config(
    n_concepts: int, *, image_size: int = 64, channels: int = 3, **module_options
) -> ContextModuleConfig:
    """The paper's network: ``simple64bn``-style backbone and the ``2.32.8`` module
    (``docs/context_module.md#training``).

    At ``image_size=32`` the first convolution is dropped (32-64-128... becomes 64-128-256).
    """
    conv = (32, 64, 128, 256) if image_size == 64 else (64, 128, 256)
    return ContextModuleConfig(
        n_concepts=n_concepts,
        backbone=BackboneSizes(image_size, channels, conv, hidden=128, decode_dim=128),
        module=ModuleSizes(block_in=32, block_out=8, depth=2, **module_options),
    )


def cpu_config(
    n_concepts: int, *, image_size: int = 32, channels: int = 3, **module_options
) -> ContextModuleConfig:
    """A network sized for 2 CPU cores: conv 16-32-64 at 32x32 (16-32-64-64 at 64x64),
    hidden 64, decode_dim 64, module ``2.16.4``."""
    conv = (16, 32, 64) if image_size == 32 else (16, 32, 64, 64)
    return ContextModuleConfig(
        n_concepts=n_concepts,
        backbone=BackboneSizes(image_size, channels, conv, hidden=64, decode_dim=64),
        module=ModuleSizes(block_in=16, block_out=4, depth=2, **module_options),
    )


SIZE_PRESETS = {"official": official_config, "cpu": cpu_config}
