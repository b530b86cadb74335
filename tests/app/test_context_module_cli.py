"""``latentgraph fit context-module``: a tiny end-to-end fit writing the whole run folder,
refusal of an existing folder, and bad input exiting with code 2 before anything is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latentgraph.app.cli import main

TINY = [
    "fit",
    "context-module",
    "--dataset",
    "quad_causal",
    "--image-size",
    "32",
    "--sizes",
    "cpu",
    "--n-train",
    "24",
    "--n-valid",
    "8",
    "--n-test",
    "8",
    "--n-heldout",
    "8",
    "--steps",
    "4",
    "--batch-size",
    "16",
    "--n-eval",
    "8",
    "--device",
    "cpu",
    "--no-progress",
]


@pytest.fixture(autouse=True)
def _one_thread(_pyro_state):
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("cm") / "run"
    torch.set_num_threads(1)
    assert main([*TINY, "--out", str(out)]) == 0
    return out


def test_tiny_fit_writes_the_run_folder(run_folder):
    expected = {
        "config.json",
        "metrics.json",
        "history.json",
        "checkpoint.pt",
        "z_test.npy",
        "learned_concept_graph.gml",
        "true_concept_graph.gml",
        "report.md",
        "training.png",
        "generations_concepts.png",
        "generations_pairs.png",
        "concept_graph.png",
    }
    assert expected <= {p.name for p in run_folder.iterdir()}
    metrics = json.loads((run_folder / "metrics.json").read_text())
    assert all(isinstance(v, int | float) for v in metrics.values())
    for key in (
        "swd_concept",
        "swd_composition",
        "recon_bpd",
        "recon_bpd_ood",
        "elbo_bpd_ref",
        "concept_r2",
        "graph_shd",
        "swd_obs",
        "swd_quad1_quad2",
        "swd_composition_joint_perfect",
    ):
        assert key in metrics, key
    singles = ["obs", "quad1", "quad2", "quad3", "quad4", "size", "orientation"]
    assert metrics["swd_concept"] == pytest.approx(np.mean([metrics[f"swd_{c}"] for c in singles]))
    assert metrics["elbo_bpd_ref"] == pytest.approx(3 * metrics["recon_bpd"])  # H W vs H W C
    config = json.loads((run_folder / "config.json").read_text())
    assert config["variant"]["name"] == "cm" and config["train"]["steps"] == 4
    curves = json.loads((run_folder / "history.json").read_text())["evaluations"]
    assert curves, "the periodic evaluation must leave learning curves"
    for row in curves:  # the headline metrics' learning curves
        assert {"valid_bpd", "valid_swd_concept", "heldout_swd_composition"} <= set(row)
        assert all(np.isfinite(row[k]) and row[k] > 0 for k in row if k != "step")
    state = torch.load(run_folder / "checkpoint.pt", weights_only=True)
    assert state["step"] == 4 and "head.causal.weight_obs" in state["module"]
    assert np.load(run_folder / "z_test.npy").shape == (7 * 8, 6 * 16)
    report = (run_folder / "report.md").read_text()
    assert "generations_pairs.png" in report and "quad1_quad2" in report


def test_existing_folder_is_refused(run_folder, capsys):
    before = (run_folder / "metrics.json").read_bytes()
    assert main([*TINY, "--out", str(run_folder)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (run_folder / "metrics.json").read_bytes() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--variant", "cm-frozen"], "needs --pretrained"),
        (["--dataset", "digits"], "apply to quad data"),
        (["--steps", "0"], "steps must be a positive int"),
        (["--backbone-norm", "batch"], "need --batching single-context"),
        (["--module-norm", "batch"], "need --batching single-context"),
    ],
)
def test_bad_input_exits_2_before_writing(tmp_path, capsys, extra, message):
    out = tmp_path / "never"
    assert main([*TINY, *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_resume_with_other_settings_is_refused(run_folder, capsys):
    assert main([*TINY, "--steps", "5", "--resume", "--out", str(run_folder)]) == 2
    assert "different settings" in capsys.readouterr().err


def test_data_dir_is_reused_and_checked(tmp_path):
    from latentgraph.app.context_module.cli import load_dataset

    args = {"image_size": 32, "n_train": 3, "n_valid": 2, "n_test": 2, "n_heldout": 2, "seed": 0}
    first = load_dataset("quad_causal", args, str(tmp_path / "data"))
    again = load_dataset("quad_causal", args, str(tmp_path / "data"))
    assert isinstance(again.split("train")["images"], np.memmap)
    np.testing.assert_array_equal(again.split("train")["images"], first.split("train")["images"])
    with pytest.raises(ValueError, match="holds other data"):
        load_dataset("quad_causal", {**args, "seed": 1}, str(tmp_path / "data"))


def test_malformed_expressivity_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*TINY, "--expressivity", "2.32", "--out", str(tmp_path / "never")])
    assert exit_info.value.code == 2
    assert "L.a.b" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
