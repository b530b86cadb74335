"""Linear-Gaussian latent causal models with known-target perfect interventions.

The generative process of linear causal disentanglement (Squires et al. 2023), with ``d`` latents
and ``p >= d`` observed dimensions:

.. math::

    z = W z + \\varepsilon, \\qquad \\varepsilon_i \\sim \\mathcal N(0, \\omega_i^2), \\qquad
    x = A z + \\eta, \\qquad \\eta \\sim \\mathcal N(0, \\sigma_x^2 I_p),

where ``W`` is a random DAG (strictly lower-triangular once the latents are put in a random
causal order) with weights ``|W_ij|`` in ``weight_range`` and random sign. There are ``d + 1``
contexts: context 0 is observational; context ``k + 1`` is the perfect (``do``) intervention
on ``z_k``: row ``k`` of ``W`` is cut and ``z_k ~ N(intervention_loc_k,
intervention_scale_k^2)`` (a known, stochastic intervention distribution). So in context ``c``

.. math::

    x \\mid c \\sim \\mathcal N\\bigl(A B_c \\mu_c,\\; A B_c \\Omega_c B_c^\\top A^\\top
    + \\sigma_x^2 I\\bigr), \\qquad B_c = (I - W_c)^{-1},

with ``W_c`` the cut weights, ``mu_c`` zero except the intervened entry and ``Omega_c`` the noise
variances with the intervened one replaced (:func:`linear_scm_moments`).

Why known intervention distributions: the latents are only defined up to a rescaling
``z_k -> a_k z_k`` (absorbed by ``A`` and ``W``); fixing the variance of ``z_k`` under its own
intervention pins ``|a_k|``, and a nonzero known mean pins the sign. With one perfect
intervention per latent the latent DAG and ``A`` are identifiable up to exactly these
rescalings and a relabelling of the latents (Squires et al. 2023: one intervention per latent
is sufficient, and necessary); known targets fix the labelling.

The mixing ``A`` is always drawn here and returned in ``info["mixing_matrix"]``; whether a model
treats it as known or learns it is the model's argument
(:func:`latentgraph.families.linear_scm.fit_nuts`), not the data's.

Storage in the :class:`Dataset`: ``x`` ``(n, 1, n_obs)``, ``z`` ``(n, 1, n_latents)`` and the
intervention targets as ``actions`` ``(n, n_latents)``: ``actions[r, k] = 1`` iff row ``r`` was
generated under ``do(z_k)``, all zeros for observational rows (:func:`context_index` turns them
into context indices). Hence ``graphs["action_graph"]`` is the identity (target ``k`` acts on
``z_k``) and ``graphs["latent_graph"][i, j] = 1`` iff ``z_j -> z_i`` (rows are children, as
everywhere in latentgraph); ``info["weights"]`` holds ``W`` in the same orientation.

Randomness: ``graph_seed`` draws the causal order, the edges, the weights and the noise
scales; ``mixing_seed`` draws ``A``; ``data_seed`` draws the samples (independent streams per
split and context, spawned from ``np.random.SeedSequence(data_seed)``).

Reference:
    C. Squires, A. Seigal, S. Bhate, C. Uhler, "Linear Causal Disentanglement via
    Interventions", ICML 2023 (arXiv 2211.16467).
"""

from __future__ import annotations

import numbers

import numpy as np

from latentgraph.data._checks import (
    SPLIT_NAMES,
    check_fraction,
    check_int,
    check_real_array,
    check_seed,
    check_split_fractions,
    describe,
    split_sizes,
)
from latentgraph.data.dataset import Dataset

__all__ = [
    "context_index",
    "linear_scm_moments",
    "make_linear_scm_dataset",
    "random_dag_weights",
]


