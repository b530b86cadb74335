"""Interventions and contexts as plain, frozen descriptions (numpy only).

An *intervention* on a sample site ``x_i`` with mechanism ``p_i(x_i | pa_i)`` replaces that
mechanism; a *context* is a set of known intervention targets with one intervention each. In the
interventional distribution of context ``T`` (the truncated factorisation; Pearl 2009, *Causality*,
§3.2.3, eq. 3.10; Peters, Janzing, Schölkopf 2017, *Elements of Causal Inference*, §6.3)

.. math::

    p^{T}(x) = \\prod_{i \\notin T} p_i(x_i \\mid \\mathrm{pa}_i)
               \\prod_{i \\in T} \\tilde p_i(x_i \\mid \\mathrm{pa}_i),

with, by kind of intervention,

* :class:`PerfectValue` ``do(x_i := v)``: ``\\tilde p_i = \\delta_v`` (parents cut, value fixed);
* :class:`PerfectDraw` ``do(x_i ~ q)``: ``\\tilde p_i = q``, a fixed distribution (parents cut,
  value re-drawn);
* :class:`Stochastic`: ``\\tilde p_i = m(p_i(\\cdot \\mid \\mathrm{pa}_i))``, any new mechanism
  computed from the natural one (so it may still read the parents through the natural
  distribution's parameters), or a fixed distribution;
* :class:`Soft` (a parametric, "imperfect" intervention; Eberhardt & Scheines 2007): for a
  location-scale mechanism ``x_i = loc_i(pa_i) + scale_i \\varepsilon_i`` it becomes
  ``x_i = a \\, loc_i(pa_i) + b + c \\, scale_i \\varepsilon_i`` with ``a = loc_factor``,
  ``b = loc_shift``, ``c = scale_factor > 0`` (scalars or per event entry).

These objects only *describe* interventions; the Pyro handlers
(:mod:`~latentgraph.models.interventions.intervene_pyro` and the single-kind handlers) apply them
to a program from outside, as ``pyro.poutine.do`` and ChiRho's ``do`` do. Distributions and
mechanisms are held as given (this module imports no backend); they are checked here by their
interface (``sample``, ``log_prob``, ``batch_shape``, ``event_shape``) and by type in the handler.

**Per-sample contexts.** A boolean ``mask`` selects the plate elements that are intervened: for
one target it has shape ``(batch,)`` or ``(batch, ...)`` and broadcasts against the site's batch
shape from the right, as the mask of :func:`pyro.poutine.mask` does (use ``(batch, 1)`` for a
plate at ``dim=-2``); for a :class:`Context` it has one more trailing axis, ``(..., n_targets)``,
whose column ``j`` is the mask of ``context.targets[j]``. This is the per-sample vectorised
form of the context module (``docs/context_module.md#per-sample-form``), where row ``r`` of a
``(batch, K)`` target matrix is the indicator ``t`` of sample ``r``'s target set.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from latentgraph.data._checks import describe as _describe

__all__ = [
    "Context",
    "Intervention",
    "PerfectDraw",
    "PerfectValue",
    "Soft",
    "Stochastic",
    "check_mask",
    "check_site_name",
    "target_mask",
]


def _is_distribution_like(value: object) -> bool:
    """Duck-typed check for a (torch/Pyro) distribution, without importing a backend."""
    return all(
        hasattr(value, attr) for attr in ("sample", "log_prob", "batch_shape", "event_shape")
    )


def _is_tensor_like(value: object) -> bool:
    """A backend tensor (torch, jax): has ``shape`` and ``dtype`` but is not a numpy array."""
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.ndarray)


def _check_numeric(value: object, name: str, *, positive: bool = False) -> object:
    """A real number, a finite real numpy array (or nested sequence), or a backend tensor.

    Numbers and numpy arrays are checked here (finite, and positive if asked) and returned as
    float / float64 arrays; backend tensors are returned unchanged (they may carry gradients,
    e.g. a learned soft shift) and are checked by the handler.
    """
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"`{name}` must be a real number or an array, got {_describe(value)}")
    if _is_tensor_like(value):
        if "bool" in str(value.dtype) or "complex" in str(value.dtype):
            raise TypeError(f"`{name}` must hold real numbers, got dtype {value.dtype}")
        return value
    if isinstance(value, numbers.Real):
        number = float(value)
        array = np.asarray(number)
    else:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as err:  # ragged nested sequences
            raise TypeError(
                f"`{name}` must be a real number or an array, got {_describe(value)}"
            ) from err
        if array.dtype.kind not in "iuf":
            raise TypeError(
                f"`{name}` must hold real numbers (int or float dtype), got dtype {array.dtype}"
            )
        array = array.astype(np.float64)
        number = None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` must be finite, got {_describe(value)}")
    if positive and not np.all(array > 0):
        raise ValueError(f"`{name}` must be positive, got {_describe(value)}")
    return number if number is not None else array


def check_site_name(value: object, name: str = "site") -> str:
    """A non-empty str naming a sample site."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a sample-site name (str), got {_describe(value)}")
    if not value:
        raise ValueError(f"`{name}` must be a non-empty sample-site name")
    return value


