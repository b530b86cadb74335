"""Atomic, safe checkpoints for torch state (no pickled code).

A checkpoint is a flat-ish dict of tensors, numbers, strings and lists, written with
``torch.save`` to a temporary file in the same folder, flushed and ``fsync``-ed, then moved into
place with ``os.replace`` so a crash never leaves a half-written file; it is read back with
``torch.load(weights_only=True)``, which refuses to unpickle arbitrary objects, so a crafted
file never runs code.

Reading checks the file before trusting it: a missing path, a folder, a truncated or foreign
file, a checkpoint that is not a dict, one whose step lies outside the run, or one whose tensors
have other shapes than the model's raise :class:`~latentgraph.errors.RunFolderError` naming the
file and what is wrong (a ``ValueError``), never an error from deep inside torch.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import torch

from latentgraph._atomic import atomic_write
from latentgraph.errors import RunFolderError


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` atomically to ``path`` (replacing an older checkpoint at that path).

    An ``OSError`` while writing (no space, read-only) leaves the older checkpoint intact and
    removes the temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        writer = _Recording(handle)
        try:
            torch.save(state, writer)
        except RuntimeError:
            if writer.error is not None:  # torch's zip writer hides the failed write's OSError
                raise writer.error from None
            raise
    return path


class _Recording:
    """A binary file-like that keeps the ``OSError`` of a failed ``write`` (a full disk), which
    ``torch.save``'s zip writer reports only as a ``RuntimeError`` about the file position."""

    def __init__(self, handle):
        self.handle, self.error = handle, None

    def write(self, data) -> int:
        try:
            return self.handle.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.handle.flush()


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises :class:`~latentgraph.errors.RunFolderError` (naming ``path``) if it is not a regular
    file, cannot be read as a weights-only torch file (truncated, foreign, or holding objects
    other than tensors and plain containers, such as code to run) or does not hold a dict.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise RunFolderError(f"checkpoint {str(path)!r} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise RunFolderError(f"checkpoint {str(path)!r} is {kind}, expected a checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        if isinstance(err, OSError):
            raise  # the file system failed, not the file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunFolderError(
            f"checkpoint {str(path)!r} cannot be read as a weights-only torch checkpoint "
            f"(damaged, truncated or not written by latentgraph): {first[:300]}"
        ) from None
    if not isinstance(state, dict):
        raise RunFolderError(
            f"checkpoint {str(path)!r} must hold a dict of training state, got "
            f"{type(state).__name__}"
        )
    return state


_REQUIRED = {
    "format": int, "step": int, "module": dict, "optimizer": dict, "lr_scale": float,
    "torch_rng": torch.Tensor, "epoch_rng": torch.Tensor, "batch_generator": torch.Tensor,
    "running": dict, "running_count": int, "rows": list, "evaluations": list, "events": list,
    "wall_s": float,
}  # fmt: skip
"""Entries of a training-state checkpoint and their types (``float`` accepts ``int``)."""


def check_training_state(
    state: Mapping, path: str | os.PathLike, *, steps: int | None = None, format: int = 2
) -> None:
    """``RunFolderError`` (naming ``path``) unless ``state`` is a training-state checkpoint of
    this version (:class:`~latentgraph.inference.training_state_torch.TrainingState`): its
    entries exist with the right types, ``format`` matches, and ``0 <= step <= steps``."""
    where = f"checkpoint {str(path)!r}"
    if state.get("format") != format:
        raise RunFolderError(
            f"{where} has format {state.get('format')!r}, expected {format} (this version of "
            "latentgraph); it was written by another version or is not a training checkpoint"
        )
    for key, kind in _REQUIRED.items():
        value = state.get(key)
        ok = (
            isinstance(value, int | float) and not isinstance(value, bool)
            if kind is float
            else isinstance(value, kind) and not isinstance(value, bool)
        )
        if not ok:
            got = "nothing" if key not in state else type(value).__name__
            raise RunFolderError(f"{where}: entry {key!r} must be a {kind.__name__}, got {got}")
    step = state["step"]
    if step < 0 or (steps is not None and step > steps):
        raise RunFolderError(
            f"{where} is at step {step}, outside this run's 0..{steps} steps; it belongs to "
            "another run"
        )
    if not (math.isfinite(state["lr_scale"]) and state["lr_scale"] > 0):
        raise RunFolderError(
            f"{where}: lr_scale must be a positive number, got {state['lr_scale']}"
        )
    for key in ("torch_rng", "epoch_rng", "batch_generator"):
        if state[key].dtype != torch.uint8 or state[key].dim() != 1:
            raise RunFolderError(
                f"{where}: {key} must be a generator state (1-d uint8 tensor), got "
                f"{state[key].dtype} of shape {tuple(state[key].shape)}"
            )
    odd = [k for k, v in state["running"].items() if not torch.is_tensor(v)]
    if odd:
        raise RunFolderError(f"{where}: running[{odd[0]!r}] must be a tensor")


