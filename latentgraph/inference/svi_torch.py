"""A minibatch training loop for Pyro programs and other torch objectives.

The loop knows nothing about any model family: it draws shuffled minibatches from named arrays
already on the device, calls an :class:`Objective`, steps a torch optimiser, shows a progress bar
with the objective's scalars, evaluates periodically and writes checkpoints. Families plug in an
objective (e.g. a Pyro ELBO plus a sparsity constraint).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from latentgraph.inference.checkpoint_torch import save_checkpoint
from latentgraph.inference.devices_torch import resolve_device, seed_everything


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train`.

    Attributes:
        steps: number of optimiser steps.
        batch_size: minibatch size (batches are drawn without replacement, last one dropped).
        lr: Adam learning rate.
        seed: seeds torch/numpy/random and the minibatch order.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        log_every: steps between logged scalars (and progress-bar updates).
        eval_every: steps between evaluations (0: only at the end).
        checkpoint_every: steps between checkpoints (0: only at the end, when a path is given).
        progress: show a tqdm progress bar.
        lr_decay: ``"none"`` (constant, the paper) or ``"cosine"``: every group's learning rate
            follows ``lr * (f + (1 - f) * (1 + cos(pi * t / steps)) / 2)`` with
            ``f = final_lr_fraction``, which helps short runs settle.
        final_lr_fraction: the cosine schedule's last value as a fraction of the initial lr.
    """

    steps: int = 10_000
    batch_size: int = 1024
    lr: float = 5e-4
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    eval_every: int = 0
    checkpoint_every: int = 0
    progress: bool = True
    lr_decay: str = "none"
    final_lr_fraction: float = 0.05

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("log_every", "eval_every", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if not (isinstance(self.lr, float | int) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.lr_decay not in ("none", "cosine"):
            raise ValueError(f"lr_decay must be 'none' or 'cosine', got {self.lr_decay!r}")
        if not 0 <= self.final_lr_fraction <= 1:
            raise ValueError(f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction!r}")

    def lr_factor(self, step: int) -> float:
        """Multiplier of the initial learning rates at ``step`` (0-based)."""
        if self.lr_decay == "none":
            return 1.0
        f = self.final_lr_fraction
        return f + (1 - f) * 0.5 * (1 + math.cos(math.pi * min(step, self.steps) / self.steps))


class Objective(Protocol):
    """What :func:`train` minimises."""

    def loss(self, batch: Mapping[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict]:
        """Differentiable loss for one minibatch and a dict of 0-d tensors to log."""
        ...

    def after_step(self, step: int, logs: dict) -> None:
        """Called after each optimiser step (e.g. a dual update)."""
        ...


@dataclass
class History:
    """Logged scalars: ``rows`` of ``{"step": ..., name: value}``, evaluations apart."""

    rows: list[dict] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)
    wall_s: float = 0.0


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite."""


def to_device(arrays: Mapping[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """Named float arrays to float32 tensors on ``device``."""
    return {
        k: torch.as_tensor(np.asarray(v), dtype=torch.float32, device=device)
        for k, v in arrays.items()
    }


def train(
    module: torch.nn.Module,
    objective: Objective,
    data: Mapping[str, np.ndarray],
    config: TrainConfig,
    *,
    evaluate: Callable[[int], dict] | None = None,
    checkpoint_path: str | Path | None = None,
    extra_state: Callable[[], dict] | None = None,
    param_groups: list[dict] | None = None,
    description: str = "train",
) -> History:
    """Minimise ``objective`` over minibatches of ``data`` with Adam on ``module``'s parameters.

    Args:
        module: holds every trainable parameter; moved to the resolved device.
        objective: see :class:`Objective`.
        data: named arrays with a shared first (sample) dimension, e.g. ``{"x": (n, T, d_x)}``.
        config: :class:`TrainConfig`.
        evaluate: ``evaluate(step) -> dict`` of scalars, run every ``config.eval_every`` steps
            and at the end; its values show in the progress bar and in ``History.evaluations``.
        checkpoint_path: where to write checkpoints (module, optimiser, step, RNG, extras).
        extra_state: returns more checkpoint entries (e.g. a dual variable's state).
        param_groups: optional Adam parameter groups (e.g. a larger learning rate for graph
            logits); every parameter of ``module`` must be in exactly one group. Default: one
            group at ``config.lr``.

    Returns the :class:`History`. Raises :class:`NonFiniteLossError` when a logged loss is not
    finite (checked every ``log_every`` steps, so the device is not synchronised each step).
    """
    lengths = {k: len(v) for k, v in data.items()}
    if not lengths:
        raise ValueError("data must hold at least one array, got none")
    if len(set(lengths.values())) != 1:
        raise ValueError(f"data arrays must share their first dimension, got lengths {lengths}")
    n = next(iter(lengths.values()))
    if n < config.batch_size:
        raise ValueError(f"batch_size {config.batch_size} exceeds the {n} training samples")
    device = resolve_device(config.device)
    generator = seed_everything(config.seed)
    module.to(device)
    tensors = to_device(data, device)
    if param_groups is not None:
        grouped = [p for group in param_groups for p in group["params"]]
        if len(grouped) != len({id(p) for p in grouped}) or {id(p) for p in grouped} != {
            id(p) for p in module.parameters()
        }:
            raise ValueError("param_groups must hold every parameter of module exactly once")
    optimizer = torch.optim.Adam(param_groups or module.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: config.lr_factor(step))
    history = History()
    per_epoch = n // config.batch_size
    order = torch.randperm(n, generator=generator).to(device)
    running: dict[str, torch.Tensor] = {}
    running_count = 0
    postfix: dict[str, str] = {}
    start = time.perf_counter()
    bar = tqdm(
        total=config.steps, desc=description, disable=not config.progress, dynamic_ncols=True
    )

    def write_checkpoint(step: int) -> None:
        if checkpoint_path is None:
            return
        state = {
            "step": step,
            "module": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "batch_generator": generator.get_state(),
        }
        if extra_state is not None:
            state["extra"] = extra_state()
        save_checkpoint(state, checkpoint_path)

    for step in range(1, config.steps + 1):
        slot = (step - 1) % per_epoch
        if slot == 0 and step > 1:
            order = torch.randperm(n, generator=generator).to(device)
        index = order[slot * config.batch_size : (slot + 1) * config.batch_size]
        batch = {k: v[index] for k, v in tensors.items()}
        optimizer.zero_grad(set_to_none=True)
        loss, logs = objective.loss(batch, step)
        loss.backward()
        optimizer.step()
        scheduler.step()
        objective.after_step(step, logs)
        logs = {"loss": loss.detach(), **{k: v.detach() for k, v in logs.items()}}
        for k, v in logs.items():
            running[k] = running.get(k, 0.0) + v
        running_count += 1
        if step % max(config.log_every, 1) == 0 or step == config.steps:
            row = {"step": step, **{k: float(v) / running_count for k, v in running.items()}}
            running, running_count = {}, 0
            if not math.isfinite(row["loss"]):
                bar.close()
                raise NonFiniteLossError(f"the loss became {row['loss']} near step {step}")
            row["wall_s"] = time.perf_counter() - start
            history.rows.append(row)
            postfix.update({k: f"{v:.4g}" for k, v in row.items() if k not in ("step", "wall_s")})
        if evaluate is not None and (
            (config.eval_every and step % config.eval_every == 0) or step == config.steps
        ):
            result = {"step": step, **evaluate(step)}
            history.evaluations.append(result)
            postfix.update({k: f"{v:.3f}" for k, v in result.items() if k != "step"})
        if config.checkpoint_every and step % config.checkpoint_every == 0:
            write_checkpoint(step)
        if step % max(config.log_every, 1) == 0 or step == config.steps:
            bar.set_postfix(postfix, refresh=False)
            bar.update(step - bar.n)
    bar.close()
    history.wall_s = time.perf_counter() - start
    write_checkpoint(config.steps)
    return history
