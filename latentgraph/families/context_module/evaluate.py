"""Evaluation of a fitted context-module VAE (``docs/context_module.md#metrics``).

The clean protocol and its reference counterpart are described in
``docs/context_module.md#fixed-evaluation-samples`` through
``docs/context_module.md#reconstruction-metric``.

- **Concept learning** (``docs/context_module.md#concept-and-composition-scores``): per training context, the sliced Wasserstein distance in pixel
  space between held-out images of the context and as many images generated with its targets;
  ``swd_concept`` is the mean over obs and the single-target contexts.
- **Composition**: the same for held-out multi-target contexts never trained on;
  ``swd_composition`` is their mean (under the model's ``compose`` semantics; with labels, also
  ``swd_composition_<other mode>``, ``docs/context_module.md#approximate-intervention-semantics``).
- **Reconstruction** (``docs/context_module.md#reconstruction-metric``): the negative ELBO per image on held-out images of the
  training contexts (``recon_nats``) and of the composition contexts (``recon_nats_ood``), as
  bits per dimension (``recon_bpd``: divided by ``H W C ln 2``) and as the reference's figure
  (``elbo_bpd_ref``: divided by ``H W ln 2``).
- **Graph** (``docs/context_module.md#graph-read-out``): the maximal DAG read out of the causal layer, against the true concept
  graph (``graph_shd``), for variants with a module and labels.
- **Concepts** (``docs/context_module.md#beyond-the-paper``): ``concept_r2``, the held-out R^2 of each true concept
  regressed (linearly) on its learned block ``c_k`` of the encoded images, routed as
  observational so that the block is a function of the image alone (routing by the label
  would hand the context, and so much of an intervened concept's value, to the regression).

Clean protocol by default: the real images are a seeded subset drawn without replacement,
every context's generations come from their own derived seeds, and the SWD projections are
seeded and shared by all contexts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pyro
import torch

from latentgraph.families.context_module.config import COMPOSE_MODES
from latentgraph.families.context_module.fit_pyro import FittedContextModule
from latentgraph.families.context_module.generate import generate, generate_reference, target_mask
from latentgraph.metrics import (
    compare_concept_graphs,
    concept_graph_scores,
    concept_r2,
    elbo_bpd,
    random_projections,
    sliced_wasserstein,
)
from latentgraph.pyro import AnalyticMeanFieldELBO

PROTOCOLS: tuple[str, ...] = ("clean", "reference")


@dataclass(frozen=True)
class ContextImages:
    """Held-out images of one context.

    Attributes:
        name: the context's name (``obs``, ``quad1``, ``quad1_quad2``...).
        targets: the targeted concept indices (empty for obs).
        images: uint8 ``(n, H, W, C)``.
        concepts: optional ground-truth concept values ``(n, ...)`` for semantic checks.
    """

    name: str
    targets: tuple[int, ...]
    images: np.ndarray
    concepts: np.ndarray | None = None


@dataclass(frozen=True)
class ConceptTruth:
    """Images and their true concept values, for ``concept_r2``: the regression of each true
    concept on its learned block is fitted on ``train`` and scored on ``test``.

    ``concept_columns``: columns of the concept arrays per concept (default one each)."""

    train_images: np.ndarray
    train_concepts: np.ndarray
    test_images: np.ndarray
    test_concepts: np.ndarray
    concept_columns: Sequence[Sequence[int]] | None = None


@dataclass
class Evaluation:
    """Metrics (flat, numeric), the images compared (for the report's grids) and the graph
    read-out (edge scores and the maximal DAG, rows children)."""

    metrics: dict[str, float]
    real: dict[str, np.ndarray] = field(default_factory=dict)
    generated: dict[str, np.ndarray] = field(default_factory=dict)
    learned_scores: np.ndarray | None = None
    learned_graph: np.ndarray | None = None


def learned_concept_scores(fitted: FittedContextModule) -> np.ndarray | None:
    """Edge scores ``min(blockavg Q^obs, blockavg Q^ivn)`` with a zero diagonal, ``(K, K)``
    (``docs/context_module.md#graph-read-out``, rows children); ``None`` without a module."""
    if fitted.vae.head is None:
        return None
    causal = fitted.vae.head.causal
    obs, ivn = (w.detach().cpu().numpy() for w in (causal.weight_obs, causal.weight_ivn))
    return concept_graph_scores(obs, ivn, fitted.config.n_concepts)


@torch.no_grad()
def concept_blocks(
    fitted: FittedContextModule,
    images: np.ndarray,
    targets: np.ndarray | None = None,
    batch_size: int = 512,
) -> np.ndarray:
    """The module's concept blocks ``c (n, K b)`` of the encoder means of uint8 ``images``,
    routed by ``targets`` (as the variant does) or, with ``None``, as observational."""
    if fitted.vae.head is None:
        raise ValueError(f"variant {fitted.variant.name!r} has no context module (no blocks)")
    vae, device, out = fitted.vae, fitted.device, []
    vae.eval()
    for start in range(0, len(images), batch_size):
        x = torch.as_tensor(np.asarray(images[start : start + batch_size]), device=device)
        if targets is None:
            t = torch.zeros(len(x), fitted.config.n_concepts, dtype=torch.bool)
        else:
            t = fitted.variant.route(
                torch.as_tensor(np.asarray(targets[start : start + batch_size]))
            )
        loc, _ = vae.encode(x.float() / 255.0)
        out.append(vae.head.concepts(loc, t.to(device)).cpu().numpy())
    vae.train()
    return np.concatenate(out, axis=0)


@torch.no_grad()
def negative_elbo(
    fitted: FittedContextModule,
    images: np.ndarray,
    targets: np.ndarray,
    *,
    seed: int,
    batch_size: int = 256,
) -> dict[str, float]:
    """Mean negative ELBO per image (nats) of uint8 ``images`` in their contexts ``targets``
    (routed as the variant does), one posterior draw per image from a seeded stream; also its
    two terms ``nll`` (summed BCE) and ``kl`` (``beta``-weighted)."""
    vae, variant = fitted.vae, fitted.variant
    elbo = AnalyticMeanFieldELBO()
    device = fitted.device
    vae.eval()
    totals = {"neg_elbo": 0.0, "kl": 0.0}
    devices = [device] if device.type == "cuda" else []
    with pyro.validation_enabled(False), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for start in range(0, len(images), batch_size):
            x = torch.as_tensor(np.asarray(images[start : start + batch_size]), device=device)
            x = x.float() / 255.0
            t = variant.route(torch.as_tensor(np.asarray(targets[start : start + batch_size])))
            t = t.to(device)
            totals["neg_elbo"] += float(elbo.differentiable_loss(vae.model, vae.guide, x, t))
            loc, scale = vae.encode(x)
            kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1 - 2 * torch.log(scale)).sum()
            totals["kl"] += float(vae.config.beta * kl)
    vae.train()
    n = max(len(images), 1)
    out = {k: v / n for k, v in totals.items()}
    out["nll"] = out["neg_elbo"] - out["kl"]
    return out


def _subset(n: int, size: int, seed: int) -> np.ndarray:
    """A seeded subset of ``range(n)`` without replacement, sorted
    (``docs/context_module.md#holdout-drawn-with-replacement``)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, n]))
    return np.sort(rng.choice(n, size=min(size, n), replace=False))


def _check_contexts(config, contexts: Sequence[ContextImages]) -> None:
    """``ValueError`` unless every context's images have the shape the model was fitted to,
    ``(n, S, S, C)``, and its targets index the model's ``K`` concepts (Markham et al., arXiv
    2507.04754: the metrics compare real and generated images of one resolution)."""
    size, channels = config.backbone.image_size, config.backbone.channels
    for context in contexts:
        shape = tuple(np.shape(context.images))
        if len(shape) != 4 or shape[1:] != (size, size, channels):
            raise ValueError(
                f"images of context {context.name!r} must have shape (n, {size}, {size}, "
                f"{channels}) for this model, got {shape}"
            )
        wrong = [t for t in context.targets if not 0 <= t < config.n_concepts]
        if wrong:
            raise ValueError(
                f"targets of context {context.name!r} must be concept indices in "
                f"[0, {config.n_concepts}), got {list(context.targets)}"
            )


def evaluate(
    fitted: FittedContextModule,
    *,
    concept_contexts: Sequence[ContextImages],
    pair_contexts: Sequence[ContextImages] = (),
    seed: int = 0,
    n_eval: int = 1000,
    n_projections: int = 50,
    true_graph: np.ndarray | None = None,
    concept_names: Sequence[str] = (),
    concept_truth: ConceptTruth | None = None,
    protocol: str = "clean",
) -> Evaluation:
    """Every metric of the module docstring on held-out images.

    Args:
        fitted: the fitted model.
        concept_contexts: held-out images of obs and the single-target contexts.
        pair_contexts: held-out images of multi-target (composition) contexts.
        seed: evaluation seed (real subsets, generations, SWD projections, ELBO draws).
        n_eval: images per context compared (real and generated alike).
        n_projections: SWD projections (50 in the reference), shared by every context.
        true_graph: the true ``(K, K)`` concept graph (rows children) for ``graph_shd``.
        concept_names: node names of the concept graph.
        concept_truth: labelled images with true concepts for ``concept_r2`` (module variants).
        protocol: ``"clean"`` (the module docstring) or ``"reference"`` (for like-for-like
            comparisons with the paper's tables): real images drawn *with* replacement, the 64
            generations re-seeded to 0 for every batch and context, and new SWD projections
            for every context.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if not concept_contexts:
        raise ValueError("concept_contexts must hold at least one context, got none")
    if not isinstance(n_eval, int) or isinstance(n_eval, bool) or n_eval < 2:
        raise ValueError(f"n_eval must be an int >= 2, got {n_eval!r}")
    config, variant = fitted.config, fitted.variant
    n_concepts = config.n_concepts
    _check_contexts(config, (*concept_contexts, *pair_contexts))
    metrics: dict[str, float] = {}
    result = Evaluation(metrics)
    sizes = config.backbone
    theta = random_projections(sizes.image_size**2 * sizes.channels, n_projections, seed)
    modes = [config.module.compose] if config.module is not None else [None]
    if variant.uses_labels and config.module is not None:
        modes += [m for m in COMPOSE_MODES if m != modes[0]]
    for group, contexts in (("concept", concept_contexts), ("composition", pair_contexts)):
        for mode in modes if group == "composition" else modes[:1]:
            suffix = "" if mode == modes[0] else f"_{mode}"
            values = []
            for position, context in enumerate(contexts):
                if protocol == "clean":
                    rows = _subset(len(context.images), n_eval, seed)
                    draw = partial(generate, seed=seed)
                else:
                    rng = np.random.default_rng(np.random.SeedSequence([seed, position]))
                    rows = rng.choice(len(context.images), size=n_eval, replace=True)
                    theta = random_projections(
                        theta.shape[0], n_projections, int(rng.integers(2**31))
                    )
                    draw = generate_reference
                real = np.asarray(context.images[rows])
                fake = draw(
                    fitted.vae, list(context.targets), len(rows), variant=variant, compose=mode
                )
                value = sliced_wasserstein(real, fake, projections=theta)
                metrics[f"swd_{context.name}{suffix}"] = value
                values.append(value)
                if not suffix:
                    result.real[context.name], result.generated[context.name] = real, fake
            if values:
                metrics[f"swd_{group}{suffix}"] = float(np.mean(values))
    for suffix, contexts in (("", concept_contexts), ("_ood", pair_contexts)):
        if not contexts:
            continue
        images, targets = [], []
        for context in contexts:
            rows = _subset(len(context.images), n_eval, seed)
            images.append(np.asarray(context.images[rows]))
            mask = target_mask(list(context.targets), n_concepts)
            targets.append(np.repeat(mask[None], len(rows), axis=0))
        terms = negative_elbo(fitted, np.concatenate(images), np.concatenate(targets), seed=seed)
        nats = [terms["neg_elbo"]]
        metrics[f"recon_nats{suffix}"] = terms["neg_elbo"]
        metrics[f"recon_kl{suffix}"] = terms["kl"]
        metrics[f"recon_bpd{suffix}"] = elbo_bpd(
            nats, height=sizes.image_size, width=sizes.image_size, channels=sizes.channels
        )
        metrics[f"elbo_bpd_ref{suffix}"] = elbo_bpd(
            nats, height=sizes.image_size, width=sizes.image_size
        )
    scores = learned_concept_scores(fitted)
    if scores is not None and variant.uses_labels:
        result.learned_scores = scores
        if true_graph is not None:
            comparison = compare_concept_graphs(
                scores, true_graph, concept_names=tuple(concept_names)
            )
            result.learned_graph = comparison.learned_adjacency
            metrics["graph_shd"] = comparison.shd
            metrics["graph_n_edges"] = int(comparison.learned_adjacency.sum())
            metrics["graph_threshold"] = comparison.threshold
    if concept_truth is not None and config.module is not None:
        r2 = concept_r2(
            concept_blocks(fitted, concept_truth.train_images),
            concept_truth.train_concepts,
            concept_blocks(fitted, concept_truth.test_images),
            concept_truth.test_concepts,
            concept_columns=concept_truth.concept_columns,
        )
        metrics["concept_r2"] = float(np.mean(r2))
        for name, value in zip(concept_names or range(len(r2)), r2, strict=False):
            metrics[f"concept_r2_{name}"] = float(value)
    return result
