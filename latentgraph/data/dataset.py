"""A small numpy container for split data sets plus their ground-truth graphs.

A :class:`Dataset` holds any named split arrays (one row per sample: the arrays of a split
share their first dimension) and any named graphs (0/1 or probability matrices, rows are
children, columns are parents), e.g. ``expression`` ``(n, 50)`` and ``perturbation`` ``(n, 5)``
with a 50 x 50 ``gene_graph``. Names are letters, digits, ``_`` and ``-``.

The mechanism-sparsity family (Lachapelle et al., arXiv 2401.04890;
``docs/mechanism_sparsity.md#synthetic-data``) gives some names a fixed meaning, checked on
construction:

- ``x``: float32 ``(n, T, n_obs)`` observations; T = 1 for action data, T = 2 for temporal data.
- ``actions``: float32 ``(n, n_actions)``, absent when there are no actions.
- ``z``: float32 ``(n, T, n_latents)`` true latents, absent when unknown.
- ``action_graph``: int8 0/1 ``(n_latents, n_actions)``; entry ``[i, l] = 1`` iff ``a_l -> z_i``.
- ``latent_graph``: int8 0/1 ``(n_latents, n_latents)``; entry ``[i, j] = 1`` iff
  ``z_j^{t-1} -> z_i^t`` (rows are children, columns are parents).

:attr:`Dataset.n_obs`, :attr:`~Dataset.n_steps`, :attr:`~Dataset.n_actions` and
:attr:`~Dataset.n_latents` are derived from these arrays; ``n_obs`` and ``n_steps`` raise a
``ValueError`` naming ``x`` when it is absent.

A data set is saved to one uncompressed ``.npz`` with keys ``<split>/<array>``, ``graph/<name>``,
``name`` and ``info`` (a JSON string), so it loads without pickle and can be memory-mapped
(hence no split may be called ``graph``).
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentgraph._atomic import atomic_write
from latentgraph.data._checks import (
    check_binary_matrix,
    check_graph_matrix,
    check_path,
    check_simple_name,
    check_text,
    describe,
)
from latentgraph.data._files import (
    MissingPathError,
    NpyMember,
    PathExistsError,
    check_fits_in_memory,
    count_non_finite,
    inspect_npz,
)
from latentgraph.errors import UserInputError

__all__ = ["Dataset"]

# names with a fixed meaning for the mechanism-sparsity family
SPLIT_ARRAYS: tuple[str, ...] = ("x", "actions", "z")
GRAPH_NAMES: tuple[str, ...] = ("action_graph", "latent_graph")
FORMAT_VERSION = 1
_GRAPH_PREFIX = "graph"
_ARRAY_KINDS = "biufc"  # bool, integer, float, complex: savable without pickle


def _layout(arrays: dict[str, np.ndarray]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{array: (shape without the sample dimension, dtype)}``."""
    return {key: (tuple(array.shape[1:]), array.dtype) for key, array in arrays.items()}


