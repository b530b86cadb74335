"""Everything a torch training run needs to continue exactly where it was (PyTorch).

A run's state is more than its weights: the optimiser's moments, the learning-rate scale left by
divergence recoveries, the global torch RNG (Pyro draws its noise from it), the minibatch
generator *as it was when the current epoch's permutation was drawn* (so the permutation is
redrawn identically instead of stored), the objective's own state (e.g. dual multipliers), the
logged history and the scalars accumulated since the last log row. :class:`TrainingState`
captures all of that into a plain dict of tensors, numbers, strings and lists, which is both the
in-memory "last good state" used to recover from a NaN and the on-disk checkpoint, and restores
it. Restoring then stepping gives bit-identical results to never having stopped (same device,
same thread count), which ``tests/pyro/test_resume.py`` checks by killing real training processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from latentgraph.errors import RunFolderError
from latentgraph.inference.checkpoint_torch import (
    check_optimizer_state,
    check_shapes,
    check_training_state,
    load_checkpoint,
)

CHECKPOINT_FORMAT = 2


def clone_tree(tree, device: torch.device | str | None = None):
    """A deep copy of nested dicts/lists/tuples whose tensors are cloned (and moved to ``device``)."""
    if torch.is_tensor(tree):
        tree = tree.detach()
        return tree.to(device, copy=True) if device is not None else tree.clone()
    if isinstance(tree, dict):
        return {k: clone_tree(v, device) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return type(tree)(clone_tree(v, device) for v in tree)
    return tree


def single_group_order(
    groups: torch.Tensor, batch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """One epoch's row order in which every run of ``batch_size`` rows shares one group.

    Each group's rows are shuffled and cut into full batches (a group's remainder sits out this
    epoch; it differs from epoch to epoch), then the batches of all groups are shuffled
    together, so a group's share of the steps is its share of the rows. Example: single-context
    minibatches, ``groups`` the context of every training image.

    Args:
        groups: ``(n,)`` integer group labels (CPU).
        batch_size: rows per batch.
        generator: draws the permutations (CPU).

    Returns ``(n_batches * batch_size,)`` row indices (CPU, int64).
    """
    rows = torch.randperm(len(groups), generator=generator)
    shuffled = groups[rows]
    order = torch.argsort(shuffled, stable=True)  # by group, random within each group
    rows, shuffled = rows[order], shuffled[order]
    _, counts = torch.unique_consecutive(shuffled, return_counts=True)
    batches = []
    for chunk in torch.split(rows, counts.tolist()):
        full = len(chunk) // batch_size * batch_size
        batches.extend(chunk[:full].view(-1, batch_size))
    if not batches:
        raise ValueError(f"no group has batch_size = {batch_size} rows")
    stacked = torch.stack(batches)
    return stacked[torch.randperm(len(stacked), generator=generator)].reshape(-1)


@dataclass
class TrainingState:
    """The mutable, restorable parts of one run of :func:`~latentgraph.inference.svi_torch.train`.

    Attributes:
        module, optimizer: the model and its torch optimiser.
        generator: the minibatch-order generator (CPU).
        n_samples: rows of the training data (to redraw an epoch's permutation).
        groups, batch_size: with ``groups`` (``(n_samples,)`` labels, CPU), every minibatch
            holds rows of one group (:func:`single_group_order`); ``None``: plain permutations.
        objective_state: ``(get, set)`` for the objective's own state, or None.
        step: optimiser steps completed.
        lr_scale: factor applied to every group's learning rate (halved by each recovery).
        epoch_rng: ``generator``'s state just before the current permutation was drawn.
        order: the current epoch's permutation of ``range(n_samples)`` (on the device; with
            ``groups``, the rows of its full single-group batches).
        running: sums of the logged scalars since the last log row, and their ``count``.
        rows, evaluations, events: the history (log rows, evaluations, recoveries).
        wall_s: training seconds spent before this process (resumed runs add up).
    """

    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    n_samples: int
    device: torch.device
    objective_state: tuple[Callable[[], dict], Callable[[dict], None]] | None = None
    step: int = 0
    lr_scale: float = 1.0
    epoch_rng: torch.Tensor | None = None
    order: torch.Tensor | None = None
    running: dict = field(default_factory=dict)
    running_count: int = 0
    rows: list = field(default_factory=list)
    evaluations: list = field(default_factory=list)
    events: list = field(default_factory=list)
    wall_s: float = 0.0
    groups: torch.Tensor | None = None
    batch_size: int = 1

    def _draw_order(self) -> torch.Tensor:
        if self.groups is None:
            order = torch.randperm(self.n_samples, generator=self.generator)
        else:
            order = single_group_order(self.groups, self.batch_size, self.generator)
        return order.to(self.device)

    def new_epoch(self) -> None:
        """Draw the next epoch's permutation, remembering the generator state it came from."""
        self.epoch_rng = self.generator.get_state()
        self.order = self._draw_order()

    def capture(self, device: torch.device | str | None = None) -> dict:
        """A self-contained copy of the state (tensors cloned, on ``device`` if given)."""
        state = {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_scale": self.lr_scale,
            "torch_rng": torch.get_rng_state(),
            "epoch_rng": self.epoch_rng,
            "batch_generator": self.generator.get_state(),
            "running": self.running,
            "running_count": self.running_count,
            "rows": self.rows,
            "evaluations": self.evaluations,
            "events": self.events,
            "wall_s": self.wall_s,
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self.objective_state is not None:
            state["extra"] = self.objective_state[0]()
        return clone_tree(state, device)

    def load(self, path: str | os.PathLike, *, steps: int | None = None) -> None:
        """:meth:`restore` the checkpoint file ``path`` after checking it fits this run: a
        weights-only torch file holding a training state of this format, ``0 <= step <=
        steps``, the model's and optimiser's tensors of this run's shapes, generator states
        of this torch; otherwise :class:`~latentgraph.errors.RunFolderError` naming the file
        and the first thing that differs (nothing is restored then)."""
        state = load_checkpoint(path)
        check_training_state(state, path, steps=steps, format=CHECKPOINT_FORMAT)
        check_shapes(self.module.state_dict(), state["module"], path, "module")
        check_optimizer_state(self.optimizer, state["optimizer"], path)
        if self.objective_state is not None and "extra" in state:
            check_shapes(self.objective_state[0](), state["extra"], path, "extra")
        rng = {"torch_rng": torch.get_rng_state(), "epoch_rng": self.generator.get_state(),
               "batch_generator": self.generator.get_state()}  # fmt: skip
        for key, want in rng.items():
            if state[key].shape != want.shape:
                raise RunFolderError(
                    f"checkpoint {str(path)!r}: {key} has {state[key].numel()} bytes, this "
                    f"torch's generator state has {want.numel()}"
                )
        try:
            self.restore(state)
        except ValueError as err:  # the data do not match (the minibatch order check)
            raise RunFolderError(f"checkpoint {str(path)!r}: {err}") from None

    def restore(self, state: dict) -> None:
        """Put a :meth:`capture`-d (or loaded) state back; the argument is not kept."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                f"checkpoint format must be {CHECKPOINT_FORMAT} (this version of latentgraph), "
                f"got {state.get('format')!r}; it was written by another version"
            )
        state = clone_tree(state)
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.lr_scale = float(state["lr_scale"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        self.generator.set_state(state["epoch_rng"].cpu())
        self.order = self._draw_order()
        self.epoch_rng = state["epoch_rng"].cpu()
        if not torch.equal(self.generator.get_state(), state["batch_generator"].cpu()):
            raise ValueError(
                "checkpoint does not match the training data: its minibatch order cannot be "
                f"redrawn for {self.n_samples} samples"
            )
        self.running = {k: v.to(self.device) for k, v in state["running"].items()}
        self.running_count = int(state["running_count"])
        self.rows = list(state["rows"])
        self.evaluations = list(state["evaluations"])
        self.events = list(state["events"])
        self.wall_s = float(state["wall_s"])
        if self.objective_state is not None and "extra" in state:
            self.objective_state[1](state["extra"])
