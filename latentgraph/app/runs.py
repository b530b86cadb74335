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


def prepare_run_dir(
    path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False
) -> Path:
    """Create the run folder ``path``, refusing a non-empty existing one unless asked.

    Args:
        path: the run folder.
        overwrite: write into an existing, non-empty folder; the files a fit writes replace
            their namesakes and any other file in the folder is left alone (nothing is deleted).
        resume: continue the run in ``path``, which must hold its ``config.json``.
    """
    if path is None or str(path) == "":
        raise ValueError("out must be a folder path, got nothing")
    if overwrite and resume:
        raise ValueError("pass either overwrite or resume, not both")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"out {str(path)!r} exists and is not a folder")
    if resume:
        if not (path / "config.json").is_file():
            raise ValueError(
                f"out folder {str(path)!r} holds no run to resume (no config.json); "
                "start a new run without --resume"
            )
        return path
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ValueError(
            f"out folder {str(path)!r} already exists and is not empty; "
            "choose another folder, pass --resume to continue its run, or --overwrite"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_same_run(
    path: str | os.PathLike, config: Mapping, *, ignore: tuple[str, ...] = ()
) -> None:
    """Raise ``ValueError`` unless the run folder's ``config.json`` describes the run ``config``.

    Keys are compared after a JSON round trip; dotted names in ``ignore`` (e.g.
    ``"train.progress"``) and keys absent from ``config`` (results such as ``bounds``) are
    skipped. Used before resuming, so a run is never continued with other settings.
    """
    stored = read_json(Path(path) / "config.json")
    wanted = json.loads(json.dumps(_jsonable(config)))
    differences = [
        name
        for name, value in _flatten(wanted).items()
        if name not in ignore and _flatten(stored).get(name, _MISSING) != value
    ]
    if differences:
        shown = ", ".join(sorted(differences)[:6]) + (" ..." if len(differences) > 6 else "")
        raise ValueError(
            f"cannot resume the run in {str(path)!r} with different settings ({shown}); "
            "use the original arguments or a new --out folder"
        )


_MISSING = object()


def _flatten(tree: Mapping, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


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
