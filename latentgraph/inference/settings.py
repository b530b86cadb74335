"""Training settings and history shared by the torch and JAX loops (imports neither backend).

:class:`TrainConfig` says how long and how fast to train, :class:`History` is what a loop
records, :class:`NonFiniteLossError` is how a loop says training diverged. The Pyro loop
(:mod:`latentgraph.inference.svi_torch`) and the NumPyro loop
(:mod:`latentgraph.inference.svi_jax`) both take and return these, so code that reads a history
or builds settings never has to load a backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["History", "NonFiniteLossError", "TrainConfig"]


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
        max_recoveries: how many times a non-finite loss or gradient may send the run back to
            its last good state before it stops.
        recovery_lr_factor: each recovery multiplies every learning rate by this (0 < f < 1).
        snapshot_every: steps between in-memory copies of the last good state (0: every
            ``log_every`` steps).
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
    max_recoveries: int = 3
    recovery_lr_factor: float = 0.5
    snapshot_every: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in (
            "seed",
            "log_every",
            "eval_every",
            "checkpoint_every",
            "snapshot_every",
            "max_recoveries",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        if not (isinstance(self.lr, float | int) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.lr_decay not in ("none", "cosine"):
            raise ValueError(f"lr_decay must be 'none' or 'cosine', got {self.lr_decay!r}")
        if not (isinstance(self.recovery_lr_factor, float) and 0 < self.recovery_lr_factor < 1):
            raise ValueError(
                f"recovery_lr_factor must be in (0, 1), got {self.recovery_lr_factor!r}"
            )
        if not (
            isinstance(self.final_lr_fraction, float | int) and 0 <= self.final_lr_fraction <= 1
        ):
            raise ValueError(f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction!r}")

    def lr_factor(self, step: int) -> float:
        """Multiplier of the initial learning rates at ``step`` (0-based)."""
        if self.lr_decay == "none":
            return 1.0
        f = self.final_lr_fraction
        return f + (1 - f) * 0.5 * (1 + math.cos(math.pi * min(step, self.steps) / self.steps))


@dataclass
class History:
    """Logged scalars: ``rows`` of ``{"step": ..., name: value}``, evaluations apart, and
    ``events``: one ``{"step", "restored_step", "lr_scale"}`` per divergence recovery."""

    rows: list[dict] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)
    wall_s: float = 0.0
    events: list[dict] = field(default_factory=list)


class NonFiniteLossError(FloatingPointError):
    """Training diverged: the loss or a gradient stayed non-finite after every allowed recovery."""
