"""Every registered family through the one run-folder skeleton: a tiny ``latentgraph fit``
writes a flat ``metrics.json`` of finite numbers, a ``config.json`` with the preset and the
resolved values, ``history.json`` and ``report.md``, and prints one preset line on stderr."""

from __future__ import annotations

import json
import math

import pytest

from latentgraph.app.cli import main
from latentgraph.app.registry import families

TINY = {
    "mechanism-sparsity": [
        "--dataset", "action_sparsity_non_trivial", "--n-samples", "1000", "--sizes", "small",
        "--steps", "6", "--batch-size", "32",
    ],
    "interaction-asymmetry": [
        "--image-size", "32", "--objects", "2", "--n-images", "40", "--steps", "2",
        "--batch-size", "8", "--pixels-per-image", "32", "--jacobian-images", "2",
        "--readout-images", "20",
    ],
    "context-module": [
        "--dataset", "quad_causal", "--image-size", "32", "--sizes", "cpu", "--n-train", "16",
        "--n-valid", "8", "--n-test", "8", "--n-heldout", "8", "--steps", "2",
        "--batch-size", "8", "--n-eval", "8",
    ],
}  # fmt: skip
"""A tiny fit of each family: it sizes the run, so ``--preset auto`` resolves to ``paper``
for every option it does not type."""


def test_every_registered_family_has_a_tiny_fit():
    assert set(TINY) == set(families())  # a new family must be added here


@pytest.mark.parametrize("name", sorted(TINY))
def test_a_tiny_fit_writes_the_run_folder(name, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["fit", name, *TINY[name], "--device", "cpu", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("latentgraph: preset paper (device cpu): ")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics, "empty metrics.json"
    for key, value in metrics.items():
        assert type(value) in (int, float) and math.isfinite(value), (key, value)
    assert metrics["steps"] == int(TINY[name][TINY[name].index("--steps") + 1])
    assert metrics["wall_s"] > 0 and metrics["recoveries"] == 0
    config = json.loads((out / "config.json").read_text())
    assert config["device"] == "cpu"
    preset = config["preset"]
    assert preset["name"] == "paper" and preset["requested"] == "auto"
    assert "steps" in preset["typed"] and preset["values"]["steps"] == metrics["steps"]
    presets = families()[name].presets
    untyped = set(presets["paper"]) - set(preset["typed"])
    assert untyped, "the tiny fit should leave some preset options to the preset"
    for option in untyped:  # filled in from the paper preset, recorded as resolved
        expected = presets["paper"][option]
        assert preset["values"][option] == (
            list(expected) if isinstance(expected, tuple) else expected
        )
    assert config["train"]["steps"] == metrics["steps"]
    history = json.loads((out / "history.json").read_text())
    assert len(history["rows"]) >= 1
    assert (out / "report.md").read_text().startswith("#")