def check_mask(mask: object, name: str = "mask", *, min_ndim: int = 0) -> Any:
    """A boolean array (numpy or a backend tensor) with ``ndim >= min_ndim``, or None.

    Numpy arrays and nested sequences are returned as numpy bool arrays; backend tensors are
    returned unchanged. Integer or float 0/1 masks are rejected: a mask says *which* elements
    are intervened, and a silent cast would hide a target matrix passed where a mask belongs.
    """
    if mask is None:
        return None
    if isinstance(mask, (str, bytes, numbers.Number)):
        raise TypeError(f"`{name}` must be a boolean array, got {_describe(mask)}")
    if _is_tensor_like(mask):
        dtype_name = str(mask.dtype)
        array_shape = tuple(mask.shape)
    else:
        try:
            mask = np.asarray(mask)
        except (TypeError, ValueError) as err:
            raise TypeError(f"`{name}` must be a boolean array, got {_describe(mask)}") from err
        dtype_name = str(mask.dtype)
        array_shape = mask.shape
    if not dtype_name.endswith("bool"):
        raise TypeError(
            f"`{name}` must be a boolean array (True = intervened), got dtype {dtype_name}; "
            "convert a 0/1 target matrix with `targets == 1` or `.bool()`"
        )
    if len(array_shape) < min_ndim:
        raise ValueError(
            f"`{name}` must have at least {min_ndim} dimension(s), got shape {array_shape}"
        )
    return mask


class Intervention:
    """Base class of the intervention descriptions; ``kind`` names the kind."""

    kind: ClassVar[str] = "intervention"


@dataclass(frozen=True, eq=False)
class PerfectValue(Intervention):
    """``do(x := value)``: cut the parents and fix the value.

    Args:
        value: a real number, an array or a tensor broadcastable to the site's
            ``batch_shape + event_shape``.

    The intervened elements contribute ``log 1 = 0`` to the log joint (a point mass).
    """

    value: Any
    kind: ClassVar[str] = "perfect_value"

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _check_numeric(self.value, "value"))


@dataclass(frozen=True, eq=False)
class PerfectDraw(Intervention):
    """``do(x ~ distribution)``: cut the parents and re-draw from a fixed distribution.

    Args:
        distribution: a distribution whose ``event_shape`` equals the site's and whose
            ``batch_shape`` broadcasts to the site's.
    """

    distribution: Any
    kind: ClassVar[str] = "perfect_draw"

    def __post_init__(self) -> None:
        if not _is_distribution_like(self.distribution):
            raise TypeError(
                "`distribution` must be a distribution (with sample, log_prob, batch_shape, "
                f"event_shape), got {_describe(self.distribution)}"
            )


@dataclass(frozen=True, eq=False)
class Stochastic(Intervention):
    """Replace the mechanism's distribution.

    Args:
        mechanism: either a fixed distribution, or a callable ``natural -> distribution`` that
            receives the site's natural distribution ``p(x | pa)`` (parents already applied)
            and returns the new one, e.g. ``lambda d: Normal(0.5 * d.loc, 1.0)``.
    """

    mechanism: Any
    kind: ClassVar[str] = "stochastic"

    def __post_init__(self) -> None:
        if not (_is_distribution_like(self.mechanism) or callable(self.mechanism)):
            raise TypeError(
                "`mechanism` must be a distribution or a callable natural -> distribution, "
                f"got {_describe(self.mechanism)}"
            )

    @property
    def is_fixed(self) -> bool:
        """Whether ``mechanism`` is a fixed distribution rather than a callable."""
        return _is_distribution_like(self.mechanism)


@dataclass(frozen=True, eq=False)
class Soft(Intervention):
    """Shift and scale the location and scale parameters of a location-scale mechanism:
    ``loc -> loc_factor * loc + loc_shift``, ``scale -> scale_factor * scale``.

    For a multivariate normal ``N(mu, L L^T)`` the scale acts on the Cholesky factor,
    ``L -> diag(scale_factor) L``, so the covariance becomes ``D Sigma D`` with
    ``D = diag(scale_factor)``.

    Args:
        loc_shift: additive shift of the location (number, array or tensor broadcastable to the
            site's ``batch_shape + event_shape``).
        loc_factor: multiplicative factor on the location (same shapes). A factor ``a`` on
            ``loc = w^T pa + b`` scales the parents' effects, the usual parametric soft
            intervention on linear mechanisms.
        scale_factor: positive factor on the scale (same shapes).
    """

    loc_shift: Any = 0.0
    loc_factor: Any = 1.0
    scale_factor: Any = 1.0
    kind: ClassVar[str] = "soft"

    def __post_init__(self) -> None:
        object.__setattr__(self, "loc_shift", _check_numeric(self.loc_shift, "loc_shift"))
        object.__setattr__(self, "loc_factor", _check_numeric(self.loc_factor, "loc_factor"))
        object.__setattr__(
            self,
            "scale_factor",
            _check_numeric(self.scale_factor, "scale_factor", positive=True),
        )


