"""``latentgraph demo``: the method's main claim in a few CPU minutes.

Fits the mechanism-sparsity VAE (Lachapelle et al., arXiv 2401.04890, Sec. 8.1) to
``action_sparsity_non_trivial`` twice, with the sparsity constraint at the true edge count
(20 edges) and with graphs frozen at all-ones (the paper's no-sparsity control), then prints a
comparison table and writes a report. Both fits use the ``cpu`` preset of ``latentgraph fit
mechanism-sparsity`` (small networks, 2e5 samples, 40k steps at batch 256, rates 5e-3 / 5e-2 /
5e-2, bound annealed over the first half of the steps) on the NumPyro backend, and on a CPU they
run at the same time in two processes of one thread each (the two modes are different programs,
so they cannot share one vmapped sweep). Measured numbers and durations: ``BENCHMARKS.md``,
"Demo"; the official-size comparison is in ``benchmarks/mechanism_sparsity.py``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from latentgraph.app.mechanism_sparsity.presets import RUN_PRESETS
from latentgraph.app.report import markdown_table, write_report
from latentgraph.app.runs import prepare_run_dir
from latentgraph.families.mechanism_sparsity.fit_pyro import SparsitySettings
from latentgraph.inference.svi_torch import TrainConfig

DEMO_DATASET = "action_sparsity_non_trivial"
DEMO_BACKEND = "numpyro"
CPU_PRESET = RUN_PRESETS["cpu"]
DEMO_SAMPLES = CPU_PRESET["n_samples"]
DEMO_TRAIN = TrainConfig(
    steps=CPU_PRESET["steps"],
    batch_size=CPU_PRESET["batch_size"],
    lr=CPU_PRESET["lr"],
    seed=0,
    device="cpu",
    eval_every=4000,
)
DEMO_SPARSITY = SparsitySettings(
    mode="constraint",
    graph_lr=CPU_PRESET["graph_lr"],
    dual_lr=CPU_PRESET["dual_lr"],
    anneal_fraction=0.5,
)
SETTINGS = (
    ("constraint (B = true 20 edges)", DEMO_SPARSITY),
    ("no sparsity (all-ones graph)", SparsitySettings(mode="none")),
)
COLUMNS = ("setting", "mcc", "shd", "n_edges_learned", "linear_r", "train_wall_s")
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
"""Environment of each parallel fit: one thread (two spin-waiting thread pools per core slow
both fits down)."""


def run_demo(
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    steps: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    seed: int = 0,
    n_samples: int | None = None,
    jobs: int | None = None,
) -> list[dict]:
    """Run both fits, print the table, write ``report.md`` in ``out``; returns the table rows.

    ``seed`` is the training seed of both fits (the data are always the dataset's default
    draw); ``n_samples`` the samples generated (split 0.8/0.1/0.1; default
    :data:`DEMO_SAMPLES`). ``jobs``: fits run at the
    same time, in separate one-thread processes (default: 2 on ``device="cpu"`` with at least
    2 cores, else 1, in this process).
    """
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    n_samples = DEMO_SAMPLES if n_samples is None else n_samples
    if jobs is None:
        jobs = 2 if device == "cpu" and (os.cpu_count() or 1) >= 2 else 1
    if jobs not in (1, 2):
        raise ValueError(f"jobs must be 1 or 2, got {jobs!r}")
    train = replace(DEMO_TRAIN, device=device, progress=progress and jobs == 1, seed=seed)
    if steps is not None:
        train = replace(train, steps=steps, eval_every=max(steps // 10, 1))
    if out is None:
        out = Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    out = prepare_run_dir(out, overwrite=overwrite)
    work = [
        {
            "label": label,
            "sparsity": sparsity,
            "train": train,
            "folder": str(out / sparsity.mode),
            "n_samples": n_samples,
            "overwrite": overwrite,
        }
        for label, sparsity in SETTINGS
    ]
    start = time.perf_counter()
    if jobs == 1:
        all_metrics = []
        for job in work:
            print(f"fitting {DEMO_DATASET}: {job['label']}", flush=True)
            all_metrics.append(_fit_one(job))
    else:
        labels = " and ".join(job["label"] for job in work)
        print(
            f"fitting {DEMO_DATASET}: {labels}, at the same time (one core each, "
            f"{train.steps} steps)",
            flush=True,
        )
        with (
            _one_thread_environment(),
            ProcessPoolExecutor(
                max_workers=jobs, mp_context=multiprocessing.get_context("spawn")
            ) as pool,
        ):
            all_metrics = list(pool.map(_fit_one, work))
    rows = [
        {
            "setting": job["label"],
            **{k: metrics[k] for k in COLUMNS[1:]},
            "folder": Path(job["folder"]).name,
        }
        for job, metrics in zip(work, all_metrics, strict=True)
    ]
    table = markdown_table(rows, COLUMNS)
    print()
    print(table)
    wall = time.perf_counter() - start
    _write_demo_report(out, rows, table, train, n_samples=n_samples, jobs=jobs, wall=wall)
    print(f"report: {out / 'report.md'}")
    return rows


def _fit_one(job: dict) -> dict:
    """One fit of the demo into ``job["folder"]`` (runs in a worker process when parallel)."""
    from latentgraph.app.mechanism_sparsity.run import run_fit
    from latentgraph.data import make_mechanism_dataset
    from latentgraph.families.mechanism_sparsity.config import demo_sizes
    from latentgraph.families.mechanism_sparsity.fit_pyro import model_config_for

    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    dataset = make_mechanism_dataset(DEMO_DATASET, n_samples=job["n_samples"])
    return run_fit(
        dataset,
        job["folder"],
        model_config=model_config_for(dataset, demo_sizes()),
        sparsity=job["sparsity"],
        train_config=job["train"],
        overwrite=job["overwrite"],
        backend=DEMO_BACKEND,
    )


@contextlib.contextmanager
def _one_thread_environment():
    """Set :data:`ONE_THREAD` in ``os.environ`` while the worker processes start (they inherit
    it), then restore the previous values."""
    saved = {key: os.environ.get(key) for key in ONE_THREAD}
    os.environ.update(ONE_THREAD)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _write_demo_report(
    out: Path, rows: list[dict], table: str, train: TrainConfig, *, n_samples, jobs, wall
) -> None:
    figures = []
    for row in rows:
        figures.append(
            (
                f"{row['setting']}: learned vs. true action graph",
                f"{row['folder']}/graph_action_graph.png",
            )
        )
        figures.append(
            (f"{row['setting']}: matched correlations", f"{row['folder']}/correlation.png")
        )
    figures.append(("Training curves (constraint)", "constraint/training.png"))
    write_report(
        out / "report.md",
        title="latentgraph demo: mechanism sparsity on action non-trivial",
        summary=_summary(rows, train, n_samples=n_samples, jobs=jobs, wall=wall),
        tables=[("Comparison (test split)", table)],
        figures=figures,
        notes=[
            f"Each setting's full run folder (metrics.json, graphs, checkpoint) is in {out}/<mode>/."
        ],
    )


def _summary(rows: list[dict], train: TrainConfig, *, n_samples, jobs, wall) -> str:
    """What was run and what it measured, beside what the theory promises for each fit."""
    constrained, control = rows
    return (
        f"{n_samples} samples, small networks, {train.steps} steps per fit (NumPyro backend, "
        f"training seed {train.seed}) on {train.device}, {jobs} fit(s) at a time: {wall:.0f} s "
        "of fitting and evaluation. With the graph constrained to the true 20 edges, mechanism "
        "sparsity identifies the latents up to permutation and element-wise rescaling "
        "(Lachapelle et al., arXiv 2401.04890, Sec. 8.1): this run reached MCC "
        f"{constrained['mcc']:.3f} and SHD {constrained['shd']:.0f}. The all-ones control has "
        f"no such guarantee and learns no graph (SHD {control['shd']:.0f}); it reached MCC "
        f"{control['mcc']:.3f}. At these small networks and this budget the control is often "
        "close to disentangled anyway (BENCHMARKS.md, 'Demo', per seed), unlike the paper's "
        "0.758 at official sizes (constrained: 0.998)."
    )
