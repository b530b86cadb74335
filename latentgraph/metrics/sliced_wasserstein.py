"""Sliced Wasserstein distance between image sets, per context and per held-out pair.

Spec ``context_module.md`` 6.1-6.3 (Markham et al., arXiv 2507.04754). For point sets
``X, Y`` in ``R^D`` (flattened images in [0, 1] or any feature map) and ``P`` unit directions
``theta_p`` (normalised Gaussian draws):

.. math::

    \\mathrm{SWD}_p(X, Y) = \\Bigl(\\frac1P \\sum_{p=1}^{P}
        W_p^p(\\theta_p^\\top X, \\theta_p^\\top Y)\\Bigr)^{1/p},

``W_p`` the 1-D empirical Wasserstein distance with uniform weights (for equal sizes,
``W_2^2`` is the mean squared difference of the sorted projections). The value is computed by
POT's ``ot.sliced_wasserstein_distance`` (the reference's implementation,
``docs/context_module.md#sliced-wasserstein-distance``) with
``P = 50``, ``p = 2`` by default. No further normalisation: not divided by ``D`` or by the
number of samples, and images are not centred.

Unlike the reference (``docs/context_module.md#unseeded-projections``), the projections are seeded and drawn here, once per call
of the per-context helpers, so every context, pair and method is scored on the same
directions. Optional equal-size subsampling without replacement follows
``docs/context_module.md#holdout-drawn-with-replacement``.

Images: ``uint8`` arrays are read as 0..255 and divided by 255 (the [0, 1] scale of the paper's SWD);
float arrays (and other integer dtypes) are used as they are. Every array is ``(n, ...)`` and flattened to ``(n, D)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ContextSWD",
    "context_swd",
    "group_by_context",
    "random_projections",
    "sliced_wasserstein",
    "sliced_wasserstein_by_context",
]


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; received {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1; received {value}")
    return int(value)


def _check_seed(value: object, name: str = "seed") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; received {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0; received {value}")
    return int(value)


def _check_power(p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a real number >= 1; received {type(p).__name__}")
    if not (np.isfinite(p) and p >= 1):
        raise ValueError(f"p must be a finite number >= 1; received {p}")
    return float(p)


def _as_points(value: ArrayLike, name: str) -> NDArray[np.floating]:
    """``(n, ...)`` -> ``(n, D)`` float; uint8 is divided by 255."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array (n, ...) of numbers") from error
    if array.dtype == np.bool_ or array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers; received dtype {array.dtype}")
    if array.ndim < 2 or array.shape[0] < 1 or array[0].size < 1:
        raise ValueError(
            f"{name} must have shape (n, ...) with n >= 1 and >= 1 feature; received {array.shape}"
        )
    if array.dtype == np.uint8:
        points = array.reshape(array.shape[0], -1).astype(np.float32) / np.float32(255.0)
    elif array.dtype == np.float32:
        points = array.reshape(array.shape[0], -1)
    else:
        points = array.reshape(array.shape[0], -1).astype(np.float64)
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} must be finite; found NaN or infinite values")
    return points


def random_projections(dim: int, n_projections: int = 50, seed: int = 0) -> NDArray[np.float64]:
    """``(dim, n_projections)`` unit directions: ``N(0, I)`` draws normalised (``docs/context_module.md#sliced-wasserstein-distance``).

    Drawn with ``np.random.default_rng(seed)``, so they do not depend on POT's generator.
    """
    dim = _check_positive_int(dim, "dim")
    n_projections = _check_positive_int(n_projections, "n_projections")
    seed = _check_seed(seed)
    draws = np.random.default_rng(seed).standard_normal((dim, n_projections))
    return draws / np.linalg.norm(draws, axis=0, keepdims=True)


def _swd(
    x: NDArray[np.floating], y: NDArray[np.floating], projections: NDArray[np.float64], p: float
) -> float:
    # imported here: POT's package import loads its torch/JAX backends (seconds), which every
    # user of the numpy-only metrics room would otherwise pay
    import ot

    dtype = np.result_type(x.dtype, y.dtype)
    return float(
        ot.sliced_wasserstein_distance(
            x.astype(dtype, copy=False),
            y.astype(dtype, copy=False),
            projections=projections.astype(dtype, copy=False),
            p=p,
        )
    )


