"""The study benchmark's resume logic (``benchmarks/mechanism_study.py``, issue 15 point 1).

The fit is replaced by a recorder returning canned per-seed metrics, so every test runs in
well under a second: a finished unit is read back and not re-run, a changed configuration is
refused unless forced, an interrupted unit is re-run, ``--max-minutes`` stops before a unit
that would not fit, and the table says "not run yet" for units without results.
"""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import mechanism_study as study  # noqa: E402

UNITS = [
    study.Unit(
        "action_sparsity_non_trivial", "action_sparsity_non_trivial", "action", "constraint"
    ),
    study.Unit("action_sparsity_non_trivial", "action_sparsity_non_trivial", "action", "none"),
    study.Unit(
        "action_sparsity_non_trivial_no_suff_var",
        "action_sparsity_non_trivial_no_suff_var",
        "action",
        "constraint",
    ),
]


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, unit, config):
        self.calls.append(unit.id)
        mcc = 0.99 if unit.setting == "constraint" else 0.7
        return {
            "per_seed": [
                {"seed": s, "mcc": mcc - 0.01 * s, "shd": float(s), "consistency_r": 0.9,
                 "learned_entanglement": [[1, 0], [1, 1]]}
                for s in config["seeds"]
            ],
            "train_wall_s": 3.0,
            "wall_s_per_run": 1.0,
            "true_edges": {"action_graph": 20},
            "predicted_entanglement": [[1, 0], [0, 1]],
        }  # fmt: skip


def _run(tmp_path, recorder, units=UNITS, **kwargs):
    return study.run_study(
        units,
        directory=tmp_path,
        fit=recorder,
        provenance=lambda: {"commit": "abc1234", "date": "today"},
        log=lambda line: None,
        **kwargs,
    )


def test_a_finished_unit_is_read_back_and_not_rerun(tmp_path):
    first = Recorder()
    assert _run(tmp_path, first) == [u.id for u in UNITS]
    stored = json.loads(study.path_for(UNITS[0], tmp_path).read_text())
    assert stored["status"] == "done" and stored["config"] == study.unit_config(UNITS[0])
    assert [r["mcc"] for r in stored["per_seed"]] == pytest.approx([0.99, 0.98, 0.97])
    again = Recorder()
    assert _run(tmp_path, again) == [] and again.calls == []


def test_a_unit_with_a_changed_config_is_refused_naming_the_file_unless_forced(tmp_path):
    _run(tmp_path, Recorder())
    path = study.path_for(UNITS[1], tmp_path)
    stored = json.loads(path.read_text())
    stored["config"]["steps"] = 123
    path.write_text(json.dumps(stored))
    recorder = Recorder()
    with pytest.raises(study.StudyError, match=str(path.name)):
        _run(tmp_path, recorder)
    assert recorder.calls == []  # refused before any training
    assert _run(tmp_path, recorder, force=True) == [UNITS[1].id]
    assert json.loads(path.read_text())["config"] == study.unit_config(UNITS[1])


def test_an_interrupted_unit_is_rerun(tmp_path):
    def crash(unit, config):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, crash, units=UNITS[:1])
    assert json.loads(study.path_for(UNITS[0], tmp_path).read_text())["status"] == "running"
    recorder = Recorder()
    assert _run(tmp_path, recorder) == [u.id for u in UNITS]


def test_an_unreadable_results_file_is_refused_naming_it(tmp_path):
    path = study.path_for(UNITS[0], tmp_path)
    path.write_text("{not json")
    with pytest.raises(study.StudyError, match="unreadable"):
        _run(tmp_path, Recorder())


def test_max_minutes_stops_before_a_unit_that_would_not_fit(tmp_path, monkeypatch):
    recorder = Recorder()
    assert _run(tmp_path, recorder, max_minutes=0.0) == []
    monkeypatch.setattr(study, "estimate_s", lambda config: 600.0)  # 10 min per unit
    assert _run(tmp_path, recorder, max_minutes=9.0) == []
    assert _run(tmp_path, recorder, max_minutes=11.0, slowdown=2.0) == []
    assert _run(tmp_path, recorder, max_minutes=11.0) == [u.id for u in UNITS]


def test_the_table_shows_not_run_yet_and_the_finished_rows(tmp_path):
    units = study.all_units()
    assert len({u.id for u in units}) == len(units) == 2 * (14 + 10)
    empty = study.render_table(units, tmp_path)
    assert empty.count("not run yet") >= len(units)
    _run(tmp_path, Recorder())
    table = study.render_table(units, tmp_path)
    row = next(
        line for line in table.splitlines() if line.startswith("| action_sparsity_non_trivial |")
    )
    assert "0.980; 0.990 / 0.980 / 0.970" in row and "0.998 / 0.4" in row and "abc1234" in row
    assert "0.690; 0.700 / 0.690 / 0.680" in row
    suff = [
        line
        for line in table.splitlines()
        if line.startswith("| action_sparsity_non_trivial_no_suff_var |")
    ]
    assert "0.900 / 0.900 / 0.900" in suff[1] and "1 off-diag (10)" in suff[1]
    assert "not run yet" in next(
        line for line in table.splitlines() if "random_temporal_d0.9 |" in line
    )


def test_list_and_only(tmp_path):
    _run(tmp_path, Recorder(), units=UNITS[:1])
    text = study.listing(UNITS, tmp_path)
    assert "done" in text.splitlines()[0] and "left (~" in text.splitlines()[1]
    assert [u.id for u in study.select(study.all_units(), "random_action_d0.1__*")] == [
        "random_action_d0.1__constraint",
        "random_action_d0.1__none",
    ]
    with pytest.raises(study.StudyError, match="matches no unit"):
        study.select(study.all_units(), "nothing*")