def check_checkpoint(
    path: str | os.PathLike, *, steps: int | None = None, missing_ok: bool = False
) -> None:
    """Read the training checkpoint at ``path`` and check it (:func:`load_checkpoint`,
    :func:`check_training_state`) without using it: the ``--resume`` check that runs before
    anything in the run folder changes. With ``missing_ok`` an absent ``path`` passes (a run
    killed before its first checkpoint resumes from step 0); a dangling link does not."""
    if missing_ok and not os.path.lexists(path):
        return
    check_training_state(load_checkpoint(path), path, steps=steps)


def check_shapes(expected: Mapping, stored: object, path: str | os.PathLike, name: str) -> None:
    """``RunFolderError`` naming ``path`` and the first tensor of ``stored`` whose shape differs
    from ``expected``'s (nested dicts of tensors, e.g. two ``state_dict()``), or the first
    missing or unexpected entry."""
    where = f"checkpoint {str(path)!r}"
    if not isinstance(stored, Mapping):
        raise RunFolderError(f"{where}: {name} must be a dict, got {type(stored).__name__}")
    missing = [k for k in expected if k not in stored]
    extra = [k for k in stored if k not in expected]
    if missing or extra:
        first = f"lacks {name}.{missing[0]}" if missing else f"has an unknown {name}.{extra[0]}"
        raise RunFolderError(
            f"{where} does not fit this model: it {first} (a checkpoint of another model?)"
        )
    for key, want in expected.items():
        got = stored[key]
        label = f"{name}.{key}"
        if isinstance(want, Mapping):
            check_shapes(want, got, path, label)
        elif torch.is_tensor(want):
            if not torch.is_tensor(got):
                raise RunFolderError(f"{where}: {label} must be a tensor, got {type(got).__name__}")
            if tuple(got.shape) != tuple(want.shape):
                raise RunFolderError(
                    f"{where} does not fit this model: {label} has shape "
                    f"{tuple(got.shape)}, the model's has {tuple(want.shape)} (a checkpoint "
                    "of a run with other dimensions?)"
                )


def check_optimizer_state(
    optimizer: torch.optim.Optimizer, stored: object, path: str | os.PathLike
) -> None:
    """``RunFolderError`` naming ``path`` unless ``stored`` (an optimiser ``state_dict``) has
    ``optimizer``'s parameter groups and, per parameter, moment tensors of its shape."""
    where = f"checkpoint {str(path)!r}"
    if not isinstance(stored, Mapping) or not isinstance(stored.get("param_groups"), list):
        raise RunFolderError(f"{where}: optimizer must be an optimiser state dict")
    groups = optimizer.param_groups
    sizes = [len(g.get("params", ())) if isinstance(g, Mapping) else -1
             for g in stored["param_groups"]]  # fmt: skip
    if sizes != [len(g["params"]) for g in groups]:
        raise RunFolderError(
            f"{where} does not fit this model: its optimiser has parameter groups of sizes "
            f"{sizes}, the model's has {[len(g['params']) for g in groups]}"
        )
    params = [p for g in groups for p in g["params"]]
    moments = stored.get("state", {})
    if not isinstance(moments, Mapping):
        raise RunFolderError(f"{where}: optimizer.state must be a dict")
    for index, entry in moments.items():
        if not isinstance(index, int) or not 0 <= index < len(params):
            raise RunFolderError(f"{where}: optimizer.state has an unknown parameter {index!r}")
        if not isinstance(entry, Mapping):
            raise RunFolderError(f"{where}: optimizer.state[{index}] must be a dict")
        for key, value in entry.items():
            if torch.is_tensor(value) and value.dim() > 0 and value.shape != params[index].shape:
                raise RunFolderError(
                    f"{where} does not fit this model: optimizer.state[{index}].{key} has "
                    f"shape {tuple(value.shape)}, the parameter's is "
                    f"{tuple(params[index].shape)}"
                )
