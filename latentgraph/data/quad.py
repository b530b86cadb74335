"""The ``quad_causal`` and ``quad`` image data of the context module (numpy only).

Spec ``context_module.md`` 5.1-5.2 (Markham et al., arXiv 2507.04754). Eight scalar latent
variables, in this order (the column order of ``latents``):

``quad1, quad2, quad3, quad4, size, color, shape, orientation``

follow a linear-Gaussian SCM

.. math::

    X = B X + N, \\qquad N_j \\sim \\mathcal N(\\mu_j, \\sigma_j^2), \\qquad
    X = (I - B)^{-1} N,

with ``B[child, parent]`` the edge weights of ``docs/context_module.md#dependent-quad-data``
(``quad_causal``; rows are children and columns are parents, as everywhere in latentgraph, so
``B`` is the transpose of the original ``W``) or ``B = 0`` (``quad``, the independent stand-in
of ``docs/context_module.md#independent-quad-data``). Six of the variables are
the *concepts* ``quad1, quad2, quad3, quad4, size, orientation`` (K = 6); ``color`` and
``shape`` are latent nuisance variables and are never intervened on.

A context is a set of targeted concepts ``T``. A perfect stochastic (``do``) intervention on
``j`` cuts row ``j`` of ``B`` (all incoming edges) and replaces ``N_j`` by
``N(strength * int_mean_j, int_var_j)``; a pair context applies both jointly. Training
contexts: ``obs`` and one single-target context per concept (7); held-out composition
contexts: the 9 pairs of Markham et al. (2025, arXiv 2507.04754), named by joining the targets with ``_``
(``quad1_quad2``...).

From latents to images:

1. standardise with the *analytic* observational mean (0) and standard deviation
   ``sqrt(diag(A diag(sigma^2) A^T))``, ``A = (I - B)^{-1}``, the same for every split and
   context (``docs/context_module.md#sample-dependent-standardisation``; the reference used each
   call's obs sample);
2. ``u = Phi(.)`` (standard normal CDF), then ``size = 0.2 + 0.8 u``,
   ``shape = round(3 u) in {0, 1, 2, 3}`` and every other factor ``u``, clipped to [0, 1];
   these *factors* are stored as ``factors``;
3. :func:`render_quad`: four quadrants filled with the colour ramp of ``quad1..quad4`` and a
   shape (circle, square, triangle, ellipse) of side ``48 * size`` pixels (at 64x64) rotated
   by ``2 pi orientation`` in the ramp colour of ``color``.

Randomness: every (split, context) block draws its noise from its own stream,
``np.random.SeedSequence(seed, spawn_key=(split, context))``, so no held-out latent repeats a
training one (``docs/context_module.md#train-holdout-leakage``). ``common_random_numbers=True`` shares one standard-normal draw
across the contexts of a split (the reference's behaviour, as an explicit option).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from latentgraph.data._checks import check_int, check_path, check_seed, describe
from latentgraph.data.arrays import ArrayDataset, ArrayDatasetWriter

__all__ = [
    "QUAD_CONCEPTS",
    "QUAD_HELDOUT_PAIRS",
    "QUAD_TRAINING_CONTEXTS",
    "QUAD_VARIABLES",
    "QuadSCM",
    "make_quad",
    "make_quad_causal",
    "quad_factors",
    "quad_scm",
    "render_quad",
]

QUAD_VARIABLES: tuple[str, ...] = (
    "quad1",
    "quad2",
    "quad3",
    "quad4",
    "size",
    "color",
    "shape",
    "orientation",
)
"""The 8 SCM variables, in the column order of ``latents`` and ``factors``."""

QUAD_CONCEPTS: tuple[str, ...] = ("quad1", "quad2", "quad3", "quad4", "size", "orientation")
"""The K = 6 intervenable concepts, in the column order of ``targets`` and ``concepts``."""

QUAD_TRAINING_CONTEXTS: tuple[str, ...] = ("obs", *QUAD_CONCEPTS)
"""``obs`` plus one single-target context per concept."""

QUAD_HELDOUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("quad1", "quad2"),
    ("quad1", "quad3"),
    ("quad1", "quad4"),
    ("quad1", "size"),
    ("quad1", "orientation"),
    ("quad2", "quad3"),
    ("quad2", "quad4"),
    ("quad2", "size"),
    ("quad2", "orientation"),
)
"""The 9 out-of-distribution composition pairs (``docs/context_module.md#dependent-quad-data``)."""

# docs/context_module.md#dependent-quad-data, "edge -> weight"; (parent, child)
_EDGES: dict[tuple[str, str], float] = {
    ("quad2", "quad1"): -1.23,
    ("quad3", "quad2"): 1.56,
    ("quad4", "quad1"): 1.34,
    ("quad4", "quad3"): -0.72,
    ("color", "quad1"): -0.95,
    ("color", "size"): 1.67,
    ("shape", "quad2"): 0.58,
    ("shape", "color"): -1.34,
    ("orientation", "quad1"): 1.12,
    ("orientation", "size"): -0.81,
    ("orientation", "shape"): 1.45,
}
_OBS_NOISE_VAR = (1.3855493, 1.16426732, 1.00502177, 1.95646855, 1.27482347, 1.42, 1.31, 1.18)
_INT_MEAN = (1.16920556, 1.47496736, -1.60596209, -1.96578519, 1.0117071, -0.85, 1.23, -0.67)
_INT_VAR = (1.94878138, 1.35886756, 1.57343313, 1.1021785, 1.30511067, 1.52, 1.41, 1.26)

# colour ramp: red, yellow, green, cyan, blue, magenta at 0, 0.2, ..., 1
_RAMP_KNOTS = np.linspace(0.0, 1.0, 6)
_RAMP_RGB = np.array(
    [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1]], dtype=np.float64
)
_SPLITS = ("train", "valid", "test", "heldout")
_RENDER_CHUNK = 1000


