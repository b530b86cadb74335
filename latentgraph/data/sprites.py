"""Multi-object sprites: 2-4 triangles, squares and circles on black, with masks and latents.

The numpy generator of ``docs/interaction_asymmetry.md#sprites`` (Brady et al., "Provable Compositional Generalization...", ICML 2023, Spriteworld-style),
at any image size, plus the diagonal / off-diagonal out-of-distribution split of Wiedemer et
al., "Provable Compositional Generalization for Object-Centric Learning", ICLR 2024
(``docs/interaction_asymmetry.md#out-of-distribution-splits``).

**Latents.** One row per object slot, ``[x, y, scale, hue, shape]`` (:data:`FACTOR_NAMES`):
``x, y`` the centre of mass in the frame ``[0, 1]^2`` with the y-axis pointing *up* (row 0 of
the image is the top, ``y = 1``); ``scale`` a linear size, so the sprite's area is ``scale^2``
of the frame; ``hue`` in ``[0, 1]``, rendered as ``HSV(hue, 1, 1)`` (saturation and value 1,
``docs/interaction_asymmetry.md#sprite-colour-saturation``); ``shape`` the id of :data:`SHAPE_IDS` (triangle 1, circle 2, square 3).
Objects occupy slots ``0 .. n_objects - 1`` in drawing order; absent slots are all-zero rows
and ``present[i, k]`` is False.

**Shapes.** Regular polygons of unit area scaled by ``scale``: circumradius
``R_n = sqrt(2 / (n sin(2 pi / n)))`` (0.877 for the triangle, 0.707 for the square, 0.566 for
the 30-gon "circle"), first vertex at 90 deg (triangle), 45 deg (square), 0 deg (circle).

**Rendering** (:func:`render_sprites`). Each pixel is split into ``supersample^2``
sub-samples at the centres of a regular sub-grid; a sub-sample shows the last-drawn object
whose polygon contains it (painter's order: later objects occlude earlier ones), or black.
The pixel colour is the box-filter mean of its sub-samples (the original used PIL's Lanczos
filter; the box filter is close enough), rounded to uint8. A point ``p`` lies in the
regular ``n``-gon of circumradius ``R`` centred at ``c`` iff

.. math:: |p - c| \\cos(\\varphi - \\alpha_j) \\le R \\cos(\\pi / n),

where ``phi`` is the angle of ``p - c`` and ``alpha_j`` the outward normal of the edge whose
angular sector contains ``phi`` (the polygon's support function is attained at the nearest
normal), so the test costs the same for 3 and 30 sides.

**Masks.** ``masks[i, r, c] = k`` (``1 <= k <= n_objects``) iff more than half of the pixel's
sub-samples *show* object ``k`` (slot ``k - 1``) after occlusion, else 0 (background). At most
one object can hold a strict majority, so occlusion is resolved, and every pixel labelled
``k`` takes more than half of its colour from object ``k``. (The looser rule, "the
top-most sprite whose own polygon covers > 50% of the pixel", differs only on pixels where a
later sprite partially covers an earlier sprite's majority; there that rule's label can name an
object that shows on a minority of the pixel.)

**OOD split** (``ood="diagonal"``, ``docs/interaction_asymmetry.md#out-of-distribution-splits``). ``n_objects`` objects (default 2), shapes
{triangle, square}, ``x in [0.1, 0.9]``, ``y in [0.2, 0.8]``, ``hue in [0.05, 0.95]``,
``scale = 0.09 + 0.13 u / (K + 1)`` (``[0.09, 0.22]`` shrunk towards its minimum by ``K + 1``).
Each factor ``f`` is drawn as a normalised code vector ``u_f in [0, 1]^K`` (one entry per
object). The distance of ``u_f`` to the diagonal ``u_1 = ... = u_K`` is the Euclidean
distance ``||u_f - mean(u_f) 1||_2``. In-distribution rows (``train``, ``valid``, ``test``)
have *every* factor within ``delta`` (default 0.125) of the diagonal, drawn uniformly on that
band by rejection; out-of-distribution rows (``test_ood``) are uniform on the cube with at
least one factor farther than ``delta``, and object centres at least 0.2 apart. So each slot's
marginal covers its whole range in training while most combinations are unseen. Codes map to
factors as above; ``x`` is first re-spread as ``(u + i / K) mod 1`` for object ``i`` (to keep
objects apart) and ``shape = triangle if u < 0.5 else square``. The codes are stored as
``codes`` ``(n, K, 5)`` float32 (before the re-spread).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from latentgraph.data._checks import (
    check_int,
    check_path,
    check_real_array,
    check_seed,
    check_split_fractions,
    describe,
    split_sizes,
)
from latentgraph.data.arrays import MANIFEST, ArrayDataset, ArrayDatasetWriter

__all__ = [
    "FACTOR_NAMES",
    "SHAPE_IDS",
    "diagonal_distance",
    "hue_to_rgb",
    "load_or_write_sprites",
    "make_sprites",
    "render_sprites",
    "sample_sprite_latents",
    "write_sprites",
]

FACTOR_NAMES: tuple[str, ...] = ("x", "y", "scale", "hue", "shape")
SHAPE_IDS: dict[str, int] = {"triangle": 1, "circle": 2, "square": 3}
_SIDES = np.array([0, 3, 30, 4])  # indexed by shape id
_START_ANGLE = np.array([0.0, math.pi / 2, 0.0, math.pi / 4])
_CIRCUMRADIUS = np.array(
    [0.0] + [math.sqrt(2.0 / (n * math.sin(2 * math.pi / n))) for n in (3, 30, 4)]
)
_ID_SPLITS = ("train", "valid", "test")
OOD_SPLIT = "test_ood"
_OOD_KINDS = (None, "diagonal")
_GENERATOR_VERSION = 1
DEFAULT_SCALE_RANGE = (0.1, 0.15)
"""In-distribution ``scale`` range, a fraction of the frame side (the original's 64x64 recipe)."""
# sub-sample budget per rendering chunk (bounds the int8 label canvas to ~16 MB)
_CHUNK_SUBSAMPLES = 1 << 24


# ----------------------------------------------------------------------------- colours
def hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """``HSV(hue, 1, 1)`` as float RGB in ``[0, 1]``, shape ``hue.shape + (3,)``.

    With saturation and value 1 the HSV cone reduces to three clipped triangle waves:
    ``r = clip(|6h - 3| - 1)``, ``g = clip(2 - |6h - 2|)``, ``b = clip(2 - |6h - 4|)`` (the
    same values as :func:`colorsys.hsv_to_rgb`).

    Example:
        >>> hue_to_rgb(np.array([0.0, 1 / 3, 2 / 3])).round(6).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    h6 = 6.0 * np.mod(np.asarray(hue, dtype=np.float64), 1.0)
    rgb = np.stack([np.abs(h6 - 3.0) - 1.0, 2.0 - np.abs(h6 - 2.0), 2.0 - np.abs(h6 - 4.0)], -1)
    return np.clip(rgb, 0.0, 1.0)


# ----------------------------------------------------------------------------- rendering
def _check_latents(latents: object, present: object) -> tuple[np.ndarray, np.ndarray]:
    latents = check_real_array(
        latents, "latents", ndims=(3,), layout="(n, max_objects, 5) [x, y, scale, hue, shape]"
    )
    if latents.shape[2] != len(FACTOR_NAMES):
        raise ValueError(
            f"`latents` must have {len(FACTOR_NAMES)} factors {FACTOR_NAMES} on its last axis, "
            f"got shape {latents.shape}"
        )
    if present is None:
        present = np.any(latents != 0.0, axis=2)
    else:
        present = np.asarray(present)
        if present.dtype != np.bool_ or present.shape != latents.shape[:2]:
            raise ValueError(
                f"`present` must be a bool array of shape {latents.shape[:2]}, got "
                f"{present.dtype} {present.shape}"
            )
    rows = latents[present]
    shapes = rows[:, 4]
    if not np.all(np.isin(shapes, list(SHAPE_IDS.values()))):
        raise ValueError(
            f"`latents[..., 4]` (shape) must be one of {SHAPE_IDS} for present objects, got "
            f"{np.unique(shapes[~np.isin(shapes, list(SHAPE_IDS.values()))])[:5]}"
        )
    if np.any(rows[:, 2] <= 0.0):
        raise ValueError("`latents[..., 2]` (scale) must be > 0 for present objects")
    return latents, present


def _window_pixels(latents: np.ndarray, present: np.ndarray, image_size: int) -> int:
    """Side (pixels) of the square window that holds any present sprite's bounding box."""
    rows = latents[present]
    if rows.shape[0] == 0:
        return 1
    radius = float(np.max(_CIRCUMRADIUS[rows[:, 4].astype(np.int64)] * rows[:, 2]))
    return min(image_size, math.ceil(2.0 * radius * image_size) + 2)


def _inside_regular_polygon(dx, dy, radius, sides, start_angle):
    """Containment of offsets ``(dx, dy)`` in centred regular polygons (any arguments broadcast).

    The general test of the module docstring: ``|d| cos(phi - alpha_j) <= R cos(pi / n)``.
    """
    sector = 2.0 * np.pi / sides
    phi = np.arctan2(dy, dx) - start_angle
    # angle between (dx, dy) and the outward normal of the edge of its sector, in [-s/2, s/2)
    offset = phi - (np.floor(phi / sector) + 0.5) * sector
    return np.hypot(dx, dy) * np.cos(offset) <= radius * np.cos(np.pi / sides)


_COS30 = math.cos(math.pi / 6)


def _inside_shape(dx, dy, radius, shape_id: int):
    """:func:`_inside_regular_polygon` specialised per shape (same sets, a few times faster).

    Square (first vertex at 45 deg): the edges are axis-aligned, ``max(|dx|, |dy|) <= a``.
    Triangle (first vertex at 90 deg): edge normals at 30, 150 and 270 deg. Circle (30-gon):
    inside the inscribed circle or outside the circumcircle is decided by ``|d|`` alone; only
    the thin annulus between them needs the general test.
    """
    apothem = radius * math.cos(math.pi / _SIDES[shape_id])
    if shape_id == SHAPE_IDS["square"]:
        return np.maximum(np.abs(dx), np.abs(dy)) <= apothem
    if shape_id == SHAPE_IDS["triangle"]:
        slant = 0.5 * dy
        return (
            (_COS30 * dx + slant <= apothem) & (-_COS30 * dx + slant <= apothem) & (-dy <= apothem)
        )
    dx, dy, apothem, radius = np.broadcast_arrays(dx, dy, apothem, radius)
    r2 = dx * dx + dy * dy
    inside = r2 <= apothem * apothem
    edge = ~inside & (r2 <= radius * radius)
    inside[edge] = _inside_regular_polygon(
        dx[edge], dy[edge], radius[edge], _SIDES[shape_id], _START_ANGLE[shape_id]
    )
    return inside


def _block_counts(labels: np.ndarray, n_labels: int, size: int, sub: int) -> np.ndarray:
    """Sub-samples per label and pixel, ``(m, n_labels, H, W)`` uint8 (``sub^2 <= 255``)."""
    m = labels.shape[0]
    counts = np.empty((m, n_labels, size, size), dtype=np.uint8)
    for label in range(n_labels):
        hits = (labels == label).view(np.uint8).reshape(m, size, sub, size, sub)
        rows = hits[:, :, 0].copy()  # summing strided slices beats a strided reduce
        for i in range(1, sub):
            rows += hits[:, :, i]
        total = rows[..., 0].copy()
        for j in range(1, sub):
            total += rows[..., j]
        counts[:, label] = total
    return counts


def _render_chunk(latents, present, image_size, supersample, window):
    """Render a chunk; returns images uint8 (m, H, W, 3) and masks int8 (m, H, W)."""
    m, n_slots, _ = latents.shape
    size, sub = image_size, supersample
    fine_size = size * sub
    labels = np.zeros((m, fine_size, fine_size), dtype=np.int8)
    offsets = np.arange(window * sub)
    for slot in range(n_slots):
        for shape_id in SHAPE_IDS.values():
            images = np.flatnonzero(present[:, slot] & (latents[:, slot, 4] == shape_id))
            if images.size == 0:
                continue
            x, y, scale = (latents[images, slot, f] for f in range(3))
            radius = _CIRCUMRADIUS[shape_id] * scale
            col0 = np.clip(np.floor((x - radius) * size), 0, size - window).astype(np.int64)
            row0 = np.clip(np.floor((1.0 - y - radius) * size), 0, size - window).astype(np.int64)
            cols = col0[:, None] * sub + offsets  # (k, w) absolute sub-sample columns
            rows = row0[:, None] * sub + offsets
            # sub-sample centres in frame coordinates; the y-axis points up
            dx = (cols[:, None, :] + 0.5) / fine_size - x[:, None, None]
            dy = 1.0 - (rows[:, :, None] + 0.5) / fine_size - y[:, None, None]
            inside = _inside_shape(dx, dy, radius[:, None, None], shape_id)
            # later slots overwrite earlier ones (painter's order): write only covered samples
            flat = (images[:, None, None] * fine_size + rows[:, :, None]) * fine_size
            labels.reshape(-1)[(flat + cols[:, None, :])[inside]] = slot + 1
    counts = _block_counts(labels, n_slots + 1, size, sub)  # (m, n_slots + 1, H, W)
    palette = np.zeros((m, n_slots + 1, 3))
    palette[:, 1:] = np.where(present[..., None], 255.0 * hue_to_rgb(latents[..., 3]), 0.0)
    flat_counts = counts.reshape(m, n_slots + 1, size * size).transpose(0, 2, 1)
    colour = np.matmul(flat_counts.astype(np.float64), palette) / (sub * sub)
    images_out = np.clip(np.rint(colour), 0, 255).astype(np.uint8).reshape(m, size, size, 3)
    majority = 2 * counts[:, 1:].astype(np.int32) > sub * sub  # at most one true per pixel
    slot_ids = np.arange(1, n_slots + 1, dtype=np.int8)[None, :, None, None]
    masks = np.max(np.where(majority, slot_ids, np.int8(0)), axis=1).astype(np.int8)
    return images_out, masks


def render_sprites(
    latents: np.ndarray,
    image_size: int = 64,
    *,
    present: np.ndarray | None = None,
    supersample: int = 5,
    _window: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render sprites from their latents (module docstring: shapes, occlusion, anti-aliasing).

    Args:
        latents: ``(n, max_objects, 5)`` rows ``[x, y, scale, hue, shape]``; slots are drawn in
            index order (later slots occlude earlier ones).
        image_size: side ``H = W`` of the square images in pixels.
        present: ``(n, max_objects)`` bool; default: the rows that are not all zero.
        supersample: sub-samples per pixel side (5 in the original; 1 renders without
            anti-aliasing, so every pixel shows exactly one object or black).

    Returns:
        ``images`` uint8 ``(n, H, W, 3)`` and ``masks`` int8 ``(n, H, W)`` (0 background,
        ``k`` = slot ``k - 1``).

    Example:
        >>> lat = np.array([[[0.5, 0.5, 0.5, 0.0, 3.0]]])  # one red square in the middle
        >>> images, masks = render_sprites(lat, 8)
        >>> masks[0].tolist()[0], masks[0].tolist()[4], images[0, 4, 4].tolist()
        ([0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1, 0, 0], [255, 0, 0])
    """
    image_size = check_int(image_size, "image_size", minimum=1)
    supersample = check_int(supersample, "supersample", minimum=1)
    if supersample > 15:
        raise ValueError(f"`supersample` must be <= 15 (counts are uint8), got {supersample}")
    latents, present = _check_latents(latents, present)
    n = latents.shape[0]
    if latents.shape[1] > 127:
        raise ValueError(f"`latents` may hold at most 127 objects, got {latents.shape[1]}")
    window = _window_pixels(latents, present, image_size) if _window is None else _window
    images = np.zeros((n, image_size, image_size, 3), dtype=np.uint8)
    masks = np.zeros((n, image_size, image_size), dtype=np.int8)
    step = max(1, _CHUNK_SUBSAMPLES // (image_size * supersample) ** 2)
    for start in range(0, n, step):
        stop = min(n, start + step)
        images[start:stop], masks[start:stop] = _render_chunk(
            latents[start:stop], present[start:stop], image_size, supersample, window
        )
    return images, masks


# ----------------------------------------------------------------------------- latents
def _check_n_objects(n_objects: object, ood: str | None) -> tuple[int, int]:
    if n_objects is None:
        return (2, 2) if ood == "diagonal" else (2, 4)
    if isinstance(n_objects, numbers.Integral) and not isinstance(n_objects, bool):
        low = high = check_int(n_objects, "n_objects", minimum=1)
    elif isinstance(n_objects, Sequence) and len(n_objects) == 2:
        low = check_int(n_objects[0], "n_objects[0]", minimum=1)
        high = check_int(n_objects[1], "n_objects[1]", minimum=1)
    else:
        raise TypeError(
            f"`n_objects` must be an int or a (min, max) pair, got {describe(n_objects)}"
        )
    if low > high or high > 127:
        raise ValueError(f"`n_objects` must satisfy 1 <= min <= max <= 127, got {n_objects!r}")
    if ood == "diagonal" and (low != high or low < 2):
        raise ValueError(
            f"`n_objects` must be one count >= 2 for ood='diagonal' (the diagonal is defined "
            f"over a fixed number of objects), got {n_objects!r}"
        )
    return low, high


def _check_scale_range(scale_range: object, ood: str | None) -> tuple[float, float]:
    """``(low, high)`` with ``0 < low <= high <= 0.5``; only the in-distribution recipe has one."""
    if scale_range is None:
        return DEFAULT_SCALE_RANGE
    ok = (
        isinstance(scale_range, Sequence)
        and len(scale_range) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in scale_range)
    )
    if not ok:
        raise TypeError(
            f"`scale_range` must be a (low, high) pair of floats, got {describe(scale_range)}"
        )
    low, high = float(scale_range[0]), float(scale_range[1])
    if not (0.0 < low <= high <= 0.5):
        raise ValueError(f"`scale_range` must satisfy 0 < low <= high <= 0.5, got {scale_range!r}")
    if ood is not None and (low, high) != DEFAULT_SCALE_RANGE:
        raise ValueError("`scale_range` applies to ood=None only (the diagonal split has its own)")
    return low, high


def _check_ood(ood: object) -> str | None:
    if ood not in _OOD_KINDS:
        raise ValueError(f"`ood` must be one of {_OOD_KINDS}, got {ood!r}")
    return ood  # type: ignore[return-value]


def _check_delta(delta: object) -> float:
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
        raise TypeError(f"`delta` must be a float, got {describe(delta)}")
    delta = float(delta)
    if not 0.0 < delta < 0.5:
        raise ValueError(f"`delta` must be in (0, 0.5), got {delta!r}")
    return delta


def _sample_id(
    n: int,
    n_objects: tuple[int, int],
    rng: np.random.Generator,
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE,
) -> dict:
    low, high = n_objects
    # one row of uniforms per image, so the first images of a stream do not depend on n
    u = rng.random((n, 1 + high * len(FACTOR_NAMES)))
    counts = low + np.minimum(np.floor(u[:, 0] * (high - low + 1)), high - low).astype(int)
    u = u[:, 1:].reshape(n, high, len(FACTOR_NAMES))
    latents = np.empty((n, high, len(FACTOR_NAMES)))
    latents[..., 0:2] = 0.1 + 0.7 * u[..., 0:2]
    latents[..., 2] = scale_range[0] + (scale_range[1] - scale_range[0]) * u[..., 2]
    latents[..., 3] = u[..., 3]
    shape_ids = np.array(list(SHAPE_IDS.values()), dtype=np.float64)
    latents[..., 4] = shape_ids[np.minimum(np.floor(3 * u[..., 4]), 2).astype(int)]
    present = np.arange(high)[None, :] < counts[:, None]
    latents[~present] = 0.0
    return {"latents": latents.astype(np.float32), "present": present}


def diagonal_distance(codes: np.ndarray) -> np.ndarray:
    """Euclidean distance of each factor's per-object code vector to the diagonal.

    ``codes`` ``(..., K, F)`` -> ``(..., F)`` with entries ``||u_f - mean(u_f) 1||_2``
    (Wiedemer et al. 2024; ``docs/interaction_asymmetry.md#out-of-distribution-splits``).
    """
    codes = np.asarray(codes, dtype=np.float64)
    return np.linalg.norm(codes - codes.mean(axis=-2, keepdims=True), axis=-2)


def _sample_band(n: int, k: int, delta: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` vectors uniform on ``{u in [0,1]^k : ||u - mean(u) 1|| <= delta}`` (rejection)."""
    out = np.empty((0, k))
    while out.shape[0] < n:
        draw = rng.uniform(size=(max(1024, 4 * (n - out.shape[0])) * 8, k))
        keep = draw[diagonal_distance(draw[:, :, None])[:, 0] <= delta]
        out = np.concatenate([out, keep[: n - out.shape[0]]])
    return out


def _codes_to_latents(codes: np.ndarray) -> np.ndarray:
    n, k, _ = codes.shape
    latents = np.empty_like(codes)
    spread = np.mod(codes[..., 0] + np.arange(k)[None, :] / k, 1.0)
    latents[..., 0] = 0.1 + 0.8 * spread
    latents[..., 1] = 0.2 + 0.6 * codes[..., 1]
    latents[..., 2] = 0.09 + 0.13 * codes[..., 2] / (k + 1)
    latents[..., 3] = 0.05 + 0.9 * codes[..., 3]
    latents[..., 4] = np.where(codes[..., 4] < 0.5, SHAPE_IDS["triangle"], SHAPE_IDS["square"])
    return latents


def _min_centre_distance(latents: np.ndarray) -> np.ndarray:
    centres = latents[..., :2]
    gaps = np.linalg.norm(centres[:, :, None] - centres[:, None, :], axis=-1)
    k = latents.shape[1]
    gaps[:, np.arange(k), np.arange(k)] = np.inf
    return gaps.min(axis=(1, 2))


def _sample_diagonal(
    n: int, k: int, delta: float, off_diagonal: bool, rng: np.random.Generator
) -> dict:
    n_factors = len(FACTOR_NAMES)
    if off_diagonal:
        codes = np.empty((0, k, n_factors))
        while codes.shape[0] < n:
            draw = rng.uniform(size=(max(1024, 2 * (n - codes.shape[0])), k, n_factors))
            off = np.any(diagonal_distance(draw) > delta, axis=1)
            apart = _min_centre_distance(_codes_to_latents(draw)) >= 0.2
            codes = np.concatenate([codes, draw[off & apart][: n - codes.shape[0]]])
    else:
        codes = np.stack([_sample_band(n, k, delta, rng) for _ in range(n_factors)], axis=-1)
    return {
        "latents": _codes_to_latents(codes).astype(np.float32),
        "present": np.ones((n, k), dtype=bool),
        "codes": codes.astype(np.float32),
    }


def sample_sprite_latents(
    n: int,
    *,
    n_objects: int | tuple[int, int] | None = None,
    seed: int = 0,
    ood: str | None = None,
    off_diagonal: bool = False,
    delta: float = 0.125,
) -> dict[str, np.ndarray]:
    """Draw the latents of ``n`` images (module docstring for the distributions).

    Returns ``{"latents": float32 (n, max_objects, 5), "present": bool (n, max_objects)}``,
    plus ``"codes"`` float32 ``(n, K, 5)`` when ``ood="diagonal"`` (``off_diagonal`` picks the
    out-of-distribution side of the band).
    """
    n = check_int(n, "n", minimum=1)
    seed = check_seed(seed, "seed")
    ood = _check_ood(ood)
    n_objects = _check_n_objects(n_objects, ood)
    delta = _check_delta(delta)
    if not isinstance(off_diagonal, bool):
        raise TypeError(f"`off_diagonal` must be a bool, got {describe(off_diagonal)}")
    if off_diagonal and ood is None:
        raise ValueError("`off_diagonal=True` needs ood='diagonal'")
    rng = np.random.default_rng(seed)
    if ood is None:
        return _sample_id(n, n_objects, rng)
    return _sample_diagonal(n, n_objects[0], delta, off_diagonal, rng)


# ----------------------------------------------------------------------------- data sets
def _plan(
    n,
    image_size,
    n_objects,
    seed,
    ood,
    supersample,
    split_fractions,
    n_ood,
    delta,
    scale_range=None,
):
    """Check every argument and draw all latents (small); images are rendered later."""
    n = check_int(n, "n", minimum=3)
    image_size = check_int(image_size, "image_size", minimum=4)
    seed = check_seed(seed, "seed")
    ood = _check_ood(ood)
    n_objects = _check_n_objects(n_objects, ood)
    supersample = check_int(supersample, "supersample", minimum=1)
    fractions = check_split_fractions(split_fractions)
    delta = _check_delta(delta)
    scale_range = _check_scale_range(scale_range, ood)
    sizes = split_sizes(n, fractions, name="n")
    if ood is not None:
        sizes[OOD_SPLIT] = sizes["test"] if n_ood is None else check_int(n_ood, "n_ood", minimum=1)
    elif n_ood is not None:
        raise ValueError("`n_ood` needs ood='diagonal'")
    # one independent stream per split, so a split never depends on another's size
    streams = np.random.SeedSequence(seed).spawn(len(_ID_SPLITS) + 1)
    latents = {}
    for split, stream in zip((*_ID_SPLITS, OOD_SPLIT), streams, strict=True):
        if split not in sizes:
            continue
        rng = np.random.default_rng(stream)
        if ood is None:
            latents[split] = _sample_id(sizes[split], n_objects, rng, scale_range)
        else:
            latents[split] = _sample_diagonal(
                sizes[split], n_objects[0], delta, split == OOD_SPLIT, rng
            )
    window = max(_window_pixels(v["latents"], v["present"], image_size) for v in latents.values())
    info = {
        "kind": "sprites",
        "generator_version": _GENERATOR_VERSION,
        "n": n,
        "image_size": image_size,
        "supersample": supersample,
        "n_objects": list(n_objects),
        "seed": seed,
        "ood": ood,
        "delta": delta if ood is not None else None,
        "split_fractions": list(fractions),
        "sizes": sizes,
        "factor_names": list(FACTOR_NAMES),
        "shape_ids": dict(SHAPE_IDS),
        "max_objects": n_objects[1],
    }
    if scale_range != DEFAULT_SCALE_RANGE:  # recorded only when set, so older sets still match
        info["scale_range"] = list(scale_range)
    return latents, window, info


def _arrays_layout(n: int, image_size: int, sampled: dict) -> dict:
    layout = {
        "images": ((n, image_size, image_size, 3), np.uint8),
        "masks": ((n, image_size, image_size), np.int8),
    }
    for key, value in sampled.items():
        layout[key] = (value.shape, value.dtype)
    return layout


def make_sprites(
    n: int = 1000,
    image_size: int = 64,
    *,
    n_objects: int | tuple[int, int] | None = None,
    seed: int = 0,
    ood: str | None = None,
    supersample: int = 5,
    split_fractions: Sequence[float] = (0.9, 0.05, 0.05),
    n_ood: int | None = None,
    delta: float = 0.125,
    scale_range: tuple[float, float] | None = None,
) -> ArrayDataset:
    """Generate a sprites data set in memory (use :func:`write_sprites` for large sets).

    Args:
        n: in-distribution images, split ``train``/``valid``/``test`` by ``split_fractions``
            (the original's 100k split 90k / 5k / 5k).
        image_size: image side in pixels (64 in the original; 32 is convenient on a CPU).
        n_objects: ``(min, max)`` objects per image, uniform (default ``(2, 4)``); with
            ``ood="diagonal"`` a single count (default 2).
        seed: seeds one independent stream per split.
        ood: ``None`` (the Sprites recipe) or ``"diagonal"`` (the out-of-distribution split,
            adds ``test_ood``).
        supersample: sub-samples per pixel side for anti-aliasing (the original: 5).
        split_fractions: train/valid/test fractions.
        n_ood: rows of ``test_ood`` (default: as many as ``test``).
        delta: band half-width around the diagonal (Wiedemer et al.: 0.125).
        scale_range: ``(low, high)`` of the uniform ``scale`` (linear size as a fraction of
            the frame side) of the in-distribution recipe; None: the original ``(0.1, 0.15)``,
            3-5 pixels at 32x32. Sizes are frame-relative, so a 32x32 image keeps the 64x64
            objects' proportions at half their pixel size; ``(0.16, 0.24)`` gives 5-8 pixels.

    Returns:
        An :class:`~latentgraph.data.ArrayDataset` whose splits hold ``images`` uint8
        ``(n, H, W, 3)``, ``masks`` int8 ``(n, H, W)`` (0 background, ``k`` = latent row
        ``k - 1``), ``latents`` float32 ``(n, max_objects, 5)``, ``present`` bool
        ``(n, max_objects)`` and, for ``ood="diagonal"``, ``codes`` float32 ``(n, K, 5)``.
        ``info`` records every setting, ``factor_names`` and ``shape_ids``.

    Example:
        >>> ds = make_sprites(20, 16, seed=1)
        >>> ds.sizes, ds.split("train")["latents"].shape
        ({'train': 18, 'valid': 1, 'test': 1}, (18, 4, 5))
    """
    latents, window, info = _plan(
        n, image_size, n_objects, seed, ood, supersample, split_fractions, n_ood, delta, scale_range
    )
    splits = {}
    for split, sampled in latents.items():
        images, masks = render_sprites(
            sampled["latents"],
            info["image_size"],
            present=sampled["present"],
            supersample=info["supersample"],
            _window=window,
        )
        splits[split] = {"images": images, "masks": masks, **sampled}
    return ArrayDataset("sprites", splits, info=info)


def write_sprites(
    path: str | os.PathLike,
    n: int = 100_000,
    image_size: int = 64,
    *,
    n_objects: int | tuple[int, int] | None = None,
    seed: int = 0,
    ood: str | None = None,
    supersample: int = 5,
    split_fractions: Sequence[float] = (0.9, 0.05, 0.05),
    n_ood: int | None = None,
    delta: float = 0.125,
    scale_range: tuple[float, float] | None = None,
    chunk_size: int = 2048,
    overwrite: bool = False,
    progress: bool = False,
) -> ArrayDataset:
    """Generate a large sprites set straight to disk, ``chunk_size`` images at a time.

    Same arguments and arrays as :func:`make_sprites` (and bit-identical content for the same
    arguments); the images are rendered chunk by chunk into the memory-mapped files of an
    :class:`~latentgraph.data.ArrayDatasetWriter`, so the set is never held in memory. Only
    the latents (a few MB) are drawn up front. Returns the memory-mapped data set.
    """
    path = check_path(path)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    if not isinstance(progress, bool):
        raise TypeError(f"`progress` must be a bool, got {describe(progress)}")
    latents, window, info = _plan(
        n, image_size, n_objects, seed, ood, supersample, split_fractions, n_ood, delta, scale_range
    )
    size = info["image_size"]
    layout = {
        split: _arrays_layout(sampled["latents"].shape[0], size, sampled)
        for split, sampled in latents.items()
    }
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(info["sizes"].values()), desc="sprites", unit="img")
    with ArrayDatasetWriter(
        path, name="sprites", layout=layout, info=info, overwrite=overwrite
    ) as writer:
        for split, sampled in latents.items():
            arrays = writer.arrays[split]
            for key, value in sampled.items():
                arrays[key][:] = value
            for start in range(0, sampled["latents"].shape[0], chunk_size):
                stop = min(start + chunk_size, sampled["latents"].shape[0])
                images, masks = render_sprites(
                    sampled["latents"][start:stop],
                    size,
                    present=sampled["present"][start:stop],
                    supersample=info["supersample"],
                    _window=window,
                )
                arrays["images"][start:stop] = images
                arrays["masks"][start:stop] = masks
                if bar is not None:
                    bar.update(stop - start)
    if bar is not None:
        bar.close()
    assert writer.dataset is not None
    return writer.dataset


def load_or_write_sprites(path: str | os.PathLike, **settings) -> ArrayDataset:
    """Memory-map the sprites set at ``path`` if it was written with ``settings``, else write it.

    ``settings`` are :func:`write_sprites` keyword arguments. A folder written with other
    settings is regenerated only if ``overwrite=True`` is among them (else a ValueError says
    which settings differ), so a large set is generated once and then reused.
    """
    path = check_path(path)
    overwrite = settings.pop("overwrite", False)
    chunk_size = settings.pop("chunk_size", 2048)
    progress = settings.pop("progress", False)
    if (Path(path) / MANIFEST).is_file():
        existing = ArrayDataset.load(path, mmap=True)
        plan_args = {
            key: settings.get(key, default)
            for key, default in (
                ("n", 100_000),
                ("image_size", 64),
                ("n_objects", None),
                ("seed", 0),
                ("ood", None),
                ("supersample", 5),
                ("split_fractions", (0.9, 0.05, 0.05)),
                ("n_ood", None),
                ("delta", 0.125),
                ("scale_range", None),
            )
        }
        unknown = set(settings) - set(plan_args)
        if unknown:
            raise TypeError(f"unknown sprites settings {sorted(unknown)}")
        wanted = _describe_settings(**plan_args)
        keys = [*wanted, *(["scale_range"] if "scale_range" in existing.info else [])]
        found = {key: existing.info.get(key) for key in keys}
        wanted = {key: wanted.get(key) for key in keys}
        if existing.info.get("kind") == "sprites" and found == wanted:
            return existing
        if not overwrite:
            differ = {k: (found[k], wanted[k]) for k in wanted if found[k] != wanted[k]}
            raise ValueError(
                f"`path` {str(path)!r} holds a sprites set with other settings "
                f"(found, wanted): {differ}; pass overwrite=True to regenerate it"
            )
    return write_sprites(
        path, **settings, chunk_size=chunk_size, overwrite=overwrite, progress=progress
    )


def _describe_settings(**plan_args) -> dict:
    """The ``info`` entries that identify a data set, computed without drawing anything."""
    ood = _check_ood(plan_args["ood"])
    n = check_int(plan_args["n"], "n", minimum=3)
    fractions = check_split_fractions(plan_args["split_fractions"])
    sizes = split_sizes(n, fractions, name="n")
    if ood is not None:
        n_ood = plan_args["n_ood"]
        sizes[OOD_SPLIT] = sizes["test"] if n_ood is None else check_int(n_ood, "n_ood")
    described = {
        "generator_version": _GENERATOR_VERSION,
        "n": n,
        "image_size": check_int(plan_args["image_size"], "image_size", minimum=4),
        "supersample": check_int(plan_args["supersample"], "supersample", minimum=1),
        "n_objects": list(_check_n_objects(plan_args["n_objects"], ood)),
        "seed": check_seed(plan_args["seed"], "seed"),
        "ood": ood,
        "delta": _check_delta(plan_args["delta"]) if ood is not None else None,
        "split_fractions": list(fractions),
        "sizes": sizes,
    }
    scale_range = _check_scale_range(plan_args.get("scale_range"), ood)
    if scale_range != DEFAULT_SCALE_RANGE:
        described["scale_range"] = list(scale_range)
    return described
