"""Generation from any context, seen or unseen (``docs/context_module.md#generation-and-composition``).

Draw ``z ~ N(0, I)``, pick a target set ``T`` (``{}`` for obs, ``{k}`` for a training context,
``{k, l, ...}`` for a composition never seen in training) and run the model: the images are the
decoder's Bernoulli means. Every batch draws its noise from its own seed, derived from
``(seed, target set, batch index)``: the same call gives the same images (seeded), and different
contexts and batches never reuse noise (fresh samples, unlike the reference's re-seeding to 0
for every batch, ``docs/context_module.md#fixed-evaluation-samples``). The global torch RNG is left as it was.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from latentgraph.families.context_module.pyro_model import ContextModuleVAE
from latentgraph.families.context_module.variants import Variant


def target_mask(targets: Iterable[int] | np.ndarray | torch.Tensor, n_concepts: int) -> np.ndarray:
    """A target set as a bool mask ``(K,)``: integers are concept indices (``[]`` is obs,
    ``[0, 3]`` a pair); a bool (or float 0/1) array of shape ``(K,)`` is a mask already.

    >>> target_mask([0, 2], 3).tolist(), target_mask(np.array([0.0, 1.0, 0.0]), 3).tolist()
    ([True, False, True], [False, True, False])
    """
    array = np.asarray(targets.cpu() if torch.is_tensor(targets) else list(targets))
    if array.size == 0:
        return np.zeros(n_concepts, dtype=bool)
    if array.dtype == bool or np.issubdtype(array.dtype, np.floating):
        if array.shape != (n_concepts,) or not np.isin(array, (0, 1)).all():
            raise ValueError(
                f"a target mask must be {n_concepts} bools (or 0/1 floats), got {array.tolist()}"
            )
        return array.astype(bool)
    if (
        not np.issubdtype(array.dtype, np.integer)
        or array.ndim != 1
        or array.min() < 0
        or array.max() >= n_concepts
    ):
        raise ValueError(
            f"targets must be concept indices in [0, {n_concepts}) or a bool mask, got "
            f"{array.tolist()}"
        )
    mask = np.zeros(n_concepts, dtype=bool)
    mask[array.astype(int)] = True
    return mask


def batch_seed(seed: int, mask: np.ndarray, batch_index: int) -> int:
    """The seed of one generation batch: a function of the run seed, the target set and the
    batch index only (``numpy.random.SeedSequence``)."""
    context_id = int(sum(1 << k for k in np.flatnonzero(mask)))
    return int(np.random.SeedSequence([seed, context_id, batch_index]).generate_state(1)[0])


@torch.no_grad()
def generate(
    vae: ContextModuleVAE,
    targets,
    n_samples: int,
    *,
    seed: int,
    variant: Variant | None = None,
    compose: str | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """``n_samples`` images ``(n, H, W, C)`` (float32 in ``[0, 1]``) from the context ``targets``.

    Args:
        vae: a trained model.
        targets: concept indices (``[]`` for obs, ``[0, 3]`` for a pair) or a bool mask ``(K,)``.
        n_samples: images to draw.
        seed: the generation seed (see the module docstring).
        variant: routes the targets as the variant does (label-free variants generate every
            context as obs).
        compose: ``"reference"`` or ``"joint_perfect"`` semantics for multi-target sets
            (default: the model's).
        batch_size: images per forward pass (and per derived seed).
    """
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    mask = target_mask(targets, vae.config.n_concepts)
    device = vae.loc_head.weight.device
    routed = torch.as_tensor(mask, device=device)
    if variant is not None:
        routed = variant.route(routed[None])[0]
    was_training = vae.training
    vae.eval()
    out = []
    devices = [device] if device.type == "cuda" else []
    for index, start in enumerate(range(0, n_samples, batch_size)):
        n = min(batch_size, n_samples - start)
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(batch_seed(seed, mask, index))
            images = vae.model(None, routed.expand(n, -1), compose)
        out.append(images.float().cpu().numpy())
    vae.train(was_training)
    return np.concatenate(out, axis=0)


@torch.no_grad()
def generate_reference(
    vae: ContextModuleVAE,
    targets,
    n_samples: int,
    *,
    variant: Variant | None = None,
    compose: str | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """The reference's evaluation draws (``docs/context_module.md#fixed-evaluation-samples``), for like-for-like comparisons only: the
    torch RNG is re-seeded to 0 before every batch of 64, so there are only 64 distinct noise
    vectors, the same in every context, repeated up to ``n_samples`` images."""
    mask = target_mask(targets, vae.config.n_concepts)
    device = vae.loc_head.weight.device
    routed = torch.as_tensor(mask, device=device)
    if variant is not None:
        routed = variant.route(routed[None])[0]
    was_training = vae.training
    vae.eval()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        batch = vae.model(None, routed.expand(batch_size, -1), compose).float().cpu().numpy()
    vae.train(was_training)
    return np.resize(batch, (n_samples, *batch.shape[1:]))
