"""Fit a context-module VAE (Pyro) to labelled images: the family's Python entry point.

Images ``(n, H, W, C)`` uint8 and per-sample target masks ``(n, K)`` in, a fitted model and its
history out; the dataset is not known here (the run folder and the command line adapt datasets
to these arrays). Training uses :func:`latentgraph.inference.svi_torch.train` with
:class:`ContextModuleObjective`: the negative ELBO per image (analytic KL, ``docs/context_module.md#objective``),
the optional per-sample penalties on ``E_T``, and the projection of the causal weights to
``[0, 1]`` after every optimiser step (``docs/context_module.md#clamp-timing``). Minibatches mix contexts by default
(``batching="mixed"``); the per-sample routing makes that equivalent to the reference's
single-context micro-batches (``docs/context_module.md#per-sample-form``). ``batching="single-context"`` draws every minibatch from
one context, as the reference does; it is required by the reference's BatchNorm
(``norm="batch"`` in the backbone or the module), whose per-context batch statistics are part of
that reference behaviour (``docs/context_module.md#batch-statistics-leak``).

Fine-tune variants (``cm-frozen``, ``cm-finetune``) load the encoder trunk and the decoder of a
*base pooled* run folder; the latent heads and the module start from scratch (``docs/context_module.md#variants``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyro
import torch

from latentgraph import History, TrainConfig
from latentgraph.families.context_module.config import BATCHINGS, ContextModuleConfig
from latentgraph.families.context_module.pyro_model import ContextModuleVAE
from latentgraph.families.context_module.variants import Variant, get_variant
from latentgraph.pyro import AnalyticMeanFieldELBO, load_checkpoint, resolve_device, train


class ContextModuleObjective:
    """Negative ELBO per image plus penalties; projects the causal weights after each step.

    ``batch["images"]`` holds uint8 values as floats (``0..255``), ``batch["targets"]`` the 0/1
    target masks. ``frozen`` parameters get no gradient for steps ``<= freeze_steps``.
    """

    def __init__(
        self,
        vae: ContextModuleVAE,
        variant: Variant,
        *,
        frozen: list[torch.nn.Parameter] = (),
        freeze_steps: int = 0,
    ):
        self.vae, self.variant = vae, variant
        self.frozen, self.freeze_steps = list(frozen), freeze_steps
        self.elbo = AnalyticMeanFieldELBO()
        sizes = vae.config.backbone
        self.bits_per_image = sizes.image_size**2 * sizes.channels * math.log(2)

    def loss(self, batch: Mapping[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict]:
        trainable = step > self.freeze_steps
        for p in self.frozen:
            p.requires_grad_(trainable)
        images = batch["images"] / 255.0
        targets = self.variant.route(batch["targets"] > 0.5)
        n = images.shape[0]
        neg_elbo = self.elbo.differentiable_loss(self.vae.model, self.vae.guide, images, targets)
        neg_elbo = neg_elbo / n
        penalty = self.vae.penalty(targets).mean()
        logs = {"neg_elbo": neg_elbo.detach(), "bpd": neg_elbo.detach() / self.bits_per_image}
        if self.vae.config.group_lasso or self.vae.config.l2:
            logs["penalty"] = penalty.detach()
        return neg_elbo + penalty, logs

    def after_step(self, step: int, logs: dict) -> None:
        self.vae.project_()


@dataclass
class FittedContextModule:
    """A trained model with what produced it."""

    vae: ContextModuleVAE
    variant: Variant
    history: History
    train_config: TrainConfig
    pretrained: str | None = None

    @property
    def device(self) -> torch.device:
        return self.vae.loc_head.weight.device

    @property
    def config(self) -> ContextModuleConfig:
        return self.vae.config

    @torch.no_grad()
    def encode(self, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Encoder means ``(n, D)`` of uint8 images ``(n, H, W, C)``: the representation."""
        self.vae.eval()
        out = []
        for start in range(0, len(images), batch_size):
            chunk = torch.as_tensor(
                np.asarray(images[start : start + batch_size]), device=self.device
            )
            out.append(self.vae.encode(chunk.float() / 255.0)[0].cpu().numpy())
        self.vae.train()
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.config.latent_dim))