def _variable_indices(targets: Sequence[str]) -> list[int]:
    if isinstance(targets, str) or not all(name in QUAD_VARIABLES for name in targets):
        raise ValueError(
            f"`targets` must be a sequence of variable names from {QUAD_VARIABLES}, got {targets!r}"
        )
    return [QUAD_VARIABLES.index(name) for name in targets]


@dataclass(frozen=True, eq=False)
class QuadSCM:
    """The linear-Gaussian SCM of ``quad_causal`` (or its ``B = 0`` stand-in for ``quad``).

    Attributes:
        weights: ``(8, 8)`` ``B[child, parent]``, variables in :data:`QUAD_VARIABLES` order.
        noise_mean, noise_var: ``(8,)`` observational noise mean (all 0) and variance.
        intervention_mean, intervention_var: ``(8,)`` mean (before ``strength``) and
            variance of a variable under its ``do``-intervention.
    """

    weights: NDArray[np.float64]
    noise_mean: NDArray[np.float64]
    noise_var: NDArray[np.float64]
    intervention_mean: NDArray[np.float64]
    intervention_var: NDArray[np.float64]

    def reduced_form(self, targets: Sequence[str] = ()) -> NDArray[np.float64]:
        """``A_T = (I - B_T)^{-1}`` with the rows of the targeted variables cut."""
        cut = self.weights.copy()
        cut[_variable_indices(targets)] = 0.0
        return np.linalg.inv(np.eye(len(QUAD_VARIABLES)) - cut)

    def observational_std(self) -> NDArray[np.float64]:
        """Observational marginal standard deviations ``sqrt(diag(A diag(sigma^2) A^T))``.

        For ``quad_causal`` these are 5.238, 2.712, 1.421, 1.399, 5.585, 2.868, 1.947, 1.086
        (``docs/context_module.md#dependent-quad-data``).
        """
        reduced = self.reduced_form()
        return np.sqrt(np.einsum("ij,j,ij->i", reduced, self.noise_var, reduced))

    def total_effects(self) -> NDArray[np.float64]:
        """``A - I``: ``[i, j]`` is the total causal effect of ``j`` on ``i`` (``i != j``)."""
        return self.reduced_form() - np.eye(len(QUAD_VARIABLES))

    def noise_moments(
        self, targets: Sequence[str], strength: float = 1.0
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Mean and standard deviation of ``N`` in the context with ``targets``."""
        index = _variable_indices(targets)
        mean = self.noise_mean.copy()
        var = self.noise_var.copy()
        mean[index] = strength * self.intervention_mean[index]
        var[index] = self.intervention_var[index]
        return mean, np.sqrt(var)

    def sample(
        self,
        targets: Sequence[str],
        standard_normal: NDArray[np.float64],
        strength: float = 1.0,
    ) -> NDArray[np.float64]:
        """Latents ``X = A_T N`` from standard-normal draws ``(n, 8)``; returns ``(n, 8)``."""
        mean, std = self.noise_moments(targets, strength)
        noise = mean + std * standard_normal
        return noise @ self.reduced_form(targets).T

    def graph(self) -> NDArray[np.int8]:
        """The 8x8 0/1 graph of direct edges, rows children."""
        return (self.weights != 0).astype(np.int8)

    def concept_graph(self, kind: str = "total") -> NDArray[np.int8]:
        """The 6x6 0/1 graph among :data:`QUAD_CONCEPTS`, rows children.

        - ``kind="total"``: ``[r, s] = 1`` iff concept ``s`` is an ancestor of concept ``r``
          in the 8-variable DAG (a directed path through any variables). This is the
          support of the total effects the context module's causal layer parameterises
          (``docs/context_module.md#causal-layer``) and the ground truth listed in
          ``docs/context_module.md#graph-read-out``: quad4 -> {quad3,
          quad2, quad1}, quad3 -> {quad2, quad1}, quad2 -> quad1, orientation -> {quad1,
          quad2, size}.
        - ``kind="direct"``: the latent projection onto the concepts: ``[r, s] = 1`` iff a
          directed path ``s -> ... -> r`` exists whose intermediate variables are all
          non-concepts (``color``, ``shape``).
        """
        if kind not in ("total", "direct"):
            raise ValueError(f"`kind` must be 'total' or 'direct', got {kind!r}")
        dag = nx.DiGraph()
        dag.add_nodes_from(QUAD_VARIABLES)
        children, parents = np.nonzero(self.weights)
        dag.add_edges_from(
            (QUAD_VARIABLES[p], QUAD_VARIABLES[c]) for c, p in zip(children, parents, strict=True)
        )
        k = len(QUAD_CONCEPTS)
        graph = np.zeros((k, k), dtype=np.int8)
        for s, source in enumerate(QUAD_CONCEPTS):
            if kind == "total":
                reached = nx.descendants(dag, source)
            else:
                reached = set()
                frontier = [source]
                while frontier:
                    node = frontier.pop()
                    for child in dag.successors(node):
                        if child in reached:
                            continue
                        reached.add(child)
                        if child not in QUAD_CONCEPTS:
                            frontier.append(child)
            for r, target in enumerate(QUAD_CONCEPTS):
                graph[r, s] = int(target in reached and target != source)
        return graph


def quad_scm(causal: bool = True) -> QuadSCM:
    """The ``quad_causal`` SCM (``causal=True``) or the independent stand-in ``B = 0``.

    Example:
        >>> np.round(quad_scm().observational_std(), 3).tolist()
        [5.238, 2.712, 1.421, 1.399, 5.585, 2.868, 1.947, 1.086]
    """
    if not isinstance(causal, bool):
        raise TypeError(f"`causal` must be a bool, got {describe(causal)}")
    weights = np.zeros((len(QUAD_VARIABLES), len(QUAD_VARIABLES)))
    if causal:
        for (parent, child), weight in _EDGES.items():
            weights[QUAD_VARIABLES.index(child), QUAD_VARIABLES.index(parent)] = weight
    return QuadSCM(
        weights=weights,
        noise_mean=np.zeros(len(QUAD_VARIABLES)),
        noise_var=np.array(_OBS_NOISE_VAR),
        intervention_mean=np.array(_INT_MEAN),
        intervention_var=np.array(_INT_VAR),
    )


def quad_factors(latents: ArrayLike, observational_std: ArrayLike) -> NDArray[np.float64]:
    """Render factors from raw latents (``docs/context_module.md#dependent-quad-data``).

    ``u = Phi(x / observational_std)`` per column; ``size = 0.2 + 0.8 u``,
    ``shape = round(3 u)`` (an integer class 0..3; classes 0 and 3 get half the mass of 1
    and 2), every other column ``u``; continuous columns clipped to [0, 1].

    Args:
        latents: ``(n, 8)`` raw SCM values in :data:`QUAD_VARIABLES` order.
        observational_std: ``(8,)`` positive standardisation scales
            (:meth:`QuadSCM.observational_std`).

    Returns:
        ``(n, 8)`` float64 factors for :func:`render_quad`.
    """
    values = _check_columns(latents, "latents")
    scale = np.asarray(observational_std, dtype=np.float64)
    if scale.shape != (len(QUAD_VARIABLES),) or not np.all(np.isfinite(scale) & (scale > 0)):
        raise ValueError(
            f"`observational_std` must be 8 positive finite numbers, got {np.asarray(scale)!r}"
        )
    unit = ndtr(values / scale)
    factors = np.clip(unit, 0.0, 1.0)
    size = QUAD_VARIABLES.index("size")
    shape = QUAD_VARIABLES.index("shape")
    factors[:, size] = np.clip(0.2 + 0.8 * unit[:, size], 0.0, 1.0)
    factors[:, shape] = np.rint(3.0 * unit[:, shape])
    return factors


def _ramp(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Colour ramp: ``values (...,)`` in [0, 1] -> RGB ``(..., 3)`` in [0, 1]."""
    return np.stack([np.interp(values, _RAMP_KNOTS, _RAMP_RGB[:, c]) for c in range(3)], axis=-1)


def _check_columns(value: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"`{name}` must be an (n, 8) array, got {describe(value)}") from err
    if array.dtype.kind not in "iuf":
        raise TypeError(f"`{name}` must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] != len(QUAD_VARIABLES):
        raise ValueError(
            f"`{name}` must have shape (n, 8) with columns {QUAD_VARIABLES}, got {array.shape}"
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be finite")
    return array


def _check_image_size(image_size: object) -> int:
    size = check_int(image_size, "image_size")
    if size not in (32, 64):
        raise ValueError(f"`image_size` must be 32 or 64, got {size}")
    return size


def render_quad(factors: ArrayLike, image_size: int = 64) -> NDArray[np.uint8]:
    """Draw quad images from factors (``docs/context_module.md#dependent-quad-data``); returns ``(n, S, S, 3)`` uint8.

    Geometry is defined on the 64x64 canvas and scaled by ``S / 64`` for ``S = 32``:

    - quadrants (rows, cols): quad1 bottom-left ``[32:64, 0:32]``, quad2 bottom-right
      ``[32:64, 32:64]``, quad3 top-left ``[0:32, 0:32]``, quad4 top-right ``[0:32, 32:64]``,
      each filled with the ramp colour of its factor;
    - a shape centred at the image centre ``(32, 32)``, filled with the ramp colour of
      ``color``, painted over the quadrants: side ``s = 48 size``, angle
      ``theta = 2 pi orientation`` (measured from the column axis towards the row axis);
      shape 0: circle of radius ``s/2`` (orientation invisible); 1: square of side ``s``
      rotated by ``theta``; 2: triangle with vertices at radius ``s/2`` and angles
      ``theta + 2 pi i / 3``; 3: ellipse with semi-axes ``s/2`` (along ``theta``) and
      ``s/4``.

    Rasterisation (not fixed by the reference): a pixel belongs to the shape iff its centre
    ``(row + 0.5, col + 0.5)`` (in 64-canvas units) lies inside, boundary included. Colours
    are ``trunc(255 * ramp)``.

    Args:
        factors: ``(n, 8)`` factors in :data:`QUAD_VARIABLES` order (:func:`quad_factors`):
            continuous ones in [0, 1], ``size`` in [0.2, 1], ``shape`` in {0, 1, 2, 3}.
        image_size: 64 (the reference) or 32.

    Example:
        >>> factors = np.array([[0.0, 0.2, 0.4, 0.6, 0.5, 1.0, 1, 0.0]])
        >>> image = render_quad(factors)
        >>> image.shape, image[0, 63, 0].tolist(), image[0, 32, 32].tolist()
        ((1, 64, 64, 3), [255, 0, 0], [255, 0, 255])
    """
    values = _check_columns(factors, "factors")
    size = _check_image_size(image_size)
    shape_column = values[:, QUAD_VARIABLES.index("shape")]
    if not np.all(np.isin(shape_column, (0, 1, 2, 3))):
        raise ValueError("`factors` column 'shape' must hold the classes 0, 1, 2, 3")
    images = np.empty((values.shape[0], size, size, 3), dtype=np.uint8)
    for start in range(0, values.shape[0], _RENDER_CHUNK):
        chunk = values[start : start + _RENDER_CHUNK]
        images[start : start + chunk.shape[0]] = _render_chunk(chunk, size)
    return images


def _render_chunk(factors: NDArray[np.float64], size: int) -> NDArray[np.uint8]:
    n = factors.shape[0]
    half = size // 2
    colours = np.floor(255.0 * _ramp(factors[:, [0, 1, 2, 3, 5]]))  # quad1..4, color
    canvas = np.empty((n, size, size, 3), dtype=np.float64)
    canvas[:, half:, :half] = colours[:, None, None, 0]  # quad1, bottom-left
    canvas[:, half:, half:] = colours[:, None, None, 1]  # quad2, bottom-right
    canvas[:, :half, :half] = colours[:, None, None, 2]  # quad3, top-left
    canvas[:, :half, half:] = colours[:, None, None, 3]  # quad4, top-right

    centres = (np.arange(size) + 0.5) * (64.0 / size) - 32.0  # pixel centres, 64-canvas units
    dy = centres[None, :, None]  # row offset from the image centre
    dx = centres[None, None, :]  # column offset
    side = 48.0 * factors[:, 4][:, None, None]
    theta = 2.0 * np.pi * factors[:, 7][:, None, None]
    shape = factors[:, 6].astype(np.int64)
    cos, sin = np.cos(theta), np.sin(theta)
    along = dx * cos + dy * sin  # coordinates in the shape's rotated frame
    across = -dx * sin + dy * cos
    radius = side / 2.0
    circle = dx**2 + dy**2 <= radius**2
    square = (np.abs(along) <= radius) & (np.abs(across) <= radius)
    ellipse = (along / radius) ** 2 + (across / (radius / 2.0)) ** 2 <= 1.0
    # equilateral triangle with circumradius R: inside iff the projection on each of the
    # three outward edge normals (at theta + pi + 2 pi i / 3) is at most the inradius R / 2
    triangle = np.ones_like(circle)
    for i in range(3):
        normal = theta + np.pi + 2.0 * np.pi * i / 3.0
        triangle &= dx * np.cos(normal) + dy * np.sin(normal) <= radius / 2.0
    masks = np.stack([circle, square, triangle, ellipse])  # (4, n, S, S)
    inside = masks[shape, np.arange(n)]
    canvas = np.where(inside[..., None], colours[:, None, None, 4], canvas)
    return canvas.astype(np.uint8)


def _check_finite_real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return value


def _context_table() -> tuple[list[str], list[tuple[str, ...]]]:
    names = list(QUAD_TRAINING_CONTEXTS) + ["_".join(pair) for pair in QUAD_HELDOUT_PAIRS]
    targets: list[tuple[str, ...]] = [()] + [(name,) for name in QUAD_CONCEPTS]
    targets += [tuple(pair) for pair in QUAD_HELDOUT_PAIRS]
    return names, targets


def _make(
    *,
    name: str,
    causal: bool,
    image_size: object,
    n_train: object,
    n_valid: object,
    n_test: object,
    n_heldout: object,
    seed: object,
    strength: object,
    common_random_numbers: object,
    path: object,
    overwrite: object,
) -> ArrayDataset:
    size = _check_image_size(image_size)
    per_context = {
        "train": check_int(n_train, "n_train", minimum=1),
        "valid": check_int(n_valid, "n_valid", minimum=1),
        "test": check_int(n_test, "n_test", minimum=1),
        "heldout": check_int(n_heldout, "n_heldout", minimum=1),
    }
    seed = check_seed(seed, "seed")
    strength = _check_finite_real(strength, "strength")
    if not isinstance(common_random_numbers, bool):
        raise TypeError(
            f"`common_random_numbers` must be a bool, got {describe(common_random_numbers)}"
        )
    if path is not None:
        path = check_path(path, "path")
    if not isinstance(overwrite, bool):
        raise TypeError(f"`overwrite` must be a bool, got {describe(overwrite)}")

    scm = quad_scm(causal)
    obs_std = scm.observational_std()
    names, targets = _context_table()
    n_train_contexts = len(QUAD_TRAINING_CONTEXTS)
    split_contexts = {
        "train": range(n_train_contexts),
        "valid": range(n_train_contexts),
        "test": range(n_train_contexts),
        "heldout": range(n_train_contexts, len(names)),
    }
    k, n_var = len(QUAD_CONCEPTS), len(QUAD_VARIABLES)
    layout = {}
    for split in _SPLITS:
        n = per_context[split] * len(split_contexts[split])
        layout[split] = {
            "images": ((n, size, size, 3), "uint8"),
            "context": ((n,), "int64"),
            "targets": ((n, k), "bool"),
            "latents": ((n, n_var), "float32"),
            "concepts": ((n, k), "float32"),
            "factors": ((n, n_var), "float32"),
        }
    concept_columns = [QUAD_VARIABLES.index(c) for c in QUAD_CONCEPTS]
    graphs = {
        "concept_graph": scm.concept_graph("total"),
        "concept_graph_direct": scm.concept_graph("direct"),
        "scm_graph": scm.graph(),
    }
    info = {
        "generator": f"latentgraph.data.quad.make_{name}",
        "spec": "docs/context_module.md#dependent-quad-data"
        if causal
        else "docs/context_module.md#independent-quad-data (W = 0 stand-in)",
        "variables": list(QUAD_VARIABLES),
        "concepts": list(QUAD_CONCEPTS),
        "concept_columns": concept_columns,
        "contexts": names,
        "context_targets": [[QUAD_CONCEPTS.index(t) for t in ts] for ts in targets],
        "training_contexts": list(range(n_train_contexts)),
        "heldout_contexts": list(range(n_train_contexts, len(names))),
        "split_contexts": {split: list(split_contexts[split]) for split in _SPLITS},
        "n_per_context": per_context,
        "image_size": size,
        "channels": 3,
        "image_layout": "(n, H, W, C) uint8 in 0..255",
        "graph_orientation": "rows are children, columns are parents",
        "weights": scm.weights.tolist(),
        "noise_mean": scm.noise_mean.tolist(),
        "noise_var": scm.noise_var.tolist(),
        "intervention_mean": scm.intervention_mean.tolist(),
        "intervention_var": scm.intervention_var.tolist(),
        "strength": strength,
        "observational_std": obs_std.tolist(),
        "standardisation": "analytic observational std, mean 0 (docs/context_module.md#sample-dependent-standardisation)",
        "seed": seed,
        "common_random_numbers": common_random_numbers,
    }

    def fill(arrays: dict[str, dict[str, np.ndarray]]) -> None:
        for s, split in enumerate(_SPLITS):
            n = per_context[split]
            shared = None
            if common_random_numbers:
                rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(s,)))
                shared = rng.standard_normal((n, n_var))
            for block, c in enumerate(split_contexts[split]):
                if shared is None:
                    stream = np.random.SeedSequence(seed, spawn_key=(s, c))
                    draws = np.random.default_rng(stream).standard_normal((n, n_var))
                else:
                    draws = shared
                latents = scm.sample(targets[c], draws, strength)
                factors = quad_factors(latents, obs_std)
                rows = slice(block * n, (block + 1) * n)
                out = arrays[split]
                out["context"][rows] = c
                out["targets"][rows] = [name in targets[c] for name in QUAD_CONCEPTS]
                out["latents"][rows] = latents
                out["concepts"][rows] = latents[:, concept_columns]
                out["factors"][rows] = factors
                for start in range(0, n, _RENDER_CHUNK):
                    stop = min(start + _RENDER_CHUNK, n)
                    out["images"][block * n + start : block * n + stop] = _render_chunk(
                        factors[start:stop], size
                    )

    if path is None:
        arrays = {
            split: {key: np.empty(shape, dtype) for key, (shape, dtype) in spec.items()}
            for split, spec in layout.items()
        }
        fill(arrays)
        return ArrayDataset(name, arrays, graphs=graphs, info=info)
    writer = ArrayDatasetWriter(
        path, name=name, layout=layout, graphs=graphs, info=info, overwrite=overwrite
    )
    with writer:
        fill(writer.arrays)
    assert writer.dataset is not None
    return writer.dataset


def make_quad_causal(
    *,
    image_size: int = 64,
    n_train: int = 35_000,
    n_valid: int = 15_000,
    n_test: int = 10_000,
    n_heldout: int = 10_000,
    seed: int = 0,
    strength: float = 1.0,
    common_random_numbers: bool = False,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> ArrayDataset:
    """The ``quad_causal`` data of Markham et al. (2025) (see the module docstring for the model).

    Sizes per context default to the reference: 50,000 training images per
    training context split 70/30 into ``train``/``valid`` (35,000 / 15,000), and 10,000
    held-out images per context in ``test`` (the 7 training contexts) and ``heldout`` (the 9
    pairs). That is about 6.3 GB of uint8 images at 64x64: pass ``path`` to write them chunk
    by chunk into memory-mapped files instead of memory.

    Args:
        image_size: 64 (the reference) or 32 (the same drawing at half resolution).
        n_train, n_valid, n_test: images per training context in each split.
        n_heldout: images per held-out pair context.
        seed: master seed of every split's and context's noise stream.
        strength: multiplies the intervention means (the reference: 1.0).
        common_random_numbers: share the standard-normal draws across the contexts of a
            split (the reference's coupling); off by default.
        path: if given, write the data set there (memory-mapped, chunk by chunk) and return
            the memory-mapped :class:`ArrayDataset`; ``overwrite`` replaces an existing one.

    Returns:
        An :class:`ArrayDataset` named ``"quad_causal"`` with splits ``train``, ``valid``,
        ``test`` (the 7 training contexts) and ``heldout`` (the 9 composition pairs, never in
        any other split). Each split holds, rows grouped by context in ``info["contexts"]``
        order:

        - ``images`` ``(n, S, S, 3)`` uint8 (channels last);
        - ``context`` ``(n,)`` int64, an index into ``info["contexts"]`` (0 = ``obs``, 1-6 the
          single targets in :data:`QUAD_CONCEPTS` order, 7-15 the pairs);
        - ``targets`` ``(n, 6)`` bool, ``targets[i, k]`` iff concept ``k`` was intervened on;
        - ``latents`` ``(n, 8)`` float32, raw SCM values in :data:`QUAD_VARIABLES` order;
        - ``concepts`` ``(n, 6)`` float32, the concept columns of ``latents``;
        - ``factors`` ``(n, 8)`` float32, the values the renderer drew (:func:`quad_factors`).

        ``graphs``: ``concept_graph`` (6x6 total-effect DAG among the concepts, the
        read-out's ground truth, ``docs/context_module.md#graph-read-out``), ``concept_graph_direct`` (6x6 latent projection)
        and ``scm_graph`` (8x8 direct edges); rows are children, columns parents.
        ``info`` records every SCM parameter, names, sizes and seeds.
    """
    return _make(
        name="quad_causal",
        causal=True,
        image_size=image_size,
        n_train=n_train,
        n_valid=n_valid,
        n_test=n_test,
        n_heldout=n_heldout,
        seed=seed,
        strength=strength,
        common_random_numbers=common_random_numbers,
        path=path,
        overwrite=overwrite,
    )


def make_quad(
    *,
    image_size: int = 64,
    n_train: int = 35_000,
    n_valid: int = 15_000,
    n_test: int = 10_000,
    n_heldout: int = 10_000,
    seed: int = 0,
    strength: float = 1.0,
    common_random_numbers: bool = False,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> ArrayDataset:
    """The ``quad`` (independent) data: the ``quad_causal`` generator with ``B = 0``
    (``docs/context_module.md#independent-quad-data``).

    A documented stand-in: the reference data (Zenodo ``quad.zip``) has no published
    generator. Same noise and intervention parameters, contexts, splits, arrays and
    arguments as :func:`make_quad_causal`; every graph is empty. Named ``"quad"``.
    """
    return _make(
        name="quad",
        causal=False,
        image_size=image_size,
        n_train=n_train,
        n_valid=n_valid,
        n_test=n_test,
        n_heldout=n_heldout,
        seed=seed,
        strength=strength,
        common_random_numbers=common_random_numbers,
        path=path,
        overwrite=overwrite,
    )
