"""The mechanism-sparsity ``cpu`` preset depends on the data set's setting (action / temporal)."""

from __future__ import annotations

import json

import pytest

from latentgraph.app.cli import _build_parser, main
from latentgraph.app.mechanism_sparsity.cli import apply_preset
from latentgraph.app.mechanism_sparsity.presets import (
    CPU_BY_SETTING,
    RUN_PRESETS,
    presets_for,
    setting_of,
)
from latentgraph.data import list_mechanism_datasets, make_mechanism_dataset


def _resolve(*options: str):
    args = _build_parser().parse_args(["fit", "mechanism-sparsity", *options, "--out", "x"])
    return args, apply_preset(args)


@pytest.mark.parametrize("name", list_mechanism_datasets())
def test_setting_of_a_name_is_the_kind_of_its_data(name):
    assert setting_of(name) == make_mechanism_dataset(name, n_samples=20).kind


def test_the_temporal_cpu_preset_differs_from_the_action_one():
    temporal = presets_for("temporal_sparsity_non_trivial")["cpu"]
    changed = {k for k in temporal if temporal[k] != RUN_PRESETS["cpu"][k]}
    assert changed and changed == set(CPU_BY_SETTING["temporal"])
    assert presets_for("temporal_sparsity_trivial")["paper"] == RUN_PRESETS["paper"]
    assert presets_for("action_sparsity_non_trivial") is RUN_PRESETS
    assert presets_for(None) is RUN_PRESETS  # --data files: the action preset


def test_preset_cpu_on_a_temporal_dataset_resolves_to_the_temporal_preset():
    _, preset = _resolve("--dataset", "temporal_sparsity_non_trivial", "--preset", "cpu")
    assert preset.name == "cpu"
    assert dict(preset.values) == {**RUN_PRESETS["cpu"], **CPU_BY_SETTING["temporal"]}
    _, action = _resolve("--dataset", "action_sparsity_non_trivial", "--preset", "cpu")
    assert dict(action.values) == dict(RUN_PRESETS["cpu"])
    _, paper = _resolve("--dataset", "graph_temporal_3_easy", "--preset", "paper")
    assert dict(paper.values) == dict(RUN_PRESETS["paper"])


def test_a_typed_option_beats_the_temporal_preset():
    option = next(iter(CPU_BY_SETTING["temporal"]))
    typed = {"graph_lr": "0.125", "anneal_fraction": "0.125", "lr": "0.125"}.get(option, "0.125")
    args, preset = _resolve(
        "--dataset", "temporal_sparsity_non_trivial", "--preset", "cpu",
        f"--{option.replace('_', '-')}", typed,
    )  # fmt: skip
    assert getattr(args, option) == 0.125 and option in preset.typed


def test_config_json_records_the_temporal_cpu_preset(tmp_path):
    out = tmp_path / "run"
    args = [
        "fit", "mechanism-sparsity", "--dataset", "temporal_sparsity_non_trivial", "--preset", "cpu",
        "--n-samples", "600", "--steps", "3", "--batch-size", "32", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    recorded = json.loads((out / "config.json").read_text())["preset"]
    assert recorded["name"] == "cpu" and recorded["requested"] == "cpu"
    for option, value in CPU_BY_SETTING["temporal"].items():
        assert recorded["values"][option] == value
