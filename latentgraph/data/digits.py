"""Transform contexts of scikit-learn's bundled handwritten digits (numpy/scipy only).

The offline stand-in for the MNIST transform contexts of Markham et al.
(2025, arXiv 2507.04754; ``docs/context_module.md#digit-transform-contexts``): ``sklearn.datasets.load_digits`` ships in the wheel
(1,797 images, 8x8, values 0..16), so no download is needed. Numbers obtained on it are not
comparable to the paper's MNIST tables.

**Pre-processing.** ``x / 16``, bilinear upsampling (``scipy.ndimage.zoom``, order 1) to
``digit_size x digit_size`` (20, as in MNIST's 20-in-28 framing), clipped to [0, 1] and
zero-padded to the centre of an ``image_size x image_size`` frame (32).

**Concepts and contexts** (K = 5): ``obs`` (untransformed) plus one context per transform,
magnitudes drawn per image so that each context is a distribution:

- ``scale``: isotropic zoom about the centre, factor ``~ U(0.6, 0.8)``;
- ``shear``: horizontal shear ``x' = x + k (y - c)``, ``k ~ U(0.25, 0.5)``, ``c`` the centre;
- ``shift``: translation right and down, ``dx, dy ~ U(2, 4)`` pixels each;
- ``thicken``: grey-scale dilation with a 3x3 structuring element;
- ``thin``: grey-scale erosion with a 2x2 structuring element.

The held-out composition contexts are all unordered pairs of two transforms except
(thicken, thin), 9 in all, named ``scale_shear``...; composed with the
morphological transform first, then one affine map ``shift o shear o scale`` (a single
interpolation, ``scipy.ndimage.affine_transform``, order 1, zero outside).

**Ground truth** (``latents``, one row per image): ``scale, shear, shift_x, shift_y,
thicken, thin`` with the identity values ``1, 0, 0, 0, 0, 0`` where a transform is not
applied. The transforms are independent by construction, so the true concept graph is
empty.

**Splits without leakage.** The *source images* are partitioned once (``split_seed``) into
train/valid/test fractions; every context of a split is a transformed replica of that split's
source images (``docs/context_module.md#unseeded-splits``), so no digit image seen in training appears in
``test`` (the training contexts) or ``heldout`` (the pairs), which share the test sources.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from latentgraph.data._checks import (
    check_int,
    check_seed,
    check_split_fractions,
    describe,
    split_sizes,
)
from latentgraph.data.arrays import ArrayDataset

__all__ = [
    "DIGIT_CONCEPTS",
    "DIGIT_HELDOUT_PAIRS",
    "DIGIT_PARAMETERS",
    "DIGIT_TRAINING_CONTEXTS",
    "apply_digit_transforms",
    "make_digits_contexts",
    "preprocess_digits",
]

DIGIT_CONCEPTS: tuple[str, ...] = ("scale", "shear", "shift", "thicken", "thin")
"""The K = 5 transforms, in the column order of ``targets``."""

DIGIT_TRAINING_CONTEXTS: tuple[str, ...] = ("obs", *DIGIT_CONCEPTS)

DIGIT_HELDOUT_PAIRS: tuple[tuple[str, str], ...] = tuple(
    pair for pair in itertools.combinations(DIGIT_CONCEPTS, 2) if pair != ("thicken", "thin")
)
"""The 9 composition pairs: every pair of transforms but (thicken, thin)."""

DIGIT_PARAMETERS: tuple[str, ...] = ("scale", "shear", "shift_x", "shift_y", "thicken", "thin")
"""Columns of ``latents``: the transform parameters (identity 1, 0, 0, 0, 0, 0)."""

IDENTITY_PARAMETERS = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
_CONCEPT_COLUMNS = {"scale": [0], "shear": [1], "shift": [2, 3], "thicken": [4], "thin": [5]}
_SPLITS = ("train", "valid", "test", "heldout")


def preprocess_digits(
    images: ArrayLike, *, image_size: int = 32, digit_size: int = 20
) -> NDArray[np.float64]:
    """8x8 digits (values 0..16) -> ``(n, image_size, image_size)`` floats in [0, 1].

    ``x / 16``, bilinear zoom by ``digit_size / 8``, clipped to [0, 1], zero-padded to the
    centre of the frame (module docstring).
    """
    image_size, digit_size = _check_sizes(image_size, digit_size)
    array = np.asarray(images)
    if array.dtype.kind not in "iuf" or array.ndim != 3 or array.shape[1:] != (8, 8):
        raise ValueError(
            f"`images` must be an (n, 8, 8) array of numbers, got {array.dtype} {array.shape}"
        )
    small = array.astype(np.float64) / 16.0
    zoomed = ndimage.zoom(small, (1.0, digit_size / 8.0, digit_size / 8.0), order=1)
    zoomed = np.clip(zoomed, 0.0, 1.0)
    out = np.zeros((array.shape[0], image_size, image_size))
    start = (image_size - digit_size) // 2
    out[:, start : start + digit_size, start : start + digit_size] = zoomed
    return out


def _check_sizes(image_size: object, digit_size: object) -> tuple[int, int]:
    image_size = check_int(image_size, "image_size", minimum=8)
    digit_size = check_int(digit_size, "digit_size", minimum=8)
    if digit_size > image_size:
        raise ValueError(f"`digit_size` ({digit_size}) must not exceed `image_size` ({image_size})")
    return image_size, digit_size


def _affine(parameters: NDArray[np.float64], centre: float) -> NDArray[np.float64]:
    """Forward map ``shift o shear o scale`` in homogeneous (row, col) coordinates."""
    scale, shear, shift_x, shift_y = parameters[:4]
    scaling = np.array(
        [[scale, 0.0, centre * (1.0 - scale)], [0.0, scale, centre * (1.0 - scale)], [0, 0, 1]]
    )
    shearing = np.array([[1.0, 0.0, 0.0], [shear, 1.0, -shear * centre], [0, 0, 1]])
    shifting = np.array([[1.0, 0.0, shift_y], [0.0, 1.0, shift_x], [0, 0, 1]])
    return shifting @ shearing @ scaling


def apply_digit_transforms(images: ArrayLike, parameters: ArrayLike) -> NDArray[np.float64]:
    """Apply per-image transform parameters to square images (module docstring).

    Args:
        images: ``(n, S, S)`` floats in [0, 1] (:func:`preprocess_digits`).
        parameters: ``(n, 6)`` in :data:`DIGIT_PARAMETERS` order: zoom factor (> 0), shear
            ``k``, shift ``dx`` (columns, right), ``dy`` (rows, down), and 0/1 flags for a
            3x3 grey dilation and a 2x2 grey erosion.

    Returns:
        ``(n, S, S)`` floats in [0, 1]: morphology first, then the affine map
        ``shift o shear o scale`` about the centre ``c = (S - 1) / 2``, bilinear, zero
        outside the frame. The identity parameters return the images unchanged.
    """
    array = np.asarray(images, dtype=np.float64)
    if array.ndim != 3 or array.shape[1] != array.shape[2]:
        raise ValueError(f"`images` must have shape (n, S, S), got {array.shape}")
    params = np.asarray(parameters, dtype=np.float64)
    if params.shape != (array.shape[0], len(DIGIT_PARAMETERS)):
        raise ValueError(
            f"`parameters` must have shape ({array.shape[0]}, {len(DIGIT_PARAMETERS)}), "
            f"got {params.shape}"
        )
    if not np.all(np.isfinite(params)) or np.any(params[:, 0] <= 0):
        raise ValueError("`parameters` must be finite with a positive zoom factor (column 0)")
    if not np.all(np.isin(params[:, 4:], (0.0, 1.0))):
        raise ValueError("`parameters` columns 'thicken' and 'thin' must be 0 or 1")
    out = array.copy()
    thicken, thin = params[:, 4] == 1, params[:, 5] == 1
    if thicken.any():
        out[thicken] = ndimage.grey_dilation(out[thicken], size=(1, 3, 3))
    if thin.any():
        out[thin] = ndimage.grey_erosion(out[thin], size=(1, 2, 2))
    moved = np.flatnonzero(np.any(params[:, :4] != IDENTITY_PARAMETERS[:4], axis=1))
    if moved.size:
        size = array.shape[1]
        centre = (size - 1) / 2.0
        inverse = np.linalg.inv(np.stack([_affine(row, centre) for row in params[moved]]))
        grid = np.stack([*np.indices((size, size)), np.ones((size, size))])  # (3, S, S)
        source = np.einsum("nij,jrc->nirc", inverse[:, :2], grid)  # (m, 2, S, S)
        index = np.broadcast_to(np.arange(moved.size)[:, None, None], source[:, 0].shape)
        # one interpolation for the whole stack; the image axis is hit at integers, so
        # images never mix (the same as affine_transform per image)
        out[moved] = ndimage.map_coordinates(
            out[moved],
            np.stack([index, source[:, 0], source[:, 1]]),
            order=1,
            mode="constant",
            cval=0.0,
        )
    return np.clip(out, 0.0, 1.0)


def _check_range(value: object, name: str, *, positive: bool) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"`{name}` must be a (low, high) pair, got {describe(value)}")
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
        raise TypeError(f"`{name}` must hold two real numbers, got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not (np.isfinite(low) and np.isfinite(high) and low <= high and (low > 0 or not positive)):
        raise ValueError(f"`{name}` must be finite with low <= high (low > 0), got {value!r}")
    return low, high


def make_digits_contexts(
    *,
    image_size: int = 32,
    digit_size: int = 20,
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    n_replicas: int = 1,
    scale_range: tuple[float, float] = (0.6, 0.8),
    shear_range: tuple[float, float] = (0.25, 0.5),
    shift_range: tuple[float, float] = (2.0, 4.0),
    seed: int = 0,
    split_seed: int = 0,
) -> ArrayDataset:
    """Transform contexts of the sklearn digits (module docstring), as an :class:`ArrayDataset`.

    Args:
        image_size, digit_size: frame and upsampled digit sizes in pixels.
        split_fractions: (train, valid, test) fractions of the 1,797 *source images*.
        n_replicas: transformed copies of each source image per context (fresh magnitudes).
        scale_range, shear_range, shift_range: ``U(low, high)`` magnitude ranges.
        seed: seed of the magnitudes (one stream per split and context).
        split_seed: seed of the source-image partition.

    Returns:
        ``ArrayDataset`` named ``"digits_contexts"``, splits ``train``, ``valid``, ``test``
        (the 6 training contexts) and ``heldout`` (the 9 pairs on the test sources), rows
        grouped by context in ``info["contexts"]`` order, each with

        - ``images`` ``(n, S, S, 1)`` uint8 (one channel, ``round(255 x)``);
        - ``context`` ``(n,)`` int64 index into ``info["contexts"]`` (0 ``obs``, 1-5 single
          transforms in :data:`DIGIT_CONCEPTS` order, 6-14 the pairs);
        - ``targets`` ``(n, 5)`` bool, ``[i, k]`` iff transform ``k`` was applied;
        - ``latents`` ``(n, 6)`` float32 transform parameters (:data:`DIGIT_PARAMETERS`);
        - ``labels`` ``(n,)`` int64 digit class (for optional classifier checks only);
        - ``source_index`` ``(n,)`` int64 row of ``load_digits()``.

        ``graphs["concept_graph"]`` is the empty 5x5 DAG (rows children); ``info`` holds
        names, ``concept_columns`` (columns of ``latents`` per concept), magnitudes, seeds
        and the source indices of each split.

    Example:
        >>> ds = make_digits_contexts(split_fractions=(0.1, 0.05, 0.85))
        >>> ds.sizes["train"], ds.split("heldout")["images"].shape[1:]
        (1080, (32, 32, 1))
    """
    image_size, digit_size = _check_sizes(image_size, digit_size)
    fractions = check_split_fractions(split_fractions)
    n_replicas = check_int(n_replicas, "n_replicas", minimum=1)
    ranges = {
        "scale": _check_range(scale_range, "scale_range", positive=True),
        "shear": _check_range(shear_range, "shear_range", positive=False),
        "shift": _check_range(shift_range, "shift_range", positive=False),
    }
    seed = check_seed(seed, "seed")
    split_seed = check_seed(split_seed, "split_seed")

    from sklearn.datasets import load_digits

    digits = load_digits()
    n_sources = digits.images.shape[0]
    sizes = split_sizes(n_sources, fractions, name="number of digit images")
    order = np.random.default_rng(split_seed).permutation(n_sources)
    bounds = np.cumsum([0, sizes["train"], sizes["valid"], sizes["test"]])
    sources = {
        split: np.sort(order[bounds[i] : bounds[i + 1]])
        for i, split in enumerate(("train", "valid", "test"))
    }
    sources["heldout"] = sources["test"]
    base = preprocess_digits(digits.images, image_size=image_size, digit_size=digit_size)

    names = list(DIGIT_TRAINING_CONTEXTS) + ["_".join(pair) for pair in DIGIT_HELDOUT_PAIRS]
    targets: list[tuple[str, ...]] = [()] + [(c,) for c in DIGIT_CONCEPTS]
    targets += list(DIGIT_HELDOUT_PAIRS)
    n_single = len(DIGIT_TRAINING_CONTEXTS)
    split_contexts = {
        "train": range(n_single),
        "valid": range(n_single),
        "test": range(n_single),
        "heldout": range(n_single, len(names)),
    }

    splits: dict[str, dict[str, np.ndarray]] = {}
    for s, split in enumerate(_SPLITS):
        rows = np.repeat(sources[split], n_replicas)
        blocks: dict[str, list[np.ndarray]] = {key: [] for key in ("images", "latents")}
        context_column = []
        for c in split_contexts[split]:
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(s, c)))
            params = np.tile(IDENTITY_PARAMETERS, (rows.size, 1))
            for concept in targets[c]:
                if concept in ("thicken", "thin"):
                    params[:, DIGIT_PARAMETERS.index(concept)] = 1.0
                else:
                    low, high = ranges[concept]
                    for column in _CONCEPT_COLUMNS[concept]:
                        params[:, column] = rng.uniform(low, high, rows.size)
            images = apply_digit_transforms(base[rows], params)
            blocks["images"].append(np.rint(255.0 * images).astype(np.uint8)[..., None])
            blocks["latents"].append(params.astype(np.float32))
            context_column.append(np.full(rows.size, c, dtype=np.int64))
        context = np.concatenate(context_column)
        n_blocks = len(split_contexts[split])
        splits[split] = {
            "images": np.concatenate(blocks["images"]),
            "context": context,
            "targets": np.array(
                [[concept in targets[c] for concept in DIGIT_CONCEPTS] for c in context],
                dtype=bool,
            ).reshape(context.size, len(DIGIT_CONCEPTS)),
            "latents": np.concatenate(blocks["latents"]),
            "labels": np.tile(digits.target[rows].astype(np.int64), n_blocks),
            "source_index": np.tile(rows.astype(np.int64), n_blocks),
        }

    info = {
        "generator": "latentgraph.data.digits.make_digits_contexts",
        "spec": "docs/context_module.md#digit-transform-contexts (sklearn digits stand-in)",
        "concepts": list(DIGIT_CONCEPTS),
        "parameters": list(DIGIT_PARAMETERS),
        "identity_parameters": IDENTITY_PARAMETERS.tolist(),
        "concept_columns": [_CONCEPT_COLUMNS[c] for c in DIGIT_CONCEPTS],
        "contexts": names,
        "context_targets": [[DIGIT_CONCEPTS.index(t) for t in ts] for ts in targets],
        "training_contexts": list(range(n_single)),
        "heldout_contexts": list(range(n_single, len(names))),
        "split_contexts": {split: list(split_contexts[split]) for split in _SPLITS},
        "image_size": image_size,
        "digit_size": digit_size,
        "channels": 1,
        "image_layout": "(n, H, W, C) uint8 in 0..255",
        "graph_orientation": "rows are children, columns are parents",
        "transform_order": "morphology (thicken/thin), then shift o shear o scale",
        "magnitudes": {
            "scale_range": list(ranges["scale"]),
            "shear_range": list(ranges["shear"]),
            "shift_range": list(ranges["shift"]),
            "thicken": "grey dilation 3x3",
            "thin": "grey erosion 2x2",
        },
        "split_fractions": list(fractions),
        "n_replicas": n_replicas,
        "source_indices": {split: sources[split].tolist() for split in _SPLITS},
        "seed": seed,
        "split_seed": split_seed,
    }
    graphs = {"concept_graph": np.zeros((len(DIGIT_CONCEPTS),) * 2, dtype=np.int8)}
    return ArrayDataset("digits_contexts", splits, graphs=graphs, info=info)
