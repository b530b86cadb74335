"""Interaction-order checks: how far a slot decoder is from order 0, 1 and 2 (numpy only).

Brady et al. (2024, arXiv 2411.07784, ICLR 2025); ``docs/interaction_asymmetry.md#principle``
and ``docs/interaction_asymmetry.md#derivative-checks``. A decoder ``f: (z_1, ..., z_K) -> R^P`` has
*at most n-th order interactions across slots* iff every (n+1)-th partial derivative of every
output that involves two different slots vanishes:

- **n = 0 (compositional).** Each output depends on at most one slot at every ``z``: with
  slot-wise Jacobian norms ``g_{p,k} = ||d f_p / d z_k||``, ``g_{p,k} g_{p,l} = 0`` for
  ``k != l``. Measured by the compositional contrast ``C = sum_p sum_{k<l} g_{p,k} g_{p,l}``
  (Brady et al. 2023), here normalised to ``C / (1/2 sum_p (sum_k g_{p,k})^2)`` in
  ``[0, 1 - 1/K]`` so that a tolerance is scale free.
- **n <= 1 (additive, f = sum_k f_k(z_k)).** Cross-slot Hessian blocks vanish, equivalently
  the double difference

  .. math:: \\Delta_{kl}(z; u, v) = f(z + u_k + v_l) - f(z + u_k) - f(z + v_l) + f(z)

  is zero for all ``z``, perturbations ``u`` of slot ``k`` and ``v`` of slot ``l`` (it equals
  ``int_0^1 int_0^1 u^T H_{kl}(z + s u + t v) v ds dt``). Reported as the mean of
  ``||Delta_kl||^2 / ||f(z + u_k + v_l) - f(z)||^2``; perturbations swap slot ``k`` (and
  ``l``) with the same slot of another data point, so they stay on the data manifold.
- **n <= 2 (additive plus constant bilinear couplings, f = sum_k f_k(z_k) +
  sum_{k<l} z_k^T C_kl z_l).** Cross-slot third derivatives vanish, so the cross Hessian is
  constant and ``Delta_kl`` does not depend on the base point:
  ``Delta_kl(z; u, v) = Delta_kl(z'; u, v)``. Reported as the mean of
  ``||Delta_kl(z) - Delta_kl(z')||^2`` over the mean squared size of the two total changes.

Each check returns an :class:`InteractionCheck` (a number and pass/fail at a tolerance).
Decoders are callables on numpy arrays ``(n, K, d) -> (n, ...)``; Jacobians come from
:func:`finite_difference_jacobian` (numpy, for cheap decoders) or
:func:`latentgraph.models.jacobian_torch.slot_jacobian_torch` (autodiff), laid out as
``(n, *output_shape, K, d)``. Real images with occlusion are only piecewise smooth: use small
or on-manifold perturbations and read the numbers as distributions, not exact zeros.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from latentgraph.graphs._validation import as_real_array

__all__ = [
    "InteractionCheck",
    "base_point_invariance_check",
    "compositional_check",
    "compositional_contrast",
    "cross_hessian_mass",
    "double_difference",
    "double_difference_check",
    "finite_difference_jacobian",
    "interaction_checks",
    "off_slot_mass",
    "slot_jacobian_norms",
]

Decoder = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class InteractionCheck:
    """Outcome of one interaction-order check.

    Attributes:
        name: which check (``"compositional"``, ``"double_difference"``,
            ``"base_point_invariance"``).
        order: the interaction order the check certifies (0, 1 or 2).
        value: the scale-free score; 0 iff the decoder has at most ``order``-th order
            interactions across slots (on the points examined).
        tolerance: ``passed`` is ``value <= tolerance``.
        passed: whether the check passed.
        details: further numbers (raw scores, maxima, counts).
    """

    name: str
    order: int
    value: float
    tolerance: float
    passed: bool
    details: dict[str, float] = field(default_factory=dict)

    def __float__(self) -> float:
        return self.value


# ----------------------------------------------------------------------------- checks of input
def _check_tolerance(tolerance: object) -> float:
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real):
        raise TypeError(f"tolerance must be a float >= 0; received {type(tolerance).__name__}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite float >= 0; received {tolerance!r}")
    return float(tolerance)


def _check_latents(latents: ArrayLike, minimum_rows: int = 1) -> NDArray[np.float64]:
    array = as_real_array(latents, "latents")
    if array.ndim != 3 or min(array.shape) < 1:
        raise ValueError(
            f"latents must have shape (n, n_slots, slot_dim); received shape {array.shape}"
        )
    if array.shape[0] < minimum_rows:
        raise ValueError(
            f"latents must have at least {minimum_rows} rows (base points); "
            f"received {array.shape[0]}"
        )
    if array.shape[1] < 2:
        raise ValueError(f"latents must have at least 2 slots; received shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("latents must be finite")
    return array


def _check_decoder(decoder: object) -> Decoder:
    if not callable(decoder):
        raise TypeError(f"decoder must be callable; received {type(decoder).__name__}")
    return decoder  # type: ignore[return-value]


def _check_pairs(pairs: object, n_slots: int) -> list[tuple[int, int]]:
    if pairs is None:
        return list(combinations(range(n_slots), 2))
    if not isinstance(pairs, Sequence) or not pairs:
        raise ValueError(f"pairs must be a non-empty sequence of (k, l); received {pairs!r}")
    checked = []
    for pair in pairs:
        if (
            not isinstance(pair, Sequence)
            or len(pair) != 2
            or not all(isinstance(i, numbers.Integral) and 0 <= i < n_slots for i in pair)
            or pair[0] == pair[1]
        ):
            raise ValueError(
                f"pairs must hold (k, l) with k != l in [0, {n_slots}); received {pair!r}"
            )
        checked.append((int(pair[0]), int(pair[1])))
    return checked


def _decode(decoder: Decoder, latents: np.ndarray) -> np.ndarray:
    """Decoder outputs as float64 ``(n, P)``."""
    out = np.asarray(decoder(latents), dtype=np.float64)
    if out.ndim < 1 or out.shape[0] != latents.shape[0]:
        raise ValueError(
            f"decoder must map latents (n, K, d) to outputs (n, ...); for n = "
            f"{latents.shape[0]} it returned shape {out.shape}"
        )
    return out.reshape(latents.shape[0], -1)


# ----------------------------------------------------------------------------- order 0
def slot_jacobian_norms(
    jacobian: ArrayLike, *, ord: int = 2, channel_axis: int | None = None
) -> NDArray[np.float64]:
    """Slot-wise Jacobian norms ``g_{p,k} = ||d f_p / d z_k||``
    (``docs/interaction_asymmetry.md#derivative-checks``).

    Args:
        jacobian: ``(..., n_outputs, n_slots, slot_dim)``, e.g. ``(n, P, K, d)``, or with a
            channel axis ``(n, H, W, C, K, d)``.
        ord: 2 (Euclidean, compositional contrast) or 1 (sum of absolute values, the
            J-ARI/JIS map ``G``, ``docs/interaction_asymmetry.md#slot-wise-jacobian-map``).
        channel_axis: an axis of ``jacobian`` (before the last two) reduced with the same
            norm, so ``p`` ranges over pixels with channels aggregated; ``None`` keeps every
            output coordinate.

    Returns:
        ``(..., n_outputs, n_slots)`` norms (the channel axis removed when given).
    """
    jac = as_real_array(jacobian, "jacobian")
    if jac.ndim < 3:
        raise ValueError(
            f"jacobian must have shape (..., n_outputs, n_slots, slot_dim); "
            f"received shape {jac.shape}"
        )
    if ord not in (1, 2) or isinstance(ord, bool):
        raise ValueError(f"ord must be 1 or 2; received {ord!r}")
    axes: tuple[int, ...] = (-1,)
    if channel_axis is not None:
        if isinstance(channel_axis, bool) or not isinstance(channel_axis, numbers.Integral):
            raise TypeError(f"channel_axis must be an int or None; received {channel_axis!r}")
        axis = int(channel_axis) % jac.ndim if -jac.ndim <= channel_axis < jac.ndim else None
        if axis is None or axis >= jac.ndim - 2:
            raise ValueError(
                f"channel_axis must index an output axis (not the last two, slots and slot "
                f"coordinates) of a {jac.ndim}-D jacobian; received {channel_axis}"
            )
        jac = np.moveaxis(jac, axis, -2)  # (..., K, C, d)
        axes = (-2, -1)
    if ord == 1:
        return np.sum(np.abs(jac), axis=axes)
    return np.sqrt(np.sum(jac * jac, axis=axes))


def _check_norms(norms: ArrayLike) -> NDArray[np.float64]:
    g = as_real_array(norms, "norms")
    if g.ndim < 2 or g.shape[-1] < 2:
        raise ValueError(
            f"norms must have shape (..., n_outputs, n_slots >= 2); received {g.shape}"
        )
    if not np.all(np.isfinite(g)) or np.any(g < 0):
        raise ValueError("norms must be finite and non-negative")
    return g


def compositional_contrast(norms: ArrayLike, *, weighted: bool = False) -> NDArray[np.float64]:
    """Compositional contrast of Brady et al. 2023
    (``docs/interaction_asymmetry.md#compositional-contrast``), per leading index.

    Raw: :math:`C = \\sum_p \\sum_{k<l} g_{p,k} g_{p,l}`, zero iff every output depends on
    at most one slot. Weighted: with :math:`\\bar g_p = \\mathrm{mean}_k g_{p,k}`,
    :math:`\\hat g_{p,k} = g_{p,k} / \\bar g_p` and :math:`w_p = \\bar g_p / \\max_{p'} \\bar
    g_{p'}`, :math:`C_w = \\sum_p w_p \\sum_{k<l} \\hat g_{p,k} \\hat g_{p,l}` (outputs with
    :math:`\\bar g_p = 0` contribute 0).

    Args:
        norms: ``(..., n_outputs, n_slots)`` from :func:`slot_jacobian_norms`.

    Returns:
        ``norms.shape[:-2]`` contrasts (a 0-d array for a single map).

    Example:
        >>> float(compositional_contrast([[1.0, 2.0], [3.0, 0.0]]))
        2.0
        >>> round(float(compositional_contrast([[1.0, 2.0], [3.0, 0.0]], weighted=True)), 4)
        0.8889
    """
    g = _check_norms(norms)
    if not weighted:
        return 0.5 * np.sum(np.sum(g, -1) ** 2 - np.sum(g * g, -1), axis=-1)
    mean = g.mean(-1)
    safe = np.where(mean > 0, mean, 1.0)
    g_hat = g / safe[..., None]
    peak = mean.max(-1, keepdims=True)
    w = mean / np.where(peak > 0, peak, 1.0)
    pairs = 0.5 * (np.sum(g_hat, -1) ** 2 - np.sum(g_hat * g_hat, -1))
    return np.sum(np.where(mean > 0, w * pairs, 0.0), axis=-1)


def off_slot_mass(norms: ArrayLike) -> float:
    """Normalised off-slot mass (``docs/interaction_asymmetry.md#derivative-checks``), pooled over all leading indices and outputs.

    :math:`\\sum_p (\\sum_k g_{p,k} - \\max_k g_{p,k}) / \\sum_{p,k} g_{p,k}` in ``[0, 1 - 1/K]``;
    0 iff compositional. Returns 0 for an all-zero map.
    """
    g = _check_norms(norms)
    total = float(g.sum())
    return 0.0 if total == 0 else float((g.sum(-1) - g.max(-1)).sum() / total)


def compositional_check(norms: ArrayLike, *, tolerance: float = 1e-8) -> InteractionCheck:
    """Order-0 check from slot-wise Jacobian norms.

    ``value`` is the normalised contrast
    :math:`\\sum C / \\sum_p \\tfrac12 (\\sum_k g_{p,k})^2 \\in [0, 1 - 1/K]` pooled over all
    leading indices (images): 0 iff no output depends on two slots. ``details`` add the mean
    raw and weighted contrasts per map and the off-slot mass.
    """
    tolerance = _check_tolerance(tolerance)
    g = _check_norms(norms)
    raw = compositional_contrast(g)
    scale = 0.5 * float(np.sum(np.sum(g, -1) ** 2))
    value = 0.0 if scale == 0 else float(np.sum(raw) / scale)
    return InteractionCheck(
        "compositional",
        0,
        value,
        tolerance,
        value <= tolerance,
        {
            "contrast": float(np.mean(raw)),
            "weighted_contrast": float(np.mean(compositional_contrast(g, weighted=True))),
            "off_slot_mass": off_slot_mass(g),
        },
    )


# ----------------------------------------------------------------------------- orders 1 and 2
def _with_slot(latents: np.ndarray, slot: int, shift: np.ndarray) -> np.ndarray:
    out = latents.copy()
    out[:, slot] = out[:, slot] + shift
    return out


def double_difference(
    decoder: Decoder,
    latents: ArrayLike,
    shift_k: ArrayLike,
    shift_l: ArrayLike,
    slot_k: int,
    slot_l: int,
) -> NDArray[np.float64]:
    """:math:`\\Delta_{kl} = f(z + u_k + v_l) - f(z + u_k) - f(z + v_l) + f(z)` per row.

    Args:
        decoder: callable ``(n, K, d) -> (n, ...)`` on numpy arrays.
        latents: base points ``z``, ``(n, K, d)``.
        shift_k, shift_l: perturbations ``u`` of slot ``slot_k`` and ``v`` of ``slot_l``,
            ``(n, d)``.

    Returns:
        ``(n, P)`` double differences (outputs flattened). Zero for all perturbations iff the
        cross Hessian block ``d^2 f / dz_k dz_l`` vanishes.
    """
    z = _check_latents(latents)
    decoder = _check_decoder(decoder)
    n, n_slots, dim = z.shape
    for name, slot in (("slot_k", slot_k), ("slot_l", slot_l)):
        if isinstance(slot, bool) or not isinstance(slot, numbers.Integral):
            raise TypeError(f"{name} must be an int; received {slot!r}")
        if not 0 <= slot < n_slots:
            raise ValueError(f"{name} must be in [0, {n_slots}); received {slot}")
    if slot_k == slot_l:
        raise ValueError(f"slot_k and slot_l must differ; received {slot_k} twice")
    u = as_real_array(shift_k, "shift_k")
    v = as_real_array(shift_l, "shift_l")
    for name, shift in (("shift_k", u), ("shift_l", v)):
        if shift.shape != (n, dim):
            raise ValueError(f"{name} must have shape {(n, dim)}; received {shift.shape}")
    return _double_difference(decoder, z, u, v, int(slot_k), int(slot_l))[0]


def _double_difference(decoder, z, u, v, k, l):
    """Returns (Delta, f(z + u_k + v_l) - f(z)), both (n, P)."""
    base = _decode(decoder, z)
    both = _decode(decoder, _with_slot(_with_slot(z, k, u), l, v))
    only_k = _decode(decoder, _with_slot(z, k, u))
    only_l = _decode(decoder, _with_slot(z, l, v))
    # grouped so that an exactly additive decoder cancels in pairs
    return (both - only_k) - (only_l - base), both - base


def _swap_shifts(z: np.ndarray, rng: np.random.Generator, slot: int) -> np.ndarray:
    """Perturbation that replaces slot ``slot`` of each row by the same slot of another row."""
    n = z.shape[0]
    partner = (np.arange(n) + rng.integers(1, n, size=n)) % n  # never the row itself
    return z[partner, slot] - z[:, slot]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> tuple[np.ndarray, int]:
    """Per-row ratios of squared norms, skipping rows whose denominator is zero."""
    num = np.sum(numerator * numerator, axis=1)
    den = np.sum(denominator * denominator, axis=1)
    keep = den > 0
    return num[keep] / den[keep], int(np.count_nonzero(~keep))


def _ratio_check(
    name: str, order: int, ratios: list, tolerance: float, extra: dict, skipped: int
) -> InteractionCheck:
    """The check's value is the mean relative ratio over every evaluated point and pair."""
    ratios_all = np.concatenate(ratios)
    value = float(np.mean(ratios_all)) if ratios_all.size else 0.0
    details = {"max_ratio": float(np.max(ratios_all)) if ratios_all.size else 0.0, **extra}
    details |= {"n_evaluated": int(ratios_all.size), "n_skipped": skipped}
    return InteractionCheck(name, order, value, tolerance, value <= tolerance, details)


def double_difference_check(
    decoder: Decoder,
    latents: ArrayLike,
    *,
    pairs: Sequence[tuple[int, int]] | None = None,
    tolerance: float = 1e-8,
    seed: int = 0,
) -> InteractionCheck:
    """Order-1 (additivity) check: mean ``||Delta_kl||^2 / ||f(z + u_k + v_l) - f(z)||^2``.

    For every base point ``z`` (a row of ``latents``) and slot pair ``(k, l)`` (all pairs by
    default), ``u`` swaps slot ``k`` with slot ``k`` of another random row and ``v`` slot ``l``
    with slot ``l`` of another, so perturbed points stay on the data manifold (``docs/interaction_asymmetry.md#derivative-checks``).
    Rows whose total change is zero are skipped (counted in ``details``).
    """
    decoder = _check_decoder(decoder)
    z = _check_latents(latents, minimum_rows=2)
    tolerance = _check_tolerance(tolerance)
    pairs = _check_pairs(pairs, z.shape[1])
    rng = np.random.default_rng(seed)
    ratios, skipped, max_abs = [], 0, 0.0
    for k, l in pairs:
        u, v = _swap_shifts(z, rng, k), _swap_shifts(z, rng, l)
        delta, change = _double_difference(decoder, z, u, v, k, l)
        ratio, n_skipped = _ratio(delta, change)
        ratios.append(ratio)
        skipped += n_skipped
        max_abs = max(max_abs, float(np.max(np.abs(delta))))
    return _ratio_check(
        "double_difference", 1, ratios, tolerance, {"max_abs_double_difference": max_abs}, skipped
    )


def base_point_invariance_check(
    decoder: Decoder,
    latents: ArrayLike,
    *,
    pairs: Sequence[tuple[int, int]] | None = None,
    tolerance: float = 1e-8,
    seed: int = 0,
) -> InteractionCheck:
    """Order-2 check: does ``Delta_kl(z; u, v)`` depend on the base point ``z``?

    The perturbations ``u, v`` are drawn as in :func:`double_difference_check` at ``z``, and
    the same ``u, v`` are applied at a second base point ``z'`` (another random row). The value
    is the mean over rows and pairs of

    .. math:: \\frac{\\|\\Delta_{kl}(z) - \\Delta_{kl}(z')\\|^2}
              {\\tfrac12 (\\|f(z + u_k + v_l) - f(z)\\|^2 + \\|f(z' + u_k + v_l) - f(z')\\|^2)},

    zero iff the cross Hessian blocks are constant (``n <= 2``). ``z' + u + v`` may lie
    off the data manifold; on a piecewise-smooth decoder read the value as a distribution.
    """
    decoder = _check_decoder(decoder)
    z = _check_latents(latents, minimum_rows=2)
    tolerance = _check_tolerance(tolerance)
    pairs = _check_pairs(pairs, z.shape[1])
    rng = np.random.default_rng(seed)
    n = z.shape[0]
    ratios, skipped, max_abs = [], 0, 0.0
    for k, l in pairs:
        u, v = _swap_shifts(z, rng, k), _swap_shifts(z, rng, l)
        other = z[(np.arange(n) + rng.integers(1, n, size=n)) % n]
        delta, change = _double_difference(decoder, z, u, v, k, l)
        delta_other, change_other = _double_difference(decoder, other, u, v, k, l)
        gap = delta - delta_other
        scale = np.sqrt(0.5 * (np.sum(change * change, axis=1) + np.sum(change_other**2, axis=1)))[
            :, None
        ]
        ratio, n_skipped = _ratio(gap, scale)
        ratios.append(ratio)
        skipped += n_skipped
        max_abs = max(max_abs, float(np.max(np.abs(gap))))
    return _ratio_check(
        "base_point_invariance", 2, ratios, tolerance, {"max_abs_difference": max_abs}, skipped
    )


# ----------------------------------------------------------------------------- derivatives
def finite_difference_jacobian(
    decoder: Decoder, latents: ArrayLike, *, step: float = 1e-6
) -> NDArray[np.float64]:
    """Central-difference Jacobian ``(n, *output_shape, K, d)`` of a numpy decoder.

    ``(f(z + h e_i) - f(z - h e_i)) / 2h`` per latent coordinate (``2 K d`` decoder calls on
    the batch). An output that does not read slot ``k`` gets an exactly zero column for slot
    ``k``, since both evaluations are bit-identical. For trained networks prefer
    :func:`latentgraph.models.jacobian_torch.slot_jacobian_torch` (autodiff).
    """
    decoder = _check_decoder(decoder)
    z = _check_latents(latents)
    if isinstance(step, bool) or not isinstance(step, numbers.Real) or not step > 0:
        raise ValueError(f"step must be a float > 0; received {step!r}")
    n, n_slots, dim = z.shape
    out_shape = np.asarray(decoder(z[:1])).shape[1:]
    columns = np.empty((n, int(np.prod(out_shape, dtype=int)), n_slots, dim))
    for k in range(n_slots):
        for i in range(dim):
            up, down = z.copy(), z.copy()
            up[:, k, i] += step
            down[:, k, i] -= step
            columns[:, :, k, i] = (_decode(decoder, up) - _decode(decoder, down)) / (2 * step)
    return columns.reshape(n, *out_shape, n_slots, dim)


def cross_hessian_mass(hessian: ArrayLike) -> float:
    """Share of the Hessian's squared Frobenius norm in cross-slot blocks
    (``docs/interaction_asymmetry.md#derivative-checks``).

    Args:
        hessian: ``(..., K, d, K, d)`` second derivatives of each output (any leading axes:
            images, outputs), e.g. from ``torch.func.hessian``.

    Returns:
        :math:`\\sum_{k \\ne l} \\|H[k, :, l, :]\\|_F^2 / \\|H\\|_F^2` pooled over the leading
        axes; 0 iff additive (n <= 1); 0 for an all-zero Hessian.
    """
    h = as_real_array(hessian, "hessian")
    if h.ndim < 4 or h.shape[-4:-2] != h.shape[-2:]:
        raise ValueError(f"hessian must have shape (..., K, d, K, d); received {h.shape}")
    n_slots = h.shape[-4]
    squares = np.sum(h * h, axis=tuple(range(h.ndim - 4)) + (-3, -1))  # (K, K)
    total = float(squares.sum())
    if total == 0:
        return 0.0
    return float((total - np.trace(squares)) / total) if n_slots > 1 else 0.0


def interaction_checks(
    decoder: Decoder,
    latents: ArrayLike,
    *,
    jacobian: ArrayLike | None = None,
    channel_axis: int | None = None,
    tolerance: float = 1e-8,
    seed: int = 0,
) -> dict[str, InteractionCheck]:
    """All three checks at the base points ``latents``: keys ``"order0"``, ``"order1"``,
    ``"order2"``.

    ``jacobian`` ``(n, *output_shape, K, d)`` (e.g. from the torch helper) is used for the
    order-0 check; without it a central-difference Jacobian is computed (numpy decoders).
    """
    z = _check_latents(latents, minimum_rows=2)
    if jacobian is None:
        jacobian = finite_difference_jacobian(decoder, z)
    norms = slot_jacobian_norms(jacobian, ord=2, channel_axis=channel_axis)
    return {
        "order0": compositional_check(norms, tolerance=tolerance),
        "order1": double_difference_check(decoder, z, tolerance=tolerance, seed=seed),
        "order2": base_point_invariance_check(decoder, z, tolerance=tolerance, seed=seed),
    }
