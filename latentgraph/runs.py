"""The run folder: the on-disk contract every fit writes (ARCHITECTURE.md, contract 2).

``metrics.json`` (flat keys, numbers), ``config.json`` (everything needed to rerun), a
checkpoint, learned graphs as ``.gml``, encoded test latents as ``.npy``, figures as ``.png``
and ``report.md`` linking them. This module owns creating the folder safely and writing files
atomically; it knows nothing about models.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from latentgraph._atomic import atomic_write


def prepare_run_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Create the run folder ``path``, refusing a non-empty existing one unless ``overwrite``.

    Nothing is ever deleted: with ``overwrite=True`` the files a fit writes replace their
    namesakes and any other file in the folder is left alone.
    """
    if path is None or str(path) == "":
        raise ValueError("out must be a folder path, got nothing")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"out {str(path)!r} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ValueError(
            f"out folder {str(path)!r} already exists and is not empty; "
            "choose another folder or pass --overwrite"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_write(path) as handle:
        handle.write(data)


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf; None marks "not available"
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | os.PathLike, data: Mapping) -> Path:
    """Write ``data`` as indented JSON, atomically (numpy scalars/arrays become plain values)."""
    path = Path(path)
    _atomic_write_bytes(
        path, (json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n").encode()
    )
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    _atomic_write_bytes(path, text.encode())
    return path


def write_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save an array as ``.npy`` atomically (never pickled)."""
    path = Path(path)
    with atomic_write(path) as handle:
        np.save(handle, np.asarray(array), allow_pickle=False)
    return path


def read_json(path: str | os.PathLike) -> dict:
    with open(path) as handle:
        return json.load(handle)
