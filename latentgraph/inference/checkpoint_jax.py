"""Safe checkpoints of JAX parameter pytrees: ``numpy.savez`` of the flattened tree, no pickle.

A pytree of nested string-keyed dicts of arrays is written as one ``.npz`` member per leaf,
named by its path joined with ``/`` (e.g. ``encoder$params/layers_0/kernel``), atomically
(temporary file, ``fsync``, rename). :func:`load_pytree` rebuilds the nested dicts with
``allow_pickle=False``, so reading a checkpoint never runs code.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from latentgraph._atomic import atomic_write
from latentgraph.errors import RunFolderError

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
    """Read a file written by :func:`save_pytree` (numpy arrays, no pickle).

    Raises :class:`~latentgraph.errors.RunFolderError` (a ``ValueError``) naming ``path`` if it
    is missing or not a regular file, or cannot be read as such an ``.npz`` (truncated, foreign,
    holding pickled objects)."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise RunFolderError(f"checkpoint {str(path)!r} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise RunFolderError(f"checkpoint {str(path)!r} is {kind}, expected a checkpoint file")
    try:
        archive = np.load(path, allow_pickle=False)
        if not hasattr(archive, "files"):  # a plain .npy array
            raise ValueError(f"a single {type(archive).__name__}, not an .npz archive")
        with archive:
            flat = {name: archive[name] for name in archive.files}
    except (ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunFolderError(
            f"checkpoint {str(path)!r} cannot be read as an .npz of arrays (damaged, truncated "
            f"or not written by latentgraph): {first[:300]}"
        ) from None
    return unflatten_pytree(flat)


def check_checkpoint(path: str | os.PathLike, *, missing_ok: bool = False) -> None:
    """Read the pytree checkpoint at ``path`` without using it (:func:`load_pytree`'s checks,
    plus a ``format`` entry): the ``--resume`` check that runs before anything in the run
    folder changes. With ``missing_ok`` an absent ``path`` passes (a dangling link does not)."""
    if missing_ok and not os.path.lexists(path):
        return
    if "format" not in load_pytree(path):
        raise RunFolderError(f"checkpoint {str(path)!r} is not a training checkpoint (no format)")