def _check_arrays(images, targets, config: ContextModuleConfig) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        kind = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
        raise TypeError(f"images must be a uint8 numpy array (n, H, W, C), got {kind}")
    sizes = config.backbone
    expected = (sizes.image_size, sizes.image_size, sizes.channels)
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(
            f"images must have shape (n, {expected[0]}, {expected[1]}, {expected[2]}) for this "
            f"config, got {images.shape}"
        )
    targets = np.asarray(targets)
    if targets.shape != (len(images), config.n_concepts):
        raise ValueError(
            f"targets must have shape (n_images, n_concepts) = ({len(images)}, "
            f"{config.n_concepts}), got {targets.shape}"
        )
    if not np.isin(targets, (0, 1)).all():
        raise ValueError("targets must hold 0/1 (or bool) values only")


def training_arrays(images: np.ndarray, targets: np.ndarray, variant: Variant) -> dict:
    """The arrays a variant trains on (``base``: the observational rows only)."""
    targets = np.asarray(targets).astype(np.float32)
    if variant.obs_only:
        rows = ~targets.any(axis=1)
        return {"images": images[rows], "targets": targets[rows]}
    return {"images": images, "targets": targets}


def context_groups(targets: np.ndarray) -> np.ndarray:
    """``(n,)`` context labels of ``(n, K)`` target masks: equal masks, equal label."""
    return np.unique(np.asarray(targets), axis=0, return_inverse=True)[1].reshape(-1)


def check_fit_arguments(
    images: np.ndarray,
    targets: np.ndarray,
    config: ContextModuleConfig,
    variant: Variant | str,
    train_config: TrainConfig,
    *,
    pretrained: str | Path | None = None,
    batching: str = "mixed",
) -> Variant:
    """Every check :func:`fit` makes before it builds anything; returns the :class:`Variant`."""
    if not isinstance(config, ContextModuleConfig):
        raise TypeError(f"config must be a ContextModuleConfig, got {type(config).__name__}")
    if not isinstance(train_config, TrainConfig):
        raise TypeError(f"train_config must be a TrainConfig, got {type(train_config).__name__}")
    variant = get_variant(variant) if isinstance(variant, str) else variant
    if variant.with_module != (config.module is not None):
        raise ValueError(
            f"variant {variant.name!r} {'needs' if variant.with_module else 'has no'} context "
            "module, but config.module is " + ("None" if config.module is None else "set")
        )
    _check_arrays(images, targets, config)
    if variant.pretrained and pretrained is None:
        raise ValueError(f"variant {variant.name!r} needs pretrained: a base-pooled run folder")
    if not variant.pretrained and pretrained is not None:
        raise ValueError(f"pretrained applies to cm-frozen and cm-finetune, not {variant.name!r}")
    if pretrained is not None:
        pretrained_backbone(pretrained, config)
    if batching not in BATCHINGS:
        raise ValueError(f"batching must be one of {BATCHINGS}, got {batching!r}")
    if config.uses_batch_norm and batching != "single-context":
        raise ValueError(
            "norm 'batch' (the reference's BatchNorm) needs batching='single-context': in "
            "mixed-context batches its statistics leak the context "
            "(docs/context_module.md#batch-statistics-leak)"
        )
    masks = np.asarray(targets).astype(bool)
    if variant.obs_only:
        masks = masks[~masks.any(axis=1)]
    n_rows = len(masks)
    if train_config.batch_size > n_rows:
        raise ValueError(
            f"batch_size must be <= the {n_rows} training images variant {variant.name!r} "
            f"uses, got {train_config.batch_size}"
        )
    if batching == "single-context":
        largest = np.bincount(context_groups(masks)).max()
        if train_config.batch_size > largest:
            raise ValueError(
                f"batch_size must be <= the {largest} images of the largest context with "
                f"batching='single-context', got {train_config.batch_size}"
            )
    resolve_device(train_config.device)
    return variant


