"""Sweeps: many normal fits of one family (seeds x settings), here or on a Ray cluster.

A sweep is a grid of *settings* (one value per swept option, e.g. ``bound=10`` or
``alpha=0.05,beta=0``) times seeds ``0..K-1``. Each (setting, seed) is a **normal fit** of the
family, ``latentgraph fit <family>`` with the sweep's options, that setting and that seed,
writing a normal run folder ``OUT/runs/<setting>-seed<k>/`` (its stdout and stderr in
``log.txt`` there). ``OUT/sweep.json`` lists every run with its status and aggregates the
metrics per setting (mean over the finished seeds), with the family's label-free selection
where it has one, and ``OUT/sweep.png`` draws them (``docs/sweeps.md``).

Executors: ``local`` runs the fits one after another in this process; ``ray`` submits each as a
Ray task (its own worker process, ``num_cpus``/``num_gpus`` per run, retried by Ray when the
worker dies). Either way a run is resumable: a folder with ``metrics.json`` is finished and
skipped, one with ``config.json`` only continues from its checkpoint (``--resume``
semantics, bit-identical on the same device and thread count), so re-running the same command
after a crash, or a Ray retry after a lost worker, ends exactly where an uninterrupted sweep
would. A run failing for a reason of its own (a bad setting, divergence) is recorded
``"status": "failed"`` with its error and does not stop the others.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentgraph.app.runs import read_json, write_json
from latentgraph.errors import RunFolderError, UserInputError

EXECUTORS = ("local", "ray")
SWEEP_FILE = "sweep.json"
LOG_FILE = "log.txt"
RUNS_DIR = "runs"
MAX_RETRIES = 3
"""Times Ray re-runs a task whose worker died (killed, out of memory, node lost)."""

CONTROLLED = ("seed", "out", "resume", "overwrite", "no_progress")
"""Fit options the sweep sets itself for every run (never swept, never stored)."""


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRun:
    """One fit of a sweep: ``arguments`` are the fit's parsed options (argparse ``dest`` ->
    value) without the ones in :data:`CONTROLLED`."""

    name: str
    setting: str
    values: Mapping[str, object]
    seed: int
    arguments: Mapping[str, object]

    def folder(self, out: Path) -> Path:
        return Path(out) / RUNS_DIR / self.name

    def fit_arguments(self, folder: Path, *, resume: bool) -> argparse.Namespace:
        """The namespace ``latentgraph fit`` would parse for this run in ``folder``."""
        return argparse.Namespace(
            **self.arguments,
            seed=self.seed,
            out=str(folder),
            resume=resume,
            overwrite=not resume,  # the folder may hold log.txt, or a run to start over
            no_progress=True,
        )


def _jsonable(value):
    return json.loads(json.dumps(value, default=list))


def fit_defaults(add_arguments: Callable[[argparse.ArgumentParser], None]) -> dict:
    """Every option of a ``latentgraph fit <family>`` parser with its default value."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    return {a.dest: a.default for a in parser._actions if a.dest != argparse.SUPPRESS}


def fit_actions(add_arguments: Callable[[argparse.ArgumentParser], None]) -> dict:
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    return {a.dest: a for a in parser._actions if a.dest != argparse.SUPPRESS}


