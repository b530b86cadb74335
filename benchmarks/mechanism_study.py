"""The mechanism-sparsity study: every dataset of Lachapelle et al. (arXiv 2401.04890), resumable.

One *unit* is one (dataset, setting) pair: ``setting`` is ``constraint`` (edge bound at the true
edge count) or ``none`` (the no-sparsity control), its three seeds trained together in one
NumPyro program (:func:`latentgraph.families.mechanism_sparsity.sweep_numpyro.fit_many`) at the
``cpu`` preset of ``latentgraph fit mechanism-sparsity`` for the unit's setting
(``latentgraph/app/mechanism_sparsity/presets.py``, ``presets_for``: temporal data get the
temporal options once they are recorded there; until then the rows say so).
Datasets: every named mechanism dataset (``latentgraph datasets``) and random graphs of
density 0.1 / 0.2 / 0.4 / 0.6 / 0.9 for the action and the temporal setting (graph seed 0,
``make_mechanism_dataset(..., graph_density=p)``).

Each unit writes ``benchmarks/results/mechanism_study/<unit>.json`` atomically: first with
``"status": "running"``, then ``"done"`` with per-seed metrics and wall time. On a restart a
done unit is read back, not re-run, if its recorded configuration equals the current one; a
changed configuration is refused (naming the file) unless ``--force``; a ``running`` unit (an
interrupted process) is re-run.

    python benchmarks/mechanism_study.py --list
    python benchmarks/mechanism_study.py --max-minutes 90            # run what is left
    python benchmarks/mechanism_study.py --only 'action_sparsity_*'  # a subset
    python benchmarks/mechanism_study.py --table                     # BENCHMARKS.md section

``--max-minutes M`` stops cleanly before a unit that would end after ``M`` minutes (by its time
estimate), and in any case after the unit running when ``M`` minutes have passed.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds latentgraph
    sys.path.insert(0, str(ROOT))

STUDY_DIR = ROOT / "benchmarks" / "results" / "mechanism_study"
SECTION = "Mechanism sparsity: the study (benchmarks/mechanism_study.py)"
SEEDS = (0, 1, 2)
DENSITIES = (0.1, 0.2, 0.4, 0.6, 0.9)
SETTINGS = ("constraint", "none")
RANDOM_BASE = {"action": "action_sparsity_non_trivial", "temporal": "temporal_sparsity_non_trivial"}
NOT_GUARANTEED = ("no_suff_var", "no_graph_crit", "graph_action_3", "graph_temporal_3")
"""Datasets where the theory does not promise full disentanglement: report consistency-R and the
predicted entanglement graph beside MCC."""

OFFICIAL = {  # issue 15: mean over 5 seeds, official sizes, 300k GPU steps (constraint MCC, SHD, none MCC)
    "action_sparsity_trivial": (0.999, 0.0, 0.614),
    "action_sparsity_non_trivial": (0.998, 0.4, 0.758),
    "action_sparsity_non_trivial_k=2": (0.982, 2.8, None),
    "action_sparsity_non_trivial_no_suff_var": (0.857, 13.2, None),
    "temporal_sparsity_trivial": (0.960, 0.0, 0.576),
    "temporal_sparsity_non_trivial": (0.825, 14.8, 0.610),
    "temporal_sparsity_non_trivial_k=2": (0.740, 20.4, None),
    "temporal_sparsity_non_trivial_no_suff_var": (0.634, 32.0, None),
    "random_temporal_d0.1": (0.995, 0.8, None),
    "random_temporal_d0.2": (0.990, 8.4, None),
    "random_temporal_d0.4": (0.823, 27.0, None),
    "random_temporal_d0.6": (0.711, 33.0, None),
    "random_temporal_d0.9": (0.585, 20.0, None),
    "random_action_d0.1": (0.691, 0.0, None),
    "random_action_d0.2": (0.853, 0.8, None),
    "random_action_d0.4": (0.943, 6.4, None),
    "random_action_d0.6": (0.880, 13.6, None),
    "random_action_d0.9": (0.603, 21.4, None),
    "graph_action_3_easy": (0.878, 1.4, None),  # penalty in the official runs
    "graph_action_3_hard": (0.834, 0.4, None),
    "graph_temporal_3_easy": (0.843, 1.2, None),  # constraint 20 in the official runs
    "graph_temporal_3_hard": (0.847, 9.2, None),  # constraint 30
}


class StudyError(ValueError):
    """A unit's results file cannot be used as asked (the message names the file)."""