@dataclass(eq=False, repr=False)
class Dataset:
    """Train/valid/test arrays, named graphs, and JSON-serialisable metadata.

    Args:
        name: data set name, e.g. ``"action_sparsity_non_trivial"``.
        splits: split name (``"train"``, ``"valid"``, ``"test"``) -> ``{array name: array}``.
            Every split holds the same array names; the arrays of a split share their first
            dimension ``n`` (one row per sample), and an array has the same trailing shape and
            dtype in every split. ``x``, ``actions`` and ``z`` must follow the conventions of
            the module docstring; other arrays may have any numeric or bool dtype.
        graphs: graph name -> matrix (rows = children). ``action_graph`` and ``latent_graph``
            must be 0/1 and agree with ``actions`` and ``z``; other graphs may be 0/1 (stored
            as int8) or probabilities in ``[0, 1]`` (stored as float64).
        info: JSON-serialisable metadata: ``kind`` (``"action"``, ``"temporal"``,
            ``"custom"``), seeds, split sizes, standardisation statistics, ...

    Every array is checked for shape and dtype on construction; values are not scanned, so
    memory-mapped arrays stay on disk.

    Example:
        >>> import numpy as np
        >>> x = np.zeros((4, 1, 3), dtype=np.float32)
        >>> ds = Dataset("demo", {"train": {"x": x}})
        >>> ds.n_obs, ds.n_steps, ds.n_actions, ds.n_latents, ds.kind
        (3, 1, 0, None, 'custom')
        >>> genes = Dataset(
        ...     "genes",
        ...     {"train": {"expression": np.zeros((6, 50)), "perturbation": np.zeros((6, 5))}},
        ...     graphs={"gene_graph": np.eye(50)},
        ... )
        >>> genes.sizes, genes.array_names, genes.graphs["gene_graph"].dtype
        ({'train': 6}, ('expression', 'perturbation'), dtype('int8'))
    """

    name: str
    splits: dict[str, dict[str, np.ndarray]]
    graphs: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_text(self.name, "name")
        if not isinstance(self.info, dict):
            raise TypeError(f"`info` must be a dict, got {describe(self.info)}")
        self._check_splits()
        self._check_graphs()

    # ------------------------------------------------------------------ validation
    def _check_splits(self) -> None:
        if not isinstance(self.splits, dict) or not self.splits:
            raise ValueError(
                "`splits` must be a non-empty dict split name -> arrays, "
                f"got {describe(self.splits)}"
            )
        reference: tuple[str, dict] | None = None
        for split_name, arrays in self.splits.items():
            # keys become zip member names "<split>/<array>.npy", which end at a NUL
            if (
                not isinstance(split_name, str)
                or not split_name
                or "/" in split_name
                or "\x00" in split_name
            ):
                raise ValueError(
                    f"`splits` keys must be non-empty str without '/' or NUL, got {split_name!r}"
                )
            if split_name == _GRAPH_PREFIX:
                raise ValueError(
                    f"`splits` key {_GRAPH_PREFIX!r} is reserved (the saved archive keeps the "
                    f"graphs under '{_GRAPH_PREFIX}/'); rename the split"
                )
            where = f"splits[{split_name!r}]"
            if not isinstance(arrays, dict):
                raise TypeError(f"`{where}` must be a dict of arrays, got {describe(arrays)}")
            if not arrays:
                raise ValueError(f"`{where}` must hold at least one array, got an empty dict")
            for key, array in arrays.items():
                check_simple_name(key, f"{where}` key `{key!r}")
                if key in SPLIT_ARRAYS:
                    if not isinstance(array, np.ndarray) or array.dtype != np.float32:
                        got = array.dtype if isinstance(array, np.ndarray) else describe(array)
                        raise ValueError(f"`{where}[{key!r}]` must be a float32 ndarray, got {got}")
                elif (
                    not isinstance(array, np.ndarray)
                    or array.dtype.kind not in _ARRAY_KINDS
                    or array.ndim == 0
                ):
                    got = (
                        f"dtype {array.dtype} and shape {array.shape}"
                        if isinstance(array, np.ndarray)
                        else describe(array)
                    )
                    raise ValueError(
                        f"`{where}[{key!r}]` must be an ndarray of shape (n, ...) with a bool, "
                        f"integer, float or complex dtype, got {got}"
                    )
            self._check_mechanism_arrays(arrays, where)
            sizes = {key: int(array.shape[0]) for key, array in arrays.items()}
            if len(set(sizes.values())) > 1:
                raise ValueError(
                    f"`{where}` arrays must share their first dimension (one row per sample), "
                    f"got {sizes}"
                )
            layout = _layout(arrays)
            if reference is None:
                reference = (where, layout)
                continue
            first_where, first_layout = reference
            if set(layout) != set(first_layout):
                raise ValueError(
                    "all splits must hold the same arrays; "
                    f"`{where}` has {sorted(layout)}, `{first_where}` has {sorted(first_layout)}"
                )
            for key, (shape, dtype) in layout.items():
                if (shape, dtype) != first_layout[key]:
                    raise ValueError(
                        "all splits must share the trailing shape and dtype of each array; "
                        f"`{where}[{key!r}]` has {shape} {dtype}, `{first_where}[{key!r}]` has "
                        f"{first_layout[key][0]} {first_layout[key][1]}"
                    )

    @staticmethod
    def _check_mechanism_arrays(arrays: dict[str, np.ndarray], where: str) -> None:
        """Shapes of ``x`` ``(n, T, n_obs)``, ``actions`` ``(n, n_actions)`` and ``z``
        ``(n, T, n_latents)``, each checked against ``x`` when it is present."""
        x = arrays.get("x")
        if x is not None and x.ndim != 3:
            raise ValueError(f"`{where}['x']` must have shape (n, T, n_obs), got {x.shape}")
        n = None if x is None else x.shape[0]
        actions = arrays.get("actions")
        if actions is not None and (actions.ndim != 2 or (n is not None and actions.shape[0] != n)):
            raise ValueError(
                f"`{where}['actions']` must have shape (n={n}, n_actions), got {actions.shape}"
            )
        z = arrays.get("z")
        if z is not None and (z.ndim != 3 or (x is not None and z.shape[:2] != x.shape[:2])):
            n_steps = None if x is None else x.shape[1]
            raise ValueError(
                f"`{where}['z']` must have shape (n={n}, T={n_steps}, n_latents), got {z.shape}"
            )

    def _check_graphs(self) -> None:
        if not isinstance(self.graphs, dict):
            raise TypeError(f"`graphs` must be a dict, got {describe(self.graphs)}")
        checked: dict[str, np.ndarray] = {}
        for key, value in self.graphs.items():
            check_simple_name(key, f"graphs` key `{key!r}")
            where = f"graphs[{key!r}]"
            mechanism = key in GRAPH_NAMES
            checked[key] = (
                check_binary_matrix(value, where) if mechanism else check_graph_matrix(value, where)
            )
        self.graphs = checked
        first = next(iter(self.splits.values()))
        z_latents = first["z"].shape[2] if "z" in first else None
        n_actions = first["actions"].shape[1] if "actions" in first else None
        rows: dict[str, int] = {}
        latent_graph = self.graphs.get("latent_graph")
        if latent_graph is not None:
            if latent_graph.shape[0] != latent_graph.shape[1]:
                raise ValueError(
                    "`graphs['latent_graph']` must be square (n_latents, n_latents), "
                    f"got {latent_graph.shape}"
                )
            rows["latent_graph"] = latent_graph.shape[0]
        action_graph = self.graphs.get("action_graph")
        if action_graph is not None:
            if n_actions is None:
                raise ValueError("`graphs['action_graph']` is given but the splits have no actions")
            if action_graph.shape[1] != n_actions:
                raise ValueError(
                    f"`graphs['action_graph']` must have n_actions={n_actions} columns, "
                    f"got shape {action_graph.shape}"
                )
            rows["action_graph"] = action_graph.shape[0]
        if z_latents is not None:
            rows["z"] = z_latents
        if len(set(rows.values())) > 1:
            raise ValueError(f"n_latents disagrees between z and the graphs: {rows}")

    # ------------------------------------------------------------------ properties
    @property
    def _first(self) -> dict[str, np.ndarray]:
        return next(iter(self.splits.values()))

    def _x(self, needed_by: str) -> np.ndarray:
        x = self._first.get("x")
        if x is None:
            raise ValueError(
                f"`{needed_by}` needs the split array 'x' of shape (n, T, n_obs); data set "
                f"{self.name!r} has arrays {list(self.array_names)}"
            )
        return x

    @property
    def array_names(self) -> tuple[str, ...]:
        """Names of the arrays every split holds, in the order of the first split."""
        return tuple(self._first)

    @property
    def sizes(self) -> dict[str, int]:
        """Rows (samples) per split."""
        return {
            name: int(next(iter(arrays.values())).shape[0]) for name, arrays in self.splits.items()
        }

    @property
    def n_latents(self) -> int | None:
        """Number of latents, from ``z`` or the graphs; None if unknown."""
        if "z" in self._first:
            return int(self._first["z"].shape[2])
        for key in GRAPH_NAMES:
            if key in self.graphs:
                return int(self.graphs[key].shape[0])
        return None

    @property
    def n_obs(self) -> int:
        """Observed dimension ``d_x`` (needs ``x``)."""
        return int(self._x("n_obs").shape[2])

    @property
    def n_actions(self) -> int:
        """Action dimension ``d_a``; 0 when there are no actions."""
        actions = self._first.get("actions")
        return 0 if actions is None else int(actions.shape[1])

    @property
    def n_steps(self) -> int:
        """Sequence length T (1 for action data, 2 for one-transition temporal data; needs
        ``x``)."""
        return int(self._x("n_steps").shape[1])

    @property
    def kind(self) -> str:
        """``info["kind"]``: ``"action"``, ``"temporal"`` or ``"custom"``."""
        return str(self.info.get("kind", "custom"))

    def split(self, split: str) -> dict[str, np.ndarray]:
        """The arrays of one split, e.g. ``ds.split("train")["x"]``."""
        if not isinstance(split, str) or split not in self.splits:
            raise ValueError(f"`split` must be one of {sorted(self.splits)}, got {split!r}")
        return self.splits[split]

    def __repr__(self) -> str:
        if "x" not in self._first:
            shapes = {key: tuple(array.shape[1:]) for key, array in self._first.items()}
            return (
                f"Dataset(name={self.name!r}, kind={self.kind!r}, sizes={self.sizes}, "
                f"arrays={shapes}, graphs={sorted(self.graphs)})"
            )
        return (
            f"Dataset(name={self.name!r}, kind={self.kind!r}, sizes={self.sizes}, "
            f"n_steps={self.n_steps}, n_obs={self.n_obs}, n_actions={self.n_actions}, "
            f"n_latents={self.n_latents}, graphs={sorted(self.graphs)})"
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the data set to one uncompressed ``.npz`` file, atomically.

        The file is written to a temporary file in the target directory and moved into place,
        so a reader never sees a half-written file. An existing file is never replaced unless
        ``overwrite=True`` (otherwise :class:`~latentgraph.data._files.PathExistsError`, a
        ``FileExistsError`` and a ``UserInputError``). Returns the path written.
        """
        path = check_path(path)
        if not isinstance(overwrite, bool):
            raise TypeError(f"`overwrite` must be a bool, got {describe(overwrite)}")
        if path.exists() and not overwrite:
            raise PathExistsError(f"`path` {str(path)!r} exists; pass overwrite=True to replace it")
        try:
            info_json = json.dumps(self.info, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ValueError(f"`info` must be JSON-serialisable (finite floats): {err}") from err
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "name": np.array(self.name),
            "info": np.array(info_json),
        }
        for split_name, split_arrays in self.splits.items():
            for key, array in split_arrays.items():
                arrays[f"{split_name}/{key}"] = np.asarray(array)
        for key, graph in self.graphs.items():
            arrays[f"graph/{key}"] = graph

        with atomic_write(path, overwrite=overwrite) as file:
            np.savez(file, **arrays)
        return path

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, mmap: bool = False, check_finite: bool = True
    ) -> Dataset:
        """Load a file written by :meth:`save` (never unpickles).

        With ``mmap=True`` the split arrays are read-only ``np.memmap`` views of the file.

        Before any array is read, the file is checked like a user ``.npz``
        (:func:`latentgraph.data._files.inspect_npz`: a regular file, every member's header
        declaring no more bytes than it holds; without ``mmap``, the arrays must fit in the
        available memory). After loading, ``x``, ``actions`` and ``z`` of every split must be
        finite (unless ``check_finite=False``: a bit-exact round trip of any values), as
        :func:`latentgraph.data.load_npz` requires of a plain file; memory-mapped
        arrays are scanned from the file in 16 MiB reads, so the check holds no more than one
        chunk in memory. Problems with the file raise
        :class:`latentgraph.errors.UserInputError` naming the path.
        """
        path = check_path(path)
        if not isinstance(mmap, bool):
            raise TypeError(f"`mmap` must be a bool, got {describe(mmap)}")
        if not isinstance(check_finite, bool):
            raise TypeError(f"`check_finite` must be a bool, got {describe(check_finite)}")
        if not os.path.lexists(path):
            raise MissingPathError(f"`path` {str(path)!r} does not exist or is not a file")
        members = inspect_npz(path, "path")
        required = ("format_version", "name", "info")
        if set(required) - set(members):
            raise UserInputError(
                f"`path` {str(path)!r} is not a latentgraph data set: expected keys "
                f"{list(required)}, got {sorted(members)}"
            )
        big_keys = [key for key in members if key not in required]
        if not mmap:
            needed = sum(members[key].nbytes for key in big_keys)
            check_fits_in_memory(needed, "path", f"loading {str(path)!r} without mmap")
        try:
            archive = np.load(path, allow_pickle=False)
            with archive:
                small = {key: archive[key] for key in required}
                big = (
                    _memmap_members(path, members, big_keys)
                    if mmap
                    else {k: archive[k] for k in big_keys}
                )
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise UserInputError(
                f"`path` {str(path)!r} is not a readable .npz file: {err}"
            ) from err
        try:
            version = int(small["format_version"])
        except (TypeError, ValueError) as err:
            raise UserInputError(
                f"`path` {str(path)!r} has an unreadable format_version: {err}"
            ) from err
        if version != FORMAT_VERSION:
            raise UserInputError(
                f"`path` {str(path)!r} has format_version {version}, expected {FORMAT_VERSION}"
            )
        try:
            info = json.loads(str(small["info"]))
        except json.JSONDecodeError as err:
            raise UserInputError(
                f"`path` {str(path)!r}: key 'info' is not valid JSON: {err}"
            ) from err

        splits: dict[str, dict[str, np.ndarray]] = {}
        graphs: dict[str, np.ndarray] = {}
        for key, array in big.items():
            prefix, _, leaf = key.partition("/")
            if not prefix or not leaf or "/" in leaf:
                raise UserInputError(
                    f"`path` {str(path)!r} has unexpected key {key!r}; expected "
                    f"'<split>/<array>' or '{_GRAPH_PREFIX}/<graph>'"
                )
            if prefix == _GRAPH_PREFIX:
                graphs[leaf] = np.asarray(array)
            else:
                splits.setdefault(prefix, {})[leaf] = array
        try:
            dataset = cls(name=str(small["name"]), splits=splits, graphs=graphs, info=info)
        except (TypeError, ValueError) as err:  # the constructor's checks, on the file's arrays
            raise UserInputError(f"`path` {str(path)!r} holds an invalid data set: {err}") from err
        if check_finite:
            _check_finite(path, dataset, members if mmap else None)
        return dataset


def _check_finite(path: Path, dataset: Dataset, members: dict[str, NpyMember] | None) -> None:
    """``x``, ``actions`` and ``z`` of every split hold no NaN/inf. With ``members`` (memory-
    mapped arrays) each is scanned from the file in chunks (:func:`count_non_finite`)."""
    for split_name, arrays in dataset.splits.items():
        for key in SPLIT_ARRAYS:
            if key not in arrays:
                continue
            if members is None:
                bad = count_non_finite(arrays[key])
            else:
                bad = count_non_finite(file=path, member=members[f"{split_name}/{key}"])
            if bad:
                raise UserInputError(
                    f"`path` {str(path)!r}: array '{split_name}/{key}' must be finite, got {bad} "
                    "NaN/inf entries"
                )


def _memmap_members(
    path: Path, members: dict[str, NpyMember], keys: list[str]
) -> dict[str, np.ndarray]:
    """Memory-map the ``.npy`` members of an uncompressed ``.npz`` (np.load ignores mmap_mode
    for archives). Each member is stored verbatim, so its data sit at a fixed file offset
    (``NpyMember.data_offset``, read from the headers by :func:`inspect_npz`)."""
    out: dict[str, np.ndarray] = {}
    for key in keys:
        member = members[key]
        if member.data_offset is None:
            raise UserInputError(
                f"member {key!r} of {str(path)!r} is compressed; load with mmap=False"
            )
        if member.nbytes == 0:
            out[key] = np.empty(member.shape, dtype=member.dtype)
            continue
        out[key] = np.memmap(
            path,
            dtype=member.dtype,
            mode="r",
            offset=member.data_offset,
            shape=member.shape,
            order="F" if member.fortran_order else "C",
        )
    return out