def make_linear_scm_dataset(
    *,
    n_latents: int = 4,
    n_obs: int = 8,
    n_per_context: int = 1000,
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    edge_density: float = 0.5,
    weight_range: tuple[float, float] = (0.5, 1.5),
    noise_scale_range: tuple[float, float] = (0.5, 1.0),
    intervention_loc: float | np.ndarray = 2.0,
    intervention_scale: float | np.ndarray = 1.0,
    obs_noise_scale: float = 0.1,
    graph_seed: int = 0,
    data_seed: int = 0,
    mixing_seed: int = 0,
) -> Dataset:
    """A linear-Gaussian latent SCM observed through a linear mixing, in ``n_latents + 1``
    contexts (observational + one perfect intervention per latent); see the module docstring.

    Args:
        n_latents: number of latents ``d``.
        n_obs: observed dimension ``p``; must be ``>= n_latents`` (``A`` of full column rank).
        n_per_context: rows per context, split by ``split_fractions`` within every context, so
            every split holds every context.
        split_fractions: three positive fractions (train, valid, test) summing to 1.
        edge_density: probability of each edge allowed by the causal order, in (0, 1].
        weight_range: ``(low, high)`` with ``0 < low <= high``: ``|W_ij| ~ U(low, high)``,
            random sign.
        noise_scale_range: ``(low, high)`` with ``0 < low <= high``: observational noise
            standard deviations ``omega_i ~ U(low, high)``.
        intervention_loc: mean of ``z_k`` under ``do(z_k)``, a float or ``(n_latents,)``; must
            be nonzero (it fixes the sign of each latent).
        intervention_scale: standard deviation of ``z_k`` under ``do(z_k)``, positive float or
            ``(n_latents,)``.
        obs_noise_scale: ``sigma_x >= 0``, standard deviation of the observation noise.
        graph_seed: seed of the order, edges, weights and noise scales.
        data_seed: seed of the samples.
        mixing_seed: seed of ``A``, whose entries are i.i.d. ``N(0, 1)``.

    Returns:
        A :class:`Dataset` with ``kind="interventional"`` (see the module docstring for the
        arrays); ``info`` holds ``weights``, ``causal_order``, ``noise_scale``, ``intervention``
        (``loc``, ``scale``), ``mixing_matrix``, ``obs_noise_scale``, ``contexts`` (names),
        seeds and sizes.

    Example:
        >>> ds = make_linear_scm_dataset(n_latents=3, n_obs=5, n_per_context=20)
        >>> ds.split("train")["x"].shape, ds.split("train")["actions"].shape
        ((64, 1, 5), (64, 3))
        >>> ds.info["contexts"]
        ['observational', 'do(z0)', 'do(z1)', 'do(z2)']
    """
    # ---- validate everything before any work
    n_latents = check_int(n_latents, "n_latents", minimum=1)
    n_obs = check_int(n_obs, "n_obs", minimum=1)
    if n_obs < n_latents:
        raise ValueError(f"`n_obs` must be >= n_latents={n_latents}, got {n_obs}")
    n_per_context = check_int(n_per_context, "n_per_context", minimum=3)
    fractions = check_split_fractions(split_fractions)
    sizes = split_sizes(n_per_context, fractions, name="n_per_context")
    edge_density = check_fraction(edge_density, "edge_density")
    weight_low, weight_high = _check_range(weight_range, "weight_range")
    noise_low, noise_high = _check_range(noise_scale_range, "noise_scale_range")
    loc = _per_latent(intervention_loc, "intervention_loc", n_latents)
    if np.any(loc == 0.0):
        raise ValueError(
            "`intervention_loc` must be nonzero (it fixes the sign of each latent), "
            f"got {loc.tolist()}"
        )
    scale = _per_latent(intervention_scale, "intervention_scale", n_latents)
    if np.any(scale <= 0.0):
        raise ValueError(f"`intervention_scale` must be positive, got {scale.tolist()}")
    obs_noise_scale = _check_nonnegative(obs_noise_scale, "obs_noise_scale")
    graph_seed = check_seed(graph_seed, "graph_seed")
    data_seed = check_seed(data_seed, "data_seed")
    mixing_seed = check_seed(mixing_seed, "mixing_seed")

    # ---- ground truth
    graph_rng = np.random.default_rng(graph_seed)
    weights, order = random_dag_weights(
        n_latents, edge_density, (weight_low, weight_high), graph_rng
    )
    noise_scale = graph_rng.uniform(noise_low, noise_high, size=n_latents)
    mixing = np.random.default_rng(mixing_seed).standard_normal((n_obs, n_latents))
    graph = (weights != 0).astype(np.int8)

    # ---- samples: one stream per (split, context)
    n_contexts = n_latents + 1
    streams = np.random.SeedSequence(data_seed).spawn(len(SPLIT_NAMES) * n_contexts)
    splits: dict[str, dict[str, np.ndarray]] = {}
    for s, split in enumerate(SPLIT_NAMES):
        zs, xs, targets = [], [], []
        for context in range(n_contexts):
            rng = np.random.default_rng(streams[s * n_contexts + context])
            z = _sample_latents(weights, noise_scale, loc, scale, context, sizes[split], rng)
            noise = obs_noise_scale * rng.standard_normal((sizes[split], n_obs))
            xs.append(z @ mixing.T + noise)
            zs.append(z)
            target = np.zeros((sizes[split], n_latents))
            if context > 0:
                target[:, context - 1] = 1.0
            targets.append(target)
        splits[split] = {
            "x": np.concatenate(xs)[:, None, :].astype(np.float32),
            "z": np.concatenate(zs)[:, None, :].astype(np.float32),
            "actions": np.concatenate(targets).astype(np.float32),
        }

    info = {
        "kind": "interventional",
        "generator": "latentgraph.data.make_linear_scm_dataset",
        "seeds": {"graph_seed": graph_seed, "data_seed": data_seed, "mixing_seed": mixing_seed},
        "n_latents": n_latents,
        "n_obs": n_obs,
        "n_actions": n_latents,
        "n_steps": 1,
        "n_per_context": n_per_context,
        "split_fractions": list(fractions),
        "split_sizes_per_context": sizes,
        "contexts": ["observational", *(f"do(z{k})" for k in range(n_latents))],
        "edge_density": edge_density,
        "weight_range": [weight_low, weight_high],
        "n_edges": int(graph.sum()),
        "causal_order": order.tolist(),
        "weights": weights.tolist(),
        "noise_scale": noise_scale.tolist(),
        "intervention": {"kind": "perfect", "loc": loc.tolist(), "scale": scale.tolist()},
        "mixing_matrix": mixing.tolist(),
        "obs_noise_scale": obs_noise_scale,
    }
    return Dataset(
        name="linear_scm",
        splits=splits,
        graphs={"latent_graph": graph, "action_graph": np.eye(n_latents, dtype=np.int8)},
        info=info,
    )