@dataclass(frozen=True)
class Unit:
    """One (dataset, setting) of the study: ``name`` is the dataset name or
    ``random_<kind>_d<density>``; ``dataset`` the generator's name."""

    name: str
    dataset: str
    kind: str  # "action" | "temporal"
    setting: str  # "constraint" | "none"
    graph_density: float | None = None

    @property
    def id(self) -> str:
        return f"{self.name}__{self.setting}"


def all_units() -> list[Unit]:
    """Every unit, named datasets first (in ``latentgraph datasets`` order), then random graphs."""
    from latentgraph.data import list_mechanism_datasets

    units = []
    for name in list_mechanism_datasets():
        kind = "temporal" if "temporal" in name else "action"
        units += [Unit(name, name, kind, s) for s in SETTINGS]
    for kind, base in RANDOM_BASE.items():
        for p in DENSITIES:
            units += [Unit(f"random_{kind}_d{p:g}", base, kind, s, p) for s in SETTINGS]
    return units


def preset_for(unit: Unit) -> tuple[str, dict]:
    """``(name, values)`` of the ``cpu`` preset of the unit's setting
    (``presets.presets_for``: the temporal setting's own options once ``CPU_BY_SETTING`` has
    them). The name is ``cpu`` for action data, ``cpu-temporal`` with temporal options, and
    ``cpu (no temporal preset yet)`` for temporal data while there are none."""
    from latentgraph.app.mechanism_sparsity import presets

    values = dict(presets.presets_for(unit.dataset)["cpu"])
    if unit.kind != "temporal":
        return "cpu", values
    overrides = getattr(presets, "CPU_BY_SETTING", {}).get("temporal", {})
    return ("cpu-temporal" if overrides else "cpu (no temporal preset yet)"), values


def unit_config(unit: Unit, seeds: Sequence[int] = SEEDS) -> dict:
    """Everything that determines a unit's numbers (what a finished file is checked against)."""
    preset_name, preset = preset_for(unit)
    return {
        "dataset": unit.dataset,
        "graph_density": unit.graph_density,
        "graph_seed": 0,
        "setting": unit.setting,
        "bound": "true edge count" if unit.setting == "constraint" else None,
        "seeds": list(seeds),
        "preset": preset_name,
        **{k: preset[k] for k in sorted(preset)},
        "backend": "numpyro",
        "anneal_fraction": 0.5,
    }


def estimate_s(config: dict) -> float:
    """Seconds a unit takes on one free core (``presets.STEP_SECONDS``, numpyro, small sizes)."""
    from latentgraph.app.mechanism_sparsity.presets import STEP_SECONDS

    per_step, batch, fixed = STEP_SECONDS[("numpyro", config["sizes"], "cpu")]
    runs = len(config["seeds"])
    return runs * config["steps"] * per_step * config["batch_size"] / batch + fixed + 30.0 * runs


def path_for(unit: Unit, directory: Path = STUDY_DIR) -> Path:
    return Path(directory) / f"{unit.id}.json"


def write_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    os.replace(tmp, path)


def read_state(unit: Unit, config: dict, directory: Path, *, force: bool = False) -> str:
    """``"done"`` (finished with this config), ``"todo"`` (no file, interrupted, or changed
    config with ``force``); a changed config without ``force`` raises :class:`StudyError`."""
    path = path_for(unit, directory)
    if not path.exists():
        return "todo"
    try:
        stored = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise StudyError(f"{path}: unreadable results file ({err}); delete it to re-run") from err
    if stored.get("status") != "done":
        return "todo"  # interrupted: re-run
    if stored.get("config") != config:
        if force:
            return "todo"
        raise StudyError(
            f"{path}: finished with another configuration ({stored.get('config')!r}, now "
            f"{config!r}); pass --force to re-run it or move the file away"
        )
    return "done"


