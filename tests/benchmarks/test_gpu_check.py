"""The prepared GPU check (``benchmarks/gpu_check.py``, issue 19) keeps working between lendings.

The dry run runs every stage on the CPU at tiny sizes in a subprocess; its JSON must hold every
stage with finite, positive numbers where a time or a rate belongs, and ``gpu_record.py`` must
render it. The three tests share one dry run (a module fixture) and run in CI, since the issue
asks that the dry run pass there: about 105 CPU seconds on one thread, most of it imports, XLA
compilations and the fit command's own start and evaluation. The runner's own guarantees (a stage that times out or fails is recorded and the next
stage runs; the fit keeps its reserve of the budget) and the record's verdicts are checked on
small hand-made cases.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import gpu_check, gpu_record  # noqa: E402
from benchmarks.device_tests import touches_device  # noqa: E402

DRY_RUN_TIMEOUT_S = 1500  # the dry run's budget; about 2 CPU minutes, more when loaded


def _positive(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=DRY_RUN_TIMEOUT_S,
    )  # fmt: skip
    wall = time.perf_counter() - start
    log = (out / gpu_check.LOG_NAME).read_text() if (out / gpu_check.LOG_NAME).exists() else ""
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr[-3000:]}\n{log[-5000:]}"
    return json.loads((out / gpu_check.RESULTS_NAME).read_text()), log, wall


def test_dry_run_records_every_stage_ok(dry_run):
    payload, log, _ = dry_run
    assert payload["meta"]["dry_run"] is True
    assert list(payload["stages"]) == list(gpu_check.STAGE_NAMES)
    for name, entry in payload["stages"].items():
        assert entry["status"] == "ok", (name, entry.get("error"))
        assert _positive(entry["wall_s"]) and entry["wall_s"] <= entry["cap_s"] + 10
        assert f"==== {name} " in log


def test_dry_run_numbers_are_finite_and_positive(dry_run):
    stages = {name: entry["result"] for name, entry in dry_run[0]["stages"].items()}
    env = stages["env"]
    assert env["packages"]["torch"]["version"] and env["packages"]["jax"]["version"]
    assert all(
        _positive(env["ceilings"][k]) for k in ("copy_gb_per_s", "matmul_float32_tflop_per_s")
    )

    tests = stages["tests"]
    assert tests["collected"] > 0 and tests["passed"] > 0
    assert tests["failed"] == 0 and tests["errors"] == 0

    mechanism = stages["mechanism"]
    expected = {"pyro", "plain", "compiled", "numpyro"}
    assert set(mechanism["ms_per_step"]) == expected
    assert all(_positive(v) for v in mechanism["ms_per_step"].values())
    assert _positive(mechanism["pyro_over_plain"]) and _positive(mechanism["best_compiled_ms"])
    assert _positive(mechanism["flops_per_step"])

    sweep = stages["sweep"]
    assert sweep["runs"] == 8
    assert _positive(sweep["speedup_vmap"]) and _positive(sweep["sequential_run_steps_per_s"])

    speed = stages["interaction_speed"]
    variants = [row["variant"] for row in speed["rows"]]
    assert variants[0] == "plain float32" and "pyro bf16 + compile" in variants
    assert all(_positive(row["s_per_step"]) for row in speed["rows"])
    assert speed["rows"][0]["vs_plain_float32"] == pytest.approx(1.0)

    fit = stages["fit"]
    assert fit["steps"] == 8 and math.isfinite(fit["j_ari"]) and -1 <= fit["j_ari"] <= 1
    steps = [point["step"] for point in fit["curve"]]
    assert steps == sorted(steps) and steps[-1] == 8


def test_dry_run_renders_as_a_benchmarks_section(dry_run, tmp_path):
    payload = dry_run[0]
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Earlier section\n\nkept\n")
    json_path = tmp_path / "gpu_check.json"
    json_path.write_text(json.dumps(payload))
    gpu_record.main([str(json_path), "--md-out", str(path)])
    text = path.read_text()
    assert "## Earlier section\n\nkept" in text
    assert f"## {gpu_record.section_title(payload)}" in text
    assert text.count("n/a (dry run)") == len(gpu_record.targets(payload))
    for heading in ("Mechanism sparsity (ok", "NumPyro sweep (ok", "Interaction asymmetry step (ok",
                    "Interaction-asymmetry fit (ok", "Learning curve"):  # fmt: skip
        assert heading in text


# ---- the runner, on stand-in stages --------------------------------------------------------


def _sleeps(ctx):
    ctx.put(started=True)
    time.sleep(60)


def _fails(ctx):
    ctx.put(half=1.0)
    raise ValueError("planted failure")


def _works(ctx):
    ctx.put(value=2.0)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_timed_out_or_failed_stage_is_recorded_and_the_next_runs(tmp_path, monkeypatch):
    for key in ("PYTHONPATH", "JAX_PLATFORMS", "XLA_PYTHON_CLIENT_PREALLOCATE", "PYTHONUNBUFFERED"):
        if key in os.environ:  # the runner sets these for its stages; restore them afterwards
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(gpu_check, "STAGE_FUNCTIONS", {
        "env": _sleeps, "tests": _fails, "mechanism": _works,
    })  # fmt: skip
    monkeypatch.setattr(gpu_check, "_preload", lambda log: (True, 0.0))  # fork, no imports
    start = time.perf_counter()
    rc = gpu_check.main([
        "--dry-run", "--out", str(tmp_path), "--stages", "env,tests,mechanism",
        "--cap", "env=2", "--cap", "tests=20", "--cap", "mechanism=20",
    ])  # fmt: skip
    assert rc == 1 and time.perf_counter() - start < 30
    stages = json.loads((tmp_path / gpu_check.RESULTS_NAME).read_text())["stages"]
    assert stages["env"]["status"] == "timeout" and stages["env"]["result"] == {"started": True}
    assert stages["env"]["wall_s"] < 15
    assert stages["tests"]["status"] == "failed"
    assert "planted failure" in stages["tests"]["error"]
    assert stages["tests"]["result"] == {"half": 1.0}
    assert stages["mechanism"] == {**stages["mechanism"], "status": "ok", "result": {"value": 2.0}}


def test_the_fit_keeps_its_reserve_and_takes_what_is_left():
    stages = {s.name: s for s in gpu_check.STAGES}
    later = ["interaction_speed", "fit"]
    assert gpu_check.plan_cap(stages["mechanism"], dry_run=False, left=540, later=later) == 90
    assert gpu_check.plan_cap(stages["mechanism"], dry_run=False, left=200, later=later) == 20
    assert gpu_check.plan_cap(stages["mechanism"], dry_run=False, left=200, later=[]) == 90
    assert gpu_check.plan_cap(stages["fit"], dry_run=False, left=250, later=[]) == 248
    assert gpu_check.plan_cap(stages["sweep"], dry_run=False, left=100, later=["fit"]) == 0
    # the defaults leave the fit at least its reserve of a 540 s budget
    assert 540 - sum(s.cap_s for s in gpu_check.STAGES if s.name != "fit") >= gpu_check.FIT_MIN_S


# ---- the record's verdicts, on hand-made results ---------------------------------------------


def _payload(**results) -> dict:
    stages = {name: {"status": "ok", "wall_s": 1.0, "cap_s": 9.0, "result": r}
              for name, r in results.items()}  # fmt: skip
    meta = {"dry_run": False, "date": "2026-01-01 00:00 UTC", "command": "c", "commit": "x",
            "budget_s": 540}  # fmt: skip
    return {"schema": 1, "meta": meta, "stages": stages, "total_wall_s": 5.0}


def _verdicts(payload: dict) -> list[str]:
    return [row["verdict"] for row in gpu_record.targets(payload)]


def test_verdicts_follow_the_targets():
    good = _payload(
        tests={"passed": 50, "failed": 0, "errors": 0, "skipped": 1},
        mechanism={"sizes": "official", "pyro_over_plain": 1.29, "best_compiled_ms": 4.3},
        sweep={"sizes": "official", "speedup_vmap": 10.5},
        interaction_speed={"preset": "official", "best_s_per_step": 0.024, "best_variant": "v"},
        fit={"j_ari": 0.81, "steps": 100, "preset": "cpu32"},
    )
    assert _verdicts(good) == ["**pass**"] * 6
    bad = _payload(
        tests={"passed": 50, "failed": 1, "errors": 0, "skipped": 0},
        mechanism={"sizes": "official", "pyro_over_plain": 1.31, "best_compiled_ms": 4.5},
        sweep={"sizes": "official", "speedup_vmap": 9.9},
        interaction_speed={"preset": "official", "best_s_per_step": 0.026, "best_variant": "v"},
        fit={"j_ari": 0.79, "steps": 100, "preset": "cpu32"},
    )
    assert _verdicts(bad) == ["**fail**"] * 6
    assert _verdicts(_payload()) == ["not measured"] * 6
    small = _payload(mechanism={"sizes": "demo", "pyro_over_plain": 1.0, "best_compiled_ms": 1.0})
    assert _verdicts(small)[1:3] == ["n/a (not official sizes)"] * 2
    assert "**pass**" in gpu_record.render(good) and "**fail**" in gpu_record.render(bad)


def test_render_refuses_what_is_not_a_gpu_check():
    with pytest.raises(ValueError, match="gpu_check.py JSON"):
        gpu_record.render({"meta": {}})


def test_device_tests_are_told_apart_by_fixture_or_mark():
    assert touches_device("def test_a(device):\n    pass\n")
    assert touches_device("import pytest\n@pytest.mark.gpu\ndef test_a():\n    pass\n")
    assert touches_device("import pytest\npytestmark = [pytest.mark.gpu]\n")
    assert touches_device("import pytest\n@pytest.fixture\ndef vae(device):\n    pass\n")
    assert not touches_device("def test_a(dtype):\n    pass\n")
    assert not touches_device("import pytest\n@pytest.mark.slow\ndef test_a():\n    pass\n")