def random_dag_weights(
    n_latents: int,
    edge_density: float,
    weight_range: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A random weighted DAG: ``(weights, order)``.

    ``order`` is a random permutation (``order[0]`` is a root); ``z_j -> z_i`` is allowed iff
    ``j`` comes before ``i`` in ``order`` and is present with probability ``edge_density``.
    ``weights[i, j]`` (row = child) is ``+-U(weight_range)`` on edges and 0 elsewhere, so
    ``weights[order][:, order]`` is strictly lower-triangular.
    """
    order = rng.permutation(n_latents)
    lower = np.tril(rng.random((n_latents, n_latents)) < edge_density, k=-1)
    magnitude = rng.uniform(*weight_range, size=(n_latents, n_latents))
    sign = rng.choice(np.array([-1.0, 1.0]), size=(n_latents, n_latents))
    weights = np.zeros((n_latents, n_latents))
    # position a in the order is latent order[a]; lower[a, b] (b < a) is order[b] -> order[a]
    weights[np.ix_(order, order)] = np.where(lower, sign * magnitude, 0.0)
    return weights, order


def linear_scm_moments(
    weights: np.ndarray,
    noise_scale: np.ndarray,
    intervention_loc: np.ndarray,
    intervention_scale: np.ndarray,
    mixing: np.ndarray,
    obs_noise_scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form mean and covariance of ``x`` in every context (numpy, float64).

    Returns ``(loc, cov)`` of shapes ``(d + 1, p)`` and ``(d + 1, p, p)``: context 0 is
    observational, context ``k + 1`` is ``do(z_k ~ N(intervention_loc[k],
    intervention_scale[k]^2))``. See the module docstring for the formula.
    """
    weights = np.asarray(weights, dtype=np.float64)
    d = weights.shape[0]
    mixing = np.asarray(mixing, dtype=np.float64)
    locs, covs = [], []
    for context in range(d + 1):
        cut = weights.copy()
        mean = np.zeros(d)
        std = np.array(noise_scale, dtype=np.float64)
        if context > 0:
            k = context - 1
            cut[k] = 0.0
            mean[k] = intervention_loc[k]
            std[k] = intervention_scale[k]
        total = mixing @ np.linalg.inv(np.eye(d) - cut)
        locs.append(total @ mean)
        covs.append(total @ np.diag(std**2) @ total.T + obs_noise_scale**2 * np.eye(len(mixing)))
    return np.stack(locs), np.stack(covs)


def context_index(actions: np.ndarray) -> np.ndarray:
    """Context of each row from intervention-target indicators ``(n, n_latents)``.

    Returns int ``(n,)``: 0 for observational rows (no target), ``k + 1`` for ``do(z_k)``.
    Rows with more than one target are rejected (this data has single-target interventions).

    Example:
        >>> context_index(np.array([[0, 0], [0, 1], [1, 0]], dtype=np.float32)).tolist()
        [0, 2, 1]
    """
    targets = check_real_array(actions, "actions", ndims=(2,), layout="(n, n_latents)")
    if not np.all((targets == 0) | (targets == 1)):
        raise ValueError("`actions` must hold 0/1 intervention-target indicators")
    counts = targets.sum(axis=1)
    if np.any(counts > 1):
        rows = np.flatnonzero(counts > 1)[:5].tolist()
        raise ValueError(
            f"`actions` rows must have at most one target, rows {rows} have more than one"
        )
    return np.where(counts == 0, 0, targets.argmax(axis=1) + 1).astype(np.int64)


def _sample_latents(
    weights: np.ndarray,
    noise_scale: np.ndarray,
    loc: np.ndarray,
    scale: np.ndarray,
    context: int,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``z = (I - W_c)^{-1} (mu_c + Omega_c^{1/2} eps)`` for ``n`` rows of one context."""
    d = weights.shape[0]
    cut = weights.copy()
    mean = np.zeros(d)
    std = noise_scale.copy()
    if context > 0:
        k = context - 1
        cut[k] = 0.0  # perfect intervention: the parents of z_k are cut ...
        mean[k] = loc[k]  # ... and z_k is redrawn from the known intervention distribution
        std[k] = scale[k]
    exogenous = mean + std * rng.standard_normal((n, d))
    # rows are samples: z^T = e^T (I - W_c)^{-T}
    return np.linalg.solve(np.eye(d) - cut, exogenous.T).T


def _check_range(value: object, name: str) -> tuple[float, float]:
    if (
        isinstance(value, (str, bytes))
        or not hasattr(value, "__len__")
        or len(value) != 2
        or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    ):
        raise TypeError(f"`{name}` must be a pair of floats (low, high), got {describe(value)}")
    low, high = float(value[0]), float(value[1])
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 < low <= high):
        raise ValueError(f"`{name}` must satisfy 0 < low <= high (finite), got {value!r}")
    return low, high


def _check_nonnegative(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float >= 0, got {describe(value)}")
    value = float(value)
    if not (np.isfinite(value) and value >= 0.0):
        raise ValueError(f"`{name}` must be a finite float >= 0, got {value!r}")
    return value


def _per_latent(value: object, name: str, n_latents: int) -> np.ndarray:
    """A float broadcast to ``(n_latents,)`` or an array of that shape."""
    if isinstance(value, bool):
        raise TypeError(f"`{name}` must be a float or an array (n_latents,), got {describe(value)}")
    array = check_real_array(value, name, ndims=(0, 1), layout=f"() or ({n_latents},)")
    if array.ndim == 1 and array.shape != (n_latents,):
        raise ValueError(f"`{name}` must have shape ({n_latents},), got {array.shape}")
    return np.broadcast_to(array, (n_latents,)).copy()
