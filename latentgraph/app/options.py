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
