"""``--preset auto|cpu|paper``: resolution rules, the tables behind them and the preset line."""

from __future__ import annotations

import argparse

import pytest

from latentgraph.app.cli import _build_parser, main
from latentgraph.app.presets import (
    Estimate,
    cpu_contention,
    format_duration,
    frozen_presets,
    preset_flags,
    preset_line,
    resolve_preset,
)
from latentgraph.app.registry import families

TABLE = frozen_presets(
    {
        "paper": {"steps": 300, "lr": 5e-4, "sizes": "big"},
        "cpu": {"steps": 40, "lr": 5e-3, "sizes": "small"},
    }
)


def _args(**typed) -> argparse.Namespace:
    return argparse.Namespace(
        **{"steps": None, "lr": None, "sizes": None, "preset": "auto", **typed}
    )


def _resolve(args, gpu=False):
    return resolve_preset(args, TABLE, sizing=("steps", "sizes"), has_accelerator=lambda: gpu)


def test_auto_is_cpu_without_a_gpu_and_paper_with_one():
    args = _args()
    assert _resolve(args).name == "cpu" and (args.steps, args.lr, args.sizes) == (40, 5e-3, "small")
    args = _args()
    assert _resolve(args, gpu=True).name == "paper" and args.steps == 300


def test_auto_keeps_paper_when_the_command_sizes_the_run():
    args = _args(steps=7)
    preset = _resolve(args)
    assert preset.name == "paper" and (args.steps, args.lr) == (7, 5e-4)
    args = _args(lr=1e-2)  # a learning rate does not size the run
    assert _resolve(args).name == "cpu" and (args.steps, args.lr) == (40, 1e-2)


def test_a_typed_flag_wins_even_when_it_equals_the_preset_value():
    args = _args(preset="cpu", steps=40, lr=1e-3)
    preset = _resolve(args, gpu=True)
    assert preset.name == "cpu" and preset.requested == "cpu"
    assert preset.typed == ("steps", "lr") and dict(preset.values) == {
        "steps": 40, "lr": 1e-3, "sizes": "small",
    }  # fmt: skip


def test_tables_must_name_the_same_options():
    with pytest.raises(ValueError, match="same options"):
        frozen_presets({"paper": {"steps": 1}, "cpu": {"lr": 1.0}})
    with pytest.raises(TypeError):
        TABLE["cpu"]["steps"] = 1  # frozen


@pytest.mark.parametrize("preset", ["cpu", "paper"])
@pytest.mark.parametrize("name", sorted(families()))
def test_preset_flags_parse_back_to_the_table(name, preset):
    """The flags the benchmarks pass for a preset mean exactly that preset's values."""
    table = families()[name].presets
    parser = _build_parser()
    required = {"mechanism-sparsity": ["--dataset", "x"], "context-module": ["--dataset", "quad"]}
    argv = ["fit", name, *required.get(name, []), "--out", "o", *preset_flags(table[preset])]
    args = parser.parse_args(argv)
    for option, value in table[preset].items():
        assert getattr(args, option) == value, option


def test_every_family_declares_both_presets_once():
    for family in families().values():
        assert set(family.presets) == {"cpu", "paper"} and "steps" in family.presets["cpu"]
        assert family.presets["cpu"]["steps"] < family.presets["paper"]["steps"]


def test_cpu_contention_and_durations():
    assert cpu_contention(0.0, 2) == 1.0 and cpu_contention(3.0, 2) == 2.0
    assert cpu_contention(7.0, 16) == 1.0
    assert [format_duration(s) for s in (40, 420, 3 * 3600, 9 * 86400)] == [
        "about 40 s", "about 7 min", "about 3.0 h", "about 9.0 days",
    ]  # fmt: skip


def test_the_preset_line_scales_with_the_cpu_load():
    preset = _resolve(_args())
    line = preset_line(preset, "cpu", 40, Estimate(420.0, "measured"), contention=1.0)
    assert (
        line
        == "latentgraph: preset cpu (device cpu): about 7 min on this machine (40 steps; measured)"
    )
    busy = preset_line(preset, "cpu", 40, Estimate(420.0, "measured"), contention=2.0)
    assert "about 14 min" in busy and "x2.0" in busy
    assert "about 7 min" in preset_line(preset, "cuda:0", 40, Estimate(420.0, "m"), contention=3)
    assert "duration unknown" in preset_line(preset, "cpu", 40, Estimate(None, "not measured"))


def test_a_plain_mechanism_sparsity_fit_on_a_cpu_uses_the_cpu_preset(tmp_path, monkeypatch, capsys):
    from latentgraph.app.mechanism_sparsity import cli

    calls = []
    monkeypatch.setattr(cli, "torch_has_gpu", lambda: False)

    class Splits:  # the splits and arrays the run checks before it trains
        splits = ("train", "valid", "test")

        def split(self, name):
            return {"x": None}

    monkeypatch.setattr(
        cli, "load_dataset", lambda args: calls.append(vars(args).copy()) or Splits()
    )
    monkeypatch.setattr(cli, "model_config_for", lambda *args, **kwargs: None)
    monkeypatch.setattr(
        "latentgraph.app.mechanism_sparsity.run.run_fit",
        lambda *args, **kwargs: calls.append(kwargs) or {},
    )
    out = str(tmp_path / "run")
    assert (
        main(
            ["fit", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial", "--out", out]
        )
        == 0
    )
    args, kwargs = calls
    cpu = families()["mechanism-sparsity"].presets["cpu"]
    assert {k: args[k] for k in cpu} == dict(cpu)
    assert kwargs["preset"]["name"] == "cpu" and kwargs["train_config"].steps == cpu["steps"]
    assert kwargs["announce"].startswith("latentgraph: preset cpu (device cpu): about ")
    assert (
        main(
            [
                "fit",
                "mechanism-sparsity",
                "--dataset",
                "action_sparsity_trivial",
                "--steps",
                "9",
                "--out",
                out,
            ]
        )
        == 0
    )
    assert calls[-1]["preset"]["name"] == "paper" and calls[-1]["train_config"].lr == 5e-4
