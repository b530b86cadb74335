"""Object-level metrics for slot models: J-ARI, JIS, slot R^2 and reconstruction.

Brady et al. (2024, arXiv 2411.07784) and Wiedemer et al. (ICLR 2024) for slot R^2;
``docs/interaction_asymmetry.md#metrics``. J-ARI and JIS read
the *decoder* Jacobian through the slot influence map ``G`` ``(n, P, K)``:
``G[i, p, k] = sum_c sum_{j in B_k} |d x_hat_{c,p} / d z_j|`` (``docs/interaction_asymmetry.md#slot-wise-jacobian-map``; computed by
:func:`latentgraph.models.jacobian_torch.slot_influence_torch` or
:func:`latentgraph.metrics.interaction.slot_jacobian_norms` with ``ord=1``), normalised over
slots to ``G_hat = G / sum_k G``. Ground-truth masks ``(n, H, W)`` (or ``(n, P)``, pixels in
the same row-major order as ``G``) label background 0 and objects ``1..``; both metrics use
**ground-truth foreground pixels only**.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from latentgraph.graphs._validation import as_real_array

__all__ = [
    "SlotR2Result",
    "SlotReadout",
    "fit_slot_readout",
    "jacobian_ari",
    "jacobian_interaction_score",
    "normalised_influence",
    "reconstruction_metrics",
    "slot_r2",
]


# ----------------------------------------------------------------------------- J-ARI and JIS
def _influence_and_masks(
    influence: ArrayLike, masks: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    g = as_real_array(influence, "influence")
    labels = np.asarray(masks)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"masks must hold integer labels (0 = background); got {labels.dtype}")
    if g.ndim < 3 or g.shape[-1] < 2:
        raise ValueError(
            f"influence must have shape (n, P, K) or (n, H, W, K) with K >= 2 slots; "
            f"received {g.shape}"
        )
    same_pixels = (
        labels.ndim >= 2
        and labels.shape[0] == g.shape[0]
        and int(np.prod(labels.shape[1:])) == int(np.prod(g.shape[1:-1]))
    )
    if not same_pixels:
        raise ValueError(
            f"masks must have shape {g.shape[:-1]} (influence without its slot axis), or the "
            f"same pixels in another row-major layout (e.g. (n, H, W) for (n, H W, K)); "
            f"received {labels.shape}"
        )
    if not np.all(np.isfinite(g)) or np.any(g < 0):
        raise ValueError("influence must be finite and non-negative")
    if np.any(labels < 0):
        raise ValueError("masks must be >= 0 (0 = background, k = object k)")
    n = g.shape[0]
    return g.reshape(n, -1, g.shape[-1]), labels.reshape(n, -1).astype(np.int64)


def normalised_influence(influence: ArrayLike) -> NDArray[np.float64]:
    """``G_hat = G / sum_k G`` over the last (slot) axis; pixels that no slot influences get
    the uniform ``1/K`` (they carry no slot information)."""
    g = as_real_array(influence, "influence")
    total = g.sum(-1, keepdims=True)
    uniform = np.full_like(g, 1.0 / g.shape[-1])
    return np.divide(g, total, out=uniform, where=total > 0)


def jacobian_ari(influence: ArrayLike, masks: ArrayLike) -> float:
    """J-ARI (``docs/interaction_asymmetry.md#j-ari``): adjusted Rand index of ``argmax_k G`` against the true object labels
    on ground-truth foreground pixels, per image, averaged over images.

    Background pixels (mask 0) are dropped before the ARI, FG-ARI style; a foreground pixel
    attributed to the "background" slot counts as one more cluster. Images without foreground
    pixels are skipped; scikit-learn's ``adjusted_rand_score`` gives 1 when both labelings
    put all pixels in one cluster (an image with one visible object and one owning slot).
    Pixels that no slot influences have ``argmax`` 0 (slot 0).

    Example:
        >>> g = np.array([[[1.0, 0.0], [0.9, 0.1], [0.0, 2.0], [0.5, 0.5]]])
        >>> jacobian_ari(g, np.array([[1, 1, 2, 0]]))
        1.0
    """
    g, labels = _influence_and_masks(influence, masks)
    scores = []
    for image, truth in zip(g, labels, strict=True):
        foreground = truth > 0
        if not foreground.any():
            continue
        scores.append(adjusted_rand_score(truth[foreground], image[foreground].argmax(-1)))
    if not scores:
        raise ValueError("masks have no foreground pixel (label > 0) in any image")
    return float(np.mean(scores))


def jacobian_interaction_score(influence: ArrayLike, masks: ArrayLike) -> float:
    """JIS (``docs/interaction_asymmetry.md#jis``): ``(m - 1/K) / (1 - 1/K)`` with ``m`` the mean of ``max_k G_hat`` over
    the ground-truth foreground pixels of all images pooled.

    1 iff every foreground pixel depends on exactly one slot; 0 for uniform influence. The
    pool is every image passed: the official evaluation pools per batch and averages the
    batches, so call this per batch to reproduce it exactly. Pixels that no slot influences
    count as uniform (``1/K``), where the official code would divide by zero.

    Example:
        >>> g = np.array([[[1.0, 0.0], [1.0, 1.0], [3.0, 1.0]]])
        >>> jacobian_interaction_score(g, np.array([[1, 1, 0]]))
        0.5
    """
    g, labels = _influence_and_masks(influence, masks)
    foreground = labels > 0
    if not foreground.any():
        raise ValueError("masks have no foreground pixel (label > 0) in any image")
    n_slots = g.shape[-1]
    m = float(normalised_influence(g[foreground]).max(-1).mean())
    return (m - 1.0 / n_slots) / (1.0 - 1.0 / n_slots)


# ----------------------------------------------------------------------------- slot R^2
@dataclass(frozen=True, eq=False)
class SlotR2Result:
    """Outcome of :meth:`SlotReadout.score` and :func:`slot_r2`.

    Attributes:
        score: mean over latent factors of the R^2 (``per_factor``).
        per_factor: ``(F,)`` R^2 of each factor over all matched (object, slot) pairs (NaN
            for a factor that is constant on the scored rows).
        assignment: ``(n, max_objects)`` slot matched to each true object of each scored row
            (-1 for absent objects).
    """

    score: float
    per_factor: NDArray[np.float64]
    assignment: NDArray[np.int64]

    def __float__(self) -> float:
        return self.score


def _make_readout(readout: str, alpha: float):
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.linear_model import LinearRegression, Ridge

    if readout == "linear":
        return LinearRegression() if alpha == 0 else Ridge(alpha=alpha)
    if readout == "kernel_ridge":
        return KernelRidge(alpha=max(alpha, 1e-6), kernel="rbf")
    raise ValueError(f"readout must be 'linear' or 'kernel_ridge'; received {readout!r}")


def _match(prediction: np.ndarray, truth: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per row, Hungarian matching of present objects to slots on squared L2 distance.

    prediction ``(n, K, F)`` (every slot read out), truth ``(n, M, F)``; standardised units.
    Returns ``(n, M)`` slot indices (-1 for absent objects).
    """
    n, n_objects = truth.shape[:2]
    assignment = np.full((n, n_objects), -1, dtype=np.int64)
    cost = np.sum((truth[:, :, None, :] - prediction[:, None, :, :]) ** 2, axis=-1)  # (n, M, K)
    for row in range(n):
        objects = np.flatnonzero(present[row])
        if objects.size == 0:
            continue
        rows, cols = linear_sum_assignment(cost[row, objects])
        assignment[row, objects[rows]] = cols
    return assignment


def _slot_arrays(slots, latents, present):
    s = as_real_array(slots, "slots")
    z = as_real_array(latents, "latents")
    if s.ndim != 3 or z.ndim != 3:
        raise ValueError(
            f"slots must be (n, K, d) and latents (n, M, F); received {s.shape} and {z.shape}"
        )
    if s.shape[0] != z.shape[0]:
        raise ValueError(f"slots and latents need the same n; received {s.shape[0]}, {z.shape[0]}")
    if z.shape[1] > s.shape[1]:
        raise ValueError(
            f"latents must have at most as many objects ({z.shape[1]}) as slots ({s.shape[1]})"
        )
    present_arr = np.ones(z.shape[:2], bool) if present is None else np.asarray(present)
    if present_arr.dtype != np.bool_ or present_arr.shape != z.shape[:2]:
        raise ValueError(f"present must be a bool array of shape {z.shape[:2]}")
    if not np.all(np.isfinite(s)) or not np.all(np.isfinite(z[present_arr])):
        raise ValueError("slots and the present rows of latents must be finite")
    return s, z, present_arr


@dataclass(frozen=True, eq=False)
class SlotReadout:
    """A readout from one slot ``(d,)`` to one object's latents ``(F,)``, fitted with the
    slot-to-object matching by :func:`fit_slot_readout`; apply it unchanged to other data
    (held-out ID rows, OOD rows) with :meth:`score`.

    Attributes:
        model: the fitted scikit-learn regressor (standardised slots -> standardised latents).
        slot_mean, slot_std: ``(d,)`` slot standardisation (fitting data).
        latent_mean, latent_std: ``(F,)`` latent standardisation (fitting data).
        n_iterations: fit-and-match rounds used.
        converged: whether the fitting matching stopped changing.
    """

    model: object
    slot_mean: NDArray[np.float64]
    slot_std: NDArray[np.float64]
    latent_mean: NDArray[np.float64]
    latent_std: NDArray[np.float64]
    n_iterations: int
    converged: bool

    def _predict_standardised(self, s: np.ndarray) -> np.ndarray:
        flat = ((s - self.slot_mean) / self.slot_std).reshape(-1, s.shape[2])
        return self.model.predict(flat).reshape(s.shape[0], s.shape[1], -1)

    def predict(self, slots: ArrayLike) -> NDArray[np.float64]:
        """Read out every slot: ``(n, K, d) -> (n, K, F)`` in the latents' units."""
        s = as_real_array(slots, "slots")
        if s.ndim != 3 or s.shape[2] != self.slot_mean.shape[0]:
            raise ValueError(
                f"slots must have shape (n, K, {self.slot_mean.shape[0]}); received {s.shape}"
            )
        return self._predict_standardised(s) * self.latent_std + self.latent_mean

    def score(
        self, slots: ArrayLike, latents: ArrayLike, present: ArrayLike | None = None
    ) -> SlotR2Result:
        """Match each row's present objects to slots (Hungarian on the squared distance of
        standardised truth and readout) and report the R^2 of each factor over all pairs."""
        s, z, present_arr = _slot_arrays(slots, latents, present)
        if s.shape[2] != self.slot_mean.shape[0] or z.shape[2] != self.latent_mean.shape[0]:
            raise ValueError(
                f"slots/latents must have {self.slot_mean.shape[0]}/{self.latent_mean.shape[0]} "
                f"features like the fitting data; received {s.shape[2]}/{z.shape[2]}"
            )
        if not present_arr.any():
            raise ValueError("present must mark at least one object")
        prediction = self._predict_standardised(s)
        z_std = (z - self.latent_mean) / self.latent_std
        assignment = _match(prediction, z_std, present_arr)
        rows, objects = np.nonzero(present_arr)
        predicted = prediction[rows, assignment[rows, objects]]
        true = z_std[rows, objects]
        residual = np.sum((true - predicted) ** 2, axis=0)
        spread = np.sum((true - true.mean(0)) ** 2, axis=0)
        # R^2 is invariant to a common affine map, so standardised units give the same values
        per_factor = np.full(spread.shape, np.nan)
        np.divide(residual, spread, out=per_factor, where=spread > 0)
        per_factor = np.where(spread > 0, 1.0 - per_factor, np.nan)
        score = float(np.nanmean(per_factor)) if np.any(spread > 0) else float("nan")
        return SlotR2Result(score, per_factor, assignment)


def fit_slot_readout(
    slots: ArrayLike,
    latents: ArrayLike,
    present: ArrayLike | None = None,
    *,
    readout: str = "linear",
    alpha: float = 0.0,
    max_iter: int = 20,
    max_fit_pairs: int = 5000,
    seed: int = 0,
) -> SlotReadout:
    """Fit a slot readout together with the slot-to-object matching (``docs/interaction_asymmetry.md#slot-r2``).

    Unsupervised slots are not ordered like the true objects, so starting from a random
    distinct slot per object, alternate (1) fitting the readout on the matched (slot, object)
    pairs (at most ``max_fit_pairs``, subsampled) and (2) re-matching each row's present
    objects to distinct slots by the Hungarian algorithm on the squared distance between the
    standardised truth and the readout of every slot, until the matching stops changing or
    ``max_iter`` rounds. Random pairs already carry the right direction (about a fraction
    ``1/K`` of them are correct) and the standardisation undoes the shrinkage, so the
    alternation locks on quickly.

    Args:
        slots: ``(n, K, d)`` inferred slots.
        latents: ``(n, M, F)`` true per-object latents (``M <= K``).
        present: ``(n, M)`` bool; default all objects present.
        readout: ``"linear"`` (least squares; ``alpha > 0``: ridge) or ``"kernel_ridge"``
            (RBF kernel on standardised slots, ridge ``alpha``); Wiedemer et al. (2024) use kernel
            ridge or an MLP.
        seed: seeds the initial matching and the pair subsample.
    """
    s, z, present_arr = _slot_arrays(slots, latents, present)
    for name, value in (("max_iter", max_iter), ("max_fit_pairs", max_fit_pairs)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; received {value!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or alpha < 0:
        raise ValueError(f"alpha must be a float >= 0; received {alpha!r}")
    _make_readout(readout, float(alpha))
    truth_rows = z[present_arr]
    if truth_rows.shape[0] < 2:
        raise ValueError("latents must hold at least 2 present objects to fit a readout")
    latent_mean, latent_std = truth_rows.mean(0), truth_rows.std(0)
    latent_std = np.where(latent_std > 0, latent_std, 1.0)
    slot_rows = s.reshape(-1, s.shape[2])
    slot_mean, slot_std = slot_rows.mean(0), slot_rows.std(0)
    slot_std = np.where(slot_std > 0, slot_std, 1.0)
    s_std = (s - slot_mean) / slot_std
    z_std = (z - latent_mean) / latent_std
    rng = np.random.default_rng(seed)
    assignment = np.argsort(rng.random(s.shape[:2]), axis=1)[:, : z.shape[1]]
    assignment = np.where(present_arr, assignment, -1)
    rows, objects = np.nonzero(present_arr)
    converged, iteration, model = False, 0, None
    for iteration in range(1, max_iter + 1):  # noqa: B007
        inputs = s_std[rows, assignment[rows, objects]]
        targets = z_std[rows, objects]
        if inputs.shape[0] > max_fit_pairs:
            keep = rng.choice(inputs.shape[0], max_fit_pairs, replace=False)
            inputs, targets = inputs[keep], targets[keep]
        model = _make_readout(readout, float(alpha)).fit(inputs, targets)
        prediction = model.predict(s_std.reshape(-1, s.shape[2])).reshape(*s.shape[:2], -1)
        new = _match(prediction, z_std, present_arr)
        if np.array_equal(new, assignment):
            converged = True
            break
        assignment = new
    return SlotReadout(model, slot_mean, slot_std, latent_mean, latent_std, iteration, converged)


def slot_r2(
    slots: ArrayLike,
    latents: ArrayLike,
    present: ArrayLike | None = None,
    *,
    fit_rows: ArrayLike,
    eval_rows: ArrayLike,
    **readout_options,
) -> SlotR2Result:
    """Slot R^2 with Hungarian matching (Wiedemer et al. 2024; ``docs/interaction_asymmetry.md#slot-r2``): fit the readout on
    ``fit_rows`` (:func:`fit_slot_readout`, ``readout_options`` passed on) and score it on
    ``eval_rows`` (:meth:`SlotReadout.score`). For ID vs OOD, fit once on ID data and call
    :meth:`SlotReadout.score` on each test set.
    """
    s, z, present_arr = _slot_arrays(slots, latents, present)
    n = s.shape[0]
    fit = _rows(fit_rows, n, "fit_rows")
    evaluate = _rows(eval_rows, n, "eval_rows")
    model = fit_slot_readout(s[fit], z[fit], present_arr[fit], **readout_options)
    return model.score(s[evaluate], z[evaluate], present_arr[evaluate])


def _rows(value: ArrayLike, n: int, name: str) -> NDArray[np.int64]:
    rows = np.asarray(value)
    if rows.dtype == np.bool_:
        if rows.shape != (n,):
            raise ValueError(f"{name} as a bool mask must have shape ({n},); got {rows.shape}")
        rows = np.flatnonzero(rows)
    elif rows.dtype.kind in "iu" and rows.ndim == 1:
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise ValueError(f"{name} must index rows in [0, {n}); received out-of-range values")
        rows = rows % n
    else:
        raise TypeError(f"{name} must be 1-D integer indices or a bool mask; got {rows.dtype}")
    if rows.size == 0:
        raise ValueError(f"{name} must select at least one row")
    return rows.astype(np.int64)


# ----------------------------------------------------------------------------- reconstruction
def reconstruction_metrics(images: ArrayLike, reconstructions: ArrayLike) -> dict[str, float]:
    """Reconstruction error (``docs/interaction_asymmetry.md#reconstruction``) for ID vs OOD comparisons.

    Args:
        images, reconstructions: ``(n, ...)`` arrays of the same shape and scale (e.g. floats
            in ``[0, 1]``).

    Returns:
        ``sse_per_image`` (the training loss's sum of squared errors, averaged over images),
        ``mse`` (per value) and ``r2``, the variance-weighted image R^2
        ``1 - sum (x - x_hat)^2 / sum (x - mean_images x)^2`` (scikit-learn's
        ``r2_score(..., multioutput="variance_weighted")`` on flattened images).

    Example:
        >>> x = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> reconstruction_metrics(x, x)["r2"], reconstruction_metrics(x, x * 0.5)["mse"]
        (1.0, 0.125)
    """
    x = as_real_array(images, "images")
    x_hat = as_real_array(reconstructions, "reconstructions")
    if x.shape != x_hat.shape or x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(
            f"images and reconstructions must share a shape (n >= 2, ...); received "
            f"{x.shape} and {x_hat.shape}"
        )
    x, x_hat = x.reshape(x.shape[0], -1), x_hat.reshape(x.shape[0], -1)
    squared = (x - x_hat) ** 2
    spread = float(np.sum((x - x.mean(0)) ** 2))
    sse = float(squared.sum())
    return {
        "sse_per_image": sse / x.shape[0],
        "mse": float(squared.mean()),
        "r2": 1.0 - sse / spread if spread > 0 else float("nan"),
    }
