"""Load a user's own data from an ``.npz`` file into a split, standardised :class:`Dataset`.

Expected keys (all numeric; nothing is ever unpickled):

- ``x`` (required): ``(n, d_x)`` (read as T = 1) or ``(n, T, d_x)``;
- ``actions`` (optional): ``(n, d_a)``;
- ``z`` (optional, true latents): ``(n, d_z)`` or ``(n, T, d_z)``, same layout as ``x``;
- ``action_graph`` (optional): 0/1 ``(d_z, d_a)``, rows = latents, columns = actions;
- ``latent_graph`` (optional): 0/1 ``(d_z, d_z)``, entry ``[i, j] = 1`` iff z_j^{t-1} -> z_i^t.
"""

from __future__ import annotations

import math
import os
import zipfile

import numpy as np

from latentgraph.data._checks import (
    SPLIT_NAMES,
    check_binary_matrix,
    check_path,
    check_seed,
    check_split_fractions,
    describe,
    split_sizes,
)
from latentgraph.data._files import check_fits_in_memory, inspect_npz
from latentgraph.data.dataset import Dataset
from latentgraph.errors import UserInputError

__all__ = ["load_npz"]

DATA_KEYS: tuple[str, ...] = ("x", "actions", "z")
GRAPH_KEYS: tuple[str, ...] = ("action_graph", "latent_graph")


def load_npz(
    path: str | os.PathLike,
    *,
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    standardize: bool = True,
) -> Dataset:
    """Read, validate, shuffle-split and standardise a user ``.npz`` file.

    Rows are shuffled with ``np.random.default_rng(seed).permutation(n)`` and cut into train,
    valid and test by ``split_fractions``. With ``standardize=True`` every split's ``x`` is
    standardised per observed dimension with the *train* mean and std (pooled over time
    steps); a constant train dimension keeps std 1 and is listed in
    ``info["standardisation"]["constant_dims"]``.

    Every problem with the file raises :class:`latentgraph.errors.UserInputError` (a
    ValueError) naming the key and saying what was expected and what was found; before
    anything is read the path must be a regular file and every member's header must declare
    no more data than the member holds and than memory can take
    (:func:`latentgraph.data._files.inspect_npz`).

    Example:
        >>> import numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "mine.npz")
        >>> np.savez(path, x=np.random.default_rng(0).normal(size=(50, 4)))
        >>> load_npz(path).split("train")["x"].shape
        (40, 1, 4)
    """
    path = check_path(path)
    fractions = check_split_fractions(split_fractions)
    seed = check_seed(seed, "seed")
    if not isinstance(standardize, bool):
        raise TypeError(f"`standardize` must be a bool, got {describe(standardize)}")
    raw = _read_npz(path)

    x = _as_float32(raw["x"], "x", ("(n, d_x)", "(n, T, d_x)"), (2, 3))
    if x.ndim == 2:
        x = x[:, None, :]
    n, n_steps = x.shape[:2]
    arrays = {"x": x}
    if "actions" in raw:
        actions = _as_float32(raw["actions"], "actions", ("(n, d_a)",), (2,))
        _check_rows(actions, "actions", n)
        arrays["actions"] = actions
    if "z" in raw:
        layout = "(n, d_z)" if raw["x"].ndim == 2 else f"(n, T={n_steps}, d_z)"
        z = _as_float32(raw["z"], "z", (layout,), (raw["x"].ndim,))
        _check_rows(z, "z", n)
        if z.ndim == 2:
            z = z[:, None, :]
        elif z.shape[1] != n_steps:
            raise UserInputError(f"`z` must have T={n_steps} steps like `x`, got shape {z.shape}")
        arrays["z"] = z
    graphs = _check_graphs(raw, arrays)
    try:
        sizes = split_sizes(n, fractions, name="len(x)")
    except ValueError as err:  # too few rows in the file for three splits
        raise UserInputError(f"`path` {str(path)!r}: {err}") from None

    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0] + [sizes[split] for split in SPLIT_NAMES])
    splits = {
        split: {key: value[order[bounds[k] : bounds[k + 1]]] for key, value in arrays.items()}
        for k, split in enumerate(SPLIT_NAMES)
    }

    standardisation: dict | None = None
    if standardize:
        train_x = splits["train"]["x"].reshape(-1, x.shape[2])
        mean = train_x.mean(axis=0, dtype=np.float64)
        std = train_x.std(axis=0, dtype=np.float64)
        constant = np.flatnonzero(std == 0)
        std[constant] = 1.0
        for split in SPLIT_NAMES:
            split_x = splits[split]["x"]
            split_x[...] = (split_x - mean) / std
        standardisation = {
            "statistics_from": "train",
            "mean": mean.tolist(),
            "std": std.tolist(),
            "constant_dims": constant.tolist(),
        }

    info = {
        "kind": "custom",
        "generator": "latentgraph.data.load_npz",
        "source": str(path),
        "seed": seed,
        "n_samples": int(n),
        "split_fractions": list(fractions),
        "split_sizes": sizes,
        "standardisation": standardisation,
    }
    return Dataset(name=path.stem, splits=splits, graphs=graphs, info=info)


