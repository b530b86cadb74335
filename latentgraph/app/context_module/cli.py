"""Command-line arguments of ``latentgraph fit context-module`` and its registration.

``latentgraph fit context-module --dataset quad_causal|quad|digits
--variant cm|base|base-pooled|cm-pooled|cm-finetune|cm-frozen [--pretrained DIR]
[--image-size 32|64] [--steps N] [--device D] --out DIR``. Every argument is checked (exit code
2, one line) before any data are generated or any file is written.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

from latentgraph.app.context_module.presets import QUAD_SIZES, RUN_PRESETS, SIZING, estimate
from latentgraph.app.options import add_shared_options
from latentgraph.app.presets import preset_line, resolve_preset, torch_has_gpu
from latentgraph.app.registry import Family, register
from latentgraph.app.validation import (
    check_count,
    check_disk,
    check_memory,
    check_real,
    check_shared_options,
    user_input,
)
from latentgraph.errors import UserInputError
from latentgraph.families.context_module.config import (
    BACKBONE_NORMS,
    BATCHINGS,
    COMPOSE_MODES,
    EFFECT_SIGNS,
    IMAGE_SIZES,
    MODULE_NORMS,
    OBS_NOISE_MASKS,
    SIZE_PRESETS,
    ContextModuleConfig,
)
from latentgraph.families.context_module.variants import VARIANTS, get_variant
from latentgraph.inference.svi_torch import TrainConfig

DATASETS = ("quad_causal", "quad", "digits")
DATASET_SHAPES = {"quad_causal": (6, 3), "quad": (6, 3), "digits": (5, 1)}
"""Concepts ``K`` and image channels of each data set."""

QUAD_DEFAULTS = {"n_train": 35_000, "n_valid": 15_000, "n_test": 10_000, "n_heldout": 10_000}


def add_arguments(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """Options of ``latentgraph fit context-module`` (``sweep=True``: of ``latentgraph sweep``,
    without ``--seed``, ``--checkpoint-every`` and ``--resume``)."""
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", required=True, choices=DATASETS)
    data.add_argument(
        "--image-size",
        type=int,
        choices=IMAGE_SIZES,
        default=None,
        help="image side (preset paper: 64 for quad data, 32 for digits; cpu: 32)",
    )
    for name, value in QUAD_DEFAULTS.items():
        data.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=None,
            metavar="N",
            help=f"quad data: images per context in this split (preset paper {value}, cpu "
            f"{RUN_PRESETS['cpu'][name]})",
        )
    data.add_argument(
        "--n-replicas",
        type=int,
        default=None,
        help="digits: transformed copies of each source image per context (default 1)",
    )
    data.add_argument("--data-seed", type=int, default=0, help="seed of the data")
    data.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="keep the generated data in DIR, memory-mapped (reused when DIR already holds "
        "the same data); large quad sets then never have to fit in memory",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--variant",
        choices=tuple(VARIANTS),
        default="cm",
        help="cm: context module end to end (the method); base: plain VAE on obs; "
        "base-pooled: plain VAE on all contexts; cm-pooled: module without labels; "
        "cm-frozen / cm-finetune: module on a --pretrained base-pooled backbone",
    )
    model.add_argument(
        "--pretrained",
        default=None,
        metavar="DIR",
        help="run folder of a base-pooled fit (cm-frozen, cm-finetune)",
    )
    model.add_argument(
        "--sizes",
        choices=tuple(SIZE_PRESETS),
        default=None,
        help="official: the paper's network; cpu: sized for 2 CPU cores (preset paper: "
        "official, cpu: cpu)",
    )
    model.add_argument("--beta", type=float, default=1.0)
    model.add_argument("--group-lasso", type=float, default=0.0, help="lambda_g per sample")
    model.add_argument("--l2", type=float, default=0.0, help="lambda_2 per sample")
    model.add_argument(
        "--obs-noise-mask",
        choices=OBS_NOISE_MASKS,
        default="block",
        help="block (clean) or dense (the reference's obs path, "
        "docs/context_module.md#obs-noise-layer-mixes-blocks)",
    )
    model.add_argument("--compose", choices=COMPOSE_MODES, default="reference")
    model.add_argument("--effect-sign", choices=EFFECT_SIGNS, default="clamp01")
    model.add_argument(
        "--module-norm",
        choices=MODULE_NORMS,
        default=None,
        help="expressive-layer normalisation (batch: the reference's, needs --batching "
        "single-context; preset paper: layer, cpu: batch)",
    )
    model.add_argument(
        "--backbone-norm",
        choices=BACKBONE_NORMS,
        default=None,
        help="backbone normalisation (batch: the reference's, needs --batching single-context; "
        "preset paper: group, cpu: batch)",
    )
    model.add_argument(
        "--expressivity",
        type=_expressivity,
        default=None,
        metavar="L.a.b",
        help="module depth L, latent width a and concept width b per concept, e.g. 2.32.8 "
        "(default: the --sizes preset's; the reference's --exp)",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--batch-size", type=int, default=None, help="preset paper 512, cpu 64")
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument(
        "--lr-decay",
        choices=("cosine", "none"),
        default="cosine",
        help="cosine decay to 1%% of --lr (the reference anneals 1e-3 to 1e-5)",
    )
    train.add_argument(
        "--batching",
        choices=BATCHINGS,
        default=None,
        help="minibatches mix contexts, or each holds one context (the reference's sampler; "
        "preset paper: mixed, cpu: single-context)",
    )
    train.add_argument(
        "--eval-protocol",
        choices=("clean", "reference"),
        default="clean",
        help="clean (seeded, fresh, without replacement) or the reference's (the paper's tables)",
    )
    train.add_argument(
        "--n-eval", type=int, default=1000, help="images per context for SWD and reconstruction"
    )
    add_shared_options(parser, train, RUN_PRESETS, sweep=sweep)


def _expressivity(text: str) -> tuple[int, int, int]:
    """``"2.32.8"`` -> ``(2, 32, 8)`` (an argparse type)."""
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected L.a.b with positive ints, got {text!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def _finite(value: float, name: str) -> None:
    if not math.isfinite(value):
        raise UserInputError(f"{name} must be finite, got {value}")


def model_config(args: argparse.Namespace) -> ContextModuleConfig:
    """The network the arguments describe (validated)."""
    n_concepts, channels = DATASET_SHAPES[args.dataset]
    image_size = args.image_size or (32 if args.dataset == "digits" else 64)
    for name in ("beta", "group_lasso", "l2"):
        _finite(getattr(args, name), f"--{name.replace('_', '-')}")
    config = SIZE_PRESETS[args.sizes](
        n_concepts,
        image_size=image_size,
        channels=channels,
        norm=args.module_norm,
        obs_noise_mask=args.obs_noise_mask,
        compose=args.compose,
        effect_sign=args.effect_sign,
    )
    module = config.module
    if args.expressivity is not None:
        depth, block_in, block_out = args.expressivity
        module = replace(module, depth=depth, block_in=block_in, block_out=block_out)
    config = ContextModuleConfig(
        n_concepts, config.backbone, module, args.beta, args.group_lasso, args.l2
    ).with_norms(backbone=args.backbone_norm)
    return config.with_module(config.module if get_variant(args.variant).with_module else None)


def dataset_arguments(args: argparse.Namespace) -> dict:
    """Keyword arguments of the data generator (validated against the data set)."""
    image_size = args.image_size or (32 if args.dataset == "digits" else 64)
    given = {k: getattr(args, k) for k in QUAD_DEFAULTS if getattr(args, k) is not None}
    if args.dataset == "digits":
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise UserInputError(f"{flags} apply to quad data; digits take --n-replicas")
        return {
            "image_size": image_size,
            "n_replicas": args.n_replicas or 1,
            "seed": args.data_seed,
            "split_seed": args.data_seed,
        }
    if args.n_replicas is not None:
        raise UserInputError("--n-replicas applies to digits, not to quad data")
    return {**QUAD_DEFAULTS, **given, "image_size": image_size, "seed": args.data_seed}


def load_dataset(name: str, arguments: dict, data_dir: str | None = None):
    """The data set ``name`` generated with ``arguments``; with ``data_dir``, read from that
    folder when it already holds exactly these data, else generated into it."""
    from latentgraph.data.arrays import ArrayDataset

    expected = "digits_contexts" if name == "digits" else name
    if data_dir is not None and (Path(data_dir) / "manifest.json").is_file():
        dataset = ArrayDataset.load(data_dir, mmap=True)
        stored = {k: dataset.info.get(k) for k in ("image_size", "seed", "n_replicas")}
        if name != "digits":
            stored["n_per_context"] = dataset.info.get("n_per_context")
        wanted = {k: arguments.get(k) for k in ("image_size", "seed", "n_replicas")}
        if name != "digits":
            wanted["n_per_context"] = {k.removeprefix("n_"): arguments[k] for k in QUAD_DEFAULTS}
        if dataset.name != expected or stored != wanted:
            raise UserInputError(
                f"--data-dir {data_dir!r} holds other data ({dataset.name}, {stored}) than "
                f"asked for ({expected}, {wanted}); choose another folder"
            )
        return dataset
    if name == "digits":
        from latentgraph.data.digits import make_digits_contexts

        dataset = make_digits_contexts(**arguments)
        if data_dir is not None:
            dataset.save(data_dir)
            dataset = ArrayDataset.load(data_dir, mmap=True)
        return dataset
    from latentgraph.data.quad import make_quad, make_quad_causal

    return (make_quad_causal if name == "quad_causal" else make_quad)(**arguments, path=data_dir)


def check_arguments(args: argparse.Namespace) -> str:
    """The checks of :mod:`latentgraph.app.validation` on the options (after the family's own);
    returns the device's name."""
    device = check_shared_options(args, backend="pyro")
    for name in ("beta", "group_lasso", "l2"):
        check_real(getattr(args, name), "--" + name.replace("_", "-"))
    for name in (*QUAD_DEFAULTS, "n_replicas", "n_eval"):
        check_count(getattr(args, name), "--" + name.replace("_", "-"), allow_none=True)
    if args.dataset != "digits":
        check_quad_size(args)
    return device


def check_quad_size(args: argparse.Namespace) -> None:
    """Refuse quad data whose images do not fit in memory (or on the disk of ``--data-dir``):
    ``3 S^2`` bytes per image, for every training context in train/valid/test and every
    held-out pair in heldout (a lower bound: labels and latents come on top)."""
    from latentgraph.data.quad import QUAD_HELDOUT_PAIRS, QUAD_TRAINING_CONTEXTS

    image_size = args.image_size or 64
    n = {k: getattr(args, k) or QUAD_DEFAULTS[k] for k in QUAD_DEFAULTS}
    images = len(QUAD_TRAINING_CONTEXTS) * (n["n_train"] + n["n_valid"] + n["n_test"])
    images += len(QUAD_HELDOUT_PAIRS) * n["n_heldout"]
    needed = 3 * image_size**2 * images
    what = f"{images} quad images of {image_size}x{image_size}"
    option = "--n-train/--n-valid/--n-test/--n-heldout"
    if args.data_dir is not None:
        check_disk(needed, args.data_dir, what=what, option=option)
    else:
        check_memory(needed, what=what, option=option, hint="lower them or pass --data-dir")


def run(args: argparse.Namespace) -> dict:
    from latentgraph.app.context_module.run import run_fit
    from latentgraph.app.runs import check_run_dir
    from latentgraph.families.context_module.fit_pyro import pretrained_backbone

    with user_input():  # validate everything, then create anything
        preset = resolve_preset(args, RUN_PRESETS, sizing=SIZING, has_accelerator=torch_has_gpu)
        if args.dataset == "digits":  # the preset's data sizes are quad data's
            for name in set(QUAD_SIZES) - set(preset.typed):
                setattr(args, name, None)
        variant = get_variant(args.variant)
        config = model_config(args)
        if variant.pretrained and args.pretrained is None:
            raise UserInputError(
                f"--variant {variant.name} needs --pretrained DIR (a base-pooled run)"
            )
        if not variant.pretrained and args.pretrained is not None:
            raise UserInputError(
                f"--pretrained applies to cm-frozen and cm-finetune, not {variant.name}"
            )
        if args.pretrained is not None:
            pretrained_backbone(args.pretrained, config)
        if config.uses_batch_norm and args.batching != "single-context":
            raise UserInputError(
                "--backbone-norm batch and --module-norm batch need --batching single-context: "
                "in mixed-context batches the batch statistics leak the context "
                "(docs/context_module.md#batch-statistics-leak)"
            )
        if not isinstance(args.n_eval, int) or args.n_eval < 2:
            raise UserInputError(f"--n-eval must be >= 2, got {args.n_eval}")
        _finite(args.lr, "--lr")
        train_config = TrainConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            lr_decay=args.lr_decay,
            final_lr_fraction=0.01,
            seed=args.seed,
            device=args.device,
            eval_every=args.eval_every or max(args.steps // 20, 1),
            checkpoint_every=args.checkpoint_every or min(1000, max(args.steps // 10, 1)),
            progress=not args.no_progress,
        )
        device = check_arguments(args)
        check_run_dir(args.out, overwrite=args.overwrite, resume=args.resume)
        arguments = dataset_arguments(args)
        dataset = load_dataset(args.dataset, arguments, args.data_dir)
    metrics = run_fit(
        dataset,
        args.out,
        config=config,
        variant=variant,
        train_config=train_config,
        pretrained=args.pretrained,
        overwrite=args.overwrite,
        resume=args.resume,
        dataset_args={"dataset": args.dataset, **arguments},
        n_eval=args.n_eval,
        protocol=args.eval_protocol,
        batching=args.batching,
        preset=preset.to_dict(),
        announce=preset_line(preset, device, args.steps, estimate(args, device)),
    )
    return metrics


def _sweep_module():
    from latentgraph.app.context_module import sweep

    return sweep


FAMILY = register(
    Family(
        name="context-module",
        help="a context module learns and composes interventions on concepts "
        "(Markham et al., 2025)",
        add_arguments=add_arguments,
        run=run,
        add_sweep_arguments=lambda parser: _sweep_module().add_sweep_arguments(parser),
        sweep=lambda args: _sweep_module().sweep(args),
        headline=("swd_concept", "swd_composition", "recon_bpd", "concept_r2", "graph_shd"),
        presets=RUN_PRESETS,
    )
)
