"""Evaluate a fitted regularised Transformer VAE on sprites-like data.

``docs/interaction_asymmetry.md#metrics``.

Metrics (computed by :mod:`latentgraph.metrics.objects` and
:mod:`latentgraph.models.jacobian_torch`; this module only feeds them):

* ``j_ari``, ``jis``: J-ARI and JIS of the decoder's slot-wise Jacobian map
  :math:`G_{p,k} = \\sum_c \\sum_{i \\in B_k} |\\partial \\hat x_{c,p} / \\partial \\hat z_i|` at
  *sampled* latents (``docs/interaction_asymmetry.md#slot-wise-jacobian-map``), on ground-truth foreground pixels of the first
  ``jacobian_images`` images of the split (forward-mode Jacobians, ``K d`` passes each).
* ``slot_r2``: slot R^2 with Hungarian matching (``docs/interaction_asymmetry.md#slot-r2``) of the posterior means: a linear
  readout fitted on ``readout_images`` training images, scored on the split; ``slot_r2_ood``
  applies the same readout to the out-of-distribution split.
* ``recon_id``, ``recon_ood``: MSE per value (images in [0, 1]) of the reconstruction from the
  posterior means on the split and on the OOD split (``docs/interaction_asymmetry.md#reconstruction``); ``recon_*_r2`` the
  variance-weighted image R^2 and ``recon_*_sse`` the sum per image (the training loss's scale).
* ``l_int``, ``kl``: the interaction penalty (posterior means) and the KL per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from latentgraph.families.interaction_asymmetry.fit_pyro import FittedInteractionAsymmetry
from latentgraph.metrics import (
    fit_slot_readout,
    jacobian_ari,
    jacobian_interaction_score,
    reconstruction_metrics,
)
from latentgraph.pyro import interaction_penalty, slot_influence_torch

OOD_SPLIT = "test_ood"
N_EXAMPLES = 8


@dataclass
class Evaluation:
    """Metrics of one split and the arrays the report draws.

    Attributes:
        metrics: flat ``{name: number}``.
        slots: posterior means of the split's images ``(n, K, d)``.
        examples: the first images of the split: ``images`` uint8 ``(m, H, W, 3)``,
            ``reconstructions`` ``(m, H, W, 3)`` in [0, 1], ``slot_images`` (each slot decoded
            alone) ``(m, K, H, W, 3)``, ``attention`` ``(m, H, W, K)`` (rows sum to 1),
            ``jacobian_assignment`` ``(m, H, W)`` (``argmax_k G`` on the foreground, -1 on
            the background), ``masks`` ``(m, H, W)``.
    """

    metrics: dict[str, float]
    slots: np.ndarray
    examples: dict[str, np.ndarray] = field(default_factory=dict)


def _check_split(arrays: dict, split: str, image_size: int) -> None:
    for key in ("images", "masks"):
        if key not in arrays:
            raise ValueError(f"split {split!r} must hold {key!r}, found {sorted(arrays)}")
    shape = arrays["images"].shape
    if arrays["images"].dtype != np.uint8 or shape[1:] != (image_size, image_size, 3):
        raise ValueError(
            f"split {split!r} images must be uint8 (n, {image_size}, {image_size}, 3), got "
            f"{arrays['images'].dtype} {shape}"
        )


def _sampled(loc: np.ndarray, scale: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(loc.shape).astype(loc.dtype)
    return loc + scale * noise


def slot_influence(
    fitted: FittedInteractionAsymmetry, images: np.ndarray, masks: np.ndarray, *, seed: int = 0
) -> np.ndarray:
    """The J-ARI/JIS map ``G`` ``(n, P, K)`` on the ground-truth foreground pixels (0 on the
    background, which both metrics drop) at sampled latents.

    The decoder is per-pixel, so each image's forward-mode Jacobian (``K d`` passes) is taken
    of its foreground pixels only, a fraction of the full image's cost.
    """
    loc, scale = fitted.encode(images)
    z = torch.as_tensor(_sampled(loc, scale, seed), device=fitted.device)
    labels = np.asarray(masks).reshape(len(masks), -1)
    influence = np.zeros((len(images), labels.shape[1], fitted.config.n_slots), np.float32)
    for i, row in enumerate(labels):
        foreground = np.flatnonzero(row > 0)
        if foreground.size == 0:
            continue
        influence[i, foreground] = slot_influence_torch(
            fitted.decoder_function(foreground), z[i : i + 1], mode="forward", channel_axis=-1
        )[0]
    return influence


def jacobian_scores(
    fitted: FittedInteractionAsymmetry,
    images: np.ndarray,
    masks: np.ndarray,
    *,
    seed: int = 0,
) -> tuple[dict[str, float], np.ndarray]:
    """J-ARI and JIS of ``images`` (uint8) with masks ``(n, H, W)``, and the assignment map
    ``argmax_k G`` ``(n, H, W)`` (-1 on the background)."""
    influence = slot_influence(fitted, images, masks, seed=seed)
    labels = np.asarray(masks).reshape(len(masks), -1).astype(np.int64)
    scores = {"j_ari": float("nan"), "jis": float("nan")}
    if (labels > 0).any():
        scores = {
            "j_ari": jacobian_ari(influence, labels),
            "jis": jacobian_interaction_score(influence, labels),
        }
    assignment = np.where(labels > 0, influence.argmax(-1), -1)
    return scores, assignment.reshape(np.shape(masks))


@torch.no_grad()
def _loss_terms(fitted: FittedInteractionAsymmetry, loc: np.ndarray, scale: np.ndarray) -> dict:
    c = fitted.config
    kl = 0.5 * (scale**2 + loc**2 - 1.0 - np.log(scale**2)).sum(axis=(1, 2))
    penalties = []
    for start in range(0, len(loc), 64):
        z = torch.as_tensor(loc[start : start + 64], device=fitted.device)
        _, attention = fitted.vae.decoder(z, attention="folded")
        penalties.append(interaction_penalty(attention).cpu().numpy())
    return {
        "kl": float(kl.mean()),
        "l_int": float(np.concatenate(penalties).mean()),
        "l_int_max": c.decoder.n_heads**2 * (c.n_slots - 1) / (2 * c.n_slots),
    }


def _reconstruction(fitted, images: np.ndarray, loc: np.ndarray, prefix: str) -> dict:
    reconstructions, _ = fitted.decode(loc)
    values = reconstruction_metrics(images.astype(np.float32) / 255.0, reconstructions)
    return {
        prefix: values["mse"],
        f"{prefix}_r2": values["r2"],
        f"{prefix}_sse": values["sse_per_image"],
    }


def evaluate(
    fitted: FittedInteractionAsymmetry,
    splits: dict[str, dict[str, np.ndarray]],
    *,
    split: str = "test",
    readout_split: str = "train",
    max_images: int | None = None,
    jacobian_images: int = 64,
    readout_images: int = 2000,
    seed: int = 0,
) -> Evaluation:
    """Every metric of the module docstring on ``splits[split]`` (and ``splits["test_ood"]``).

    Args:
        fitted: the trained model.
        splits: split name -> arrays (``images`` uint8 ``(n, H, W, 3)``, ``masks``
            ``(n, H, W)``, optionally ``latents`` ``(n, M, F)`` and ``present`` ``(n, M)`` for
            slot R^2), e.g. ``{s: dataset.split(s) for s in dataset.splits}``.
        split: the in-distribution split to score.
        readout_split: where the slot-R^2 readout is fitted (its first ``readout_images``).
        max_images: score at most this many images of each split (None: all).
        jacobian_images: images for J-ARI / JIS (their cost is ``K d`` decoder passes each).
        seed: the latent draw of the Jacobian and the readout's initial matching.
    """
    size = fitted.config.image_size
    if split not in splits:
        raise ValueError(f"split must be one of {sorted(splits)}, got {split!r}")
    for name, value in (("jacobian_images", jacobian_images), ("readout_images", readout_images)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    scored = {split: splits[split]}
    if OOD_SPLIT in splits and OOD_SPLIT != split:
        scored[OOD_SPLIT] = splits[OOD_SPLIT]
    for name, arrays in scored.items():
        _check_split(arrays, name, size)
    limit = slice(None) if max_images is None else slice(0, max_images)
    metrics: dict[str, float] = {}
    encoded = {}
    for name, arrays in scored.items():
        images = np.asarray(arrays["images"][limit])
        loc, scale = fitted.encode(images)
        encoded[name] = (loc, scale)
        tag = "" if name == split else "_ood"
        metrics.update(_reconstruction(fitted, images, loc, f"recon_{'id' if not tag else 'ood'}"))
        n_jac = min(jacobian_images, len(images))
        scores, assignment = jacobian_scores(
            fitted, images[:n_jac], np.asarray(arrays["masks"][:n_jac]), seed=seed
        )
        if not tag:
            id_assignment = assignment
        metrics.update({f"{k}{tag}": v for k, v in scores.items()})
        if not tag:
            metrics.update(_loss_terms(fitted, loc, scale))
    metrics.update(_slot_r2(fitted, splits, scored, encoded, readout_split, readout_images, seed))
    examples = _examples(fitted, scored[split], encoded[split][0], id_assignment)
    return Evaluation(metrics=metrics, slots=encoded[split][0], examples=examples)


def _latents(arrays: dict, rows: slice) -> tuple[np.ndarray, np.ndarray]:
    latents = np.asarray(arrays["latents"][rows], dtype=np.float64)
    present = arrays.get("present")
    present = np.ones(latents.shape[:2], bool) if present is None else np.asarray(present[rows])
    return latents, present


def _slot_r2(fitted, splits, scored, encoded, readout_split, readout_images, seed) -> dict:
    """Slot R^2 of the posterior means: one readout fitted on the first ``readout_images`` of
    ``readout_split``, scored unchanged on the split and on the OOD split (``docs/interaction_asymmetry.md#slot-r2``)."""
    source = splits.get(readout_split)
    if source is None or any("latents" not in a for a in (source, *scored.values())):
        return {}
    if np.shape(source["latents"])[1] > fitted.config.n_slots:
        return {}
    rows = slice(0, readout_images)
    fit_slots, _ = fitted.encode(np.asarray(source["images"][rows]))
    readout = fit_slot_readout(fit_slots, *_latents(source, rows), seed=seed)
    results = {}
    for index, (name, arrays) in enumerate(scored.items()):
        loc = encoded[name][0]
        score = readout.score(loc, *_latents(arrays, slice(0, len(loc)))).score
        results["slot_r2" if index == 0 else "slot_r2_ood"] = score
    return results


def _examples(fitted, arrays: dict, loc: np.ndarray, assignment) -> dict[str, np.ndarray]:
    m = min(N_EXAMPLES, len(loc), len(assignment))
    images = np.asarray(arrays["images"][:m])
    reconstructions, attention = fitted.decode(loc[:m])
    k = fitted.config.n_slots
    alone = [fitted.decode(loc[:m, slot : slot + 1])[0] for slot in range(k)]
    return {
        "images": images,
        "masks": np.asarray(arrays["masks"][:m]),
        "reconstructions": np.clip(reconstructions, 0.0, 1.0),
        "slot_images": np.clip(np.stack(alone, axis=1), 0.0, 1.0),
        "attention": attention,
        "jacobian_assignment": assignment[:m],
    }
