"""The run folder: the on-disk contract every fit writes (ARCHITECTURE.md, contract 2).

``metrics.json`` (flat keys, numbers), ``config.json`` (everything needed to rerun), a
checkpoint, learned graphs as ``.gml``, encoded test latents as ``.npy``, figures as ``.png``
and ``report.md`` linking them. This module owns creating the folder safely and writing files
atomically; it knows nothing about models.
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import math
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from latentgraph._atomic import TEMP_PATTERN, atomic_write, remove_stale_temps
from latentgraph.errors import RunFolderError, UserInputError

__all__ = [
    "RUN_FILES",
    "check_run_dir",
    "check_run_entries",
    "check_same_run",
    "prepare_run_dir",
    "read_config",
    "read_json",
    "remove_stale_temps",
    "run_dir_lock",
    "run_subfolder",
    "write_json",
    "write_npy",
    "write_text",
]


RUN_FILES = (
    "config.json", "metrics.json", "history.json", "report.md", "sweep.json", "checkpoint.pt",
    "checkpoint_numpyro.npz", "posterior.nc", "*.gml", "*.png", "*.npy",
)  # fmt: skip
"""Names (``fnmatch`` patterns) of the files a run or sweep writes in its folder."""


def _is_run_file(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in RUN_FILES)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_run_entries(path: str | os.PathLike) -> None:
    """``RunFolderError`` naming the first entry of the run folder ``path`` that carries the
    name of a file the run writes (:data:`RUN_FILES`) but is not a regular file: a folder, a
    symbolic link (which could lead a write or a read out of the folder), a pipe or a device.

    Run before ``--overwrite`` or ``--resume`` touches anything, so such an entry is refused
    before training instead of failing (or being followed) at the end.
    """
    path = Path(path)
    with os.scandir(path) as entries:
        odd = sorted(
            (entry.name, entry.stat(follow_symlinks=False).st_mode)
            for entry in entries
            if _is_run_file(entry.name) and not entry.is_file(follow_symlinks=False)
        )
    if odd:
        name, mode = odd[0]
        raise RunFolderError(
            f"run folder {str(path)!r} holds {str(path / name)!r}, which is {_kind(mode)}, "
            "where the run writes a file of that name; remove or rename it"
        )


def _first_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def check_run_dir(
    path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False
) -> Path:
    """Check that ``path`` can be used as a run folder as asked, creating and changing nothing.

    Rules (:func:`prepare_run_dir` applies them, then creates the folder):

    - ``path`` is a folder or does not exist yet; the nearest existing ancestor is a folder.
    - a new run needs an empty or absent folder (temporaries a killed write left count as
      empty: the run removes them);
    - ``overwrite``: the folder may hold files; entries named like a run's files must be
      regular files (:func:`check_run_entries`), never folders or symbolic links;
    - ``resume``: the folder holds the run's ``config.json`` as a regular file, and the entries
      rule of ``overwrite`` holds.

    Raises :class:`~latentgraph.errors.UserInputError` for contradictory arguments and
    :class:`~latentgraph.errors.RunFolderError` (naming the path) for an unusable folder.
    """
    if path is None or str(path) == "":
        raise UserInputError("out must be a folder path, got nothing")
    if overwrite and resume:
        raise UserInputError("pass either overwrite or resume, not both")
    path = Path(path)
    existing = _first_existing(path)
    if existing != path and not existing.is_dir():
        raise RunFolderError(
            f"out {str(path)!r} cannot be created: {str(existing)!r} is a file, not a folder"
        )
    if os.path.lexists(path) and not path.is_dir():
        raise RunFolderError(f"out {str(path)!r} exists and is not a folder")
    if resume:
        config = path / "config.json"
        if not os.path.lexists(config):
            raise RunFolderError(
                f"out folder {str(path)!r} holds no run to resume (no config.json); "
                "start a new run without --resume"
            )
        check_run_entries(path)
        return path
    if not path.is_dir():
        return path
    if overwrite:
        check_run_entries(path)
    elif any(not TEMP_PATTERN.match(entry.name) for entry in os.scandir(path)):
        raise RunFolderError(
            f"out folder {str(path)!r} already exists and is not empty; "
            "choose another folder, pass --resume to continue its run, or --overwrite"
        )
    return path


def prepare_run_dir(
    path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False
) -> Path:
    """Create the run folder ``path`` (:func:`check_run_dir` first), refusing a non-empty
    existing one unless asked.

    Args:
        path: the run folder.
        overwrite: write into an existing, non-empty folder; the files a fit writes replace
            their namesakes and any other file in the folder is left alone (nothing is deleted).
            A namesake that is a folder or a symbolic link is refused, not replaced or followed.
        resume: continue the run in ``path``, which must hold its ``config.json``.

    ``OSError`` (a read-only file system, no permission) propagates from creating the folder.
    """
    path = check_run_dir(path, overwrite=overwrite, resume=resume)
    if not resume:
        path.mkdir(parents=True, exist_ok=True)
    return path


def run_subfolder(parent: str | os.PathLike, *names: str) -> Path:
    """``parent/names[0]/names[1]...``, created inside ``parent``: ``RunFolderError`` if a part
    exists as a symbolic link (it could lead the writes out of ``parent``) or as a file."""
    folder = Path(parent)
    for name in names:
        folder = folder / name
        if folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir()):
            kind = _kind(os.lstat(folder).st_mode)
            raise RunFolderError(
                f"cannot write into {str(folder)!r}: it is {kind}, not a folder of this run"
            )
        folder.mkdir(exist_ok=True)
    return folder


def _lock_holder(folder_fd: int) -> int | None:
    """The pid holding a ``flock`` on the folder open as ``folder_fd`` (Linux ``/proc/locks``),
    or ``None`` where that cannot be read."""
    info = os.fstat(folder_fd)
    inode = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == inode:
                    return int(fields[4])
    except (OSError, ValueError):
        return None
    return None


@contextmanager
def run_dir_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on the run folder ``path`` for the block.

    The lock is a ``flock`` on the folder itself (nothing is written into it), released when
    the block ends or the process dies, however it dies. A second process asking for it gets
    :class:`~latentgraph.errors.RunFolderError` "run folder ... is in use by another process
    (pid N)" at once instead of writing the same files.
    """
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            who = f"pid {holder}" if holder is not None else "pid unknown"
            raise RunFolderError(
                f"run folder {str(path)!r} is in use by another process ({who}); wait for it "
                "to finish or choose another --out"
            ) from None
        yield path
    finally:
        os.close(fd)  # releases the lock