@dataclass(frozen=True, eq=False)
class Context:
    """A set of known intervention targets: one :class:`Intervention` per named site.

    Args:
        interventions: mapping from sample-site name to its intervention (insertion order
            defines :attr:`targets` and the columns of ``mask``).
        mask: optional boolean ``(..., n_targets)`` (numpy or tensor): ``mask[..., j]`` selects
            the plate elements where ``targets[j]`` is intervened (see the module docstring);
            ``None`` intervenes on every element of every target.

    Example:
        >>> import numpy as np
        >>> context = Context(
        ...     {"c0": PerfectValue(1.0), "c2": Soft(loc_shift=2.0)},
        ...     mask=np.array([[True, False], [False, True], [False, False]]),
        ... )
        >>> context.targets, context.mask_for("c2").tolist()
        (('c0', 'c2'), [False, True, False])
    """

    interventions: Mapping[str, Intervention]
    mask: Any = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.interventions, Mapping):
            raise TypeError(
                "`interventions` must be a mapping from site name to Intervention, "
                f"got {_describe(self.interventions)}"
            )
        if not self.interventions:
            raise ValueError("`interventions` must name at least one target site")
        for name, intervention in self.interventions.items():
            check_site_name(name, "interventions key")
            if not isinstance(intervention, Intervention):
                raise TypeError(
                    f"`interventions[{name!r}]` must be a PerfectValue, PerfectDraw, "
                    f"Stochastic or Soft, got {_describe(intervention)}"
                )
        object.__setattr__(self, "interventions", MappingProxyType(dict(self.interventions)))
        mask = check_mask(self.mask, "mask", min_ndim=1)
        if mask is not None and tuple(mask.shape)[-1] != len(self.interventions):
            raise ValueError(
                f"`mask` must have shape (..., n_targets) with n_targets={len(self.interventions)} "
                f"(one column per target {self.targets}), got shape {tuple(mask.shape)}"
            )
        object.__setattr__(self, "mask", mask)

    @property
    def targets(self) -> tuple[str, ...]:
        """The targeted site names, in the order of ``mask``'s columns."""
        return tuple(self.interventions)

    def mask_for(self, site: str) -> Any:
        """The per-sample mask of ``site`` (``mask[..., j]``), or None if there is no mask."""
        if site not in self.interventions:
            raise KeyError(f"site {site!r} is not a target of this context {self.targets}")
        if self.mask is None:
            return None
        return self.mask[..., self.targets.index(site)]


def target_mask(target_sets: Sequence[Collection[str | int]], targets: Sequence[str]) -> np.ndarray:
    """A boolean ``(n, len(targets))`` mask from per-sample target sets.

    Args:
        target_sets: one collection per sample of target names (or indices into ``targets``),
            e.g. ``[frozenset(), {"c0"}, {"c0", "c2"}]``; the empty set is the observational
            context.
        targets: the target names, in column order (those of a :class:`Context`).

    Example:
        >>> target_mask([set(), {"c0"}, {0, "c2"}], ("c0", "c2")).astype(int).tolist()
        [[0, 0], [1, 0], [1, 1]]
    """
    if isinstance(targets, (str, bytes)) or not isinstance(targets, Sequence):
        raise TypeError(f"`targets` must be a sequence of site names, got {_describe(targets)}")
    names = [check_site_name(t, "targets entry") for t in targets]
    if len(set(names)) != len(names):
        raise ValueError(f"`targets` must be distinct, got {names}")
    if isinstance(target_sets, (str, bytes)) or not isinstance(target_sets, Sequence):
        raise TypeError(
            f"`target_sets` must be a sequence of collections of targets, got {_describe(target_sets)}"
        )
    column = {name: j for j, name in enumerate(names)}
    mask = np.zeros((len(target_sets), len(names)), dtype=bool)
    for row, entry in enumerate(target_sets):
        if isinstance(entry, (str, bytes)) or not isinstance(entry, Collection):
            raise TypeError(
                f"`target_sets[{row}]` must be a collection of targets, got {_describe(entry)}"
            )
        for target in entry:
            if isinstance(target, str) and target in column:
                mask[row, column[target]] = True
            elif (
                isinstance(target, numbers.Integral)
                and not isinstance(target, bool)
                and 0 <= int(target) < len(names)
            ):
                mask[row, int(target)] = True
            else:
                raise ValueError(
                    f"`target_sets[{row}]` holds {target!r}, which is not one of the targets "
                    f"{names} (or an index below {len(names)})"
                )
    return mask
