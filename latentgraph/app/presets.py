"""Run presets: one named mapping option -> value per family, resolved after parsing.

Every ``latentgraph fit <family>`` (and ``sweep``) takes ``--preset auto|cpu|paper``:

- ``paper``: the papers' settings (the defaults the command line always had; a GPU job).
- ``cpu``: the settings the family's benchmarks found best on a 2-core CPU (``BENCHMARKS.md``).
- ``auto`` (default): ``paper`` when the backend sees a GPU. Without one, ``cpu`` for a
  command that does not size the run itself, and ``paper`` for one that types any of the
  family's *sizing* options (``--steps``, ``--batch-size``, network sizes, data set sizes...),
  so a command that chose its own budget runs, number for number, as it did before presets.

The options a preset controls have argparse defaults of ``None``: after parsing, a value the
user typed always wins (even when it equals the preset's), every other one is filled in from
the preset. Each family declares its table once (``latentgraph/app/<family>/presets.py``);
the benchmarks read the same tables.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from latentgraph.errors import UserInputError

PRESET_NAMES = ("auto", "cpu", "paper")


def frozen_presets(tables: Mapping[str, Mapping[str, object]]) -> Mapping[str, Mapping]:
    """Freeze a family's ``{"cpu": {...}, "paper": {...}}`` table (read-only mappings).

    Both presets must name the same options (argparse ``dest`` names), so resolving either
    fills in every option the presets control.
    """
    if set(tables) != {"cpu", "paper"}:
        raise ValueError(f"presets must be exactly 'cpu' and 'paper', got {sorted(tables)}")
    if set(tables["cpu"]) != set(tables["paper"]):
        raise ValueError(
            "the cpu and paper presets must set the same options, got "
            f"{sorted(set(tables['cpu']) ^ set(tables['paper']))} in only one"
        )
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in tables.items()})


@dataclass(frozen=True)
class ResolvedPreset:
    """The preset a run uses: its ``name`` (``cpu`` or ``paper``), what was asked for
    (``requested``: ``auto``, ``cpu`` or ``paper``), the resolved value of every option the
    presets control (``values``, typed ones included) and the options the user typed."""

    name: str
    requested: str
    values: Mapping[str, object]
    typed: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "requested": self.requested,
            "values": dict(self.values),
            "typed": list(self.typed),
        }


def resolve_preset(
    args: argparse.Namespace,
    presets: Mapping[str, Mapping[str, object]],
    *,
    sizing: tuple[str, ...],
    has_accelerator: Callable[[], bool],
) -> ResolvedPreset:
    """Fill the options of ``args`` left at ``None`` from the preset ``args.preset`` names.

    Args:
        args: parsed arguments; ``args.preset`` is ``auto``, ``cpu`` or ``paper``. Changed in
            place: every option of the presets the user did not type gets the preset's value.
        presets: the family's frozen table (:func:`frozen_presets`).
        sizing: the options that size a run (``auto`` keeps ``paper`` when one is typed).
        has_accelerator: whether the backend sees a GPU (asked only for ``auto``).
    """
    requested = getattr(args, "preset", None) or "auto"
    if requested not in PRESET_NAMES:
        raise UserInputError(
            f"--preset must be one of {', '.join(PRESET_NAMES)}, got {requested!r}"
        )
    typed = tuple(dest for dest in presets["paper"] if getattr(args, dest, None) is not None)
    if requested == "auto":
        sized = any(getattr(args, dest, None) is not None for dest in sizing)
        name = "paper" if sized or has_accelerator() else "cpu"
    else:
        name = requested
    for dest, value in presets[name].items():
        if dest not in typed:
            setattr(args, dest, value)
    values = {dest: getattr(args, dest) for dest in presets[name]}
    return ResolvedPreset(name, requested, MappingProxyType(values), typed)


def preset_flags(values: Mapping[str, object]) -> list[str]:
    """Command-line flags that set ``values`` (``None`` values, "the default", are left out).

    ``{"steps": 40000, "objects": (2, 4)}`` -> ``["--steps", "40000", "--objects", "2-4"]``.
    """
    flags = []
    for dest, value in values.items():
        if value is None:
            continue
        text = "-".join(map(str, value)) if isinstance(value, tuple) else str(value)
        flags += [f"--{dest.replace('_', '-')}", text]
    return flags


def torch_has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def jax_has_gpu() -> bool:
    import jax

    return any(d.platform != "cpu" for d in jax.devices())


def format_duration(seconds: float) -> str:
    """``"about 40 s"``, ``"about 7 min"``, ``"about 3.2 h"``, ``"about 8.9 days"``."""
    if seconds < 90:
        return f"about {max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"about {seconds / 3600:.1f} h"
    return f"about {seconds / 86400:.1f} days"


@dataclass(frozen=True)
class Estimate:
    """Expected seconds of training plus evaluation, and where the step time comes from.

    ``seconds`` is ``None`` when no step time was measured for these settings on this kind of
    device; ``basis`` says which measurement the number scales (e.g. a ``BENCHMARKS.md``
    section)."""

    seconds: float | None
    basis: str


def cpu_contention(load: float | None = None, cores: int | None = None) -> float:
    """How much slower a one-thread CPU run goes than on a machine with a core to itself:
    ``max(1, (load + 1) / cores)`` with the 1-minute load average (each runnable process gets
    about ``cores / (load + 1)`` of a core). 1 where the load cannot be read."""
    if load is None or cores is None:
        try:
            load, cores = os.getloadavg()[0], os.cpu_count()
        except (OSError, AttributeError):
            return 1.0
    if not cores:
        return 1.0
    return max(1.0, (load + 1.0) / cores)


def preset_line(
    preset: ResolvedPreset,
    device: str,
    steps: int,
    estimate: Estimate,
    *,
    contention: float | None = None,
) -> str:
    """The one line a run prints before training, e.g. ``latentgraph: preset cpu (device
    cpu): about 7 min on this machine (40000 steps; ...)``.

    On the CPU the estimate is multiplied by :func:`cpu_contention` (``contention``), so a
    machine busy with other work gets a longer, honest estimate."""
    head = f"latentgraph: preset {preset.name} (device {device}): "
    if estimate.seconds is None:
        return head + f"{steps} steps; duration unknown ({estimate.basis})"
    seconds, basis = estimate.seconds, estimate.basis
    if device.startswith("cpu"):
        factor = cpu_contention() if contention is None else contention
        if factor > 1.05:
            seconds *= factor
            basis += f"; x{factor:.1f} for the current CPU load"
    return head + f"{format_duration(seconds)} on this machine ({steps} steps; {basis})"


def announce(line: str) -> None:
    """Print the preset line on stderr (the only line a run writes there unless it fails)."""
    print(line, file=sys.stderr, flush=True)
