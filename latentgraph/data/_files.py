"""Checks of data files before they are opened or loaded.

A path given as data must name a *regular* file (after following symlinks): a FIFO blocks the
reader forever, ``/dev/zero`` never ends and ``/dev/urandom`` fills memory, a directory cannot
be read. An ``.npy`` member of an ``.npz`` archive declares its shape and dtype in a header
(NumPy's NPY format, NEP 1, ``numpy.lib.format``); NumPy allocates what the header
declares before it reads, so a tiny file claiming ``10^12`` elements would ask for terabytes.
:func:`inspect_npz` reads every member's header through :mod:`zipfile` without loading any
data and compares the declared size ``prod(shape) * itemsize`` with the bytes the member
really holds; :func:`check_fits_in_memory` compares what a full load needs with the memory
available. :func:`count_non_finite` scans an array (or a region of a file) in bounded chunks,
so memory-mapped data are checked without being held in memory.

Every check raises :class:`latentgraph.errors.UserInputError` naming the argument and the path,
saying what was expected and what was found.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentgraph.data._checks import check_path
from latentgraph.errors import UserInputError

__all__ = [
    "MissingPathError",
    "NpyMember",
    "PathExistsError",
    "available_memory_bytes",
    "check_fits_in_memory",
    "check_regular_file",
    "count_non_finite",
    "inspect_npy",
    "inspect_npz",
]

CHUNK_BYTES = 1 << 24
"""Bytes scanned at a time by :func:`count_non_finite` (16 MiB)."""


class MissingPathError(UserInputError, FileNotFoundError):
    """A path given as input that does not exist. Both a
    :class:`~latentgraph.errors.UserInputError` (the command line reports it as the user's:
    one line, exit code 2) and a ``FileNotFoundError`` (what callers of the library catch)."""


class PathExistsError(UserInputError, FileExistsError):
    """A target path given as input that holds something the call must not replace; both a
    :class:`~latentgraph.errors.UserInputError` and a ``FileExistsError``."""


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "not a regular file"


def check_regular_file(value: object, name: str = "path") -> Path:
    """``value`` as a Path naming an existing regular file, symlinks followed.

    Only ``os.stat`` is called (it never blocks on a FIFO and reads no data). A missing file,
    a directory, a FIFO, a device or a socket (directly or behind a symlink) raises
    :class:`~latentgraph.errors.UserInputError` naming ``name``, the path and, for a link, its
    target.
    """
    path = check_path(value, name)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        broken = " (a broken symlink)" if os.path.islink(path) else ""
        raise UserInputError(
            f"`{name}` must be an existing file, got {str(path)!r}{broken}: not found"
        ) from None
    except OSError as err:
        raise UserInputError(
            f"`{name}` must be a readable file, got {str(path)!r}: {err.strerror or err}"
        ) from None
    if not stat.S_ISREG(mode):
        target = os.path.realpath(path)
        via = f", a symlink to {target!r}," if os.path.islink(path) else ""
        raise UserInputError(
            f"`{name}` must be a regular file, got {str(path)!r}{via} which is {_kind(mode)}"
        )
    return path


def available_memory_bytes() -> int | None:
    """Memory the kernel could give this process now: ``MemAvailable`` of ``/proc/meminfo``,
    else free pages times page size (``os.sysconf``); None when neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.1f} MB"


def check_fits_in_memory(needed: int, name: str, what: str) -> None:
    """Raise :class:`~latentgraph.errors.UserInputError` when ``needed`` bytes exceed the
    available memory (:func:`available_memory_bytes`); the message gives both numbers."""
    available = available_memory_bytes()
    if available is not None and needed > available:
        raise UserInputError(
            f"`{name}`: {what} needs {_mb(needed)} of memory, but only {_mb(available)} are "
            "available"
        )


@dataclass(frozen=True)
class NpyMember:
    """The header of one ``.npy`` array: what NumPy would allocate to load it.

    ``data_offset`` is the array data's offset in the *file* for an uncompressed (stored)
    archive member or a plain ``.npy`` file, and None for a compressed member.
    """

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int | None
    data_bytes: int

    @property
    def nbytes(self) -> int:
        """Declared size, ``prod(shape) * itemsize`` (exact Python int, no overflow)."""
        return math.prod(self.shape) * self.dtype.itemsize