def parse_vary(
    texts: Sequence[str] | None, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> dict[str, list]:
    """``["lr=1e-3,5e-4"]`` -> ``{"lr": [0.001, 0.0005]}``: any fit option with a value, each
    value converted and checked as the fit's parser would (``UserInputError`` otherwise)."""
    actions = fit_actions(add_arguments)
    axes: dict[str, list] = {}
    for text in texts or ():
        name, sep, rest = text.partition("=")
        dest = name.strip().lstrip("-").replace("-", "_")
        if not sep or not rest.strip():
            raise UserInputError(
                f"--vary must look like OPTION=V1,V2 (e.g. lr=1e-3,5e-4), got {text!r}"
            )
        action = actions.get(dest)
        if action is None or dest in CONTROLLED or action.nargs == 0 or not action.option_strings:
            raise UserInputError(
                f"--vary {name!r}: not a fit option that takes a value (the sweep sets "
                f"--seed and --out itself); got {text!r}"
            )
        if dest in axes:
            raise UserInputError(f"--vary names {name!r} twice")
        values = []
        for part in (p.strip() for p in rest.split(",")):
            try:
                value = action.type(part) if action.type is not None else part
            except (ValueError, TypeError, argparse.ArgumentTypeError) as err:
                raise UserInputError(f"--vary {name}: bad value {part!r} ({err})") from None
            if action.choices is not None and value not in action.choices:
                raise UserInputError(
                    f"--vary {name}: {part!r} is not one of {', '.join(map(str, action.choices))}"
                )
            values.append(value)
        if len({json.dumps(_jsonable(v)) for v in values}) != len(values):
            raise UserInputError(f"--vary {name}: the values must be distinct, got {rest!r}")
        axes[dest] = values
    return axes


def _label_value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "-".join(_label_value(v) for v in value)
    return str(value)


def setting_label(values: Mapping[str, object]) -> str:
    """``{"alpha": 0.05, "beta": 0.0}`` -> ``"alpha=0.05,beta=0"`` (``"default"`` if empty)."""
    if not values:
        return "default"
    return ",".join(f"{k.replace('_', '-')}={_label_value(v)}" for k, v in values.items())


SWEEP_SEEDS_MAX = 10_000
"""Most seeds per setting: a sweep plans (and gives a folder to) every run before it starts."""


def check_seeds(seeds: int, *, minimum: int = 1) -> list[int]:
    """Seeds ``0 .. seeds - 1`` (:func:`latentgraph.app.validation.check_seed_count`)."""
    from latentgraph.app.validation import check_seed_count

    count = check_seed_count(
        seeds,
        minimum=minimum,
        maximum=SWEEP_SEEDS_MAX,
        why="a sweep plans a run folder for every seed of every setting before it starts",
    )
    return list(range(count))


def plan(
    args: argparse.Namespace,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    axes: Mapping[str, Sequence],
    seeds: Sequence[int],
) -> list[PlannedRun]:
    """The runs of a sweep: every combination of the ``axes`` values (in order) x ``seeds``.

    The fit options come from the sweep's ``args`` (the options both commands share) and the
    fit parser's defaults for the rest; the swept ones are replaced per setting.
    """
    defaults = fit_defaults(add_arguments)
    base = {
        dest: getattr(args, dest, default)
        for dest, default in defaults.items()
        if dest not in CONTROLLED
    }
    unknown = set(axes) - set(base)
    if unknown:
        raise UserInputError(f"cannot sweep {sorted(unknown)}: not options of this family's fit")
    names = list(axes)
    runs = []
    for combination in itertools.product(*(axes[n] for n in names)):
        values = dict(zip(names, combination, strict=True))
        label = setting_label(values)
        for seed in seeds:
            runs.append(
                PlannedRun(
                    name=f"{label}-seed{seed}",
                    setting=label,
                    values=values,
                    seed=seed,
                    arguments={**base, **values},
                )
            )
    return runs


# --- the folders on disk --------------------------------------------------------------------


def run_status(folder: Path) -> str:
    """``"done"`` (``metrics.json``), ``"started"`` (``config.json``: resumable) or ``"new"``."""
    if (folder / "metrics.json").is_file():
        return "done"
    if (folder / "config.json").is_file():
        return "started"
    return "new"


def check_sweep_folder(
    out: Path, family: str, runs: Sequence[PlannedRun], *, overwrite: bool
) -> None:
    """Refuse, before any work, a sweep folder that holds something else.

    A non-empty ``out`` must hold a ``sweep.json`` of the same family (unless ``overwrite``),
    and every run folder that already holds a run must have been planned with the same fit
    arguments (read back from that ``sweep.json``); the error names the run folder.
    """
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {str(out)!r} exists and is not a folder")
    if overwrite or not out.is_dir() or not any(out.iterdir()):
        return
    path = out / SWEEP_FILE
    if not path.is_file():
        raise RunFolderError(
            f"--out {str(out)!r} is not empty and holds no {SWEEP_FILE}: not a sweep folder; "
            "choose another folder or pass --overwrite"
        )
    try:
        stored = read_json(path)
    except (OSError, ValueError) as err:
        raise RunFolderError(f"{str(path)!r} cannot be read as JSON ({err})") from None
    if stored.get("family") != family:
        raise RunFolderError(
            f"{str(path)!r} is a sweep of {stored.get('family')!r}, not of {family!r}; "
            "choose another --out folder"
        )
    planned = {r.get("name"): r.get("arguments") for r in stored.get("runs", [])}
    for run in runs:
        folder = run.folder(out)
        if run_status(folder) == "new":
            continue
        before = planned.get(run.name)
        wanted = _jsonable(dict(run.arguments))
        if before != wanted:
            changed = sorted(
                k for k in set(wanted) | set(before or {})
                if (before or {}).get(k, "?") != wanted.get(k, "?")
            )  # fmt: skip
            raise RunFolderError(
                f"run folder {str(folder)!r} holds a run with other settings "
                f"({', '.join(changed[:6]) or 'not in sweep.json'}) than this sweep would "
                "write; use the original arguments, another --out or --overwrite"
            )


# --- one run, in this process or in a Ray worker --------------------------------------------


@contextlib.contextmanager
def _output_to(path: Path, *, file_descriptors: bool):
    """Send ``sys.stdout``/``sys.stderr`` (and with ``file_descriptors``, fds 1 and 2: output of
    C libraries) to ``path`` (appended), restoring them afterwards."""
    with open(path, "a", buffering=1) as log:
        saved = []
        if file_descriptors:
            for fd in (1, 2):
                with contextlib.suppress(OSError, ValueError):
                    (sys.stdout if fd == 1 else sys.stderr).flush()
                saved.append((fd, os.dup(fd)))
                os.dup2(log.fileno(), fd)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield log
        finally:
            log.flush()
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)