def pretrained_backbone(path: str | Path, config: ContextModuleConfig) -> dict:
    """The backbone weights of a base run folder, after checking it fits ``config``."""
    path = Path(path)
    if not (path / "config.json").is_file() or not (path / "checkpoint.pt").is_file():
        raise ValueError(
            f"pretrained must be a context-module run folder with config.json and "
            f"checkpoint.pt, got {str(path)!r}"
        )
    run = json.loads((path / "config.json").read_text())
    if run.get("family") != "context-module" or run.get("variant", {}).get("with_module", True):
        raise ValueError(
            f"pretrained must be a base or base-pooled context-module run, got {str(path)!r} "
            f"(family {run.get('family')!r}, variant {run.get('variant', {}).get('name')!r})"
        )
    theirs = ContextModuleConfig.from_dict(run["model"]).backbone
    if theirs != config.backbone:
        raise ValueError(
            f"pretrained backbone {theirs} does not match this run's backbone {config.backbone}"
        )
    state = load_checkpoint(path / "checkpoint.pt")["module"]
    return {k: v for k, v in state.items() if k.startswith(("encoder.", "decoder."))}


def fit(
    images: np.ndarray,
    targets: np.ndarray,
    *,
    config: ContextModuleConfig,
    variant: Variant | str = "cm",
    train_config: TrainConfig = TrainConfig(),
    pretrained: str | Path | None = None,
    evaluate=None,
    checkpoint_path=None,
    resume: bool = False,
    batching: str = "mixed",
) -> FittedContextModule:
    """Train a VAE of ``variant`` on images and their target masks.

    Args:
        images: uint8 ``(n, H, W, C)`` (``H = W = config.backbone.image_size``).
        targets: ``(n, K)`` 0/1: ``targets[i, k] = 1`` iff image ``i``'s context intervenes on
            concept ``k`` (all zeros: observational).
        config: :class:`ContextModuleConfig` (``module=None`` for the base variants).
        variant: a :class:`Variant` or its name.
        train_config: steps, batch size, learning rate, seed, device...
        pretrained: a base(-pooled) run folder (``cm-frozen``, ``cm-finetune``).
        evaluate: optional ``evaluate(fitted, step) -> dict`` called periodically.
        checkpoint_path, resume: as in :func:`~latentgraph.inference.svi_torch.train`.
        batching: ``"mixed"`` (minibatches mix contexts) or ``"single-context"`` (each
            minibatch from one context, the reference's sampler; required by ``norm="batch"``).
    """
    variant = check_fit_arguments(
        images, targets, config, variant, train_config, pretrained=pretrained, batching=batching
    )
    torch.manual_seed(train_config.seed)  # the initial weights depend on the seed alone
    vae = ContextModuleVAE(config)
    frozen: list[torch.nn.Parameter] = []
    if pretrained is not None:
        missing = vae.load_state_dict(pretrained_backbone(pretrained, config), strict=False)
        if missing.unexpected_keys:
            raise ValueError(f"pretrained weights hold unknown keys {missing.unexpected_keys}")
        frozen = vae.backbone_parameters()
    vae.project_()
    objective = ContextModuleObjective(
        vae, variant, frozen=frozen, freeze_steps=variant.freeze_steps(train_config.steps)
    )
    fitted = FittedContextModule(
        vae, variant, History(), train_config, None if pretrained is None else str(pretrained)
    )
    callback = None if evaluate is None else (lambda step: evaluate(fitted, step))
    arrays = training_arrays(images, targets, variant)
    groups = context_groups(arrays["targets"]) if batching == "single-context" else None
    with pyro.validation_enabled(False):
        fitted.history = train(
            vae,
            objective,
            arrays,
            train_config,
            evaluate=callback,
            checkpoint_path=checkpoint_path,
            resume=resume,
            batch_groups=groups,
            description=f"context-module ({variant.name})",
        )
    for p in frozen:
        p.requires_grad_(True)
    return fitted