def fit_unit(unit: Unit, config: dict) -> dict:
    """Train the unit's seeds in one program; per-seed metrics on the test split."""
    import numpy as np

    from latentgraph import TrainConfig
    from latentgraph.data import make_mechanism_dataset
    from latentgraph.families.mechanism_sparsity import (
        NetworkSizes,
        SparsitySettings,
        demo_sizes,
        evaluate,
        model_config_for,
    )
    from latentgraph.families.mechanism_sparsity.evaluate import validation_elbo
    from latentgraph.families.mechanism_sparsity.sweep_numpyro import fit_many
    from latentgraph.graphs import entanglement_graph

    dataset = make_mechanism_dataset(
        unit.dataset,
        n_samples=config["n_samples"],
        graph_seed=config["graph_seed"],
        graph_density=unit.graph_density,
    )
    sizes = demo_sizes() if config["sizes"] == "small" else NetworkSizes()
    graph_lr = config["graph_lr"] if config["graph_lr"] is not None else config["lr"]
    sparsity = SparsitySettings(
        mode=unit.setting,
        dual_lr=config["dual_lr"],
        graph_lr=graph_lr,
        anneal_fraction=config["anneal_fraction"],
    )
    train_config = TrainConfig(
        steps=config["steps"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        device="cpu",
        progress=False,
    )
    started = time.perf_counter()
    runs = fit_many(
        dataset,
        model_config=model_config_for(dataset, sizes),
        settings=[sparsity],
        seeds=config["seeds"],
        train_config=train_config,
    )
    train_wall_s = time.perf_counter() - started
    graphs = {k: np.asarray(v) for k, v in dataset.graphs.items()}
    predicted = entanglement_graph(
        action_graph=graphs.get("action_graph"), latent_graph=graphs.get("latent_graph")
    )
    per_seed = []
    for seed, run in zip(config["seeds"], runs, strict=True):
        result = evaluate(run, dataset, "test")
        row = {"seed": seed, **result.metrics}
        row["validation_elbo"] = validation_elbo(run, dataset)
        row["diverged"] = any(e.get("diverged") for e in run.history.events)
        if result.matching is not None:
            row["learned_entanglement"] = learned_entanglement(result).astype(int).tolist()
        per_seed.append(row)
    return {
        "per_seed": per_seed,
        "train_wall_s": train_wall_s,
        "wall_s_per_run": train_wall_s / len(runs),
        "true_edges": {k: int(v.sum()) for k, v in graphs.items()},
        "predicted_entanglement": predicted.astype(int).tolist(),
    }


def learned_entanglement(result, threshold: float = 0.2):
    """Which true latents each learned one mixes: ``|corr(z_i, zhat_perm(j))| > threshold``,
    ``(true, learned)`` after the MCC matching (the learned counterpart of
    :func:`latentgraph.graphs.entanglement_graph`'s ``E``)."""
    import numpy as np

    from latentgraph.metrics import correlation_matrix

    zt = result.z_true.reshape(-1, result.z_true.shape[-1])[:20_000]
    zh = result.z_hat.reshape(-1, result.z_hat.shape[-1])[:20_000]
    corr = np.abs(correlation_matrix(zt, zh))
    return corr[:, list(result.matching.permutation)] > threshold


def run_study(
    units: Sequence[Unit],
    *,
    directory: Path = STUDY_DIR,
    force: bool = False,
    max_minutes: float | None = None,
    slowdown: float = 1.0,
    fit: Callable[[Unit, dict], dict] | None = None,
    provenance: Callable[[], dict] | None = None,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Run every unit not done yet; returns the ids run. Every state is checked before any
    training (a refused file stops the study before it starts). ``slowdown`` multiplies the
    one-free-core estimates used by ``max_minutes`` (a loaded machine)."""
    fit = fit or fit_unit
    provenance = provenance or _provenance
    configs = {u.id: unit_config(u) for u in units}
    states = {u.id: read_state(u, configs[u.id], directory, force=force) for u in units}
    started = time.perf_counter()
    ran = []
    for unit in units:
        if states[unit.id] == "done":
            continue
        config = configs[unit.id]
        elapsed_min = (time.perf_counter() - started) / 60
        if max_minutes is not None and (
            elapsed_min >= max_minutes
            or elapsed_min + slowdown * estimate_s(config) / 60 > max_minutes
        ):
            log(f"stopping before {unit.id}: --max-minutes {max_minutes:g} reached or too close")
            break
        path = path_for(unit, directory)
        meta = provenance()
        write_atomic(path, {"status": "running", "unit": unit.id, "config": config, **meta})
        log(f"running {unit.id} (estimate {estimate_s(config):.0f} s on one free core)")
        t0 = time.perf_counter()
        result = fit(unit, config)
        payload = {
            "status": "done",
            "unit": unit.id,
            "config": config,
            **meta,
            "unit_wall_s": time.perf_counter() - t0,
            **result,
        }
        write_atomic(path, payload)
        ran.append(unit.id)
        log(f"done {unit.id} in {payload['unit_wall_s']:.0f} s")
    return ran


def _provenance() -> dict:
    from benchmarks._record import provenance

    meta = provenance()
    try:
        meta["load"] = os.getloadavg()
    except OSError:
        pass
    return meta


def listing(units: Sequence[Unit], directory: Path = STUDY_DIR) -> str:
    lines, left_s = [], 0.0
    for unit in units:
        config = unit_config(unit)
        try:
            state = read_state(unit, config, directory)
        except StudyError as err:
            state = f"CHANGED ({err})"
        if state == "todo":
            left_s += estimate_s(config)
            state = f"left (~{estimate_s(config) / 60:.0f} min)"
        lines.append(f"{unit.id:<60} {state}")
    lines.append(f"left: ~{left_s / 3600:.1f} h on one free core")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the table


def _load(unit: Unit, directory: Path) -> dict | None:
    path = path_for(unit, directory)
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    return stored if stored.get("status") == "done" else None


def _seeds(stored: dict, key: str, fmt: str = "{:.3f}") -> str:
    values = [r[key] for r in stored["per_seed"] if key in r]
    return " / ".join(fmt.format(v) for v in values) if values else "-"


def _mean(stored: dict, key: str) -> float | None:
    values = [r[key] for r in stored["per_seed"] if key in r]
    return statistics.mean(values) if values else None


def _entanglement_text(matrix) -> str:
    """Off-diagonal pairs ``true<-learned`` of a boolean (true, learned) matrix, compactly."""
    pairs = [f"{i}{j}" for i, row in enumerate(matrix) for j, v in enumerate(row) if v and i != j]
    return f"{len(pairs)} off-diag" + (f" ({' '.join(pairs)})" if 0 < len(pairs) <= 12 else "")


def render_table(units: Sequence[Unit], directory: Path = STUDY_DIR) -> str:
    names = list(dict.fromkeys(u.name for u in units))
    by_key = {(u.name, u.setting): u for u in units}
    head = (
        "| dataset | preset | constraint MCC (mean; per seed) | SHD per seed | no-sparsity MCC "
        "(mean; per seed) | official MCC / SHD | official no-sparsity | s per run | commit |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    rows, extra = [head], []
    for name in names:
        cells, commits, walls, preset = {}, set(), [], "-"
        for setting in SETTINGS:
            unit = by_key.get((name, setting))
            stored = None if unit is None else _load(unit, directory)
            cells[setting] = stored
            if stored:
                commits.add(stored.get("commit", "?"))
                walls.append(f"{stored['wall_s_per_run']:.0f}")
                preset = stored["config"]["preset"]
        c, n = cells["constraint"], cells["none"]
        c_mcc = f"{_mean(c, 'mcc'):.3f}; {_seeds(c, 'mcc')}" if c else "not run yet"
        c_shd = _seeds(c, "shd", "{:.0f}") if c else "not run yet"
        n_mcc = f"{_mean(n, 'mcc'):.3f}; {_seeds(n, 'mcc')}" if n else "not run yet"
        official = OFFICIAL.get(name)
        off = f"{official[0]:.3f} / {official[1]:g}" if official else "-"
        off_none = f"{official[2]:.3f}" if official and official[2] is not None else "-"
        rows.append(
            f"| {name} | {preset} | {c_mcc} | {c_shd} | {n_mcc} | {off} | {off_none} | "
            f"{' / '.join(walls) or '-'} | {', '.join(sorted(commits)) or '-'} |"
        )
        if any(tag in name for tag in NOT_GUARANTEED) and c:
            learned = [
                _entanglement_text(r["learned_entanglement"])
                for r in c["per_seed"]
                if "learned_entanglement" in r
            ]
            extra.append(
                f"| {name} | {_seeds(c, 'consistency_r')} | "
                f"{_entanglement_text(c['predicted_entanglement'])} | {' / '.join(learned)} |"
            )
        elif any(tag in name for tag in NOT_GUARANTEED):
            extra.append(f"| {name} | not run yet | not run yet | not run yet |")
    body = "\n".join(rows)
    if extra:
        body += (
            "\n\nWhere the theory does not guarantee disentanglement (constraint runs): "
            "consistency-R per seed, the entanglement graph the true graphs allow "
            "(`latentgraph.graphs.entanglement_graph`, off-diagonal entries true<-learned) and "
            "the learned one (|corr| > 0.2 after the MCC matching) per seed.\n\n"
            "| dataset | consistency-R per seed | predicted entanglement | learned per seed |\n"
            "|---|---|---|---|\n" + "\n".join(extra)
        )
    return body


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=None, metavar="PATTERN", help="fnmatch on unit ids")
    p.add_argument("--list", action="store_true", help="what is done / left, with estimates")
    p.add_argument("--max-minutes", type=float, default=None, metavar="M")
    p.add_argument(
        "--slowdown", type=float, default=1.0, metavar="F",
        help="multiply the one-free-core time estimates by F for --max-minutes (loaded machine)",
    )  # fmt: skip
    p.add_argument("--force", action="store_true", help="re-run units whose config changed")
    p.add_argument("--table", action="store_true", help="write the BENCHMARKS.md section")
    p.add_argument("--dir", type=Path, default=STUDY_DIR)
    return p.parse_args(argv)


def select(units: Sequence[Unit], pattern: str | None) -> list[Unit]:
    if pattern is None:
        return list(units)
    chosen = [
        u for u in units if fnmatch.fnmatch(u.id, pattern) or fnmatch.fnmatch(u.name, pattern)
    ]
    if not chosen:
        raise StudyError(f"--only {pattern!r} matches no unit; see --list")
    return chosen


def main(argv=None) -> int:
    args = parse(argv)
    try:
        units = select(all_units(), args.only)
        if args.list:
            print(listing(units, args.dir))
            return 0
        if args.table:
            from benchmarks._record import update_benchmarks_md

            update_benchmarks_md(SECTION, intro() + render_table(all_units(), args.dir))
            print(f"wrote the section {SECTION!r} of BENCHMARKS.md")
            return 0
        run_study(
            units,
            directory=args.dir,
            force=args.force,
            max_minutes=args.max_minutes,
            slowdown=args.slowdown,
        )
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def intro() -> str:
    return (
        "Command: `python benchmarks/mechanism_study.py --max-minutes M` (resumable; "
        "`--list` shows what is left), then `python benchmarks/mechanism_study.py --table`. "
        "Each unit: 3 seeds in one NumPyro program (`fit_many`, `lax.map` on the CPU), the "
        "`cpu` preset (temporal rows use a temporal preset once `presets.py` has one; the "
        "preset column says which), bound at the true edge count, one XLA thread on a 2-core "
        "x86_64 CPU shared with other work (each JSON under `benchmarks/results/mechanism_study/` "
        "records the date, load and commit). MCC and SHD on the test split; official numbers: "
        "5 seeds, official sizes, 300k GPU steps (issue 15).\n\n"
    )


if __name__ == "__main__":
    sys.exit(main())
