"""The application's error types (defined in :mod:`latentgraph.errors`, below every layer, so
the library's own checks of user input can raise them too)."""

from latentgraph.errors import RunFolderError, UserInputError

__all__ = ["RunFolderError", "UserInputError"]
