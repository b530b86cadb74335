"""A minibatch training loop for Pyro programs and other torch objectives.

The loop knows nothing about any model family: it draws shuffled minibatches from named arrays
already on the device, calls an :class:`Objective`, steps a torch optimiser, shows a progress bar
with the objective's scalars, evaluates periodically and writes checkpoints. Families plug in an
objective (e.g. a Pyro ELBO plus a sparsity constraint).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from latentgraph.inference.checkpoint_torch import save_checkpoint
from latentgraph.inference.devices_torch import resolve_device, seed_everything
from latentgraph.inference.settings import History, NonFiniteLossError, TrainConfig
from latentgraph.inference.training_state_torch import TrainingState, clone_tree


class Objective(Protocol):
    """What :func:`train` minimises."""

    def loss(self, batch: Mapping[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict]:
        """Differentiable loss for one minibatch and a dict of 0-d tensors to log."""
        ...

    def after_step(self, step: int, logs: dict) -> None:
        """Called after each optimiser step (e.g. a dual update)."""
        ...


def to_device(arrays: Mapping[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """Named float arrays to float32 tensors on ``device`` (no copy for float32 on the CPU)."""
    return {
        k: torch.as_tensor(np.asarray(v), dtype=torch.float32, device=device)
        for k, v in arrays.items()
    }


class _MinibatchSource:
    """Rows of named arrays by index, from device tensors or, for memory-mapped arrays on an
    accelerator, gathered on the host one batch at a time (the set never has to fit in device
    memory)."""

    def __init__(self, data: Mapping[str, np.ndarray], device: torch.device):
        self.device = device
        mapped = any(isinstance(v, np.memmap) for v in data.values())
        self.on_host = mapped and device.type != "cpu"
        if self.on_host:
            self.arrays = dict(data)
        else:
            with warnings.catch_warnings():  # read-only memmaps are only ever read here
                warnings.filterwarnings("ignore", message=".*not writable.*")
                self.arrays = to_device(data, device)

    def __call__(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.on_host:
            return {k: v[index] for k, v in self.arrays.items()}
        rows = np.sort(index.cpu().numpy())  # sorted reads are kinder to a memory map
        return {
            k: torch.as_tensor(np.asarray(v[rows]), dtype=torch.float32).to(
                self.device, non_blocking=True
            )
            for k, v in self.arrays.items()
        }


def _all_finite(loss: torch.Tensor, parameters: list[torch.Tensor]) -> bool:
    """Whether the loss and every gradient are finite (one host synchronisation)."""
    norms = [torch.linalg.vector_norm(p.grad) for p in parameters if p.grad is not None]
    total = loss.detach() + (torch.stack(norms).sum() if norms else 0.0)
    return bool(torch.isfinite(total))


def _check_data(data: Mapping[str, np.ndarray], batch_size: int) -> int:
    if not isinstance(data, Mapping) or not data:
        raise ValueError("data must be a non-empty mapping of names to arrays, got none")
    lengths = {}
    for name, value in data.items():
        shape = np.shape(value)
        if len(shape) == 0:
            raise ValueError(f"data[{name!r}] must have a sample dimension, got a scalar")
        lengths[name] = shape[0]
    if len(set(lengths.values())) != 1:
        raise ValueError(f"data arrays must share their first dimension, got lengths {lengths}")
    n = next(iter(lengths.values()))
    if n < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} training samples")
    return n


def _check_groups(groups: object, n: int, batch_size: int) -> torch.Tensor:
    labels = np.asarray(groups)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"batch_groups must be ({n},) integer labels, one per row of data, got "
            f"{labels.dtype} {labels.shape}"
        )
    if np.bincount(np.unique(labels, return_inverse=True)[1]).max() < batch_size:
        raise ValueError(f"batch_groups: no group has batch_size = {batch_size} rows")
    return torch.as_tensor(labels, dtype=torch.int64)


def train(
    module: torch.nn.Module,
    objective: Objective,
    data: Mapping[str, np.ndarray],
    config: TrainConfig,
    *,
    evaluate: Callable[[int], dict] | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    param_groups: list[dict] | None = None,
    batch_groups: np.ndarray | None = None,
    description: str = "train",
) -> History:
    """Minimise ``objective`` over minibatches of ``data`` with Adam on ``module``'s parameters.

    Every step checks that the loss and all gradients are finite. When they are not, the run
    goes back to the last good state (kept in memory every ``config.snapshot_every`` steps),
    multiplies the learning rates by ``config.recovery_lr_factor`` and continues; after
    ``config.max_recoveries`` recoveries it writes the last good state as the checkpoint and
    raises :class:`NonFiniteLossError`.

    Args:
        module: holds every trainable parameter; moved to the resolved device.
        objective: see :class:`Objective`; if it has ``state_dict``/``load_state_dict`` (e.g.
            dual multipliers), that state is checkpointed, restored and rolled back with the rest.
        data: named arrays with a shared first (sample) dimension, e.g. ``{"x": (n, T, d_x)}``;
            ``np.memmap`` arrays are read batch by batch when training on an accelerator.
        config: :class:`TrainConfig`.
        evaluate: ``evaluate(step) -> dict`` of scalars, run every ``config.eval_every`` steps
            and at the end; its values show in the progress bar and in ``History.evaluations``.
        checkpoint_path: where to write checkpoints (every ``config.checkpoint_every`` steps and
            at the end): the full :class:`~latentgraph.inference.training_state_torch.TrainingState`.
        resume: continue from ``checkpoint_path`` if that file exists. With the same config,
            data and device the result is bit-identical to a run that never stopped.
        param_groups: optional Adam parameter groups (e.g. a larger learning rate for graph
            logits); every parameter of ``module`` must be in exactly one group. Default: one
            group at ``config.lr``.
        batch_groups: optional ``(n,)`` integer labels of the rows of ``data``: every
            minibatch then holds rows of one label (e.g. single-context batches), drawn as in
            :func:`~latentgraph.inference.training_state_torch.single_group_order`.

    Returns the :class:`History`.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    n = _check_data(data, config.batch_size)
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs a checkpoint_path to resume from")
    groups = None if batch_groups is None else _check_groups(batch_groups, n, config.batch_size)
    device = resolve_device(config.device)
    generator = seed_everything(config.seed)
    module.to(device)
    batches = _MinibatchSource(data, device)
    if param_groups is not None:
        grouped = [p for group in param_groups for p in group["params"]]
        if len(grouped) != len({id(p) for p in grouped}) or {id(p) for p in grouped} != {
            id(p) for p in module.parameters()
        }:
            raise ValueError("param_groups must hold every parameter of module exactly once")
    optimizer = torch.optim.Adam(param_groups or module.parameters(), lr=config.lr)
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    objective_state = None
    if hasattr(objective, "state_dict") and hasattr(objective, "load_state_dict"):
        objective_state = (objective.state_dict, objective.load_state_dict)
    state = TrainingState(
        module, optimizer, generator, n, device, objective_state,
        groups=groups, batch_size=config.batch_size,
    )  # fmt: skip
    if resume and os.path.lexists(checkpoint_path):  # a folder there is refused, not skipped
        state.load(checkpoint_path, steps=config.steps)
    else:
        state.new_epoch()
    last_good = state.capture()
    per_epoch = len(state.order) // config.batch_size
    snapshot_every = config.snapshot_every or max(config.log_every, 1)
    log_every = max(config.log_every, 1)
    postfix: dict[str, str] = {}
    started = time.perf_counter() - state.wall_s
    bar = tqdm(
        total=config.steps,
        initial=state.step,
        desc=description,
        disable=not config.progress,
        dynamic_ncols=True,
    )

    def write_checkpoint(snapshot: dict | None = None) -> None:
        if checkpoint_path is not None:
            save_checkpoint(
                snapshot if snapshot is not None else state.capture("cpu"), checkpoint_path
            )

    while state.step < config.steps:
        step = state.step + 1
        slot = (step - 1) % per_epoch
        if slot == 0 and step > 1:
            state.new_epoch()
        batch = batches(state.order[slot * config.batch_size : (slot + 1) * config.batch_size])
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * state.lr_scale * config.lr_factor(step - 1)
        optimizer.zero_grad(set_to_none=True)
        loss, logs = objective.loss(batch, step)
        loss.backward()
        if not _all_finite(loss, parameters):
            good_step = last_good["step"]
            if len(state.events) >= config.max_recoveries:
                state.restore(last_good)
                write_checkpoint(clone_tree(last_good, "cpu"))
                bar.close()
                where = f" to {checkpoint_path}" if checkpoint_path is not None else ""
                raise NonFiniteLossError(
                    f"the loss or its gradient became non-finite at step {step} after "
                    f"{config.max_recoveries} recoveries (learning rates scaled by "
                    f"{state.lr_scale:g}); the last good state (step {good_step}) was saved{where}"
                )
            state.restore(last_good)
            state.lr_scale *= config.recovery_lr_factor
            state.events.append(
                {"step": step, "restored_step": good_step, "lr_scale": state.lr_scale}
            )
            last_good = state.capture()
            tqdm.write(
                f"{description}: non-finite loss or gradient at step {step}; back to step "
                f"{good_step} with the learning rates scaled by {state.lr_scale:g}",
                file=sys.stderr,
            )
            bar.n = state.step
            bar.refresh()
            continue
        optimizer.step()
        objective.after_step(step, logs)
        state.step = step
        logs = {"loss": loss.detach(), **{k: v.detach() for k, v in logs.items()}}
        for k, v in logs.items():
            state.running[k] = state.running.get(k, 0.0) + v
        state.running_count += 1
        if step % log_every == 0 or step == config.steps:
            row = {
                "step": step,
                **{k: float(v) / state.running_count for k, v in state.running.items()},
            }
            state.running, state.running_count = {}, 0
            row["wall_s"] = time.perf_counter() - started
            state.rows.append(row)
            postfix.update({k: f"{v:.4g}" for k, v in row.items() if k not in ("step", "wall_s")})
        if evaluate is not None and (
            (config.eval_every and step % config.eval_every == 0) or step == config.steps
        ):
            result = {"step": step, **evaluate(step)}
            state.evaluations.append(result)
            postfix.update({k: f"{v:.3f}" for k, v in result.items() if k != "step"})
        state.wall_s = time.perf_counter() - started
        if config.checkpoint_every and step % config.checkpoint_every == 0:
            write_checkpoint()
        if step % snapshot_every == 0:
            last_good = state.capture()
        if step % log_every == 0 or step == config.steps:
            bar.set_postfix(postfix, refresh=False)
            bar.update(step - bar.n)
    bar.close()
    write_checkpoint()
    return History(
        rows=state.rows, evaluations=state.evaluations, wall_s=state.wall_s, events=state.events
    )
