"""``latentgraph demo``: the two fits, the table, the report and the one-thread workers."""

import json
import os
import re

import pytest

from latentgraph.app import demo
from latentgraph.app.cli import main


def _fake_fit(job: dict) -> dict:
    """Stands in for a fit: writes the folder and returns the metrics the table reads."""
    os.makedirs(job["folder"], exist_ok=True)
    dense = job["sparsity"].mode == "none"
    return {
        "mcc": 0.6 if dense else 0.99,
        "shd": 80.0 if dense else 1.0,
        "n_edges_learned": 100.0 if dense else 20.0,
        "linear_r": 0.9,
        "train_wall_s": float(job["train"].steps),
    }


def test_demo_table_and_report_come_from_both_fits(tmp_path, monkeypatch, capsys):
    jobs = []
    monkeypatch.setattr(demo, "_fit_one", lambda job: jobs.append(job) or _fake_fit(job))
    rows = demo.run_demo(tmp_path / "d", steps=30, seed=4, n_samples=500, jobs=1, progress=False)
    assert [job["sparsity"].mode for job in jobs] == ["constraint", "none"]
    assert {job["train"].seed for job in jobs} == {4} and jobs[0]["n_samples"] == 500
    assert jobs[0]["train"].steps == 30 and jobs[0]["train"].eval_every == 3
    assert [(r["setting"][:10], r["mcc"], r["shd"]) for r in rows] == [
        ("constraint", 0.99, 1.0),
        ("no sparsit", 0.6, 80.0),
    ]
    printed = capsys.readouterr().out
    assert re.search(r"\| constraint \(B = true 20 edges\) \| 0\.99 \| 1 \| 20 \|", printed)
    assert re.search(r"\| no sparsity \(all-ones graph\) \| 0\.6 \| 80 \| 100 \|", printed)
    report = (tmp_path / "d" / "report.md").read_text()
    assert "seed 4" in report and "30 steps per fit" in report
    for figure in ("constraint/graph_action_graph.png", "none/correlation.png"):
        assert f"]({figure})" in report


def test_demo_defaults_are_the_cpu_preset_of_its_dataset():
    """The demo trains as ``latentgraph fit mechanism-sparsity --preset cpu`` would."""
    from latentgraph.app.cli import _build_parser
    from latentgraph.app.mechanism_sparsity.cli import apply_preset

    args = _build_parser().parse_args(
        [
            "fit",
            "mechanism-sparsity",
            "--dataset",
            demo.DEMO_DATASET,
            "--preset",
            "cpu",
            "--out",
            "x",
        ]
    )
    values = apply_preset(args).values
    assert values["n_samples"] == demo.DEMO_SAMPLES and values["sizes"] == "small"
    assert (values["steps"], values["batch_size"], values["lr"]) == (
        demo.DEMO_TRAIN.steps,
        demo.DEMO_TRAIN.batch_size,
        demo.DEMO_TRAIN.lr,
    )
    sparsity = demo.DEMO_SPARSITY
    assert (values["graph_lr"], values["dual_lr"]) == (sparsity.graph_lr, sparsity.dual_lr)
    assert args.anneal_fraction == sparsity.anneal_fraction


def test_one_thread_environment_is_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with demo._one_thread_environment():
        assert {k: os.environ[k] for k in demo.ONE_THREAD} == demo.ONE_THREAD
    assert os.environ["OMP_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ


@pytest.mark.parametrize(("option", "value"), [("jobs", 3), ("steps", 0)])
def test_demo_rejects_bad_options_before_any_work(tmp_path, option, value):
    with pytest.raises(ValueError, match=option):
        demo.run_demo(tmp_path / "d", **{option: value})
    assert not (tmp_path / "d").exists()


@pytest.mark.slow  # two worker processes import JAX and compile: about 90 CPU seconds
def test_demo_command_runs_both_fits_in_parallel(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "DEMO_SAMPLES", 2000)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "8", "--seed", "3", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "at the same time" in printed and "constraint (B = true 20 edges)" in printed
    for mode in ("constraint", "none"):
        config = json.loads((out / mode / "config.json").read_text())
        assert config["backend"] == "numpyro" and config["sparsity"]["mode"] == mode
        assert config["train"]["seed"] == 3 and config["train"]["steps"] == 8
        assert (out / mode / "graph_action_graph.png").is_file()
    control = json.loads((out / "none" / "metrics.json").read_text())
    assert control["n_edges_learned"] == 100 and control["shd"] == 100 - 20
    assert (out / "report.md").is_file() and (out / "constraint" / "training.png").is_file()
