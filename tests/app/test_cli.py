"""The command line: the run-folder contract, and one-line errors with exit code 2."""

import json

import numpy as np
import pytest

from latentgraph.app.cli import main

TINY_FIT = [
    "fit", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial", "--n-samples", "2000",
    "--sizes", "small", "--steps", "12", "--batch-size", "64", "--no-progress", "--device", "cpu",
]  # fmt: skip
REQUIRED_METRICS = {
    "mcc", "mcc_spearman", "linear_r", "consistency_r", "shd", "n_edges_learned", "steps", "wall_s",
}  # fmt: skip


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("latentgraph: error:")
    assert "Traceback" not in err[0]
    return err[0]


def test_fit_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY_FIT, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert REQUIRED_METRICS <= metrics.keys()
    assert metrics["steps"] == 12 and isinstance(metrics["wall_s"], float)
    assert all(isinstance(v, int | float) for v in metrics.values())  # flat numbers only
    for name in (
        "config.json", "checkpoint.pt", "learned_action_graph.gml", "true_action_graph.gml", "posterior.nc",
        "z_test.npy", "graph_action_graph.png", "correlation.png", "training.png", "report.md",
    ):  # fmt: skip
        assert (out / name).is_file(), name
    z = np.load(out / "z_test.npy")
    assert z.shape == (200, 1, 10)
    report = (out / "report.md").read_text()
    assert "graph_action_graph.png" in report and "training.png" in report
    config = json.loads((out / "config.json").read_text())
    assert config["sparsity"]["mode"] == "constraint" and config["bounds"] == {"action_graph": 20.0}
    assert config["device"] == "cpu"  # strings go to config.json, not metrics.json


def test_existing_folder_is_refused_without_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    keep = out / "precious.txt"
    keep.write_text("user data")
    assert main([*TINY_FIT, "--out", str(out)]) == 2
    assert "--overwrite" in _error_line(capsys)
    assert keep.read_text() == "user data" and len(list(out.iterdir())) == 1


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--dataset", "no_such_dataset"], "no_such_dataset"),
        (["--graph-density", "1.5"], "graph_density"),
        (["--bound", "-3"], "bound"),
        (["--steps", "0"], "steps"),
        (["--device", "tpu"], "device"),
        (["--n-latents", "0"], "n_latents"),
        (["--n-latents", "21"], "n_latents must be <= n_obs = 20"),
        (["--lr", "nan"], "lr"),
        (["--checkpoint-every", "-1"], "checkpoint_every"),
        (["--batch-size", "5000"], "batch_size"),
        (["--anneal-fraction", "1.5"], "anneal_fraction"),
        (["--out", "."], "not empty"),
        (["--seed", "-1"], "seed"),
        (["--dual-lr", "0"], "dual_lr"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, extra, needle):
    args = [*TINY_FIT, "--out", str(tmp_path / "run"), *extra]
    assert main(args) == 2
    assert needle in _error_line(capsys)
    assert not (tmp_path / "run").exists()  # checked before anything is written


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize(
    ("arrays", "needle"),
    [
        ({"x": np.full((50, 4), np.nan), "actions": np.zeros((50, 2))}, "x"),
        ({"x": np.zeros((50, 4)), "actions": np.zeros((49, 2))}, "actions"),
        ({"y": np.zeros((50, 4))}, "x"),
    ],
)
def test_bad_user_files_give_one_line_and_exit_2(tmp_path, capsys, arrays, needle):
    data = _npz(tmp_path / "data.npz", **arrays)
    args = [
        "fit",
        "mechanism-sparsity",
        "--data",
        data,
        "--steps",
        "5",
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(args) == 2
    assert needle in _error_line(capsys)


def test_missing_user_file(tmp_path, capsys):
    args = [
        "fit",
        "mechanism-sparsity",
        "--data",
        str(tmp_path / "nope.npz"),
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(args) == 2
    assert "nope.npz" in _error_line(capsys)


def test_user_data_fit_without_ground_truth(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = _npz(
        tmp_path / "mine.npz", x=rng.normal(size=(600, 5)), actions=rng.uniform(-2, 2, (600, 2))
    )
    args = [
        "fit", "mechanism-sparsity", "--data", data, "--n-latents", "3", "--bound", "3", "--sizes", "small",
        "--steps", "5", "--batch-size", "32", "--no-progress", "--out", str(tmp_path / "r"),
    ]  # fmt: skip
    assert main(args) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert "mcc" not in metrics and metrics["n_edges_action_graph"] >= 0


def test_a_saved_dataset_is_read_memory_mapped(tmp_path, capsys, monkeypatch):
    from latentgraph.data import Dataset, make_mechanism_dataset

    path = make_mechanism_dataset("action_sparsity_non_trivial", n_samples=2000).save(
        tmp_path / "saved.npz"
    )
    opened = []
    original = Dataset.load.__func__

    def load(cls, file, *, mmap=False):
        opened.append(mmap)
        return original(cls, file, mmap=mmap)

    monkeypatch.setattr(Dataset, "load", classmethod(load))
    args = [*TINY_FIT[:2], "--data", str(path), *TINY_FIT[4:], "--out", str(tmp_path / "r")]
    assert main(args) == 0 and opened == [True]
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["mcc"] > 0


def test_datasets_lists_the_names(capsys):
    assert main(["datasets"]) == 0
    names = capsys.readouterr().out
    assert "action_sparsity_non_trivial" in names and "graph_temporal_3_hard" in names


@pytest.mark.parametrize(
    ("dataset", "sparsity", "graph"),
    [
        ("temporal_sparsity_trivial", "constraint", "latent_graph"),
        ("graph_action_3_hard", "penalty", "action_graph"),
        ("temporal_sparsity_non_trivial", "none", "latent_graph"),
    ],
)
def test_fit_other_datasets_and_modes(tmp_path, dataset, sparsity, graph):
    out = tmp_path / "run"
    args = [
        "fit", "mechanism-sparsity", "--dataset", dataset, "--sparsity", sparsity, "--n-samples", "1000",
        "--sizes", "small", "--steps", "6", "--batch-size", "32", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"shd_{graph}" in metrics and (out / f"learned_{graph}.gml").is_file()
    if sparsity == "none":
        true_edges = 55  # lower-triangular graph: no-sparsity SHD = 100 - 55
        assert metrics["shd"] == 100 - true_edges
    z = np.load(out / "z_test.npy")
    assert z.shape[1] == (2 if dataset.startswith("temporal") else 1)