def sliced_wasserstein(
    x: ArrayLike,
    y: ArrayLike,
    *,
    n_projections: int = 50,
    p: float = 2,
    seed: int = 0,
    projections: ArrayLike | None = None,
) -> float:
    """Seeded sliced Wasserstein distance ``SWD_p`` between two sets (module docstring).

    Args:
        x, y: ``(n, ...)`` and ``(m, ...)`` sets with the same trailing shape (sizes may
            differ; each set has uniform weights).
        n_projections: number of directions ``P`` (the reference: 50).
        p: the power (the reference: 2).
        seed: seed of the directions (:func:`random_projections`).
        projections: ``(D, P)`` directions to use instead (``n_projections`` and ``seed``
            are then ignored); columns are used as given.

    Example:
        >>> x = np.zeros((3, 2)); y = x + np.array([3.0, 4.0])  # a shift by v, |v| = 5
        >>> theta = np.array([[1.0, 0.0], [0.0, 1.0]])  # two axis directions
        >>> round(sliced_wasserstein(x, y, projections=theta), 6)  # sqrt((9 + 16) / 2)
        3.535534
    """
    points_x = _as_points(x, "x")
    points_y = _as_points(y, "y")
    if np.shape(x)[1:] != np.shape(y)[1:]:
        raise ValueError(
            f"x and y must have the same trailing shape; received {np.shape(x)} and {np.shape(y)}"
        )
    p = _check_power(p)
    if projections is None:
        theta = random_projections(points_x.shape[1], n_projections, seed)
    else:
        theta = np.asarray(projections, dtype=np.float64)
        if theta.ndim != 2 or theta.shape[0] != points_x.shape[1] or theta.shape[1] < 1:
            raise ValueError(
                f"projections must have shape ({points_x.shape[1]}, P) with P >= 1; "
                f"received {theta.shape}"
            )
        if not np.all(np.isfinite(theta)):
            raise ValueError("projections must be finite")
    return _swd(points_x, points_y, theta, p)


