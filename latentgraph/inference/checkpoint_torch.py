"""Atomic, safe checkpoints for torch state (no pickled code).

A checkpoint is a flat-ish dict of tensors, numbers, strings and lists, written with
``torch.save`` to a temporary file in the same folder, flushed and ``fsync``-ed, then moved into
place with ``os.replace`` so a crash never leaves a half-written file; it is read back with
``torch.load(weights_only=True)``, which refuses to unpickle arbitrary objects.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from latentgraph._atomic import atomic_write


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` atomically to ``path`` (replacing an older checkpoint at that path)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        torch.save(state, handle)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint path {str(path)!r} does not exist or is not a file")
    return torch.load(path, map_location=map_location, weights_only=True)
