"""The one run-folder skeleton every ``latentgraph fit <family>`` goes through.

check inputs -> prepare the folder -> ``config.json`` -> (preset line) -> fit -> evaluate ->
``metrics.json`` (flat numbers), ``config.json`` again (with the device and any results such as
constraint bounds), ``history.json`` -> the family's graphs, arrays, figures and ``report.md``
(ARCHITECTURE.md, contract 2). A family supplies the pieces (:class:`RunPieces`); the order,
the shared metrics and the safety rules (nothing written before the checks pass; a resumed run
must have the same settings) live here once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from latentgraph.app.presets import announce as announce_line
from latentgraph.app.runs import (
    check_same_run,
    prepare_run_dir,
    remove_stale_temps,
    run_dir_lock,
    write_json,
)
from latentgraph.app.validation import user_input


def _no_metrics(fitted: Any) -> dict:
    return {}


def _nothing(*args: Any) -> None:
    return None


@dataclass(frozen=True)
class RunPieces:
    """What one family supplies to :func:`write_run`.

    Attributes:
        fit: run folder -> fitted model; it must have ``history`` (a
            :class:`~latentgraph.inference.settings.History`) and ``device``.
        evaluate: fitted model -> an evaluation with a flat ``metrics`` dict of numbers.
        write_outputs: ``(out, fitted, evaluation, metrics)`` -> graphs, arrays, figures and
            ``report.md`` in ``out``.
        check: raises ``ValueError``/``TypeError`` on bad input; runs before anything is
            written (a family may also check before building its config and leave this out).
        extra_metrics: fitted model -> family metrics added to the shared ones.
        final_config: fitted model -> results added to ``config.json`` after the fit (e.g.
            the constraint bounds); keys absent before the fit are not compared on resume.
        check_resume: run folder -> ``None``; with ``--resume``, raises
            :class:`~latentgraph.errors.RunFolderError` naming the file when the folder's
            checkpoint cannot be continued (unreadable, not a checkpoint, step out of range),
            before anything in the folder changes.
    """

    fit: Callable[[Path], Any]
    evaluate: Callable[[Any], Any]
    write_outputs: Callable[[Path, Any, Any, dict], None]
    check: Callable[[], None] = _nothing
    extra_metrics: Callable[[Any], dict] = _no_metrics
    final_config: Callable[[Any], dict] = field(default=_no_metrics)
    check_resume: Callable[[Path], None] = _nothing


def check_flat_metrics(metrics: Mapping) -> None:
    """``TypeError`` unless every value of ``metrics`` is a number (``bool`` excluded): strings
    such as the device belong in ``config.json``."""
    wrong = {
        k: type(v).__name__
        for k, v in metrics.items()
        if isinstance(v, bool) or not isinstance(v, int | float)
    }
    if wrong:
        raise TypeError(f"metrics must be flat numbers, got {wrong}")


def write_run(
    out: str | Path,
    *,
    config: Mapping | Callable[[], Mapping],
    pieces: RunPieces,
    steps: int,
    overwrite: bool = False,
    resume: bool = False,
    resume_may_change: tuple[str, ...] = (),
    announce: str | None = None,
) -> dict:
    """Run one fit through the skeleton and return its ``metrics``.

    Args:
        out: the run folder (:func:`~latentgraph.app.runs.prepare_run_dir` rules).
        config: everything needed to rerun, written as ``config.json`` before training (or a
            function returning it, called after the checks).
        pieces: the family's check/fit/evaluate/outputs.
        steps: the run's optimiser steps (``metrics["steps"]``).
        overwrite, resume: as :func:`~latentgraph.app.runs.prepare_run_dir`; with ``resume``
            the stored ``config.json`` must equal ``config`` except the dotted names in
            ``resume_may_change``.
        announce: the preset line, printed on stderr just before training.

    The folder is locked (:func:`~latentgraph.app.runs.run_dir_lock`) from its preparation to
    the last file, so a second process on the same folder is refused. With ``resume`` nothing
    in the folder changes until ``config.json`` and the checkpoint passed their checks; then the
    temporaries a killed write left behind are removed
    (:func:`~latentgraph.app.runs.remove_stale_temps`) and training continues.

    ``metrics.json`` holds the evaluation's metrics plus ``steps``, ``wall_s`` (fit and
    evaluation), ``train_wall_s``, ``final_loss``, ``recoveries`` and the family's extras.
    """
    with user_input():  # the family's checks of its input: a ValueError is the user's
        pieces.check()
    if callable(config):
        config = config()
    out = prepare_run_dir(out, overwrite=overwrite, resume=resume)
    with run_dir_lock(out):
        if resume:
            check_same_run(out, config, ignore=resume_may_change)
            pieces.check_resume(out)
        remove_stale_temps(out)
        if not resume:
            write_json(out / "config.json", config)
        return _fit_and_write(out, config, pieces, steps, announce)


def _fit_and_write(
    out: Path, config: Mapping, pieces: RunPieces, steps: int, announce: str | None
) -> dict:
    if announce is not None:
        announce_line(announce)
    start = perf_counter()
    fitted = pieces.fit(out)
    evaluation = pieces.evaluate(fitted)
    history = fitted.history
    metrics = {
        **evaluation.metrics,
        "steps": steps,
        "wall_s": perf_counter() - start,
        "train_wall_s": history.wall_s,
        "final_loss": history.rows[-1]["loss"] if history.rows else math.nan,
        "recoveries": len(history.events),
        **pieces.extra_metrics(fitted),
    }
    check_flat_metrics(metrics)
    write_json(out / "metrics.json", metrics)
    write_json(
        out / "config.json",
        {**config, "device": str(fitted.device), **pieces.final_config(fitted)},
    )
    write_json(
        out / "history.json",
        {"rows": history.rows, "evaluations": history.evaluations, "recoveries": history.events},
    )
    pieces.write_outputs(out, fitted, evaluation, metrics)
    return metrics
