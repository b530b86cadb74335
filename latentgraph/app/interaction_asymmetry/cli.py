"""Command-line arguments of ``latentgraph fit interaction-asymmetry`` and its registration.

Example (a CPU-sized run at 32x32; the official 64x64 model is the default at 64)::

    latentgraph fit interaction-asymmetry --image-size 32 --objects 2-4 --steps 20000 \\
        --pixels-per-image 256 --out runs/ia-cpu
    latentgraph fit interaction-asymmetry --image-size 64 --alpha 0 --beta 0 --device cuda \\
        --precision bf16 --out runs/ia-unregularised
"""

from __future__ import annotations

import argparse
import math

from latentgraph.app.interaction_asymmetry.presets import RUN_PRESETS, SIZING, estimate
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
from latentgraph.families.interaction_asymmetry.config import PRESETS
from latentgraph.families.interaction_asymmetry.fit_pyro import SpeedSettings
from latentgraph.families.interaction_asymmetry.schedules import (
    OFFICIAL_STEPS,
    LearningRateSchedule,
    ScheduledTrainConfig,
)

IMAGE_SIZES = (32, 64)


def _objects(text: str) -> tuple[int, int]:
    """``"2-4"`` -> ``(2, 4)``, ``"2"`` -> ``(2, 2)`` (an argparse type)."""
    try:
        parts = [int(part) for part in text.split("-")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts, default=0) < 1 or parts[0] > parts[-1]:
        raise argparse.ArgumentTypeError(
            f"expected a count or a range like 2-4 (1 <= min <= max), got {text!r}"
        )
    return parts[0], parts[-1]


def _object_scale(text: str) -> tuple[float, float]:
    """``"0.16-0.24"`` -> ``(0.16, 0.24)`` (an argparse type; checked by the data generator)."""
    try:
        low, high = (float(part) for part in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a range like 0.16-0.24 (fractions of the image side), got {text!r}"
        ) from None
    return low, high


