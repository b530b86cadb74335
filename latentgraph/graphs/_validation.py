"""Argument checks shared by the graph and metric rooms (numpy only).

Every check runs before any computation and raises a ``TypeError`` or ``ValueError`` that names
the argument, says what was expected and what was received.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__}"


def as_real_array(value: ArrayLike, name: str) -> NDArray[np.float64]:
    """Convert ``value`` to a float64 array, refusing non-numeric, boolean and complex input."""
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged nested lists and the like
        raise TypeError(
            f"{name} must be array-like of real numbers; received {_describe(value)}"
        ) from error
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(
            f"{name} must hold real numbers (integer or float dtype); received {_describe(array)}"
        )
    return array.astype(np.float64, copy=False)


def as_name_sequence(value: Sequence[str], name: str) -> tuple[str, ...]:
    """Node names as a tuple; a single string (or a non-sequence) is refused, not split into
    characters. The entries are checked by the caller."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(
            f"{name} must be a sequence of strings (one per node); received {_describe(value)} "
            f"{value!r}"
        )
    return tuple(value)


def as_binary_matrix(
    value: ArrayLike,
    name: str,
    *,
    shape: tuple[int | None, int | None] | None = None,
    square: bool = False,
) -> NDArray[np.bool_]:
    """Check a 0/1 (or boolean) 2-D matrix and return it as a boolean array.

    ``shape`` may fix either dimension (``None`` leaves it free); ``square`` demands
    ``n_rows == n_columns``.
    """
    try:
        array = np.asarray(value)
    except Exception as error:
        raise TypeError(f"{name} must be a 0/1 matrix; received {_describe(value)}") from error
    if not (
        array.dtype == np.bool_
        or np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(
            f"{name} must be a 0/1 matrix of bool, integer or float dtype; "
            f"received {_describe(array)}"
        )
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (rows = children, columns = parents); "
            f"received {array.ndim}-D array of shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column; got {array.shape}")
    if array.dtype != np.bool_:
        is_binary = (array == 0) | (array == 1)
        if not np.all(is_binary):
            bad = array[~is_binary].ravel()[:3].tolist()
            raise ValueError(f"{name} must contain only 0 and 1; found values such as {bad}")
    if square and array.shape[0] != array.shape[1]:
        raise ValueError(f"{name} must be square; received shape {array.shape}")
    if shape is not None:
        for axis, expected in enumerate(shape):
            if expected is not None and array.shape[axis] != expected:
                axis_name = "rows" if axis == 0 else "columns"
                raise ValueError(
                    f"{name} must have {expected} {axis_name}; received shape {array.shape}"
                )
    return array.astype(bool, copy=False)


def as_permutation(
    value: ArrayLike,
    *,
    n_true: int | None,
    n_learned: int,
    name: str = "permutation",
) -> NDArray[np.intp]:
    """Check a matching ``perm`` with ``perm[i]`` = learned index matched to true latent ``i``.

    ``perm`` must be 1-D, of integer dtype, of length ``n_true`` (when given), with distinct
    entries in ``[0, n_learned)``.
    """
    try:
        array = np.asarray(value)
    except Exception as error:
        raise TypeError(
            f"{name} must be a 1-D integer array; received {_describe(value)}"
        ) from error
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must have an integer dtype; received {_describe(array)}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D; received shape {array.shape}")
    if n_true is not None and array.shape[0] != n_true:
        raise ValueError(
            f"{name} must have one entry per true latent ({n_true}); received {array.shape[0]}"
        )
    if array.size and (array.min() < 0 or array.max() >= n_learned):
        raise ValueError(
            f"{name} entries must lie in [0, {n_learned}) (learned latents); "
            f"received min {array.min()} and max {array.max()}"
        )
    if np.unique(array).size != array.size:
        raise ValueError(f"{name} entries must be distinct; received {array.tolist()}")
    return array.astype(np.intp, copy=False)
