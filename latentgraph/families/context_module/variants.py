"""The method variants of the context-module family (``docs/context_module.md#variants``,
``docs/context_module.md#variant-naming``).

A variant is a composition of pieces, not a flag inside the model: which head sits between the
latent and the decoder (the context module or nothing), whether samples are routed by their
context labels, which training contexts are used, and whether the backbone starts from a
pretrained *base pooled* run and stays frozen for part (or all) of training.

| variant | head | labels | trains on | start |
|---|---|---|---|---|
| ``base`` | none (``z`` = decode_dim) | unused | obs only | scratch |
| ``base-pooled`` | none | unused | all contexts | scratch |
| ``cm`` | context module | routed | all contexts | scratch (the main method, "CM e2e") |
| ``cm-pooled`` | context module | every sample as obs | all contexts | scratch |
| ``cm-frozen`` | context module | routed | all contexts | base-pooled backbone, frozen |
| ``cm-finetune`` | context module | routed | all contexts | base-pooled backbone, frozen for the first 20% of the steps |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class Variant:
    """One method variant.

    Attributes:
        name: the identifier (``base``, ``base-pooled``, ``cm``, ``cm-pooled``, ``cm-frozen``,
            ``cm-finetune``).
        with_module: the context module sits between ``z`` and the decoder.
        uses_labels: samples are routed by their target masks; otherwise every sample (in
            training and generation) is routed as observational.
        obs_only: train on the observational context alone.
        pretrained: start encoder and decoder from a base-pooled run (fine-tune variants).
        freeze_fraction: share of the steps during which the pretrained backbone is frozen
            (1: all of training; the Adam state of the rest is kept across the unfreeze).
    """

    name: str
    with_module: bool
    uses_labels: bool
    obs_only: bool = False
    pretrained: bool = False
    freeze_fraction: float = 0.0

    def route(self, targets: torch.Tensor) -> torch.Tensor:
        """The target masks the model sees: the labels, or all-false (observational routing)."""
        targets = targets.bool()
        return targets if self.uses_labels else torch.zeros_like(targets)

    def freeze_steps(self, steps: int) -> int:
        """Optimiser steps with a frozen backbone out of ``steps``."""
        return int(round(self.freeze_fraction * steps)) if self.pretrained else 0

    def to_dict(self) -> dict:
        return asdict(self)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("base", with_module=False, uses_labels=False, obs_only=True),
        Variant("base-pooled", with_module=False, uses_labels=False),
        Variant("cm", with_module=True, uses_labels=True),
        Variant("cm-pooled", with_module=True, uses_labels=False),
        Variant(
            "cm-frozen", with_module=True, uses_labels=True, pretrained=True, freeze_fraction=1.0
        ),
        Variant(
            "cm-finetune", with_module=True, uses_labels=True, pretrained=True, freeze_fraction=0.2
        ),
    )
}
"""Every variant by name."""


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {name!r}")
    return VARIANTS[name]
