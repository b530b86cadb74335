"""Argument checks shared by the data room.

Every check raises before any computation, with a message that names the argument, says what
was expected and what was received (STYLE.md, point 9).
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SPLIT_NAMES: tuple[str, str, str] = ("train", "valid", "test")


def describe(value: object) -> str:
    """Short description of a received value for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int; bools and floats are rejected with a TypeError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int, got {describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {value}")
    return value


def check_seed(value: object, name: str) -> int:
    """A seed is a non-negative int."""
    return check_int(value, name, minimum=0)


def check_fraction(value: object, name: str) -> float:
    """A real number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float in (0, 1], got {describe(value)}")
    value = float(value)
    if not (0.0 < value <= 1.0):
        raise ValueError(f"`{name}` must be a float in (0, 1], got {value!r}")
    return value


def check_split_fractions(value: object, name: str = "split_fractions") -> tuple[float, ...]:
    """Three positive fractions (train, valid, test) summing to 1."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(
            f"`{name}` must be a sequence of 3 floats (train, valid, test), got {describe(value)}"
        )
    if len(value) != len(SPLIT_NAMES):
        raise ValueError(
            f"`{name}` must have 3 entries (train, valid, test), got {len(value)}: {value!r}"
        )
    fractions = []
    for entry in value:
        if isinstance(entry, bool) or not isinstance(entry, numbers.Real):
            raise TypeError(f"`{name}` entries must be floats, got {describe(entry)}")
        entry = float(entry)
        if not (math.isfinite(entry) and entry > 0.0):
            raise ValueError(f"`{name}` entries must be positive and finite, got {value!r}")
        fractions.append(entry)
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"`{name}` must sum to 1, got {value!r} (sum {sum(fractions)!r})")
    return tuple(fractions)


def split_sizes(n: int, fractions: Sequence[float], *, name: str = "n_samples") -> dict[str, int]:
    """Rows per split by the largest-remainder rule (exact for 1e6 and (0.8, 0.1, 0.1)).

    Raises a ValueError naming ``name`` if a split would be empty.
    """
    raw = [n * fraction for fraction in fractions]
    sizes = [math.floor(r + 1e-9) for r in raw]
    leftover = n - sum(sizes)
    order = sorted(range(len(raw)), key=lambda k: (-(raw[k] - sizes[k]), k))
    for k in order[:leftover]:
        sizes[k] += 1
    if min(sizes) < 1:
        raise ValueError(
            f"`{name}`={n} is too small for split fractions {tuple(fractions)}: split sizes "
            f"would be {dict(zip(SPLIT_NAMES, sizes, strict=True))}; every split needs >= 1 row"
        )
    return dict(zip(SPLIT_NAMES, sizes, strict=True))


def check_path(value: object, name: str = "path") -> Path:
    """A str or os.PathLike, returned as a Path."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a str or os.PathLike, got {describe(value)}")
    return Path(value)


def check_text(value: object, name: str) -> str:
    """A str without NUL characters (numpy string arrays and zip member names drop them)."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a str, got {describe(value)}")
    if "\x00" in value:
        raise ValueError(f"`{name}` must not contain NUL characters ('\\x00'), got {value!r}")
    return value


def check_real_array(
    value: object,
    name: str,
    *,
    ndims: tuple[int, ...] | None,
    layout: str,
    non_empty: bool = False,
) -> np.ndarray:
    """A finite array of real numbers (int or float dtype, not bool) with ``ndim`` in
    ``ndims`` (``None``: any ``ndim >= 1``), returned as float64. ``layout`` describes the
    expected shape for messages."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested sequences
        raise TypeError(
            f"`{name}` must be an array {layout} of real numbers, got {describe(value)}"
        ) from err
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"`{name}` must hold real numbers (int or float dtype), got dtype {array.dtype}"
        )
    wrong_ndim = array.ndim == 0 if ndims is None else array.ndim not in ndims
    if wrong_ndim:
        raise ValueError(f"`{name}` must have shape {layout}, got shape {array.shape}")
    if non_empty and array.size == 0:
        raise ValueError(f"`{name}` must be non-empty, got shape {array.shape}")
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"`{name}` must be finite, got {bad} NaN/inf entries")
    return array


def check_binary_matrix(value: np.ndarray, name: str) -> np.ndarray:
    """A non-empty 2-D array of 0/1 values (bool, int or float), returned as int8."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested sequences
        raise TypeError(f"`{name}` must be a 2-D 0/1 matrix, got {describe(value)}") from err
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D 0/1 matrix, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"`{name}` must hold numbers 0/1, got dtype {array.dtype}")
    if 0 in array.shape:
        raise ValueError(
            f"`{name}` must have at least one row and one column, got shape {array.shape}"
        )
    if not np.all((array == 0) | (array == 1)):
        bad = np.unique(array[(array != 0) & (array != 1)])[:5]
        raise ValueError(f"`{name}` must contain only 0 and 1, got other values such as {bad}")
    return array.astype(np.int8)


_SIMPLE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


def check_simple_name(value: object, name: str) -> str:
    """An array or graph name: letters, digits, ``_`` and ``-`` (not starting with ``-``), so it
    is safe as a file or archive member name (no path separators, no spaces)."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a str, got {describe(value)}")
    if not _SIMPLE_NAME.match(value):
        raise ValueError(
            f"`{name}` must be a name of letters, digits, '_' and '-' (not starting with '-'; "
            f"no '/', spaces or dots), got {value!r}"
        )
    return value


def check_graph_matrix(value: object, name: str) -> np.ndarray:
    """A non-empty 2-D graph (rows = children): a 0/1 matrix, returned as int8, or a matrix of
    edge probabilities in ``[0, 1]``, returned as float64."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nested sequences
        raise TypeError(
            f"`{name}` must be a 2-D 0/1 or probability matrix, got {describe(value)}"
        ) from err
    if array.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2-D 0/1 or probability matrix, got shape {array.shape}"
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(f"`{name}` must hold numbers in [0, 1], got dtype {array.dtype}")
    if 0 in array.shape:
        raise ValueError(
            f"`{name}` must have at least one row and one column, got shape {array.shape}"
        )
    if np.all((array == 0) | (array == 1)):
        return array.astype(np.int8)
    probs = array.astype(np.float64)
    if not np.all(np.isfinite(probs)) or probs.min() < 0.0 or probs.max() > 1.0:
        bad = np.unique(probs[~((probs >= 0.0) & (probs <= 1.0))])[:5]
        raise ValueError(
            f"`{name}` must contain 0/1 values or probabilities in [0, 1], got values such as {bad}"
        )
    return probs
