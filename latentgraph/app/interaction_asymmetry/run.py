"""One interaction-asymmetry fit, from a sprites data set to a complete run folder.

Writes (ARCHITECTURE.md, contract 2) ``config.json`` (before training; everything to rerun),
``checkpoint.pt`` (the full training state, atomic, ``torch.load(weights_only=True)``),
``history.json``, ``metrics.json`` (flat numbers: ``j_ari``, ``jis``, ``slot_r2``,
``recon_id``, ``recon_ood``...), ``slots_test.npy`` (posterior means of the test images),
``reconstructions.png``, ``slots.png``, ``training.png`` and ``report.md``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from latentgraph.app.interaction_asymmetry.figures import (
    draw_reconstructions,
    draw_slot_decodings,
)
from latentgraph.app.report import draw_training_curves, markdown_table, write_report
from latentgraph.app.run_folder import RunPieces, write_run
from latentgraph.app.runs import write_npy
from latentgraph.data.arrays import ArrayDataset
from latentgraph.families.interaction_asymmetry.config import InteractionAsymmetryConfig
from latentgraph.families.interaction_asymmetry.evaluate import (
    OOD_SPLIT,
    Evaluation,
    evaluate,
    jacobian_scores,
)
from latentgraph.families.interaction_asymmetry.fit_pyro import (
    FittedInteractionAsymmetry,
    SpeedSettings,
    check_fit_arguments,
    fit,
)
from latentgraph.inference.checkpoint_torch import check_checkpoint
from latentgraph.inference.svi_torch import TrainConfig

RESUME_MAY_CHANGE = ("train.progress", "train.device", "train.checkpoint_every")
"""Settings that do not change a run's numbers (on one device) and so may differ on resume."""

PERIODIC_JACOBIAN_IMAGES = 4
"""Validation images whose J-ARI and JIS are tracked during training (a cheap trend)."""

HEADLINE = ("j_ari", "jis", "slot_r2", "recon_id", "recon_ood", "l_int")


def _check_dataset(dataset: ArrayDataset, config: InteractionAsymmetryConfig) -> None:
    if not isinstance(dataset, ArrayDataset):
        raise TypeError(f"dataset must be an ArrayDataset, got {type(dataset).__name__}")
    for split in ("train", "valid", "test"):
        if split not in dataset.splits:
            raise ValueError(f"dataset must have a {split!r} split, got {sorted(dataset.splits)}")
        arrays = dataset.split(split)
        if "images" not in arrays or "masks" not in arrays:
            raise ValueError(f"dataset split {split!r} must hold 'images' and 'masks'")
        size = config.image_size
        images, masks = arrays["images"], arrays["masks"]
        if images.dtype != np.uint8 or images.shape[1:] != (size, size, 3):
            raise ValueError(
                f"dataset split {split!r} images must be uint8 (n, {size}, {size}, 3) for this "
                f"model, got {images.dtype} {images.shape}"
            )
        if masks.shape != images.shape[:3]:
            raise ValueError(
                f"dataset split {split!r} masks must have shape {images.shape[:3]}, got "
                f"{masks.shape}"
            )


