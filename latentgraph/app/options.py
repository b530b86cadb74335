"""The options every ``latentgraph fit <family>`` (and ``sweep``) shares, declared once.

Each family's ``add_arguments`` calls :func:`add_shared_options`; the help texts are the same
everywhere. Options a preset controls (``--steps``) default to ``None`` and get their value
from :func:`latentgraph.app.presets.resolve_preset` after parsing.
"""

from __future__ import annotations

import argparse

from latentgraph.app.presets import PRESET_NAMES

PRESET_HELP = (
    "auto (default): paper when the backend sees a GPU; on a CPU, cpu unless the command "
    "sizes the run itself (--steps, --batch-size, network or data sizes), then paper. "
    "cpu: the settings the benchmarks found best on 2 CPU cores (BENCHMARKS.md). paper: the "
    "paper's settings (a GPU job). Options you type always override the preset"
)


def add_preset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=PRESET_NAMES, default="auto", help=PRESET_HELP)


def add_shared_options(
    parser: argparse.ArgumentParser,
    train: argparse._ArgumentGroup,
    presets,
    *,
    sweep: bool = False,
) -> None:
    """Add the options every family shares: ``--steps --seed --device --eval-every
    --checkpoint-every`` to the ``train`` group, ``--out --overwrite --resume --no-progress
    --preset`` to ``parser``.

    Args:
        parser: a ``latentgraph fit <family>`` (or ``sweep``) parser.
        train: its "training" argument group.
        presets: the family's frozen preset table (for the help of ``--steps``).
        sweep: a sweep: no ``--seed`` (sweeps take ``--seeds``), ``--checkpoint-every`` or
            ``--resume``.
    """
    train.add_argument(
        "--steps",
        type=int,
        default=None,
        metavar="N",
        help=f"optimiser steps (preset paper {presets['paper']['steps']}, "
        f"cpu {presets['cpu']['steps']})",
    )
    if not sweep:
        train.add_argument(
            "--seed",
            type=int,
            default=0,
            metavar="S",
            help="training seed (weights, batches): 0 .. 2**32 - 1, the bits both backends' "
            "generators keep",
        )
    train.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda, cuda:N (PyTorch also mps, xpu[:N]); a device the backend "
        "cannot use here is refused with the devices present",
    )
    train.add_argument(
        "--eval-every",
        type=int,
        default=0,
        metavar="N",
        help="steps between validation metrics (0: auto, a tenth or a twentieth of the steps)",
    )
    if not sweep:
        train.add_argument(
            "--checkpoint-every",
            type=int,
            default=0,
            metavar="N",
            help="steps between checkpoints (0: auto, 1000 or a tenth of the steps)",
        )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="run folder (must not exist or be empty)"
    )
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument(
        "--overwrite", action="store_true", help="write into an existing, non-empty DIR"
    )
    if not sweep:
        existing.add_argument(
            "--resume",
            action="store_true",
            help="continue the run in DIR from its last checkpoint (same arguments)",
        )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_preset_option(parser)
