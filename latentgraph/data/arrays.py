"""A split container for arrays of any shape (images, masks, per-object latents, contexts).

:class:`~latentgraph.data.Dataset` is shaped for the mechanism-sparsity family (``x`` of shape
``(n, T, n_obs)``). Image families need other arrays: ``images`` ``(n, H, W, C)`` uint8, object
``masks`` ``(n, H, W)``, per-object ``latents`` ``(n, K, F)``, a ``context`` index ``(n,)``...
:class:`ArrayDataset` holds any named arrays per split, with one rule: the arrays of a split
share their leading dimension ``n`` (one row per sample). Named 0/1 graphs (e.g. a
``concept_graph``) and JSON metadata travel with them.

On disk a data set is a folder::

    DIR/manifest.json            name, info, and every array's shape and dtype
    DIR/<split>/<array>.npy      one plain .npy file per array (memory-mappable)
    DIR/graphs/<graph>.npy

A folder rather than one ``.npz`` because large sets are *generated into* memory-mapped
``.npy`` files chunk by chunk (:class:`ArrayDatasetWriter`), so a 100k-image set is never held
in memory, let alone twice. Both writers build the folder under a temporary name beside the
target and move it into place at the end, so a reader never sees half a data set, and an
existing folder is replaced only with ``overwrite=True`` and only if it is itself a data set
folder (a user's other files are never deleted).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentgraph.data._checks import check_binary_matrix, check_path, check_text, describe
from latentgraph.data._files import (
    MissingPathError,
    PathExistsError,
    check_regular_file,
    inspect_npy,
)
from latentgraph.errors import UserInputError

__all__ = ["ArrayDataset", "ArrayDatasetWriter"]

MANIFEST = "manifest.json"
FORMAT = "latentgraph.ArrayDataset"
FORMAT_VERSION = 1
_MANIFEST_MAX_BYTES = 1 << 26  # 64 MiB: shapes, dtypes and metadata, never data
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


def _check_key(value: object, name: str) -> str:
    """A split, array or graph name: it becomes a file name, so letters, digits, _ and -."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"`{name}` must be a name of letters, digits, '_' and '-' (not starting with '-'), "
            f"got {value!r}"
        )
    return value


def _check_dtype(value: object, name: str) -> np.dtype:
    try:
        dtype = np.dtype(value)
    except TypeError as err:
        raise TypeError(f"`{name}` must be a numpy dtype, got {describe(value)}") from err
    if dtype.hasobject:
        raise ValueError(f"`{name}` must not hold Python objects, got dtype {dtype}")
    return dtype


def _check_layout(
    layout: object, name: str = "layout"
) -> dict[str, dict[str, tuple[tuple[int, ...], np.dtype]]]:
    """``{split: {array: (shape, dtype)}}`` with equal leading dimensions per split."""
    if not isinstance(layout, Mapping) or not layout:
        raise ValueError(f"`{name}` must be a non-empty mapping split -> arrays, got {layout!r}")
    checked: dict[str, dict[str, tuple[tuple[int, ...], np.dtype]]] = {}
    for split, arrays in layout.items():
        _check_key(split, f"{name} split name")
        where = f"{name}[{split!r}]"
        if not isinstance(arrays, Mapping) or not arrays:
            raise ValueError(f"`{where}` must be a non-empty mapping array -> (shape, dtype)")
        rows: dict[str, int] = {}
        checked[split] = {}
        for key, spec in arrays.items():
            _check_key(key, f"{where} array name")
            if not isinstance(spec, (tuple, list)) or len(spec) != 2:
                raise ValueError(f"`{where}[{key!r}]` must be (shape, dtype), got {spec!r}")
            shape, dtype = spec
            if (
                not isinstance(shape, (tuple, list))
                or not shape
                or not all(isinstance(s, (int, np.integer)) and s >= 0 for s in shape)
                or any(isinstance(s, bool) for s in shape)
            ):
                raise ValueError(
                    f"`{where}[{key!r}]` shape must be a non-empty tuple of ints >= 0, "
                    f"got {shape!r}"
                )
            rows[key] = int(shape[0])
            checked[split][key] = (
                tuple(int(s) for s in shape),
                _check_dtype(dtype, f"{where}[{key!r}] dtype"),
            )
        if len(set(rows.values())) > 1:
            raise ValueError(
                f"the arrays of split {split!r} must share their first dimension: {rows}"
            )
    return checked


