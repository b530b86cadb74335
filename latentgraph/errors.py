"""Error types for input the user gave: what the command line reports as the user's fault.

Defined below every layer (this module imports nothing), so library checks of a file or an
argument can raise them; they subclass ``ValueError``, so the API contract (bad input raises
``ValueError``) holds.

The command line maps them to exit codes (``latentgraph.app.cli``):

- :class:`UserInputError` (a ``ValueError``): a bad option, file or run folder; one line on
  stderr, exit code 2, nothing written.
- :class:`RunFolderError` (a :class:`UserInputError`): a run folder that cannot be used as asked
  (tampered, damaged, of another run, locked by another process); the message names the file.
- ``OSError`` while writing (no space, read-only, permission): one line, exit code 1; the
  previous files stay as they were.
- Anything else is a bug: a traceback and a line asking to report it.
"""

from __future__ import annotations

__all__ = ["RunFolderError", "UserInputError"]


class UserInputError(ValueError):
    """Input the user gave (an option, a file, a folder) that cannot be used; the message says
    which argument, what was expected and what was received."""


class RunFolderError(UserInputError):
    """A run folder that cannot be created, resumed or written as asked; the message names the
    file and what is wrong with it."""
