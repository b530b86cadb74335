"""The registry of model families the command line can fit.

A family registers a :class:`Family`: a name, its command-line arguments and a ``run`` function
(parsed arguments in, run folder written, metrics out). The CLI only dispatches through this
registry, so adding a family never means editing the CLI.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_BUILTIN_MODULES = (
    "latentgraph.app.mechanism_sparsity.cli",
    "latentgraph.app.context_module.cli",
    "latentgraph.app.interaction_asymmetry.cli",
)


@dataclass(frozen=True)
class Family:
    """A model family: ``latentgraph fit <name>`` options and entry point, and optionally
    ``latentgraph sweep <name>`` (many runs, label-free selection)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], dict]
    add_sweep_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    sweep: Callable[[argparse.Namespace], dict] | None = None
    headline: tuple[str, ...] = ()
    """metrics.json keys the command line prints after a fit (those present)."""
    presets: Mapping[str, Mapping[str, object]] | None = None
    """The family's ``--preset`` table (``cpu`` and ``paper``: option -> value)."""


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise ValueError(f"a family named {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


def families() -> dict[str, Family]:
    """All registered families (importing the built-in ones on first use)."""
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    return dict(_FAMILIES)
