"""Exact resume after a kill, divergence recovery and the run-folder rules (issue 6).

The reference for every resumed or recovered run is a run of the same program that was never
interrupted: same seed, same machine, CPU, so the comparison is bit for bit.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from latentgraph.app.cli import main
from latentgraph.data import make_mechanism_dataset
from latentgraph.families.mechanism_sparsity import SparsitySettings, fit, model_config_for
from latentgraph.families.mechanism_sparsity.config import demo_sizes
from latentgraph.families.mechanism_sparsity.objective_pyro import MechanismSparsityObjective
from latentgraph.inference.checkpoint_torch import load_checkpoint
from latentgraph.inference.svi_torch import NonFiniteLossError, TrainConfig

TIMING_KEYS = {"wall_s", "train_wall_s"}
FIT_ARGS = [
    "fit", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial", "--n-samples", "2000",
    "--sizes", "small", "--batch-size", "64", "--lr", "5e-3", "--graph-lr", "5e-2",
    "--dual-lr", "5e-2", "--bound", "20", "--eval-every", "100", "--checkpoint-every", "10",
    "--seed", "7", "--no-progress", "--device", "cpu",
]  # fmt: skip


def _cli(steps: int, *extra: str) -> list[str]:
    """``latentgraph fit`` arguments of a tiny run (later options override earlier ones)."""
    return [*FIT_ARGS, "--steps", str(steps), *extra]


def _without_timing(value):
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def _assert_same_run(a, b):
    """Same final parameters, optimiser state, RNG state and numbers as the reference run."""
    state_a, state_b = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    assert state_a["step"] == state_b["step"]
    for name, tensor in state_a["module"].items():
        assert torch.equal(tensor, state_b["module"][name]), name
    moments_a = state_a["optimizer"]["state"]
    moments_b = state_b["optimizer"]["state"]
    for key in moments_a:
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(moments_a[key][name], moments_b[key][name])
    assert torch.equal(state_a["torch_rng"], state_b["torch_rng"])
    assert torch.equal(state_a["extra"]["action_graph"]["multiplier"],
                       state_b["extra"]["action_graph"]["multiplier"])  # fmt: skip
    for name in ("metrics.json", "history.json"):
        left = json.loads((a / name).read_text())
        right = json.loads((b / name).read_text())
        assert _without_timing(left) == _without_timing(right), name


def test_a_killed_training_process_resumes_bit_for_bit(tmp_path, capsys):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "latentgraph.app.cli", *_cli(300, "--out", str(killed))],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not (killed / "checkpoint.pt").exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.02)
        time.sleep(random.Random(os.getpid()).uniform(0.0, 0.6))  # a random later step
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "metrics.json").exists(), "finished before the kill; lower the delay"
    killed_at = load_checkpoint(killed / "checkpoint.pt")["step"]
    assert 10 <= killed_at < 300
    assert main(_cli(300, "--out", str(killed), "--resume")) == 0
    assert main(_cli(300, "--out", str(reference))) == 0
    capsys.readouterr()
    _assert_same_run(killed, reference)
    # Resuming a finished run changes nothing.
    assert main(_cli(300, "--out", str(killed), "--resume")) == 0
    _assert_same_run(killed, reference)


@pytest.fixture(scope="module")
def toy():
    return make_mechanism_dataset("action_sparsity_non_trivial", n_samples=1500)


def _fit(toy, tmp_path, steps=60, **kwargs):
    config = TrainConfig(
        steps=steps, batch_size=64, lr=5e-3, seed=5, progress=False, device="cpu",
        log_every=7, checkpoint_every=10, snapshot_every=5, eval_every=1,
    )  # fmt: skip
    return fit(
        toy,
        model_config=model_config_for(toy, demo_sizes()),
        sparsity=SparsitySettings(bound=20, graph_lr=5e-2, dual_lr=5e-2),
        train_config=config,
        checkpoint_path=tmp_path / "checkpoint.pt",
        **kwargs,
    )


def _parameters(fitted):
    return {k: v.detach().clone() for k, v in fitted.vae.state_dict().items()}


class _Interrupted(Exception):
    pass


def test_an_interrupted_fit_resumes_exactly_in_process(toy, tmp_path):
    reference = _fit(toy, tmp_path / "a")

    def stop_at_33(fitted, step):
        if step == 33:
            raise _Interrupted
        return {}

    with pytest.raises(_Interrupted):
        _fit(toy, tmp_path / "b", evaluate=stop_at_33)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["step"] == 30
    resumed = _fit(toy, tmp_path / "b", resume=True)
    for name, tensor in _parameters(reference).items():
        assert torch.equal(tensor, _parameters(resumed)[name]), name
    assert _without_timing(resumed.history.rows) == _without_timing(reference.history.rows)


@pytest.fixture
def transient_nan(monkeypatch):
    """Make the mechanism-sparsity loss NaN the first time each of the given steps is taken."""
    pending: set[int] = set()
    original = MechanismSparsityObjective.loss

    def loss(self, batch, step):
        value, logs = original(self, batch, step)
        if step in pending:
            pending.discard(step)
            value = value * float("nan")
        return value, logs

    monkeypatch.setattr(MechanismSparsityObjective, "loss", loss)
    return pending


def test_nan_losses_are_survived_by_going_back_and_lowering_the_rate(toy, tmp_path, transient_nan):
    transient_nan.update({12, 31})
    fitted = _fit(toy, tmp_path)
    events = fitted.history.events
    assert [(e["step"], e["restored_step"]) for e in events] == [(12, 10), (31, 30)]
    assert [e["lr_scale"] for e in events] == [0.5, 0.25]
    assert all(np.isfinite(v.numpy()).all() for v in _parameters(fitted).values())
    assert [row["step"] for row in fitted.history.rows] == [7 * k for k in range(1, 9)] + [60]
    assert load_checkpoint(tmp_path / "checkpoint.pt")["lr_scale"] == 0.25


def test_persistent_divergence_stops_clearly_with_a_usable_checkpoint(toy, tmp_path, monkeypatch):
    original = MechanismSparsityObjective.loss

    def loss(self, batch, step):
        value, logs = original(self, batch, step)
        return (value * float("nan") if step > 20 else value), logs

    monkeypatch.setattr(MechanismSparsityObjective, "loss", loss)
    with pytest.raises(NonFiniteLossError, match=r"step 21 after 3 recoveries.*step 20"):
        _fit(toy, tmp_path)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 20 and len(state["events"]) == 3
    assert all(torch.isfinite(v).all() for v in state["module"].values())


def test_cli_recovers_from_a_nan_and_reports_it(tmp_path, capsys, transient_nan):
    transient_nan.add(15)
    out = tmp_path / "run"
    args = _cli(60, "--out", str(out))
    assert main(args) == 0
    assert json.loads((out / "metrics.json").read_text())["recoveries"] == 1
    assert json.loads((out / "history.json").read_text())["recoveries"][0]["step"] == 15
    assert "non-finite" in capsys.readouterr().err


def test_cli_divergence_exits_1_with_one_line_and_keeps_the_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    args = _cli(40, "--lr", "1e6", "--out", str(out))
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("latentgraph: training failed:") and "checkpoint.pt" in err[-1]
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 0
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--resume", "--overwrite"], "not allowed with"),
        (["--resume"], "no run to resume"),
    ],
)
def test_resume_needs_a_run_and_excludes_overwrite(tmp_path, capsys, extra, needle):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code = None
    try:
        code = main(_cli(20, "--out", str(out), *extra))
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    assert code == 2 and needle in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_resume_refuses_other_settings(tmp_path, capsys):
    out = tmp_path / "run"
    args = _cli(20, "--out", str(out))
    assert main(args) == 0
    before = (out / "metrics.json").read_text()
    assert main([*args, "--resume", "--seed", "8"]) == 2
    assert "train.seed" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == before
