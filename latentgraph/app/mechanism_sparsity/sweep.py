"""Many mechanism-sparsity fits at once (seeds x sparsity settings) and label-free selection.

Identifiability results say *some* sparsity level recovers the latents; which one is unknown
without ground truth. The paper's answer
(``docs/mechanism_sparsity.md#model-selection-with-udr``) is UDR: train several seeds per
setting, and pick the setting whose seeds agree most, measured by the mean pairwise MCC of their
encodings on held-out data. :func:`run_sweep` trains every (setting, seed) run, writes each
run's ``metrics.json`` and learned graphs, scores UDR on the validation split (no labels), and
writes ``sweep.json`` and ``sweep.png`` (MCC and UDR against the setting).

With the NumPyro backend all runs train together in one jitted, ``jax.vmap``-ed program
(:func:`latentgraph.families.mechanism_sparsity.sweep_numpyro.fit_many`); with Pyro they run one
after another.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from latentgraph.app.report.sweep import draw_sweep
from latentgraph.app.runs import prepare_run_dir, write_json
from latentgraph.data import Dataset
from latentgraph.families.mechanism_sparsity.config import MechanismSparsityConfig
from latentgraph.families.mechanism_sparsity.evaluate import evaluate
from latentgraph.families.mechanism_sparsity.fit_pyro import SparsitySettings
from latentgraph.inference.svi_torch import TrainConfig
from latentgraph.metrics import select_by_udr

UDR_ROWS = 10_000


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
        raise ValueError(
            f"seeds must hold at least 2 seeds (UDR compares seeds), got {list(seeds)}"
        )
    if len(set(seeds)) != len(seeds) or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be distinct non-negative ints, got {list(seeds)}")
    if not values or len(set(values)) != len(values):
        raise ValueError(f"the swept values must be distinct and at least one, got {list(values)}")


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
) -> dict:
    """Train ``len(values) x len(seeds)`` runs, select a setting by UDR, write the sweep folder.

    ``preset`` (the resolved ``--preset``) is recorded in ``sweep.json``; ``announce`` is printed
    on stderr once the folder is ready, before training.

    Layout: ``DIR/sweep.json``, ``DIR/sweep.png`` and ``DIR/<name>=<value>/seed=<k>/`` holding
    each run's ``metrics.json`` and ``learned_<graph>.gml``. Returns the ``sweep.json`` content.
    """
    check_sweep_arguments(seeds, values)
    settings = _settings(sparsity, values)
    name = "bound" if sparsity.mode == "constraint" else "penalty"
    out = prepare_run_dir(out, overwrite=overwrite)
    if announce is not None:
        print(announce, file=sys.stderr, flush=True)
    start = time.perf_counter()
    fitted_runs = fit_all(
        dataset,
        model_config=model_config,
        settings=settings,
        seeds=seeds,
        train_config=train_config,
        backend=backend,
    )
    train_wall_s = time.perf_counter() - start
    valid_x = dataset.split("valid")["x"][: -(-UDR_ROWS // dataset.n_steps)]
    encodings: dict[float, list[np.ndarray]] = {float(v): [] for v in values}
    scores: dict[float, list[float]] = {float(v): [] for v in values}
    runs = []
    pairs = [(float(v), seed) for v in values for seed in seeds]
    for (value, seed), fitted in zip(pairs, fitted_runs, strict=True):
        folder = out / f"{name}={value:g}" / f"seed={seed}"
        folder.mkdir(parents=True, exist_ok=True)
        result = evaluate(fitted, dataset, "test")
        write_json(folder / "metrics.json", {**result.metrics, name: value, "seed": seed})
        for graph, beliefs in result.learned.items():
            beliefs.write_gml(folder / f"learned_{graph}.gml", threshold=None, overwrite=True)
        z = fitted.encode(valid_x)
        encodings[value].append(z.reshape(-1, z.shape[-1]))
        if "mcc" in result.metrics:
            scores[value].append(result.metrics["mcc"])
        runs.append({name: value, "seed": seed, "folder": str(folder.relative_to(out)),
                     **{k: result.metrics[k] for k in ("mcc", "shd", "n_edges_learned")
                        if k in result.metrics}})  # fmt: skip
    selected, udr_scores = select_by_udr(encodings)
    summary = {
        "family": "mechanism-sparsity",
        "backend": backend,
        "dataset": dataset.name,
        "setting_name": name,
        "values": [float(v) for v in values],
        "seeds": list(seeds),
        "udr": {f"{v:g}": udr_scores[v] for v in encodings},
        "selected": selected,
        "mcc_mean": {f"{v:g}": float(np.mean(s)) for v, s in scores.items() if s},
        "runs": runs,
        "train_wall_s": train_wall_s,
        "run_steps_per_s": len(pairs) * train_config.steps / train_wall_s,
        "wall_s": time.perf_counter() - start,
        **({"preset": preset} if preset is not None else {}),
    }
    write_json(out / "sweep.json", summary)
    draw_sweep(
        [float(v) for v in values],
        scores,
        udr_scores,
        selected=selected,
        setting_name=name,
        path=out / "sweep.png",
    )
    return summary
