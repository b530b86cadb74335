"""Device selection and seeding for the PyTorch backends."""

from __future__ import annotations

import random

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None picks CUDA when available, else the CPU; otherwise ``torch.device(device)``.

    Raises ``ValueError`` (naming ``device``) for an unknown string or a CUDA device that is
    not available.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available here")
    return resolved


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's and torch's global RNGs (latentgraph's numpy code takes explicit generators); return a torch ``Generator`` for batching."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
