"""One context-module fit, from a labelled image data set to a complete run folder.

Writes (ARCHITECTURE.md, contract 2): ``config.json`` (before training), ``checkpoint.pt``,
``history.json``, ``metrics.json`` (flat numbers: ``swd_concept``, ``swd_composition``,
``recon_bpd``, ``recon_bpd_ood``, ``elbo_bpd_ref``, ``concept_r2``, ``graph_shd``, one
``swd_<context>`` per context...), ``learned_concept_graph.gml`` (module variants with labels)
and ``true_concept_graph.gml``, ``z_test.npy`` (encoder means of the test split), figures
(generations per context and per held-out pair beside real images, training curves, the graph)
and ``report.md``.

The data set is an :class:`~latentgraph.data.arrays.ArrayDataset` with splits ``train``,
``valid``, ``test`` (the training contexts) and ``heldout`` (composition contexts), each holding
``images`` (uint8 ``(n, H, W, C)``), ``context`` (index into ``info["contexts"]``) and
``targets`` (``(n, K)`` bool), plus ``info["context_targets"]`` and optionally true concepts
(``concepts``, or ``latents`` with ``info["concept_columns"]``) and ``graphs["concept_graph"]``;
:func:`latentgraph.data.quad.make_quad_causal`, ``make_quad`` and
:func:`latentgraph.data.digits.make_digits_contexts` produce this layout.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from latentgraph._atomic import save_figure
from latentgraph.app.report import draw_training_curves, markdown_table, write_report
from latentgraph.app.run_folder import RunPieces, write_run
from latentgraph.app.runs import write_npy
from latentgraph.data.arrays import ArrayDataset
from latentgraph.families.context_module.config import ContextModuleConfig
from latentgraph.families.context_module.evaluate import (
    PROTOCOLS,
    ConceptTruth,
    ContextImages,
    Evaluation,
    evaluate,
    negative_elbo,
)
from latentgraph.families.context_module.fit_pyro import (
    FittedContextModule,
    check_fit_arguments,
    fit,
)
from latentgraph.families.context_module.variants import Variant
from latentgraph.graphs import EdgeBeliefs, draw_graph_comparison
from latentgraph.inference.checkpoint_torch import check_checkpoint
from latentgraph.inference.svi_torch import TrainConfig

RESUME_MAY_CHANGE = ("train.progress", "train.device", "train.checkpoint_every")
HEADLINE = (
    "swd_concept",
    "swd_composition",
    "recon_bpd",
    "recon_bpd_ood",
    "concept_r2",
    "graph_shd",
)
GRID_COLUMNS = 6
VALID_ROWS = 512
"""Validation images scored by the periodic evaluation (negative ELBO)."""
CURVE_IMAGES = 200
"""Images per context for the periodic SWD learning curves (real and generated alike)."""


def _rows_of(split: dict, context: int) -> np.ndarray:
    return np.flatnonzero(np.asarray(split["context"]) == context)


def context_images(
    dataset: ArrayDataset, split_name: str, *, max_images: int | None = None, seed: int = 0
) -> list[ContextImages]:
    """Per-context image sets of one split of a context data set (``make_quad_causal``,
    ``make_quad``, ``make_digits_contexts``), in ``info["contexts"]`` order: the
    ``concept_contexts`` (split ``"test"``) and ``pair_contexts`` (``"heldout"``) of
    :func:`~.evaluate.evaluate`. ``max_images`` keeps a seeded subset of each context (only
    those rows are read from a memory-mapped set)."""
    if max_images is not None and (
        not isinstance(max_images, int) or isinstance(max_images, bool) or max_images < 2
    ):
        raise ValueError(f"max_images must be None or an int >= 2, got {max_images!r}")
    info, split = dataset.info, dataset.split(split_name)
    out = []
    for index in info["split_contexts"][split_name]:
        rows = _rows_of(split, index)
        if max_images is not None:
            rows = rows[_subset(rows.size, max_images, seed)]
        if rows.size:
            out.append(
                ContextImages(
                    info["contexts"][index],
                    tuple(info["context_targets"][index]),
                    np.asarray(split["images"][rows]),
                )
            )
    return out


def _subset(n: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([seed, n, 1]))
    return np.sort(rng.choice(n, size=min(size, n), replace=False))


def concept_truth(dataset: ArrayDataset, n_rows: int, seed: int) -> ConceptTruth | None:
    """``n_rows`` valid rows to fit and test rows to score ``concept_r2`` (seeded subsets), if
    the data have concepts; ``None`` otherwise."""
    valid, test = dataset.split("valid"), dataset.split("test")
    if "concepts" in valid:
        key, columns = "concepts", None
    elif "latents" in valid and "concept_columns" in dataset.info:
        key, columns = "latents", dataset.info["concept_columns"]
    else:
        return None
    a, b = _subset(len(valid[key]), n_rows, seed), _subset(len(test[key]), n_rows, seed)
    return ConceptTruth(
        np.asarray(valid["images"][a]),
        np.asarray(valid[key][a], dtype=np.float64),
        np.asarray(test["images"][b]),
        np.asarray(test[key][b], dtype=np.float64),
        columns,
    )


def check_dataset(dataset: ArrayDataset, config: ContextModuleConfig) -> None:
    """The data set has the layout the run needs and matches ``config``."""
    if not isinstance(dataset, ArrayDataset):
        raise TypeError(f"dataset must be an ArrayDataset, got {type(dataset).__name__}")
    for split in ("train", "valid", "test"):
        if split not in dataset.splits:
            raise ValueError(f"dataset must have a {split!r} split, got {sorted(dataset.splits)}")
        missing = {"images", "context", "targets"} - set(dataset.split(split))
        if missing:
            raise ValueError(f"dataset split {split!r} lacks the arrays {sorted(missing)}")
    for key in ("contexts", "context_targets", "split_contexts"):
        if key not in dataset.info:
            raise ValueError(f"dataset.info must hold {key!r} (context names and targets)")
    k = np.shape(dataset.split("train")["targets"])[1]
    if k != config.n_concepts:
        raise ValueError(f"the data have {k} concepts but config.n_concepts is {config.n_concepts}")


def run_fit(
    dataset: ArrayDataset,
    out: str | Path,
    *,
    config: ContextModuleConfig,
    variant: Variant,
    train_config: TrainConfig,
    pretrained: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    dataset_args: dict | None = None,
    n_eval: int = 1000,
    protocol: str = "clean",
    batching: str = "mixed",
    preset: dict | None = None,
    announce: str | None = None,
) -> dict:
    """Fit ``variant`` on the train split, evaluate on test/heldout, write the run folder.

    Every check runs before the folder is touched; ``config.json`` is written before training.
    ``preset`` (the resolved ``--preset``) is recorded in ``config.json``; ``announce`` is
    printed on stderr just before training. Returns the metrics.
    """
    images = targets = true_graph = names = None  # set by check(), once the data are checked

    def check() -> None:
        nonlocal variant, images, targets, true_graph, names
        check_dataset(dataset, config)
        train = dataset.split("train")
        # memory-mapped images stay mapped: an accelerator then reads them batch by batch
        images, targets = train["images"], np.asarray(train["targets"])
        true_graph = dataset.graphs.get("concept_graph")
        names = list(dataset.info.get("concepts", [f"c{k}" for k in range(config.n_concepts)]))
        variant = check_fit_arguments(
            images, targets, config, variant, train_config, pretrained=pretrained, batching=batching
        )
        if not isinstance(n_eval, int) or isinstance(n_eval, bool) or n_eval < 2:
            raise ValueError(f"n_eval must be an int >= 2, got {n_eval!r}")
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")

    def run_config() -> dict:  # built once the checks have passed
        return {
            "family": "context-module",
            "backend": "pyro",
            "variant": variant.to_dict(),
            "pretrained": None if pretrained is None else str(pretrained),
            "dataset": {"name": dataset.name, **(dataset_args or {}), "sizes": dataset.sizes},
            "model": config.to_dict(),
            "train": {**asdict(train_config), "batching": batching},
            "evaluation": {"n_eval": n_eval, "seed": train_config.seed, "protocol": protocol},
            **({"preset": preset} if preset is not None else {}),
        }

    def fit_in(out: Path) -> FittedContextModule:
        valid = dataset.split("valid")
        rows = _subset(len(valid["images"]), VALID_ROWS, train_config.seed)
        valid_images, valid_targets = np.asarray(valid["images"][rows]), valid["targets"][rows]

        # learning curves of the headline metrics: SWD on small fixed subsets, one seed for every
        # step (the held-out pairs are only watched, never used to choose anything)
        curve_concepts = context_images(dataset, "valid", max_images=CURVE_IMAGES)
        curve_pairs = (
            context_images(dataset, "heldout", max_images=CURVE_IMAGES)
            if "heldout" in dataset.splits
            else []
        )

        def periodic(fitted: FittedContextModule, step: int) -> dict:
            terms = negative_elbo(fitted, valid_images, np.asarray(valid_targets), seed=0)
            sizes = fitted.config.backbone
            dims = sizes.image_size**2 * sizes.channels
            scores = {"valid_bpd": float(terms["neg_elbo"] / (dims * math.log(2)))}
            if curve_concepts:
                swd = evaluate(
                    fitted,
                    concept_contexts=curve_concepts,
                    pair_contexts=curve_pairs,
                    seed=0,
                    n_eval=CURVE_IMAGES,
                ).metrics
                scores["valid_swd_concept"] = swd["swd_concept"]
                if "swd_composition" in swd:
                    scores["heldout_swd_composition"] = swd["swd_composition"]
            return scores

        return fit(
            images,
            targets,
            config=config,
            variant=variant,
            train_config=train_config,
            pretrained=pretrained,
            evaluate=periodic,
            checkpoint_path=out / "checkpoint.pt",
            resume=resume,
            batching=batching,
        )

    def evaluate_test(fitted: FittedContextModule) -> Evaluation:
        return evaluate(
            fitted,
            concept_contexts=context_images(dataset, "test"),
            pair_contexts=context_images(dataset, "heldout") if "heldout" in dataset.splits else (),
            seed=train_config.seed,
            n_eval=n_eval,
            protocol=protocol,
            true_graph=true_graph,
            concept_names=names,
            concept_truth=concept_truth(dataset, 5 * n_eval, train_config.seed)
            if config.module is not None
            else None,
        )

    def write_outputs(out: Path, fitted, result: Evaluation, metrics: dict) -> None:
        write_npy(out / "z_test.npy", fitted.encode(np.asarray(dataset.split("test")["images"])))
        _write_graphs(out, result, true_graph, names)
        _write_report(
            out,
            dataset,
            fitted,
            result,
            metrics,
            has_graph=true_graph is not None,
            protocol=protocol,
        )

    pieces = RunPieces(
        check=check,
        fit=fit_in,
        evaluate=evaluate_test,
        write_outputs=write_outputs,
        check_resume=lambda out: check_checkpoint(
            out / "checkpoint.pt", steps=train_config.steps, missing_ok=True
        ),
    )
    return write_run(
        out,
        config=run_config,
        pieces=pieces,
        steps=train_config.steps,
        overwrite=overwrite,
        resume=resume,
        resume_may_change=RESUME_MAY_CHANGE,
        announce=announce,
    )


def _write_graphs(out: Path, result: Evaluation, true_graph, names: list[str]) -> None:
    if true_graph is not None:
        truth = EdgeBeliefs.from_adjacency(np.asarray(true_graph), "concept", names, names)
        truth.write_gml(out / "true_concept_graph.gml", threshold=0.5, overwrite=True)
    if result.learned_graph is not None:
        learned = EdgeBeliefs.from_adjacency(result.learned_graph, "concept", names, names)
        learned.write_gml(out / "learned_concept_graph.gml", threshold=0.5, overwrite=True)
        draw_graph_comparison(learned, np.asarray(true_graph), path=out / "concept_graph.png")


def draw_generation_grid(
    real: dict[str, np.ndarray],
    generated: dict[str, np.ndarray],
    names: list[str],
    *,
    columns: int = GRID_COLUMNS,
    title: str = "",
    path: str | Path | None = None,
) -> Figure:
    """One row per context: ``columns`` real images (left) beside as many generated (right)."""
    figure = Figure(figsize=(2 * 0.9 * columns, 0.95 * len(names) + 0.6), layout="constrained")
    axes = figure.subplots(len(names), 2, squeeze=False)
    for row, name in enumerate(names):
        for col, (label, images) in enumerate(
            (("real", real[name]), ("generated", generated[name]))
        ):
            raw = np.asarray(images[:columns])
            images = raw.astype(np.float32) / (255.0 if raw.dtype == np.uint8 else 1.0)
            gap = np.ones((images.shape[1], 2, images.shape[3]), dtype=np.float32)
            strip = np.concatenate([part for image in images for part in (image, gap)][:-1], axis=1)
            ax = axes[row, col]
            ax.imshow(
                strip.squeeze(-1) if strip.shape[-1] == 1 else strip,
                cmap="gray",
                vmin=0,
                vmax=1,
                interpolation="nearest",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
            if row == 0:
                ax.set_title(label, fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    if path is not None:
        save_figure(figure, path, dpi=100)
    return figure


def _write_report(
    out: Path,
    dataset: ArrayDataset,
    fitted: FittedContextModule,
    result: Evaluation,
    metrics: dict,
    *,
    has_graph: bool,
    protocol: str = "clean",
) -> None:
    info = dataset.info
    single = [info["contexts"][i] for i in info["split_contexts"]["test"]]
    pairs = [n for n in result.generated if n not in single]
    single = [n for n in single if n in result.generated]
    figures = []
    draw_generation_grid(
        result.real,
        result.generated,
        single,
        path=out / "generations_concepts.png",
        title="held-out images (left) and generations (right) per training context",
    )
    figures.append(
        ("Generations per training context beside real images", "generations_concepts.png")
    )
    if pairs:
        draw_generation_grid(
            result.real,
            result.generated,
            pairs,
            path=out / "generations_pairs.png",
            title="held-out pairs, never trained on: real (left), composed (right)",
        )
        figures.append(
            (
                "Generations per held-out pair (composition) beside real images",
                "generations_pairs.png",
            )
        )
    history = fitted.history
    draw_training_curves(
        history.rows,
        history.evaluations,
        panels=[["loss"], ["bpd"]],
        path=out / "training.png",
        title="training",
    )
    figures.append(("Training curves", "training.png"))
    if result.learned_graph is not None and has_graph:
        figures.append(
            ("Learned (maximal DAG, causal layer) vs. true concept graph", "concept_graph.png")
        )
    per_context = [
        {
            "context": name,
            "swd": metrics[f"swd_{name}"],
            **(
                {"swd (joint_perfect)": metrics[f"swd_{name}_joint_perfect"]}
                if f"swd_{name}_joint_perfect" in metrics
                else {}
            ),
        }
        for name in single + pairs
    ]
    headline = {k: metrics[k] for k in HEADLINE if k in metrics}
    variant = fitted.variant
    notes = [
        f"Variant `{variant.name}`: "
        + ("context module" if variant.with_module else "plain VAE")
        + (", routed by the context labels" if variant.uses_labels else ", labels unused")
        + (", trained on obs only" if variant.obs_only else "")
        + (
            f", backbone from {fitted.pretrained} frozen for {variant.freeze_steps(fitted.train_config.steps)} steps"
            if fitted.pretrained
            else ""
        )
        + ".",
        "Evaluation: clean protocol: seeded real subsets without replacement, fresh seeded "
        "generations per context and batch, one seeded set of SWD projections for every "
        "context, the final weights (docs/context_module.md#fixed-evaluation-samples and the "
        "sections after it)."
        if protocol == "clean"
        else "Evaluation: the reference protocol (as the paper's tables): real images drawn with "
        "replacement, "
        "64 generations re-seeded to 0 and repeated, new projections per context; final weights.",
        f"Device: {fitted.device}; {metrics['steps']} steps in {metrics['train_wall_s']:.1f} s.",
    ]
    if fitted.config.module is not None:
        notes.append(
            f"Module: obs noise mask `{fitted.config.module.obs_noise_mask}`, composition "
            f"`{fitted.config.module.compose}`, effects `{fitted.config.module.effect_sign}`."
        )
    write_report(
        out / "report.md",
        title=f"context-module `{variant.name}` on {dataset.name}",
        summary=", ".join(f"**{k}** {v:.4g}" for k, v in headline.items()),
        tables=[
            ("SWD per context (lower is better)", markdown_table(per_context)),
            (
                "Metrics",
                markdown_table(
                    [
                        {"metric": k, "value": v}
                        for k, v in metrics.items()
                        if not isinstance(v, str)
                    ]
                ),
            ),
        ],
        figures=figures,
        notes=notes,
    )
