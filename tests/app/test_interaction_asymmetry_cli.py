"""``latentgraph fit interaction-asymmetry``: a tiny end-to-end fit writes the run folder;
bad input and existing folders are refused with one line and exit code 2."""

from __future__ import annotations

import json
import math

import pytest
import torch

from latentgraph.app.cli import main

TINY_FIT = [
    "fit", "interaction-asymmetry", "--image-size", "32", "--objects", "2", "--ood", "diagonal",
    "--n-images", "80", "--steps", "3", "--batch-size", "8", "--pixels-per-image", "64",
    "--jacobian-images", "2", "--readout-images", "30", "--eval-every", "100", "--seed", "1",
    "--device", "cpu", "--no-progress",
]  # fmt: skip
RUN_FILES = (
    "config.json", "metrics.json", "history.json", "checkpoint.pt", "slots_test.npy",
    "reconstructions.png", "slots.png", "training.png", "report.md",
)  # fmt: skip


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("latentgraph: error:") and "Traceback" not in err[0]
    return err[0]


def test_tiny_fit_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY_FIT, "--alpha", "0.1", "--out", str(out)]) == 0
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("j_ari", "jis", "slot_r2", "recon_id", "recon_ood", "slot_r2_ood", "l_int", "kl"):
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), key
    assert all(isinstance(v, int | float) for v in metrics.values())  # flat numbers only
    assert -1 <= metrics["j_ari"] <= 1 and 0 <= metrics["jis"] <= 1
    assert 0 < metrics["l_int"] <= metrics["l_int_max"] == pytest.approx(4**2 * 4 / 10)
    assert metrics["steps"] == 3
    config = json.loads((out / "config.json").read_text())
    assert config["family"] == "interaction-asymmetry"
    assert config["model"]["alpha"] == 0.1 and config["model"]["image_size"] == 32
    assert config["speed"]["pixels_per_image"] == 64
    assert config["train"]["schedule"]["warmup_steps"] == 0  # 10k * 3/500k, rounded
    history = json.loads((out / "history.json").read_text())
    assert [row["step"] for row in history["rows"]] == [1, 2, 3]
    assert {"loss", "recon_sse", "kl", "l_int", "alpha"} <= history["rows"][0].keys()
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] == 3 and "decoder.out_mlp.4.weight" in state["module"]
    report = (out / "report.md").read_text()
    assert "reconstructions.png" in report and "slots.png" in report and "j_ari" in report
    assert "j_ari=" in capsys.readouterr().out


def test_existing_folder_is_refused_without_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("user data")
    assert main([*TINY_FIT, "--out", str(out)]) == 2
    assert "--overwrite" in _error_line(capsys)
    assert [p.name for p in out.iterdir()] == ["precious.txt"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--pixels-per-image", "5000"], "--pixels-per-image"),
        (["--alpha", "-1"], "alpha"),
        (["--objects", "2-3"], "--ood diagonal"),
        (["--batch-size", "500"], "--batch-size"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, extra, needle):
    out = tmp_path / "run"
    assert main([*TINY_FIT, *extra, "--out", str(out)]) == 2
    assert needle in _error_line(capsys)
    assert not out.exists()