def _read_header(handle, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        major, _minor = np.lib.format.read_magic(handle)
        if major == 1:
            return np.lib.format.read_array_header_1_0(handle)
        return np.lib.format.read_array_header_2_0(handle)
    except (ValueError, OSError, EOFError, SyntaxError, zipfile.BadZipFile) as err:
        raise UserInputError(f"{where} has no valid .npy header ({err})") from None


def _checked_member(
    key: str, header, header_bytes: int, stored_bytes: int, offset: int | None, where: str
) -> NpyMember:
    shape, fortran, dtype = header
    member = NpyMember(key, tuple(int(s) for s in shape), dtype, bool(fortran), offset, 0)
    if dtype.hasobject:
        raise UserInputError(
            f"{where} holds Python objects (dtype {dtype}), which cannot be read without pickle"
        )
    data_bytes = stored_bytes - header_bytes
    if member.nbytes > data_bytes:
        raise UserInputError(
            f"{where} declares shape {member.shape} of dtype {dtype} ({_mb(member.nbytes)}) but "
            f"holds only {max(data_bytes, 0):,} bytes of data: the header lies or the file is "
            "truncated"
        )
    return NpyMember(key, member.shape, dtype, bool(fortran), offset, data_bytes)


def inspect_npz(value: object, name: str = "path") -> dict[str, NpyMember]:
    """``{key: NpyMember}`` for every member of an ``.npz`` archive, read from the headers only.

    Checks, before any array is allocated: the path is a regular file
    (:func:`check_regular_file`); it is a zip archive; every member has a valid ``.npy``
    header, holds no Python objects, and holds at least the ``prod(shape) * itemsize`` bytes
    its header declares (for a stored member the bytes must also lie inside the file). Keys
    are the member names without ``.npy``, as :func:`numpy.load` names them.
    """
    path = check_regular_file(value, name)
    file_size = os.stat(path).st_size
    members: dict[str, NpyMember] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                key = info.filename.removesuffix(".npy")
                where = f"`{name}` {str(path)!r}: member `{key}`"
                stored = info.compress_type == zipfile.ZIP_STORED
                if stored and info.header_offset + info.file_size > file_size:
                    raise UserInputError(
                        f"{where} claims {info.file_size:,} bytes but the file has only "
                        f"{file_size:,}: the archive is truncated or lies"
                    )
                with archive.open(info) as handle:
                    header = _read_header(handle, where)
                    header_bytes = handle.tell()
                offset = None
                if stored:
                    offset = _stored_data_offset(path, info) + header_bytes
                members[key] = _checked_member(
                    key, header, header_bytes, info.file_size, offset, where
                )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as err:
        if _starts_like_npy(path):
            raise UserInputError(
                f"`{name}` must be an .npz archive of named arrays, got a single array (an .npy "
                f"file) in {str(path)!r}"
            ) from None
        raise UserInputError(
            f"`{name}` must be a valid .npz archive, got {str(path)!r} which cannot be read ({err})"
        ) from None
    return members


def _starts_like_npy(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(6) == b"\x93NUMPY"


def _stored_data_offset(path: Path, info: zipfile.ZipInfo) -> int:
    """File offset of a stored member's first byte (after its local header)."""
    with open(path, "rb") as file:
        file.seek(info.header_offset)
        local = file.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"member {info.filename!r} has a corrupt local header")
    name_length = int.from_bytes(local[26:28], "little")
    extra_length = int.from_bytes(local[28:30], "little")
    return info.header_offset + 30 + name_length + extra_length


def inspect_npy(value: object, name: str = "path") -> NpyMember:
    """The header of a plain ``.npy`` file, checked like an archive member by
    :func:`inspect_npz` (regular file, valid header, no objects, declared bytes present)."""
    path = check_regular_file(value, name)
    where = f"`{name}` {str(path)!r}"
    with open(path, "rb") as handle:
        header = _read_header(handle, where)
        header_bytes = handle.tell()
    size = os.stat(path).st_size
    return _checked_member(path.stem, header, header_bytes, size, header_bytes, where)


def count_non_finite(
    array: np.ndarray | None = None,
    *,
    file: str | os.PathLike | None = None,
    member: NpyMember | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> int:
    """Number of NaN/inf entries of a float or complex array, scanned ``chunk_bytes`` at a time.

    Either ``array`` (in memory; scanned in row blocks so the temporary mask stays small) or
    ``file`` and ``member`` (a stored array at ``member.data_offset`` in ``file``, read with
    plain reads into a reused buffer: the scan adds neither anonymous nor mapped memory to the
    process, which a scan through an ``np.memmap`` would, page by page). Integer and bool
    arrays have no non-finite values: 0.
    """
    if array is not None:
        if array.dtype.kind not in "fc" or array.size == 0:
            return 0
        rows = max(1, chunk_bytes // max(1, array[:1].nbytes))
        return sum(
            int(block.size - np.count_nonzero(np.isfinite(block)))
            for block in (array[start : start + rows] for start in range(0, len(array), rows))
        )
    if file is None or member is None or member.data_offset is None:
        raise ValueError("count_non_finite needs `array`, or `file` and a stored `member`")
    if member.dtype.kind not in "fc":
        return 0
    itemsize = member.dtype.itemsize
    step = max(itemsize, chunk_bytes - chunk_bytes % itemsize)
    buffer = bytearray(step)
    bad, remaining = 0, member.nbytes
    with open(file, "rb", buffering=0) as handle:
        handle.seek(member.data_offset)
        while remaining > 0:
            view = memoryview(buffer)[: min(step, remaining)]
            got = handle.readinto(view)
            if not got:
                break
            if got % itemsize:  # a short read mid-item: read the item again next time
                handle.seek(-(got % itemsize), os.SEEK_CUR)
                got -= got % itemsize
                if not got:
                    break
            values = np.frombuffer(view[:got], dtype=member.dtype)
            bad += int(values.size - np.count_nonzero(np.isfinite(values)))
            remaining -= got
    return bad