def check_same_run(
    path: str | os.PathLike, config: Mapping, *, ignore: tuple[str, ...] = ()
) -> None:
    """``RunFolderError`` unless the run folder's ``config.json`` describes the run ``config``.

    The stored file must be a JSON object (:func:`read_config`). Keys are compared after a JSON
    round trip; dotted names in ``ignore`` (e.g. ``"train.progress"``) and keys absent from
    ``config`` (results such as ``bounds``) are skipped. Used before resuming, so a run is never
    continued with other settings.
    """
    stored = read_config(Path(path) / "config.json")
    wanted = json.loads(json.dumps(_jsonable(config)))
    differences = [
        name
        for name, value in _flatten(wanted).items()
        if name not in ignore and _flatten(stored).get(name, _MISSING) != value
    ]
    if differences:
        shown = ", ".join(sorted(differences)[:6]) + (" ..." if len(differences) > 6 else "")
        raise RunFolderError(
            f"cannot resume the run in {str(path)!r} with different settings ({shown} differ "
            f"from {str(Path(path) / 'config.json')!r}); use the original arguments or a new "
            "--out folder"
        )


MAX_CONFIG_BYTES = 64 * 2**20
"""Largest ``config.json`` read back (a run's settings are a few kB)."""


def read_config(path: str | os.PathLike) -> dict:
    """The JSON object in the run file ``path`` (``config.json``): ``RunFolderError`` naming
    the file if it is missing, not a regular file, larger than :data:`MAX_CONFIG_BYTES`, not
    UTF-8 JSON (e.g. truncated) or not an object (e.g. a list)."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise RunFolderError(f"run file {str(path)!r} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise RunFolderError(
            f"run file {str(path)!r} is {_kind(info.st_mode)}, expected a JSON file"
        )
    if info.st_size > MAX_CONFIG_BYTES:
        raise RunFolderError(
            f"run file {str(path)!r} holds {info.st_size} bytes, more than the "
            f"{MAX_CONFIG_BYTES} a run's settings can need; it is not this run's file"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunFolderError(
            f"run file {str(path)!r} is not valid JSON (damaged or truncated?): {err}"
        ) from None
    if not isinstance(data, dict):
        raise RunFolderError(
            f"run file {str(path)!r} must hold a JSON object of settings, got a JSON "
            f"{type(data).__name__}"
        )
    return data


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