def _set_threads(threads: int | None) -> None:
    if threads is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def execute_run(
    family: str,
    run: PlannedRun,
    folder: str,
    *,
    invocation: str,
    fresh: bool = False,
    threads: int | None = None,
    file_descriptors: bool = False,
) -> dict:
    """Run one planned fit in ``folder`` and return ``{"status", "metrics" | "error"}``.

    The folder decides how: ``config.json`` without ``metrics.json`` continues the run from its
    checkpoint (``--resume``), anything else starts it (``fresh``: start over even a started
    run, as ``--overwrite`` asks, but only on this invocation's first attempt: a Ray retry
    of the same invocation, found in ``log.txt``, resumes). Exceptions of the fit are caught
    and returned as ``"failed"`` with the traceback in ``log.txt``; a dying process is the
    executor's business.
    """
    from latentgraph.app.registry import families

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / LOG_FILE
    marker = f"sweep invocation {invocation}"
    retry = log.is_file() and marker in log.read_text(errors="replace")
    resume = run_status(folder) == "started" and (retry or not fresh)
    start = time.perf_counter()
    with _output_to(log, file_descriptors=file_descriptors):
        print(
            f"--- {marker}: {'resume' if resume else 'start'} {run.name} pid {os.getpid()} "
            f"at {time.strftime('%Y-%m-%d %H:%M:%S')}",
            flush=True,
        )
        _set_threads(threads)
        try:
            metrics = families()[family].run(run.fit_arguments(folder, resume=resume))
        except Exception as err:  # the run's own failure: recorded, the others go on
            traceback.print_exc()
            return {"status": "failed", "error": _one_line(err), "wall_s": perf(start)}
        print(f"--- done in {perf(start):.1f} s", flush=True)
    return {"status": "done", "metrics": metrics, "wall_s": perf(start)}


def perf(start: float) -> float:
    return time.perf_counter() - start


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def _ray_task(
    family: str, run: PlannedRun, folder: str, invocation: str, fresh: bool, threads: int,
    cwd: str | None = None,
) -> dict:  # fmt: skip
    """What a Ray worker runs (module level, so workers import it by name), in the driver's
    working directory when this node has it (relative ``--data`` or ``--pretrained`` paths)."""
    _set_threads(threads)
    before = os.getcwd()
    if cwd is not None and os.path.isdir(cwd):
        os.chdir(cwd)
    try:
        return execute_run(
            family, run, folder, invocation=invocation, fresh=fresh, threads=threads,
            file_descriptors=True,
        )  # fmt: skip
    finally:
        os.chdir(before)


