"""Schedules, dual ascent, checkpoints and the training loop's argument checks."""

import numpy as np
import pytest
import torch

from latentgraph.errors import RunFolderError
from latentgraph.inference.checkpoint_torch import load_checkpoint, save_checkpoint
from latentgraph.inference.devices_torch import resolve_device
from latentgraph.inference.lagrangian_torch import DualAscent, EdgeCountConstraint
from latentgraph.inference.schedules import LinearSchedule
from latentgraph.inference.svi_torch import TrainConfig, train


def test_linear_schedule_matches_the_paper_formula():
    s = LinearSchedule(start=100, end=20, duration=150_000)
    for step in (0, 1, 75_000, 150_000, 300_000):
        assert s(step) == pytest.approx(100 + (20 - 100) * min(1.0, step / 150_000))


def test_linear_schedule_delay_counts_from_the_end_of_the_delay():
    s = LinearSchedule(start=100, end=20, duration=100, delay=50)
    assert s(50) == 100 and s(100) == 60 and s(150) == 20 and s(10_000) == 20
    assert LinearSchedule(100, 20, duration=0)(1) == 20


def test_dual_ascent_projects_and_restarts():
    dual = DualAscent(lr=0.5, restarts=True)
    assert dual.update(torch.tensor(2.0)).item() == 1.0
    assert dual.update(torch.tensor(1.0)).item() == 1.5
    assert dual.update(torch.tensor(-0.1)).item() == 0.0  # satisfied: restart
    no_restart = DualAscent(lr=0.5, restarts=False, multiplier=torch.tensor(1.0))
    assert no_restart.update(torch.tensor(-0.5)).item() == 0.75
    assert no_restart.update(torch.tensor(-10.0)).item() == 0.0  # projected onto nu >= 0


def test_lagrangian_term_uses_the_multiplier_without_its_gradient():
    c = EdgeCountConstraint(
        LinearSchedule(10, 4, duration=0), DualAscent(lr=1.0, multiplier=torch.tensor(3.0))
    )
    edges = torch.tensor(6.0, requires_grad=True)
    term, defect = c.lagrangian_term(edges, step=5)
    assert defect.item() == 2.0 and term.item() == 6.0
    term.backward()
    assert edges.grad.item() == 3.0


def test_checkpoint_round_trip_is_atomic_and_safe(tmp_path):
    state = {"step": 3, "w": torch.arange(4.0), "nested": {"nu": torch.tensor(0.5)}}
    path = save_checkpoint(state, tmp_path / "ck.pt")
    loaded = load_checkpoint(path)
    assert loaded["step"] == 3 and torch.equal(loaded["w"], state["w"])
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary file left
    with pytest.raises(ValueError, match="checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_loading_refuses_pickled_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(RunFolderError, match="weights-only") as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value.__context__, pickle.UnpicklingError)


def test_train_config_and_device_validation():
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    assert resolve_device("cpu").type == "cpu"


class _Quadratic:
    """loss = mean((w - x)^2): the optimum is the data mean. At ``bad_gradient_steps`` (the
    first time each is taken) the gradient, not the value, becomes NaN."""

    def __init__(self, module, bad_gradient_steps=()):
        self.module, self.bad = module, set(bad_gradient_steps)

    def loss(self, batch, step):
        value = ((self.module.w - batch["x"]) ** 2).mean()
        if step in self.bad:
            self.bad.discard(step)
            value = value + torch.sqrt(self.module.w * 0.0)  # 0 forward, NaN gradient
        return value, {}

    def after_step(self, step, logs):
        pass


def test_train_minimises_a_known_objective_and_rejects_bad_data():
    module = torch.nn.Module()
    module.w = torch.nn.Parameter(torch.zeros(()))
    x = np.random.default_rng(0).normal(3.0, 0.1, size=(512,))
    history = train(
        module,
        _Quadratic(module),
        {"x": x},
        TrainConfig(steps=400, batch_size=64, lr=0.05, progress=False, device="cpu"),
    )
    assert module.w.item() == pytest.approx(3.0, abs=0.05)
    assert history.rows[-1]["loss"] < history.rows[0]["loss"]
    with pytest.raises(ValueError, match="first dimension"):
        train(
            module,
            _Quadratic(module),
            {"x": x, "y": x[:10]},
            TrainConfig(steps=1, batch_size=8, progress=False),
        )
    with pytest.raises(ValueError, match="batch_size"):
        train(
            module,
            _Quadratic(module),
            {"x": x},
            TrainConfig(steps=1, batch_size=1024, progress=False),
        )


def test_cosine_decay_reaches_the_final_fraction_and_checkpoints(tmp_path):
    config = TrainConfig(steps=100, lr=0.1, lr_decay="cosine", final_lr_fraction=0.1)
    assert config.lr_factor(0) == pytest.approx(1.0)
    assert config.lr_factor(50) == pytest.approx(0.55)
    assert config.lr_factor(100) == pytest.approx(0.1)
    assert TrainConfig(steps=100).lr_factor(60) == 1.0
    with pytest.raises(ValueError, match="lr_decay"):
        TrainConfig(lr_decay="linear")
    module = torch.nn.Module()
    module.w = torch.nn.Parameter(torch.zeros(()))
    x = np.ones(64)
    path = tmp_path / "ck.pt"
    train(
        module,
        _Quadratic(module),
        {"x": x},
        TrainConfig(
            steps=10, batch_size=8, lr=0.1, lr_decay="cosine", progress=False, device="cpu"
        ),
        checkpoint_path=path,
    )
    state = load_checkpoint(path)
    assert state["step"] == 10 and state["lr_scale"] == 1.0 and "optimizer" in state


def test_a_non_finite_gradient_with_a_finite_loss_is_caught():
    module = torch.nn.Module()
    module.w = torch.nn.Parameter(torch.zeros(()))
    x = np.random.default_rng(0).normal(3.0, 0.1, size=(256,))
    config = TrainConfig(steps=200, batch_size=32, lr=0.05, progress=False, device="cpu")
    history = train(module, _Quadratic(module, {75}), {"x": x}, config)
    assert [(e["step"], e["restored_step"]) for e in history.events] == [(75, 50)]
    assert torch.isfinite(module.w) and module.w.item() == pytest.approx(3.0, abs=0.1)