def _prepare_target(path: Path, overwrite: bool) -> None:
    """Refuse to write over anything that is not ours to replace, before any work."""
    if not isinstance(overwrite, bool):
        raise TypeError(f"`overwrite` must be a bool, got {describe(overwrite)}")
    if not path.parent.is_dir():
        raise MissingPathError(f"`path` folder {str(path.parent)!r} does not exist")
    if not path.exists():
        return
    if not path.is_dir():
        raise PathExistsError(f"`path` {str(path)!r} exists and is not a folder")
    if not any(path.iterdir()):
        return
    if not overwrite:
        raise PathExistsError(
            f"`path` {str(path)!r} exists and is not empty; pass overwrite=True to replace it"
        )
    if not (path / MANIFEST).is_file():
        raise PathExistsError(
            f"`path` {str(path)!r} is not an ArrayDataset folder (no {MANIFEST}); refusing to "
            "replace it even with overwrite=True"
        )


def _install(tmp: Path, path: Path) -> None:
    """Move the finished folder ``tmp`` to ``path`` (checked by :func:`_prepare_target`)."""
    if path.exists() and not any(path.iterdir()):
        path.rmdir()
    if not path.exists():
        os.rename(tmp, path)
        return
    trash = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-"))
    os.rename(path, trash / path.name)
    os.rename(tmp, path)
    shutil.rmtree(trash)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write_manifest(folder: Path, manifest: dict) -> None:
    with open(folder / MANIFEST, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, allow_nan=False)
        handle.flush()
        os.fsync(handle.fileno())


def _manifest(name: str, info: dict, layout: Mapping, graph_names) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "info": info,
        "splits": {
            split: {
                key: {"shape": list(shape), "dtype": np.dtype(dtype).str}
                for key, (shape, dtype) in arrays.items()
            }
            for split, arrays in layout.items()
        },
        "graphs": sorted(graph_names),
    }


def _check_info(info: object) -> dict:
    if not isinstance(info, dict):
        raise TypeError(f"`info` must be a dict, got {describe(info)}")
    try:
        json.dumps(info, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"`info` must be JSON-serialisable (finite floats): {err}") from err
    return info


def _check_graphs(graphs: object) -> dict[str, np.ndarray]:
    if not isinstance(graphs, Mapping):
        raise TypeError(f"`graphs` must be a mapping name -> 0/1 matrix, got {describe(graphs)}")
    return {
        _check_key(key, "graphs key"): check_binary_matrix(value, f"graphs[{key!r}]")
        for key, value in graphs.items()
    }