# --- executors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """Per-run resources: ``cpus`` (threads: ``max(1, floor(cpus))``) and ``gpus`` (a fraction
    packs several fits on one GPU)."""

    cpus: float = 1.0
    gpus: float = 0.0

    def __post_init__(self):
        for name in ("cpus", "gpus"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise UserInputError(f"--{name}-per-run must be a number, got {value!r}")
        if self.cpus <= 0:
            raise UserInputError(f"--cpus-per-run must be > 0, got {self.cpus:g}")
        if self.gpus < 0:
            raise UserInputError(f"--gpus-per-run must be >= 0, got {self.gpus:g}")
        if self.gpus > 1 and self.gpus != int(self.gpus):
            raise UserInputError(
                f"--gpus-per-run above 1 must be a whole number, got {self.gpus:g}"
            )

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus))

    def worker_environment(self) -> dict[str, str]:
        """Environment of Ray workers: one BLAS/OpenMP/XLA thread per CPU, and JAX allocating
        GPU memory as needed (several fits share a GPU) instead of taking 75% of it."""
        n = str(self.threads)
        xla = f"--xla_cpu_multi_thread_eigen={'false' if self.threads == 1 else 'true'} "
        xla += f"intra_op_parallelism_threads={n}"
        return {
            "OMP_NUM_THREADS": n,
            "MKL_NUM_THREADS": n,
            "OPENBLAS_NUM_THREADS": n,
            "XLA_FLAGS": xla,
            "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            "PYTHONUNBUFFERED": "1",
        }


@dataclass
class Progress:
    """The overall bar: runs done / total, running, failed, time left (tqdm's estimate)."""

    total: int
    initial: int
    enabled: bool
    description: str
    failed: int = 0
    running: int = 0
    _bar: object = field(default=None, repr=False)

    def __enter__(self):
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self.total, initial=self.initial, desc=self.description, unit="run",
            disable=not self.enabled, file=sys.__stderr__ or sys.stderr, dynamic_ncols=True,
        )  # fmt: skip
        self.refresh()
        return self

    def refresh(self) -> None:
        self._bar.set_postfix(running=self.running, failed=self.failed, refresh=True)

    def finished(self, status: str) -> None:
        self.failed += status == "failed"
        self._bar.update(1)
        self.refresh()

    def __exit__(self, *exc):
        self._bar.close()


def run_local(family, runs, out, *, invocation, fresh, resources, on_result, progress) -> None:
    """The local executor: each run in this process, one after another."""
    for run in runs:
        progress.running = 1
        progress.refresh()
        result = execute_run(
            family, run, str(run.folder(out)), invocation=invocation, fresh=fresh,
            threads=resources.threads,
        )  # fmt: skip
        progress.running = 0
        on_result(run, result)
        progress.finished(result["status"])


def start_ray(address: str | None = None, *, num_cpus: int | None = None, attempts: int = 3):
    """``ray.init``: join ``address`` (or ``RAY_ADDRESS``), else start a local cluster on this
    machine (``num_cpus``: all by default). Returns whether this call started it (and so must
    shut it down). Ray gives a new local node 30 s to register; on an overloaded machine that
    can pass, so a local start is tried ``attempts`` times."""
    try:
        import ray
    except ImportError as err:  # pragma: no cover - ray is a dependency
        raise UserInputError(f"--executor ray needs the ray package ({err})") from None
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    for attempt in range(attempts):
        try:
            ray.init(address=address, num_cpus=num_cpus, include_dashboard=False,
                     log_to_driver=False)  # fmt: skip
            return True
        except Exception as err:  # Ray raises a bare Exception when the node is late
            late = "timed out during startup" in str(err)
            if address is not None or not late or attempt == attempts - 1:
                raise
            ray.shutdown()
    return True


