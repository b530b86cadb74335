"""Safe checkpoints of JAX parameter pytrees: ``numpy.savez`` of the flattened tree, no pickle.

A pytree of nested string-keyed dicts of arrays is written as one ``.npz`` member per leaf,
named by its path joined with ``/`` (e.g. ``encoder$params/layers_0/kernel``), atomically
(temporary file, ``fsync``, rename). :func:`load_pytree` rebuilds the nested dicts with
``allow_pickle=False``, so reading a checkpoint never runs code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from latentgraph._atomic import atomic_write

SEPARATOR = "/"


def flatten_pytree(tree: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested string-keyed dicts of arrays -> ``{"a/b/c": numpy array}``."""
    flat: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        if not isinstance(key, str) or SEPARATOR in key or not key:
            raise ValueError(f"pytree keys must be non-empty strings without '/', got {key!r}")
        name = f"{prefix}{SEPARATOR}{key}" if prefix else key
        if isinstance(value, Mapping):
            flat.update(flatten_pytree(value, name))
        else:
            flat[name] = np.asarray(value)
    return flat


def unflatten_pytree(flat: Mapping[str, np.ndarray]) -> dict:
    """Inverse of :func:`flatten_pytree`."""
    tree: dict = {}
    for name, value in flat.items():
        *parents, leaf = name.split(SEPARATOR)
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def save_pytree(tree: Mapping, path: str | os.PathLike) -> Path:
    """Write ``tree`` (nested dicts of arrays) to ``path`` as an ``.npz``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = flatten_pytree(tree)
    with atomic_write(path) as handle:
        np.savez(handle, **flat)
    return path


def load_pytree(path: str | os.PathLike) -> dict:
    """Read a file written by :func:`save_pytree` (numpy arrays, no pickle)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint path {str(path)!r} does not exist or is not a file")
    with np.load(path, allow_pickle=False) as archive:
        return unflatten_pytree({name: archive[name] for name in archive.files})