@dataclass(eq=False, repr=False)
class ArrayDataset:
    """Named arrays per split (shared leading dimension ``n``), named 0/1 graphs and metadata.

    Args:
        name: data set name, e.g. ``"sprites"``.
        splits: split name -> ``{array name: ndarray}``; every array of a split has the same
            first dimension (one row per sample). Any shape and dtype except Python objects.
            ``np.memmap`` arrays are kept as they are (values are never scanned).
        graphs: name -> 0/1 matrix (stored as int8); rows are children, columns parents.
        info: JSON-serialisable metadata (generator settings, seeds, names of factors...).

    Example:
        >>> import numpy as np
        >>> ds = ArrayDataset("toy", {"train": {"images": np.zeros((4, 8, 8, 3), np.uint8),
        ...                                     "context": np.arange(4)}})
        >>> ds.sizes, ds.split("train")["images"].shape
        ({'train': 4}, (4, 8, 8, 3))
    """

    name: str
    splits: dict[str, dict[str, np.ndarray]]
    graphs: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_text(self.name, "name")
        self.info = _check_info(self.info)
        if not isinstance(self.splits, Mapping) or not self.splits:
            raise ValueError(
                f"`splits` must be a non-empty dict split -> arrays, got {describe(self.splits)}"
            )
        for split, arrays in self.splits.items():
            _check_key(split, "splits key")
            if not isinstance(arrays, Mapping) or not arrays:
                raise ValueError(f"`splits[{split!r}]` must be a non-empty dict of arrays")
            for key, array in arrays.items():
                _check_key(key, f"splits[{split!r}] array name")
                if not isinstance(array, np.ndarray):
                    raise TypeError(
                        f"`splits[{split!r}][{key!r}]` must be a numpy array, got {describe(array)}"
                    )
                if array.ndim == 0:
                    raise ValueError(f"`splits[{split!r}][{key!r}]` must have a first dimension")
                _check_dtype(array.dtype, f"splits[{split!r}][{key!r}] dtype")
        # the same rule as a writer's layout (one row per sample in every array of a split)
        _check_layout(self._layout(), "splits")
        self.splits = {split: dict(arrays) for split, arrays in self.splits.items()}
        self.graphs = _check_graphs(self.graphs)

    def _layout(self) -> dict:
        return {
            split: {key: (array.shape, array.dtype) for key, array in arrays.items()}
            for split, arrays in self.splits.items()
        }

    @property
    def sizes(self) -> dict[str, int]:
        """Rows per split."""
        return {
            split: int(next(iter(arrays.values())).shape[0])
            for split, arrays in self.splits.items()
        }

    def split(self, split: str) -> dict[str, np.ndarray]:
        """The arrays of one split, e.g. ``ds.split("train")["images"]``."""
        if not isinstance(split, str) or split not in self.splits:
            raise ValueError(f"`split` must be one of {sorted(self.splits)}, got {split!r}")
        return self.splits[split]

    def __repr__(self) -> str:
        arrays = {
            key: f"{array.dtype}{list(array.shape[1:])}"
            for key, array in next(iter(self.splits.values())).items()
        }
        return (
            f"ArrayDataset(name={self.name!r}, sizes={self.sizes}, arrays={arrays}, "
            f"graphs={sorted(self.graphs)})"
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the folder described in the module docstring, atomically; returns ``path``.

        An existing non-empty ``path`` is replaced only with ``overwrite=True`` and only if it
        is an ArrayDataset folder itself.
        """
        path = check_path(path)
        _prepare_target(path, overwrite)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
        try:
            for split, arrays in self.splits.items():
                (tmp / split).mkdir()
                for key, array in arrays.items():
                    np.save(tmp / split / f"{key}.npy", np.asarray(array), allow_pickle=False)
                    _fsync_file(tmp / split / f"{key}.npy")
            (tmp / "graphs").mkdir()
            for key, graph in self.graphs.items():
                np.save(tmp / "graphs" / f"{key}.npy", graph, allow_pickle=False)
            _write_manifest(tmp, _manifest(self.name, self.info, self._layout(), self.graphs))
            _install(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True) -> ArrayDataset:
        """Read a folder written by :meth:`save` or :class:`ArrayDatasetWriter` (no pickle).

        With ``mmap=True`` (default) split arrays are read-only memory maps of the files.
        The manifest and every array file must be regular files (symlinks followed; a FIFO or
        a device raises :class:`latentgraph.errors.UserInputError`) and no array header may
        declare more bytes than its file holds (:mod:`latentgraph.data._files`).
        """
        path = check_path(path)
        if not isinstance(mmap, bool):
            raise TypeError(f"`mmap` must be a bool, got {describe(mmap)}")
        manifest_path = path / MANIFEST
        if not os.path.lexists(manifest_path):
            raise MissingPathError(
                f"`path` {str(path)!r} is not an ArrayDataset folder (no {MANIFEST})"
            )
        check_regular_file(manifest_path, "path")
        if manifest_path.stat().st_size > _MANIFEST_MAX_BYTES:
            raise UserInputError(
                f"`path` {str(path)!r}: {MANIFEST} has {manifest_path.stat().st_size:,} bytes, "
                f"more than a manifest can hold ({_MANIFEST_MAX_BYTES:,})"
            )
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"`path` {str(path)!r}: {MANIFEST} is not valid JSON: {err}") from err
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"`path` {str(path)!r}: {MANIFEST} is not an ArrayDataset manifest")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"`path` {str(path)!r} has format_version {manifest.get('format_version')!r}, "
                f"expected {FORMAT_VERSION}"
            )
        mode = "r" if mmap else None
        splits: dict[str, dict[str, np.ndarray]] = {}
        for split, arrays in manifest["splits"].items():
            _check_key(split, "manifest split name")
            splits[split] = {}
            for key, spec in arrays.items():
                _check_key(key, "manifest array name")
                array = _load_npy(path / split / f"{key}.npy", mode)
                expected = (tuple(spec["shape"]), np.dtype(spec["dtype"]))
                if (array.shape, array.dtype) != expected:
                    raise ValueError(
                        f"`path` {str(path)!r}: {split}/{key}.npy has shape {array.shape} and "
                        f"dtype {array.dtype}, the manifest says {expected}"
                    )
                splits[split][key] = array
        graphs = {
            _check_key(key, "manifest graph name"): _load_npy(path / "graphs" / f"{key}.npy", None)
            for key in manifest.get("graphs", [])
        }
        return cls(manifest["name"], splits, graphs=graphs, info=manifest.get("info", {}))


def _load_npy(file: Path, mode: str | None) -> np.ndarray:
    """One array file of the folder, after its header is checked (:func:`inspect_npy`: a
    regular file whose header declares no more bytes than it holds)."""
    if not os.path.lexists(file):
        raise MissingPathError(f"data set file {str(file)!r} is missing")
    inspect_npy(file, "data set file")
    try:
        array = np.load(file, mmap_mode=mode, allow_pickle=False)
    except ValueError as err:  # object arrays need pickle: refused
        raise ValueError(f"data set file {str(file)!r} cannot be read safely: {err}") from err
    # a zero-size array cannot be memory-mapped: np.load returns a plain array, which is fine
    return array


class ArrayDatasetWriter:
    """Generate a large data set straight into memory-mapped files, chunk by chunk.

    Args:
        path: the data set folder to create (see the module docstring).
        name: data set name.
        layout: ``{split: {array: (shape, dtype)}}``; shapes include the row count ``n``.
        graphs: name -> 0/1 matrix.
        info: JSON-serialisable metadata.
        overwrite: replace an existing ArrayDataset folder at ``path``.

    Inside the ``with`` block, ``writer.arrays[split][array]`` are writable ``np.memmap`` views
    of ``.npy`` files in a temporary folder beside ``path``; fill them in slices. On a clean
    exit the files are flushed, the manifest written and the folder moved to ``path``;
    ``writer.dataset`` is then the memory-mapped :class:`ArrayDataset`. On an exception the
    temporary folder is removed and ``path`` is untouched.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "ds"
        >>> layout = {"train": {"images": ((10, 4, 4, 3), "uint8")}}
        >>> with ArrayDatasetWriter(out, name="toy", layout=layout) as writer:
        ...     for start in range(0, 10, 4):
        ...         writer.arrays["train"]["images"][start:start + 4] = start
        >>> int(writer.dataset.split("train")["images"][9, 0, 0, 0])
        8
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        name: str,
        layout: Mapping,
        graphs: Mapping | None = None,
        info: dict | None = None,
        overwrite: bool = False,
    ):
        self.path = check_path(path)
        self.name = check_text(name, "name")
        self.layout = _check_layout(layout)
        self.graphs = _check_graphs({} if graphs is None else graphs)
        self.info = _check_info({} if info is None else info)
        _prepare_target(self.path, overwrite)
        self.arrays: dict[str, dict[str, np.ndarray]] = {}
        self.dataset: ArrayDataset | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> ArrayDatasetWriter:
        self._tmp = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.tmp-"))
        try:
            for split, arrays in self.layout.items():
                (self._tmp / split).mkdir()
                self.arrays[split] = {
                    key: np.lib.format.open_memmap(
                        self._tmp / split / f"{key}.npy", mode="w+", dtype=dtype, shape=shape
                    )
                    for key, (shape, dtype) in arrays.items()
                }
        except BaseException:
            self._discard()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._tmp is not None, "use ArrayDatasetWriter in a with block"
        if exc_type is not None:
            self._discard()
            return
        try:
            for split, arrays in self.arrays.items():
                for key, array in arrays.items():
                    if isinstance(array, np.memmap):
                        array.flush()
                    _fsync_file(self._tmp / split / f"{key}.npy")
            self.arrays = {}
            (self._tmp / "graphs").mkdir()
            for key, graph in self.graphs.items():
                np.save(self._tmp / "graphs" / f"{key}.npy", graph, allow_pickle=False)
            _write_manifest(self._tmp, _manifest(self.name, self.info, self.layout, self.graphs))
            _install(self._tmp, self.path)
        except BaseException:
            self._discard()
            raise
        self.dataset = ArrayDataset.load(self.path, mmap=True)

    def _discard(self) -> None:
        self.arrays = {}
        if self._tmp is not None and self._tmp.exists():
            shutil.rmtree(self._tmp)