def run_ray(
    family, runs, out, *, invocation, fresh, resources, on_result, progress, address=None,
    max_retries=MAX_RETRIES, poll_s=1.0,
) -> None:  # fmt: skip
    """The Ray executor: each run a task in its own worker process with ``resources``,
    re-run (and so resumed from its checkpoint) up to ``max_retries`` times if its worker
    dies; a task that still cannot finish is recorded as failed."""
    import ray

    started = start_ray(address)
    try:
        task = ray.remote(_ray_task).options(
            num_cpus=resources.cpus,
            num_gpus=resources.gpus,
            max_retries=max_retries,
            retry_exceptions=False,
            runtime_env={"env_vars": resources.worker_environment()},
        )
        pending = {  # absolute folders: a worker's working directory is not the driver's
            task.remote(
                family,
                run,
                str(run.folder(out).absolute()),
                invocation,
                fresh,
                resources.threads,
                os.getcwd(),
            ): run  # fmt: skip
            for run in runs
        }
        marker = f"sweep invocation {invocation}"
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=poll_s)
            for ref in ready:
                run = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as err:  # worker lost more often than retried
                    result = {"status": "failed", "error": _one_line(err)}
                on_result(run, result)
                progress.finished(result["status"])
            progress.running = sum(
                _has_started(run.folder(out), marker) for run in pending.values()
            )
            progress.refresh()
    finally:
        if started:
            ray.shutdown()


def _has_started(folder: Path, marker: str) -> bool:
    try:
        return marker in (folder / LOG_FILE).read_text(errors="replace")
    except OSError:
        return False