def _read_npz(path) -> dict[str, np.ndarray]:
    """The arrays of a user ``.npz``, after the file and every member's header are checked
    (regular file, honest headers, enough memory for the arrays and their float32 copies)."""
    members = inspect_npz(path, "path")
    keys = list(members)
    unknown = sorted(set(keys) - set(DATA_KEYS) - set(GRAPH_KEYS))
    if unknown:
        raise UserInputError(
            f"`path` {str(path)!r} has unexpected keys {unknown}; "
            f"expected 'x' and optionally {[*DATA_KEYS[1:], *GRAPH_KEYS]}"
        )
    if "x" not in keys:
        raise UserInputError(f"`path` {str(path)!r} must contain key 'x'; found keys {keys}")
    declared = sum(member.nbytes for member in members.values())
    float32_copies = sum(4 * math.prod(m.shape) for k, m in members.items() if k in DATA_KEYS)
    check_fits_in_memory(declared + float32_copies, "path", f"loading {str(path)!r}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise UserInputError(
            f"`path` must be a valid .npz archive, got {str(path)!r} which cannot be read ({err})"
        ) from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UserInputError(
            f"`path` must be an .npz archive of named arrays, got a single array in {str(path)!r}"
        )
    with archive:
        raw = {}
        for key in keys:
            try:
                raw[key] = archive[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
                raise UserInputError(
                    f"`{key}` in {str(path)!r} must be a numeric array, but it cannot be read "
                    f"without pickle ({err})"
                ) from err
    return raw


def _as_float32(
    array: np.ndarray, key: str, layouts: tuple[str, ...], ndims: tuple[int, ...]
) -> np.ndarray:
    if array.dtype.kind not in "iuf":
        raise UserInputError(
            f"`{key}` must hold real numbers (int or float), got dtype {array.dtype}"
        )
    if array.ndim not in ndims:
        raise UserInputError(
            f"`{key}` must have shape {' or '.join(layouts)}, "
            f"got {array.ndim}-D shape {array.shape}"
        )
    if 0 in array.shape:
        raise UserInputError(
            f"`{key}` must be non-empty in every dimension, got shape {array.shape}"
        )
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported below
        converted = array.astype(np.float32)
    if not np.all(np.isfinite(converted)):
        bad = int(np.size(converted) - np.count_nonzero(np.isfinite(converted)))
        raise UserInputError(
            f"`{key}` must be finite, got {bad} NaN/inf entries (after conversion to float32)"
        )
    return converted


def _check_rows(array: np.ndarray, key: str, n: int) -> None:
    if array.shape[0] != n:
        raise UserInputError(f"`{key}` must have n={n} rows like `x`, got {array.shape[0]}")


def _check_graphs(raw: dict[str, np.ndarray], arrays: dict[str, np.ndarray]) -> dict:
    try:
        graphs = {key: check_binary_matrix(raw[key], key) for key in GRAPH_KEYS if key in raw}
    except (TypeError, ValueError) as err:  # a graph of the file that is not 0/1
        raise UserInputError(str(err)) from None
    n_latents = arrays["z"].shape[2] if "z" in arrays else None
    latent_graph = graphs.get("latent_graph")
    if latent_graph is not None:
        rows, cols = latent_graph.shape
        expected = n_latents if n_latents is not None else rows
        if rows != cols or rows != expected:
            raise UserInputError(
                f"`latent_graph` must have shape (d_z, d_z) = ({expected}, {expected}), "
                f"got {latent_graph.shape}"
            )
        n_latents = rows
    action_graph = graphs.get("action_graph")
    if action_graph is not None:
        if "actions" not in arrays:
            raise UserInputError("`action_graph` is given but the file has no `actions`")
        n_actions = arrays["actions"].shape[1]
        expected = (n_latents if n_latents is not None else action_graph.shape[0], n_actions)
        if action_graph.shape != expected:
            raise UserInputError(
                f"`action_graph` must have shape (d_z, d_a) = {expected}, got {action_graph.shape}"
            )
    return graphs