def add_arguments(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """Options of ``latentgraph fit interaction-asymmetry`` (``sweep=True``: of ``latentgraph sweep``,
    without ``--seed``, ``--checkpoint-every`` and ``--resume``)."""
    data = parser.add_argument_group("data (sprites, docs/interaction_asymmetry.md#data)")
    data.add_argument(
        "--image-size",
        type=int,
        choices=IMAGE_SIZES,
        default=None,
        help="preset paper 64, cpu 32",
    )
    data.add_argument(
        "--objects", type=_objects, default=(2, 4), metavar="MIN-MAX", help="objects per image"
    )
    data.add_argument(
        "--object-scale",
        type=_object_scale,
        default=None,
        metavar="LOW-HIGH",
        help="object size range as a fraction of the image side (default 0.1-0.15, the "
        "original's; sizes are frame-relative, so 3-5 px at 32x32; preset cpu 0.16-0.24)",
    )
    data.add_argument(
        "--ood",
        choices=("none", "diagonal"),
        default="none",
        help="diagonal: train on the diagonal band, test also off it (needs one object count)",
    )
    data.add_argument(
        "--n-images",
        type=int,
        default=None,
        help="images generated (split 0.9/0.05/0.05; preset paper 1e5, cpu 2e4)",
    )
    data.add_argument("--data-seed", type=int, default=0)
    data.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="write the data set here once and memory-map it afterwards (large sets)",
    )
    model = parser.add_argument_group("model and loss")
    model.add_argument(
        "--sizes",
        choices=sorted(PRESETS),
        default=None,
        help="network sizes (preset paper: official at 64x64, cpu at 32x32; cpu: cpu)",
    )
    model.add_argument("--alpha", type=float, default=0.05, metavar="A", help="L_int weight")
    model.add_argument("--beta", type=float, default=0.05, metavar="B", help="KL weight")
    model.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="weight of the summed squared error (default 5 * 64^2 / image_size^2)",
    )
    model.add_argument(
        "--attention-scale",
        choices=("width", "head_dim"),
        default=None,
        help="attention logits scaled by the width^-1/2 (official) or head dim^-1/2 "
        "(preset paper: width, cpu: head_dim)",
    )
    model.add_argument(
        "--kv-norm",
        choices=("on", "off"),
        default="on",
        help="LayerNorm on every cross-attention's keys/values, as the official layer "
        "(off: the library before issue 16)",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--batch-size", type=int, default=None, help="preset paper 64, cpu 32")
    train.add_argument(
        "--lr", type=float, default=5e-4, help="peak learning rate (a fifth of it after the hold)"
    )
    train.add_argument(
        "--schedule",
        choices=("scaled", "official", "hold"),
        default=None,
        help="scaled: the paper's LR and alpha milestones times steps/500k; official: as is; "
        "hold: scaled warm-ups, then the peak rate to the end (no drop, no decay: short runs); "
        "preset paper: scaled, cpu: hold",
    )
    train.add_argument(
        "--pixels-per-image",
        type=int,
        default=None,
        metavar="M",
        help="decode M random pixels per image and step (unbiased, cheaper; preset paper: "
        "all, cpu: 256)",
    )
    train.add_argument(
        "--pixel-sampler",
        choices=("uniform", "intensity"),
        default=None,
        help="how the M pixels are drawn: uniform, or importance-weighted towards bright "
        "pixels (both unbiased; preset paper: uniform, cpu: intensity)",
    )
    train.add_argument("--precision", choices=("float32", "bf16"), default="float32")
    train.add_argument("--compile", action="store_true", help="torch.compile the networks")
    train.add_argument("--attention", choices=("folded", "projected"), default="folded")
    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument(
        "--jacobian-images",
        type=int,
        default=None,
        help="test images for J-ARI and JIS (preset paper 64, cpu 200)",
    )
    evaluation.add_argument(
        "--readout-images", type=int, default=2000, help="training images for the slot-R^2 readout"
    )
    evaluation.add_argument(
        "--eval-images", type=int, default=None, help="test images for reconstruction (all)"
    )
    add_shared_options(parser, train, RUN_PRESETS, sweep=sweep)


def _positive(name: str, value, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or value < 1:
        raise UserInputError(f"{name} must be a positive integer, got {value!r}")


def _settings(args: argparse.Namespace):
    """Model, training and speed settings from the arguments (ValueError on bad input)."""
    for name in ("steps", "batch_size", "n_images", "jacobian_images", "readout_images"):
        _positive(f"--{name.replace('_', '-')}", getattr(args, name))
    _positive("--eval-images", args.eval_images, allow_none=True)
    for name in ("eval_every", "checkpoint_every", "seed", "data_seed"):
        if getattr(args, name) < 0:
            raise UserInputError(
                f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}"
            )
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise UserInputError(f"--lr must be a positive finite number, got {args.lr}")
    if args.ood == "diagonal" and args.objects[0] != args.objects[1]:
        raise UserInputError(
            f"--ood diagonal needs one object count (e.g. --objects 2), got {args.objects}"
        )
    if args.ood == "diagonal" and getattr(args, "object_scale", None) is not None:
        raise ValueError("--object-scale applies to --ood none (the diagonal split has its own)")
    fraction = 1.0 if args.schedule == "official" else args.steps / OFFICIAL_STEPS
    if args.schedule == "hold":  # a decay factor of 1 keeps the peak after the warm-up
        schedule = LearningRateSchedule(peak=args.lr, drop_to=None, decay_factor=1.0)
    else:
        schedule = LearningRateSchedule(peak=args.lr, drop_to=args.lr / 5)  # 5e-4 -> 1e-4
    if fraction != 1.0:
        schedule = schedule.scaled(fraction)
    size = args.sizes or ("official" if args.image_size == 64 else "cpu")
    config = PRESETS[size](
        image_size=args.image_size,
        alpha=args.alpha,
        beta=args.beta,
        sigma=args.sigma,
        attention_scale=args.attention_scale,
        kv_norm=args.kv_norm == "on",
        alpha_warmup_steps=round(25_000 * fraction),
    )
    train_config = ScheduledTrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        eval_every=args.eval_every or max(args.steps // 10, 1),
        log_every=max(1, min(50, args.steps // 50)),
        checkpoint_every=args.checkpoint_every or min(1000, max(args.steps // 10, 1)),
        progress=not args.no_progress,
        schedule=schedule,
    )
    speed = SpeedSettings(
        precision=args.precision,
        compile=args.compile,
        attention=args.attention,
        pixels_per_image=args.pixels_per_image,
        pixel_sampler=args.pixel_sampler,
    )
    return config, train_config, speed


def load_sprites(args: argparse.Namespace):
    """The sprites data set the arguments describe (generated, or memory-mapped from
    ``--data-dir`` when it was written with the same settings)."""
    from latentgraph.data.sprites import load_or_write_sprites, make_sprites

    settings = {
        "n": args.n_images,
        "image_size": args.image_size,
        "n_objects": args.objects[0] if args.ood == "diagonal" else tuple(args.objects),
        "seed": args.data_seed,
        "ood": None if args.ood == "none" else args.ood,
    }
    if args.object_scale is not None:
        settings["scale_range"] = tuple(args.object_scale)
    if args.data_dir is not None:
        return load_or_write_sprites(args.data_dir, **settings, progress=not args.no_progress)
    return make_sprites(**settings)


def check_arguments(args: argparse.Namespace, config) -> str:
    """Every check of the options that needs no data (after :func:`_settings`); returns the
    device's name (:mod:`latentgraph.app.validation`)."""
    device = check_shared_options(args, backend="pyro")
    for name in ("alpha", "beta"):
        check_real(getattr(args, name), f"--{name}", minimum=0)
    check_real(args.sigma, "--sigma", positive=True, allow_none=True)
    for name in ("n_images", "jacobian_images", "readout_images", "eval_images"):
        check_count(getattr(args, name), "--" + name.replace("_", "-"), allow_none=True)
    check_count(args.pixels_per_image, "--pixels-per-image", allow_none=True)
    max_objects = config.n_slots - 1  # one slot is the background
    if args.objects[1] > max_objects:
        raise UserInputError(
            f"--objects must be at most {max_objects} objects per image: the model has "
            f"{config.n_slots} slots (one per object plus the background), got "
            f"{args.objects[0]}-{args.objects[1]}"
        )
    if args.pixels_per_image is not None and args.pixels_per_image > config.n_pixels:
        raise UserInputError(
            f"--pixels-per-image must be <= {config.n_pixels} ({args.image_size}^2), got "
            f"{args.pixels_per_image}"
        )
    n_train = int(round(0.9 * args.n_images))
    if args.batch_size > n_train:
        raise UserInputError(
            f"--batch-size must be <= the {n_train} training images, got {args.batch_size}"
        )
    check_sprites_size(args)
    return device


def check_sprites_size(args: argparse.Namespace) -> None:
    """Refuse ``--n-images`` whose arrays do not fit: in memory, or on the disk of
    ``--data-dir``. Per image: ``uint8`` RGB and mask planes (``4 S^2`` bytes) plus the latents
    (``21`` bytes per object slot); rendering is chunked, so this is the need (within a few MB)."""
    per_image = 4 * args.image_size**2 + 21 * args.objects[1]
    needed = per_image * args.n_images
    what = f"the sprites ({per_image} B per image)"
    option = f"--n-images {args.n_images}"
    if args.data_dir is not None:
        check_disk(needed, args.data_dir, what=what, option=option)
    else:
        check_memory(needed, what=what, option=option, hint="lower --n-images or pass --data-dir")


def run(args: argparse.Namespace) -> dict:
    from latentgraph.app.interaction_asymmetry.run import run_fit
    from latentgraph.app.runs import check_run_dir

    with user_input():  # validate everything, then create anything
        preset = resolve_preset(args, RUN_PRESETS, sizing=SIZING, has_accelerator=torch_has_gpu)
        if args.ood == "diagonal" and "object_scale" not in preset.typed:
            args.object_scale = None  # the diagonal split draws its own sizes
        config, train_config, speed = _settings(args)
        device = check_arguments(args, config)
        check_run_dir(args.out, overwrite=args.overwrite, resume=args.resume)
        dataset = load_sprites(args)
    dataset_args = {
        "n_images": args.n_images,
        "image_size": args.image_size,
        "objects": list(args.objects),
        "ood": args.ood,
        "data_seed": args.data_seed,
        "data_dir": args.data_dir,
    }
    if args.object_scale is not None:  # recorded only when set, so older run folders resume
        dataset_args["object_scale"] = list(args.object_scale)
    metrics = run_fit(
        dataset,
        args.out,
        config=config,
        train_config=train_config,
        speed=speed,
        overwrite=args.overwrite,
        resume=args.resume,
        dataset_args=dataset_args,
        jacobian_images=args.jacobian_images,
        readout_images=args.readout_images,
        eval_images=args.eval_images,
        preset=preset.to_dict(),
        announce=preset_line(preset, device, args.steps, estimate(args, device)),
    )
    return metrics


def _sweep_module():
    from latentgraph.app.interaction_asymmetry import sweep

    return sweep


FAMILY = register(
    Family(
        name="interaction-asymmetry",
        help="regularised Transformer VAE for object slots (Brady et al., 2025)",
        add_arguments=add_arguments,
        run=run,
        add_sweep_arguments=lambda parser: _sweep_module().add_sweep_arguments(parser),
        sweep=lambda args: _sweep_module().sweep(args),
        headline=("j_ari", "jis", "slot_r2", "recon_id", "recon_ood"),
        presets=RUN_PRESETS,
    )
)
