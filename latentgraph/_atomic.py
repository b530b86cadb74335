"""Atomic file writes shared by every room (standard library only).

A file is written to a temporary sibling, flushed and ``fsync``-ed, then moved into place, so a
crash or a kill never leaves a half-written file where a reader expects a whole one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_write(
    path: str | os.PathLike, *, overwrite: bool = True, text: bool = False
) -> Iterator[IO]:
    """Open a temporary file for writing and move it to ``path`` when the block succeeds.

    Args:
        path: destination; its folder must exist.
        overwrite: replace an existing ``path`` (``os.replace``). With ``False`` the move is a
            hard link that fails with ``FileExistsError`` if ``path`` exists, so an existing
            file is never clobbered, even by a concurrent writer.
        text: open in text mode (UTF-8) instead of binary.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"path folder {str(target.parent)!r} does not exist")
    if not overwrite and target.exists():
        raise FileExistsError(
            f"path {str(target)!r} already exists; pass overwrite=True to replace it"
        )
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(
            fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})
        ) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            _move_no_clobber(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _move_no_clobber(source: str, target: Path) -> None:
    try:
        os.link(source, target)  # atomic, and refuses to replace an existing file
    except FileExistsError:
        raise FileExistsError(
            f"path {str(target)!r} already exists; pass overwrite=True to replace it"
        ) from None
    except OSError:  # file systems without hard links: check, then replace
        if target.exists():
            raise FileExistsError(
                f"path {str(target)!r} already exists; pass overwrite=True to replace it"
            ) from None
        os.replace(source, target)
