"""Run ``latentgraph.app.cli.main`` in a forked child and judge how it ended (issue 18).

A forked child starts in milliseconds (the parent has imported the CLI already), cannot hang
the caller (it is killed after ``timeout`` seconds: a FIFO read, ``/dev/zero``), cannot exhaust
the machine (its address space is capped), and may be given a file-size limit (a disk that is
"full" after ``fsize`` bytes: writes past it fail with ``EFBIG``, an ``OSError`` like
``ENOSPC``). Its stderr goes to a file the parent reads back.

:func:`snapshot` records a folder tree without following links or opening anything that is
not a regular file (a FIFO stays unopened), so "files outside ``--out`` untouched" and
"``--out`` unchanged" are comparisons of two snapshots.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import stat
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

TRACEBACK = "Traceback (most recent call last)"
ADDRESS_SPACE_LIMIT = 16 * 2**30
"""Address-space cap of a child (bytes): a run that asks for more fails instead of swapping."""


@dataclass(frozen=True)
class Outcome:
    """How a command ended: exit ``code`` (None: killed after the timeout), its stderr lines and
    the wall time."""

    code: int | None
    stderr: str
    wall_s: float

    @property
    def timed_out(self) -> bool:
        return self.code is None

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.strip().splitlines() if line.strip()]

    @property
    def traceback(self) -> bool:
        return TRACEBACK in self.stderr

    @property
    def error_lines(self) -> list[str]:
        """The error lines: ``latentgraph: ...`` (the CLI's own) or ``latentgraph fit ...:
        error: ...`` (argparse's, after its usage lines); not the preset line a fit prints
        before it starts, nor usage, progress or library warning lines."""
        return [line for line in self.lines if line.startswith("latentgraph")
                and ": " in line and not line.startswith("latentgraph: preset")]  # fmt: skip


def _child(argv: list[str], stderr_path: str, fsize: int | None, cwd: str | None) -> None:
    code = 1
    try:
        fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if cwd is not None:
            os.chdir(cwd)
        from latentgraph.app.cli import main

        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        code = 0 if code is None else int(code)
    except BaseException:  # noqa: BLE001 - an exception out of main() is a finding: traceback
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            os._exit(code if isinstance(code, int) and 0 <= code < 256 else 1)


WARM_MODULES = (
    "latentgraph.app.cli",
    "latentgraph.app.mechanism_sparsity.run",
    "latentgraph.app.interaction_asymmetry.run",
    "latentgraph.app.context_module.run",
    "latentgraph.families.mechanism_sparsity.fit_numpyro",
)
"""Imported once in the parent so that each forked child starts with them loaded. JAX may be
imported (it starts no threads until a computation runs) but must not compute in the parent."""


def warm_imports() -> None:
    """Import :data:`WARM_MODULES` (a child then pays only for its own work)."""
    import importlib

    for name in WARM_MODULES:
        importlib.import_module(name)


def run_isolated(
    argv: list[str],
    *,
    timeout: float = 300.0,
    fsize: int | None = None,
    cwd: str | os.PathLike | None = None,
) -> Outcome:
    """``main(argv)`` in a forked child, killed (code None) after ``timeout`` seconds."""
    with tempfile.NamedTemporaryFile("w+", suffix=".stderr", delete=False) as handle:
        stderr_path = handle.name
    start = time.perf_counter()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(list(argv), stderr_path, fsize, None if cwd is None else str(cwd))
    code: int | None = None
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.perf_counter() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.02)
    wall = time.perf_counter() - start
    text = Path(stderr_path).read_text(errors="replace")
    os.unlink(stderr_path)
    return Outcome(code, text, wall)


def snapshot(root: str | os.PathLike) -> dict[str, tuple] | None:
    """``{relative path: (kind, size or target, sha256)}`` of the tree under ``root`` (None if
    it does not exist); links are recorded, not followed; only regular files are read."""
    root = Path(root)
    if not os.path.lexists(root):
        return None
    entries: dict[str, tuple] = {}

    def visit(path: Path) -> None:
        info = os.lstat(path)
        name = str(path.relative_to(root))
        if stat.S_ISLNK(info.st_mode):
            entries[name] = ("link", os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            entries[name] = ("dir",)
            for child in sorted(path.iterdir()):
                visit(child)
        elif stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            entries[name] = ("file", info.st_size, digest)
        else:
            entries[name] = ("special", stat.S_IFMT(info.st_mode))

    visit(root)
    return entries