# --- the sweep ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep: ``executor`` (``local`` or ``ray``), the Ray address, per-run
    resources, the retries of a lost worker, ``overwrite`` (start every run over) and the bar."""

    executor: str = "local"
    ray_address: str | None = None
    resources: Resources = Resources()
    max_retries: int = MAX_RETRIES
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise UserInputError(
                f"--executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}"
            )
        if self.ray_address is not None and self.executor != "ray":
            raise UserInputError("--ray-address applies to --executor ray")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SweepOptions:
        return cls(
            executor=args.executor,
            ray_address=args.ray_address,
            resources=Resources(args.cpus_per_run, args.gpus_per_run),
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )


Select = Callable[[Mapping[str, Sequence[Path]]], dict | None]
"""A family's label-free selection: ``{setting: [finished run folders]}`` -> ``{"rule",
"selected", "scores": {criterion: {setting: value}}}`` (or ``None``)."""


def aggregate(metrics_by_setting: Mapping[str, Sequence[Mapping]]) -> dict[str, dict]:
    """Per setting, the mean and standard deviation over seeds of every number of their
    ``metrics.json`` (``<key>`` and ``<key>_std``; non-finite values are left out)."""
    summary = {}
    for setting, rows in metrics_by_setting.items():
        keys = sorted({k for row in rows for k in row})
        out = {"n_runs": len(rows)}
        for key in keys:
            values = [row[key] for row in rows if isinstance(row.get(key), int | float)
                      and row.get(key) is not None and math.isfinite(row[key])]  # fmt: skip
            if values:
                out[key] = float(np.mean(values))
                out[f"{key}_std"] = float(np.std(values))
        summary[setting] = out
    return summary


def run_sweep(
    family: str,
    runs: Sequence[PlannedRun],
    out: str | os.PathLike,
    *,
    options: SweepOptions = SweepOptions(),
    axes: Mapping[str, Sequence] | None = None,
    select: Select | None = None,
    score: str | None = None,
    extra: Mapping | None = None,
    announce: str | None = None,
    train: Callable | None = None,
) -> dict:
    """Run (or continue) a sweep and write ``OUT/sweep.json`` and ``OUT/sweep.png``.

    Args:
        family: the registered family name.
        runs: from :func:`plan`.
        out: the sweep folder; run folders go to ``OUT/runs/<setting>-seed<k>/``.
        options: executor and resources (:class:`SweepOptions`).
        axes: the swept options and their values (recorded).
        select: the family's label-free selection (:data:`Select`), if any.
        score: the metric drawn per setting in ``sweep.png`` (a ground-truth score).
        extra: more keys for ``sweep.json`` (e.g. the dataset, the resolved preset).
        announce: printed on stderr once the folder is checked, before any training.
        train: replaces the executor: ``train(todo_runs, on_result)`` (the vmapped NumPyro
            program of mechanism sparsity trains all runs at once).

    Returns the ``sweep.json`` content; ``n_failed`` counts the failed runs.
    """
    out = Path(out)
    check_sweep_folder(out, family, runs, overwrite=options.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    invocation = uuid.uuid4().hex[:12]
    status = {run.name: ("done" if run_status(run.folder(out)) == "done" and not options.overwrite
                         else "pending") for run in runs}  # fmt: skip
    errors: dict[str, str] = {}
    task_walls: dict[str, float] = {}
    base = {
        "family": family,
        "executor": "vmapped" if train is not None else options.executor,
        "axes": _jsonable({k: list(v) for k, v in (axes or {}).items()}),
        "seeds": sorted({run.seed for run in runs}),
        "settings": list(dict.fromkeys(run.setting for run in runs)),
        "resources": {
            "cpus_per_run": options.resources.cpus,
            "gpus_per_run": options.resources.gpus,
        },
        **(extra or {}),
    }

    def record(final: dict | None = None) -> dict:
        listed = []
        for run in runs:
            entry = {
                "name": run.name, "setting": run.setting, "values": _jsonable(dict(run.values)),
                "seed": run.seed, "folder": str(Path(RUNS_DIR) / run.name),
                "status": status[run.name], "arguments": _jsonable(dict(run.arguments)),
            }  # fmt: skip
            if run.name in errors:
                entry["error"] = errors[run.name]
            if run.name in task_walls:
                entry["task_wall_s"] = task_walls[run.name]
            listed.append(entry)
        summary = {**base, "runs": listed, **(final or {})}
        write_json(out / SWEEP_FILE, summary)
        return summary

    record()
    todo = [run for run in runs if status[run.name] != "done"]
    if announce is not None:
        print(announce, file=sys.stderr, flush=True)

    def on_result(run: PlannedRun, result: dict) -> None:
        status[run.name] = result["status"]
        if result.get("wall_s") is not None:
            task_walls[run.name] = result["wall_s"]
        if result["status"] == "failed":
            errors[run.name] = result.get("error", "unknown error")
        record()

    start = time.perf_counter()
    with Progress(len(runs), len(runs) - len(todo), options.progress and bool(todo),
                  f"sweep {family}") as progress:  # fmt: skip
        if not todo:
            pass
        elif train is not None:
            train(todo, on_result)
        elif options.executor == "ray":
            run_ray(family, todo, out, invocation=invocation, fresh=options.overwrite,
                    resources=options.resources, on_result=on_result, progress=progress,
                    address=options.ray_address, max_retries=options.max_retries)  # fmt: skip
        else:
            run_local(family, todo, out, invocation=invocation, fresh=options.overwrite,
                      resources=options.resources, on_result=on_result, progress=progress)  # fmt: skip
    wall_s = time.perf_counter() - start
    finished: dict[str, list[Path]] = {}
    metrics: dict[str, list[dict]] = {}
    for run in runs:
        folder = run.folder(out)
        if status[run.name] == "done":
            finished.setdefault(run.setting, []).append(folder)
            metrics.setdefault(run.setting, []).append(read_json(folder / "metrics.json"))
    selection = select(finished) if select is not None and finished else None
    steps = sum(m.get("steps", 0) for rows in metrics.values() for m in rows)
    trained = [run for run in todo if status[run.name] == "done"]
    final = {
        "metrics": aggregate(metrics),
        "n_runs": len(runs),
        "n_done": sum(s == "done" for s in status.values()),
        "n_failed": sum(s == "failed" for s in status.values()),
        "n_skipped": len(runs) - len(todo),
        "wall_s": wall_s,
        "run_steps_per_s": (
            sum(read_json(r.folder(out) / "metrics.json").get("steps", 0) for r in trained) / wall_s
            if trained and wall_s > 0
            else None
        ),  # fmt: skip
        "total_steps": steps,
        **({"selection": selection} if selection is not None else {}),
    }
    summary = record(final)
    _draw(out, base["settings"], metrics, selection, score)
    return summary


def _draw(out: Path, settings: Sequence[str], metrics, selection, score) -> None:
    from latentgraph.app.report.sweep import draw_sweep

    scores = {s: [m[score] for m in metrics.get(s, []) if score and m.get(score) is not None]
              for s in settings}  # fmt: skip
    criterion = None
    if selection is not None:
        first = next(iter(selection["scores"]), None)
        criterion = (first, selection["scores"][first]) if first else None
    draw_sweep(
        list(settings),
        scores,
        criterion[1] if criterion else None,
        selected=selection.get("selected") if selection else None,
        setting_name="setting",
        score_name=score or "score",
        criterion_name=(criterion[0].upper() if criterion else "UDR"),
        path=out / "sweep.png",
    )


# --- command-line options every family's sweep shares ---------------------------------------


def add_sweep_options(parser: argparse.ArgumentParser, *, default_seeds: int = 3) -> None:
    """``--seeds --vary --executor --ray-address --cpus-per-run --gpus-per-run``."""
    group = parser.add_argument_group(
        "sweep",
        "Every (setting, seed) is a normal `latentgraph fit` writing OUT/runs/<setting>-seed<k>/ "
        "(its output in log.txt there); OUT/sweep.json and sweep.png aggregate them. Running "
        "the same command again skips finished runs and resumes unfinished ones from their "
        "checkpoints. Exit code 1 if any run failed (its error is in sweep.json), 2 for bad "
        "input.",
    )
    group.add_argument(
        "--seeds", type=int, default=default_seeds, metavar="K",
        help=f"seeds 0..K-1 per setting (default {default_seeds})",
    )  # fmt: skip
    group.add_argument(
        "--vary", action="append", default=None, metavar="OPTION=V1,V2",
        help="sweep any fit option too (repeatable; the grid is every combination), "
        "e.g. --vary lr=1e-3,5e-4",
    )  # fmt: skip
    group.add_argument(
        "--executor", choices=EXECUTORS, default="local",
        help="local: the runs one after another in this process; ray: each run a Ray task in "
        "its own worker process (a lost worker is retried and resumes from its checkpoint)",
    )  # fmt: skip
    group.add_argument(
        "--ray-address", default=None, metavar="ADDRESS",
        help="join this Ray cluster (default: $RAY_ADDRESS, else start one on this machine)",
    )  # fmt: skip
    group.add_argument(
        "--cpus-per-run", type=float, default=1.0, metavar="C",
        help="CPUs per run (Ray's num_cpus; also its threads; default 1)",
    )  # fmt: skip
    group.add_argument(
        "--gpus-per-run", type=float, default=0.0, metavar="G",
        help="GPUs per run for Ray (fractions pack runs on a GPU, e.g. 0.25; default 0)",
    )  # fmt: skip


def sweep_command(
    family: str,
    args: argparse.Namespace,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    axes: Mapping[str, Sequence],
    *,
    select: Select | None = None,
    score: str | None = None,
    min_seeds: int = 1,
    extra: Mapping | None = None,
) -> dict:
    """``latentgraph sweep <family>``: the family's own ``axes`` (e.g. ``--alphas``) plus
    ``--vary``, times ``--seeds``, each a normal fit (``add_arguments`` is the family's fit
    parser); returns the ``sweep.json`` content."""
    seeds = check_seeds(args.seeds, minimum=min_seeds)
    from latentgraph.app.validation import check_device

    # before any folder: a device no run can use fails here, not once per run (on Ray the
    # runs use the workers' devices, which this machine cannot see)
    if getattr(args, "executor", "local") == "local":
        check_device(getattr(args, "device", "auto"), getattr(args, "backend", "pyro"))
    axes = dict(axes)
    for dest, values in parse_vary(args.vary, add_arguments).items():
        if dest in axes:
            raise UserInputError(
                f"--vary {dest.replace('_', '-')} is swept already by its own option"
            )
        axes[dest] = values
    options = SweepOptions.from_args(args)
    runs = plan(args, add_arguments, axes, seeds)
    todo = sum(
        run_status(run.folder(Path(args.out))) != "done" or options.overwrite for run in runs
    )
    where = (f"Ray ({options.resources.cpus:g} CPU, {options.resources.gpus:g} GPU per run)"
             if options.executor == "ray" else "this process")  # fmt: skip
    return run_sweep(
        family,
        runs,
        args.out,
        options=options,
        axes=axes,
        select=select,
        score=score,
        extra={"out": str(args.out), **(extra or {})},
        announce=f"latentgraph: sweep of {len(runs)} runs ({todo} to train) in {where}; "
        f"each run's output in {Path(args.out) / RUNS_DIR}/<run>/{LOG_FILE}",
    )


def numbers(text: str) -> list[float]:
    """``"10,15,20"`` -> ``[10.0, 15.0, 20.0]`` (an argparse type)."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")
    return values


def words(text: str) -> list[str]:
    """``"cm,base"`` -> ``["cm", "base"]`` (an argparse type)."""
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {text!r}")
    return values
