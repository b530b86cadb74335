"""Many runs in one program (jax.vmap over seeds x bounds) and UDR selection (issue 3)."""

import json
from dataclasses import replace

import jax
import numpy as np
import pytest

from latentgraph.app.cli import main
from latentgraph.data import make_mechanism_dataset
from latentgraph.families.mechanism_sparsity import SparsitySettings, model_config_for
from latentgraph.families.mechanism_sparsity.config import demo_sizes
from latentgraph.families.mechanism_sparsity.fit_numpyro import fit
from latentgraph.families.mechanism_sparsity.sweep_numpyro import fit_many
from latentgraph.inference.svi_torch import TrainConfig


@pytest.fixture(scope="module")
def toy():
    return make_mechanism_dataset(
        "action_sparsity_non_trivial", n_samples=1500, n_latents=3, n_obs=6
    )


def test_each_swept_run_matches_its_single_fit(toy):
    config = TrainConfig(steps=20, batch_size=32, lr=3e-3, progress=False, device="cpu")
    settings = [SparsitySettings(bound=b, graph_lr=0.1, dual_lr=0.05) for b in (2.0, 6.0)]
    swept = fit_many(toy, model_config=model_config_for(toy, demo_sizes()), settings=settings,
                     seeds=[0, 1], train_config=config, chunk_steps=10)  # fmt: skip
    assert len(swept) == 4 and [f.train_config.seed for f in swept] == [0, 1, 0, 1]
    single = fit(toy, model_config=model_config_for(toy, demo_sizes()), sparsity=settings[1],
                 train_config=replace(config, seed=1), chunk_steps=10)  # fmt: skip
    for a, b in zip(jax.tree.leaves(swept[3].params), jax.tree.leaves(single.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    assert swept[0].bounds == {"action_graph": 2.0} and swept[3].bounds == {"action_graph": 6.0}
    # Batched arithmetic (vmap, the GPU path) and the CPU path (lax.map) train the same runs.
    batched = fit_many(toy, model_config=model_config_for(toy, demo_sizes()), settings=settings,
                       seeds=[0, 1], train_config=config, chunk_steps=10, strategy="vmap")  # fmt: skip
    for a, b in zip(
        jax.tree.leaves(batched[3].params), jax.tree.leaves(swept[3].params), strict=True
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="share graph_lr"):
        fit_many(toy, settings=[settings[0], replace(settings[1], graph_lr=0.5)], seeds=[0],
                 train_config=config)  # fmt: skip


def test_sweep_command_writes_runs_udr_and_the_selection(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = [
        "sweep", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial",
        "--n-samples", "2000", "--sizes", "small", "--seeds", "2", "--bounds", "5,20",
        "--steps", "40", "--batch-size", "64", "--lr", "3e-3", "--graph-lr", "0.1",
        "--device", "cpu", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["values"] == [5.0, 20.0] and summary["seeds"] == [0, 1]
    assert summary["selected"] in (5.0, 20.0)
    assert summary["udr"][f"{summary['selected']:g}"] == max(summary["udr"].values())
    assert all(0 <= v <= 1 for v in summary["udr"].values())
    for run in summary["runs"]:  # each a normal run folder, OUT/runs/bound=<B>-seed<k>/
        folder = out / run["folder"]
        assert folder == out / "runs" / f"bound={run['bound']:g}-seed{run['seed']}"
        metrics = json.loads((folder / "metrics.json").read_text())
        config = json.loads((folder / "config.json").read_text())
        assert metrics["mcc"] == run["mcc"] and config["sparsity"]["bound"] == run["bound"]
        assert config["train"]["seed"] == run["seed"] and run["status"] == "done"
        for name in ("z_valid.npy", "z_test.npy", "posterior.nc", "report.md", "history.json"):
            assert (folder / name).is_file(), name
    assert (out / "sweep.png").stat().st_size > 0
    assert summary["executor"] == "vmapped" and summary["selection"]["rule"] == "udr"
    assert "selected bound=" in capsys.readouterr().out
    # The same command again: every run is finished, nothing is trained or rewritten.
    before = {p: p.stat().st_mtime_ns for p in out.rglob("metrics.json")}
    assert main(args) == 0
    assert json.loads((out / "sweep.json").read_text())["n_skipped"] == 4
    assert {p: p.stat().st_mtime_ns for p in out.rglob("metrics.json")} == before


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--seeds", "1", "--bounds", "5"], "seeds"),
        ([], "--bounds is required"),
        (["--bounds", "5,5"], "distinct"),
    ],
)
def test_sweep_rejects_bad_arguments_before_any_work(tmp_path, capsys, extra, needle):
    args = ["sweep", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial",
            "--out", str(tmp_path / "s"), *extra]  # fmt: skip
    assert main(args) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
