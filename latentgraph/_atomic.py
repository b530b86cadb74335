"""Atomic file writes shared by every room (standard library only).

A file is written to a temporary sibling with a unique name (``.<name>.<8 random
characters>.tmp``, :func:`tempfile.mkstemp` in the destination's folder), flushed and
``fsync``-ed, then moved into place with ``os.replace``, so a crash or a kill never leaves a
half-written file where a reader expects a whole one, and two writers never share a temporary.

Links are never followed: ``os.replace`` onto a symbolic link replaces the link itself, so a
link planted where a file is expected cannot redirect a write outside its folder. A write that
fails (no space, read-only file system, permission) removes its temporary, leaves the previous
file as it was and raises the ``OSError``. A temporary left by a killed process is removed by
:func:`remove_stale_temps` on the next start of the same run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")
"""Names of this module's temporaries: ``.<destination name>.<mkstemp's 8 characters>.tmp``."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()
"""Permissions of a finished file: what ``open(path, "w")`` would give (mkstemp uses 0600)."""


def _check_target(target: Path, overwrite: bool) -> None:
    if not target.parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, f"path folder {str(target.parent)!r} does not exist", str(target)
        )
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(
            errno.EISDIR, f"cannot write {str(target)!r}: a folder has that name", str(target)
        )
    if not overwrite:
        raise FileExistsError(
            f"path {str(target)!r} already exists; pass overwrite=True to replace it"
        )


@contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a new, empty temporary file beside ``path`` for a writer that needs a file name
    (e.g. netCDF); when the block succeeds it is ``fsync``-ed and moved to ``path``.

    Args:
        path: destination; its folder must exist and ``path`` must not be a folder
            (``IsADirectoryError``).
        overwrite: replace an existing ``path``. With ``False`` the move is a hard link that
            fails with ``FileExistsError`` if ``path`` exists, so an existing file is never
            clobbered, even by a concurrent writer.

    On any exception the temporary is removed and ``path`` is left as it was.
    """
    target = Path(path)
    _check_target(target, overwrite)
    with _naming(target):
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        os.close(fd)
        with _naming(target):
            yield tmp
            _sync_file(tmp)
            _move(tmp, target, overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextmanager
def atomic_write(
    path: str | os.PathLike, *, overwrite: bool = True, text: bool = False
) -> Iterator[IO]:
    """Open a temporary file for writing and move it to ``path`` when the block succeeds.

    Args:
        path: destination; its folder must exist and ``path`` must not be a folder
            (``IsADirectoryError``); a symbolic link at ``path`` is replaced, not followed.
        overwrite: replace an existing ``path`` (``os.replace``). With ``False`` the move is a
            hard link that fails with ``FileExistsError`` if ``path`` exists, so an existing
            file is never clobbered, even by a concurrent writer.
        text: open in text mode (UTF-8) instead of binary.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    _check_target(target, overwrite)
    with _naming(target):
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with (
            _naming(target),
            os.fdopen(
                fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})
            ) as handle,
        ):
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), _FILE_MODE)
            os.fsync(handle.fileno())
        with _naming(target):
            _move(tmp, target, overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextmanager
def _naming(target: Path) -> Iterator[None]:
    """Re-raise an ``OSError`` that names no file (a full disk met by ``write``) or names the
    temporary (a read-only folder met by ``mkstemp``) as the same error naming ``target``, so
    the one line the user sees says which file failed."""
    try:
        yield
    except OSError as err:
        ours = err.filename is None or TEMP_PATTERN.match(os.path.basename(str(err.filename)))
        if not ours:
            raise
        if err.errno is None:  # e.g. numpy's "N requested and M written" on a full disk
            raise OSError(f"cannot write {str(target)!r}: {err}") from err
        raise OSError(err.errno, err.strerror or str(err), str(target)) from err  # same subclass


def save_figure(figure: Any, path: str | os.PathLike, **savefig: Any) -> Path:
    """``figure.savefig`` (matplotlib) into ``path`` atomically; the format is the suffix of
    ``path`` (``.png``...) and ``savefig`` holds its other options (``dpi``...)."""
    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    with atomic_write(target) as handle:
        figure.savefig(handle, format=fmt, **savefig)
    return target


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries this module left in ``folder`` (not its subfolders) when a process
    was killed mid-write: regular files named like :data:`TEMP_PATTERN`. Returns their paths.

    Call it only where no other process writes (e.g. while holding the run folder's lock).
    """
    removed = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if TEMP_PATTERN.match(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return sorted(removed)


def _sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.fchmod(fd, _FILE_MODE)
        os.fsync(fd)
    finally:
        os.close(fd)


def _move(tmp: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
    else:
        _move_no_clobber(tmp, target)
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (``fsync`` of the folder); skipped where folders cannot be
    opened or synced."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _move_no_clobber(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # atomic, and refuses to replace an existing file
    except FileExistsError:
        raise FileExistsError(
            f"path {str(target)!r} already exists; pass overwrite=True to replace it"
        ) from None
    except OSError:  # file systems without hard links: check, then replace
        if os.path.lexists(target):
            raise FileExistsError(
                f"path {str(target)!r} already exists; pass overwrite=True to replace it"
            ) from None
        os.replace(source, target)