def run_fit(
    dataset: ArrayDataset,
    out: str | Path,
    *,
    config: InteractionAsymmetryConfig,
    train_config: TrainConfig,
    speed: SpeedSettings = SpeedSettings(),
    overwrite: bool = False,
    resume: bool = False,
    dataset_args: dict | None = None,
    jacobian_images: int = 64,
    readout_images: int = 2000,
    eval_images: int | None = None,
    preset: dict | None = None,
    announce: str | None = None,
) -> dict:
    """Fit, evaluate on the test split (and ``test_ood``) and write the run folder.

    ``config.json`` is written before training starts; with ``resume=True`` the folder must
    hold a run with the same settings and training continues from its ``checkpoint.pt``.
    ``jacobian_images``, ``readout_images`` and ``eval_images`` size the evaluation
    (:func:`~.evaluate.evaluate`). ``preset`` (the resolved ``--preset``) is recorded in
    ``config.json``; ``announce`` is printed on stderr just before training. Returns ``metrics``.
    """

    def run_config() -> dict:  # built once the checks have passed
        return {
            "family": "interaction-asymmetry",
            "backend": "pyro",
            "dataset": {"name": dataset.name, **(dataset_args or {}), "info": dataset.info},
            "model": config.to_dict(),
            "train": asdict(train_config),
            "speed": asdict(speed),
            "evaluation": {
                "jacobian_images": jacobian_images,
                "readout_images": readout_images,
                "eval_images": eval_images,
            },
            **({"preset": preset} if preset is not None else {}),
        }

    def check() -> None:
        _check_dataset(dataset, config)
        check_fit_arguments(dataset.split("train")["images"], config, train_config, speed)

    valid = dataset.split("valid")

    def periodic(fitted: FittedInteractionAsymmetry, step: int) -> dict:
        n = min(PERIODIC_JACOBIAN_IMAGES, len(valid["images"]))
        scores, _ = jacobian_scores(fitted, np.asarray(valid["images"][:n]), valid["masks"][:n])
        return {f"valid_{k}": v for k, v in scores.items()}

    def fit_in(out: Path) -> FittedInteractionAsymmetry:
        return fit(
            dataset.split("train")["images"],
            config=config,
            train_config=train_config,
            speed=speed,
            evaluate=periodic,
            checkpoint_path=out / "checkpoint.pt",
            resume=resume,
        )

    def evaluate_test(fitted: FittedInteractionAsymmetry) -> Evaluation:
        return evaluate(
            fitted,
            {name: dataset.split(name) for name in dataset.splits},
            max_images=eval_images,
            jacobian_images=jacobian_images,
            readout_images=readout_images,
            seed=train_config.seed,
        )

    def extra_metrics(fitted: FittedInteractionAsymmetry) -> dict:
        return {
            "s_per_step": fitted.history.wall_s / max(train_config.steps, 1),
            "n_parameters": sum(p.numel() for p in fitted.vae.parameters()),
        }

    def write_outputs(out: Path, fitted, result: Evaluation, metrics: dict) -> None:
        write_npy(out / "slots_test.npy", result.slots)
        _write_report(out, dataset, fitted, result, metrics)

    pieces = RunPieces(
        check=check,
        fit=fit_in,
        evaluate=evaluate_test,
        write_outputs=write_outputs,
        extra_metrics=extra_metrics,
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


def _write_report(
    out: Path,
    dataset: ArrayDataset,
    fitted: FittedInteractionAsymmetry,
    result: Evaluation,
    metrics: dict,
) -> None:
    history = fitted.history
    draw_reconstructions(result.examples, path=out / "reconstructions.png")
    draw_slot_decodings(result.examples, path=out / "slots.png")
    draw_training_curves(
        history.rows,
        history.evaluations,
        panels=[["loss"], ["recon_sse"], ["kl"], ["l_int"]],
        path=out / "training.png",
        title="training",
    )
    c = fitted.config
    headline = {k: metrics[k] for k in HEADLINE if k in metrics}
    notes = [
        f"Model: K = {c.n_slots} slots of d = {c.slot_dim}; sigma = {c.reconstruction_weight:g}, "
        f"beta = {c.beta:g}, alpha = {c.alpha:g} (warm-up {c.alpha_warmup_steps} steps); "
        f"{metrics['n_parameters']} parameters.",
        f"L_int ranges over [0, {metrics.get('l_int_max', float('nan')):g}] (uniform attention "
        "at the top); a low value is only a proxy for the no-interaction structure "
        "(docs/interaction_asymmetry.md#penalty-is-a-proxy): J-ARI and JIS read the decoder's "
        "Jacobian.",
        f"Device: {fitted.device}; precision {fitted.speed.precision}, compile "
        f"{fitted.speed.compile}, pixels per image "
        f"{fitted.speed.pixels_per_image or c.n_pixels}; {metrics['steps']} steps in "
        f"{metrics['train_wall_s']:.1f} s.",
    ]
    if OOD_SPLIT not in dataset.splits:
        notes.append(
            "No out-of-distribution split in this data set (generate it with --ood diagonal), "
            "so recon_ood and slot_r2_ood are not reported."
        )
    write_report(
        out / "report.md",
        title=f"interaction-asymmetry on {dataset.name} ({c.image_size}x{c.image_size})",
        summary=", ".join(f"**{k}** {v:.4g}" for k, v in headline.items()),
        tables=[
            (
                "Metrics (test split)",
                markdown_table([{"metric": k, "value": v} for k, v in metrics.items()]),
            )
        ],
        figures=[
            (
                "Inputs, reconstructions and slot-assignment maps (attention and Jacobian)",
                "reconstructions.png",
            ),
            ("Per-slot decodings, weighted by each slot's attention", "slots.png"),
            ("Training curves", "training.png"),
        ],
        notes=notes,
    )