def group_by_context(
    values: ArrayLike, context: ArrayLike, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Split per-sample ``values`` ``(n, ...)`` by ``context`` ``(n,)`` (indices into
    ``names``) into ``{name: values[context == index]}``; contexts without rows are left out.

    Example:
        >>> groups = group_by_context(np.arange(4)[:, None], [0, 1, 0, 1], ["obs", "quad1"])
        >>> {name: rows.ravel().tolist() for name, rows in groups.items()}
        {'obs': [0, 2], 'quad1': [1, 3]}
    """
    array = np.asarray(values)
    index = np.asarray(context)
    if array.ndim < 1:
        raise ValueError(f"values must have shape (n, ...); received {array.shape}")
    if index.dtype == np.bool_ or index.dtype.kind not in "iu" or index.ndim != 1:
        raise TypeError(
            f"context must be a 1-D integer array; received {index.dtype} {index.shape}"
        )
    if index.shape[0] != array.shape[0]:
        raise ValueError(
            f"context must have one entry per row of values ({array.shape[0]}); "
            f"received {index.shape[0]}"
        )
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise TypeError("names must be a sequence of context names (str)")
    if index.size and (index.min() < 0 or index.max() >= len(names)):
        raise ValueError(f"context must index names (0..{len(names) - 1}); received {index}")
    return {name: array[index == k] for k, name in enumerate(names) if np.any(index == k)}


def sliced_wasserstein_by_context(
    generated: Mapping[str, ArrayLike],
    real: Mapping[str, ArrayLike],
    *,
    contexts: Sequence[str] | None = None,
    n_projections: int = 50,
    p: float = 2,
    seed: int = 0,
    n_samples: int | None = None,
    sample_seed: int = 0,
) -> dict[str, float]:
    """``SWD_p`` between generated and real images of each context, on shared directions.

    Args:
        generated: context name -> ``(n_c, ...)`` images generated with that context active.
        real: context name -> ``(m_c, ...)`` held-out images of that context.
        contexts: names to score (default: the names of ``real``, in order); each must be a
            key of both mappings.
        n_projections, p, seed: as in :func:`sliced_wasserstein`; one set of directions is
            drawn for all contexts.
        n_samples: if given, both sets of every context are subsampled without replacement
            to exactly this many rows (``docs/context_module.md#holdout-drawn-with-replacement``); every set must have at least that many.
        sample_seed: seed of the subsampling, one stream per context position.

    Returns:
        ``{context name: SWD}``.
    """
    if not isinstance(generated, Mapping) or not isinstance(real, Mapping):
        raise TypeError("generated and real must be mappings context name -> images")
    names = list(real) if contexts is None else list(contexts)
    if not names:
        raise ValueError("contexts must name at least one context")
    for name in names:
        if name not in generated or name not in real:
            missing = "generated" if name not in generated else "real"
            raise ValueError(f"context {name!r} is missing from {missing}")
    if n_samples is not None:
        n_samples = _check_positive_int(n_samples, "n_samples")
    sample_seed = _check_seed(sample_seed, "sample_seed")
    p = _check_power(p)
    sets = {}
    for name in names:
        gen = _as_points(generated[name], f"generated[{name!r}]")
        ref = _as_points(real[name], f"real[{name!r}]")
        if np.shape(generated[name])[1:] != np.shape(real[name])[1:]:
            raise ValueError(
                f"generated[{name!r}] and real[{name!r}] must have the same trailing shape; "
                f"received {np.shape(generated[name])} and {np.shape(real[name])}"
            )
        if n_samples is not None and min(gen.shape[0], ref.shape[0]) < n_samples:
            raise ValueError(
                f"n_samples={n_samples} exceeds the rows of context {name!r} "
                f"(generated {gen.shape[0]}, real {ref.shape[0]})"
            )
        sets[name] = (gen, ref)
    dims = {gen.shape[1] for gen, _ in sets.values()}
    if len(dims) != 1:
        raise ValueError(f"every context must have the same feature dimension; got {dims}")
    theta = random_projections(dims.pop(), n_projections, seed)
    scores = {}
    for position, name in enumerate(names):
        gen, ref = sets[name]
        if n_samples is not None:
            rng = np.random.default_rng(np.random.SeedSequence(sample_seed, spawn_key=(position,)))
            gen = gen[np.sort(rng.choice(gen.shape[0], n_samples, replace=False))]
            ref = ref[np.sort(rng.choice(ref.shape[0], n_samples, replace=False))]
        scores[name] = _swd(gen, ref, theta, p)
    return scores


@dataclass(frozen=True)
class ContextSWD:
    """Per-context SWD split into the concept and composition scores
    (``docs/context_module.md#concept-and-composition-scores``).

    Attributes:
        concept: ``{context: SWD}`` over obs and the single-target contexts.
        composition: ``{pair context: SWD}`` over the held-out pairs (may be empty).
    """

    concept: dict[str, float]
    composition: dict[str, float]

    @property
    def concept_mean(self) -> float:
        """Concept score: the mean over obs and the single-target contexts."""
        return float(np.mean(list(self.concept.values())))

    @property
    def composition_mean(self) -> float:
        """Composition score: the mean over the pairs; NaN if there are none."""
        return float(np.mean(list(self.composition.values()))) if self.composition else np.nan


def context_swd(
    generated: Mapping[str, ArrayLike],
    real: Mapping[str, ArrayLike],
    *,
    concept_contexts: Sequence[str],
    composition_contexts: Sequence[str] = (),
    n_projections: int = 50,
    p: float = 2,
    seed: int = 0,
    n_samples: int | None = None,
    sample_seed: int = 0,
) -> ContextSWD:
    """Concept and composition SWD in one call, every context on the same directions.

    ``concept_contexts`` are obs plus the single targets (e.g.
    :data:`~latentgraph.data.quad.QUAD_TRAINING_CONTEXTS`), ``composition_contexts`` the
    held-out pairs (e.g. ``info["contexts"][7:]``); other arguments as in
    :func:`sliced_wasserstein_by_context`.
    """
    if isinstance(concept_contexts, str) or isinstance(composition_contexts, str):
        raise TypeError("concept_contexts and composition_contexts must be sequences of names")
    concept_names = list(concept_contexts)
    pair_names = list(composition_contexts)
    if not concept_names:
        raise ValueError("concept_contexts must name at least one context")
    overlap = set(concept_names) & set(pair_names)
    if overlap:
        raise ValueError(
            f"concept_contexts and composition_contexts must not overlap; both hold {overlap}"
        )
    scores = sliced_wasserstein_by_context(
        generated,
        real,
        contexts=concept_names + pair_names,
        n_projections=n_projections,
        p=p,
        seed=seed,
        n_samples=n_samples,
        sample_seed=sample_seed,
    )
    return ContextSWD(
        concept={name: scores[name] for name in concept_names},
        composition={name: scores[name] for name in pair_names},
    )
