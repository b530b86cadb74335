"""Mechanism-sparsity sweeps (seeds x sparsity settings) and their label-free selection.

Identifiability results say *some* sparsity level recovers the latents; which one is unknown
without ground truth. The paper's answer
(``docs/mechanism_sparsity.md#model-selection-with-udr``) is UDR: train several seeds per
setting, and pick the setting whose seeds agree most, measured by the mean pairwise MCC of their
encodings of held-out data (``z_valid.npy`` of each run folder; no labels).

Every run writes a normal run folder ``OUT/runs/bound=<B>-seed<k>/`` through the generic sweep
engine (:mod:`latentgraph.app.sweeps`, ``docs/sweeps.md``). With ``--executor local`` and the
NumPyro backend all runs train together in one jitted program
(:func:`latentgraph.families.mechanism_sparsity.sweep_numpyro.fit_many`: ``vmap`` on a GPU,
``lax.map`` on the CPU) and their folders are written afterwards (without a checkpoint: that
program keeps none, so an interrupted vmapped sweep trains its unfinished runs again); every
other combination runs each fit on its own, resumable from its checkpoint.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from latentgraph.app import sweeps
from latentgraph.data import Dataset
from latentgraph.errors import UserInputError
from latentgraph.families.mechanism_sparsity.config import MechanismSparsityConfig
from latentgraph.families.mechanism_sparsity.fit_pyro import SparsitySettings
from latentgraph.inference.svi_torch import TrainConfig
from latentgraph.metrics import select_setting

UDR_ROWS = 10_000
SELECTION_RULES = ("udr", "udr-elbo")
"""Label-free rules ``--select`` offers: UDR (Duan et al., arXiv 1905.12614), and UDR among
the settings whose validation ELBO is not clearly below the best
(:func:`latentgraph.metrics.select_setting`)."""


def _settings(sparsity: SparsitySettings, values: Sequence[float]) -> list[SparsitySettings]:
    """One :class:`SparsitySettings` per swept value (a bound or a penalty, by mode)."""
    if sparsity.mode == "constraint":
        return [replace(sparsity, bound=float(v)) for v in values]
    if sparsity.mode == "penalty":
        return [replace(sparsity, penalty=float(v)) for v in values]
    raise ValueError(
        f"sparsity mode must be 'constraint' or 'penalty' to sweep, got {sparsity.mode!r}"
    )


def check_sweep_arguments(seeds: Sequence[int], values: Sequence[float]) -> None:
    if len(seeds) < 2:
        raise UserInputError(
            f"seeds must hold at least 2 seeds (UDR compares seeds), got {list(seeds)}"
        )
    if len(set(seeds)) != len(seeds) or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise UserInputError(f"seeds must be distinct non-negative ints, got {list(seeds)}")
    if not values or len(set(values)) != len(values):
        raise UserInputError(
            f"the swept values must be distinct and at least one, got {list(values)}"
        )


def select_runs(rule: str = "udr") -> sweeps.Select:
    """The label-free selection of a finished sweep (:func:`latentgraph.metrics.select_setting`):
    UDR of the seeds' ``z_valid.npy``, and with ``"udr-elbo"`` UDR among the settings whose
    validation ELBO (``metrics.json``'s ``valid_elbo``) is within the tolerance of the best."""
    if rule not in SELECTION_RULES:
        raise UserInputError(f"--select must be one of {', '.join(SELECTION_RULES)}, got {rule!r}")

    def select(finished: Mapping[str, Sequence[Path]]) -> dict | None:
        encodings, elbos = {}, {}
        for setting, folders in finished.items():
            if len(folders) < 2:  # UDR compares seeds: a setting left with one is not scored
                continue
            arrays = [np.load(folder / "z_valid.npy") for folder in folders]
            encodings[setting] = [z.reshape(-1, z.shape[-1]) for z in arrays]
            elbos[setting] = [
                sweeps.read_json(f / "metrics.json").get("valid_elbo") for f in folders
            ]
        if not encodings:
            return None
        have_elbo = all(v is not None for values in elbos.values() for v in values)
        if rule == "udr-elbo" and not have_elbo:
            raise UserInputError(
                "--select udr-elbo needs each run's valid_elbo in metrics.json (runs written "
                "by an older version lack it); use --select udr"
            )
        chosen = select_setting(encodings, elbos if have_elbo else None, rule=rule)
        return {"rule": chosen.rule, "selected": chosen.selected, "scores": chosen.scores,
                "tolerance": chosen.tolerance}  # fmt: skip

    return select


def fit_all(
    dataset: Dataset,
    *,
    model_config: MechanismSparsityConfig,
    settings: Sequence[SparsitySettings],
    seeds: Sequence[int],
    train_config: TrainConfig,
    backend: str = "numpyro",
) -> list:
    """Fitted runs in the order ``[(setting, seed) for setting in settings for seed in seeds]``."""
    if backend == "numpyro":
        from latentgraph.families.mechanism_sparsity.sweep_numpyro import fit_many

        return fit_many(
            dataset,
            model_config=model_config,
            settings=settings,
            seeds=seeds,
            train_config=train_config,
        )
    if backend != "pyro":
        raise ValueError(f"backend must be 'pyro' or 'numpyro', got {backend!r}")
    from latentgraph.families.mechanism_sparsity.fit_pyro import fit

    return [
        fit(
            dataset,
            model_config=model_config,
            sparsity=setting,
            train_config=replace(train_config, seed=seed),
        )
        for setting in settings
        for seed in seeds
    ]


def trained_together(
    dataset: Dataset,
    out: Path,
    *,
    model_config: MechanismSparsityConfig,
    sparsity: SparsitySettings,
    name: str,
    train_config: TrainConfig,
    backend: str,
    dataset_args: Mapping | None,
    preset: Mapping | None,
) -> Callable:
    """The engine's ``train`` hook of the vmapped path: the runs still to do train in one
    program (:func:`fit_all`), then each gets its run folder (``run_fit(fitted=...)``)."""
    from latentgraph.app.mechanism_sparsity.run import run_fit

    def train(todo: Sequence[sweeps.PlannedRun], on_result) -> None:
        values = list(dict.fromkeys(float(run.values[name]) for run in todo))
        seeds = list(dict.fromkeys(run.seed for run in todo))
        fitted_runs = fit_all(
            dataset,
            model_config=model_config,
            settings=_settings(sparsity, values),
            seeds=seeds,
            train_config=train_config,
            backend=backend,
        )
        wanted = {(float(run.values[name]), run.seed): run for run in todo}
        pairs = [(v, s) for v in values for s in seeds]
        for pair, fitted in zip(pairs, fitted_runs, strict=True):
            run = wanted.get(pair)
            if run is None:
                continue
            setting = _settings(sparsity, [pair[0]])[0]
            try:
                run_fit(
                    dataset, run.folder(out), model_config=model_config, sparsity=setting,
                    train_config=replace(train_config, seed=run.seed), overwrite=True,
                    dataset_args=dict(dataset_args or {}), backend=backend,
                    preset=dict(preset) if preset is not None else None, fitted=fitted,
                )  # fmt: skip
            except Exception as err:  # e.g. a diverged run: recorded, the others go on
                on_result(run, {"status": "failed", "error": sweeps._one_line(err)})
                continue
            on_result(run, {"status": "done"})

    return train


def with_legacy_keys(summary: dict, name: str, values: Sequence[float]) -> dict:
    """The keys ``sweep.json`` had before every family could sweep (kept for notebooks and
    scripts): ``setting_name``, ``values``, ``udr`` and ``mcc_mean`` by ``f"{value:g}"``,
    ``selected`` as a number, and per run the value and ``mcc``/``shd``/``n_edges_learned``."""
    labels = {sweeps.setting_label({name: float(v)}): float(v) for v in values}
    selection = summary.get("selection") or {}
    udr = selection.get("scores", {}).get("udr", {})
    legacy = {
        "setting_name": name,
        "values": [float(v) for v in values],
        "udr": {f"{labels[s]:g}": u for s, u in udr.items()},
        "selected": labels.get(selection.get("selected")),
        "mcc_mean": {
            f"{labels[s]:g}": m["mcc"] for s, m in summary.get("metrics", {}).items() if "mcc" in m
        },
    }
    out = Path(summary["out"])
    for run in summary["runs"]:
        run[name] = float(run["values"][name])
        metrics_path = out / run["folder"] / "metrics.json"
        if run["status"] == "done" and metrics_path.is_file():
            metrics = sweeps.read_json(metrics_path)
            run.update({k: metrics[k] for k in ("mcc", "shd", "n_edges_learned") if k in metrics})
    summary.update(legacy)
    sweeps.write_json(out / sweeps.SWEEP_FILE, summary)
    return summary


def run_sweep(
    dataset: Dataset,
    out: str | Path,
    *,
    model_config: MechanismSparsityConfig,
    sparsity: SparsitySettings,
    values: Sequence[float],
    seeds: Sequence[int],
    train_config: TrainConfig,
    backend: str = "numpyro",
    overwrite: bool = False,
    preset: dict | None = None,
    announce: str | None = None,
    dataset_args: Mapping | None = None,
    select: str = "udr",
) -> dict:
    """Train ``len(values) x len(seeds)`` runs in this process (NumPyro: in one vmapped
    program), select a setting by UDR, write the sweep folder (``docs/sweeps.md``).

    Layout: ``OUT/sweep.json``, ``OUT/sweep.png`` and ``OUT/runs/<name>=<value>-seed<k>/``, a
    normal run folder per run. Runs finished by an earlier call with the same settings are
    skipped. Returns the ``sweep.json`` content.
    """
    check_sweep_arguments(seeds, values)
    settings = _settings(sparsity, values)  # validates the mode
    name = "bound" if sparsity.mode == "constraint" else "penalty"
    record = {"backend": backend, "sparsity": asdict(sparsity), "train": asdict(train_config),
              "model": model_config.to_dict()}  # fmt: skip
    runs = [
        sweeps.PlannedRun(
            name=f"{sweeps.setting_label({name: float(v)})}-seed{seed}",
            setting=sweeps.setting_label({name: float(v)}),
            values={name: float(v)},
            seed=seed,
            arguments=sweeps._jsonable({**record, name: float(v)}),
        )
        for v, _ in zip(values, settings, strict=True)
        for seed in seeds
    ]
    out = Path(out)
    summary = sweeps.run_sweep(
        "mechanism-sparsity",
        runs,
        out,
        options=sweeps.SweepOptions(overwrite=overwrite, progress=train_config.progress),
        axes={name: [float(v) for v in values]},
        select=select_runs(select),
        score="mcc",
        extra={
            "dataset": dataset.name,
            "backend": backend,
            "out": str(out),
            **({"preset": preset} if preset is not None else {}),
        },  # fmt: skip
        announce=announce,
        train=trained_together(
            dataset,
            out,
            model_config=model_config,
            sparsity=sparsity,
            name=name,
            train_config=train_config,
            backend=backend,
            dataset_args=dataset_args,
            preset=preset,
        ),  # fmt: skip
    )
    return with_legacy_keys(summary, name, values)


def sweep_axes(args: argparse.Namespace) -> tuple[str, list[float]]:
    """The swept option and its values: ``--bounds`` (constraint) or ``--penalties``."""
    if args.sparsity == "none":
        raise UserInputError("--sparsity none has nothing to sweep; use constraint or penalty")
    values = args.bounds if args.sparsity == "constraint" else args.penalties
    flag = "--bounds" if args.sparsity == "constraint" else "--penalties"
    if not values:
        raise UserInputError(
            f"{flag} is required with --sparsity {args.sparsity} (e.g. {flag} 10,20)"
        )
    return ("bound" if flag == "--bounds" else "penalty"), [float(v) for v in values]
