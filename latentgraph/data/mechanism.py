"""Synthetic data sets of the mechanism-sparsity experiments.

Action data (T = 1): a ~ U(-2, 2)^{n_actions}, z ~ N(mu(a), sigma^2), x = f(z).
Temporal data (T = 2): z^0 ~ N(0, I), z^1 ~ N(mu(z^0), sigma^2), x^t = f(z^t).
Then x is standardised with the *train* mean/std (``docs/mechanism_sparsity.md#per-split-standardisation``) and receives N(0, 0.01^2) noise.

Randomness comes from three independent, explicit seeds:

- ``mixing_seed``: the mixing function f only, so every variant shares f (``docs/mechanism_sparsity.md#dedicated-mixing-stream``);
- ``graph_seed``: random graphs (``graph_density``) and the matrix A of ``*_no_suff_var``;
- ``data_seed``: the samples; train/valid/test use independent streams spawned from
  ``np.random.SeedSequence(data_seed)`` (valid/test actions are fresh draws, ``docs/mechanism_sparsity.md#shared-action-draws-across-splits``).

Reference: Lachapelle et al., "Nonparametric Partial Disentanglement via Mechanism Sparsity",
arXiv 2401.04890, Sec. 8; ``docs/mechanism_sparsity.md#synthetic-data``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentgraph.data._checks import (
    SPLIT_NAMES,
    check_fraction,
    check_int,
    check_seed,
    check_split_fractions,
    describe,
    split_sizes,
)
from latentgraph.data.dataset import Dataset
from latentgraph.data.mixing import MixingMLP, mixing_function
from latentgraph.data.transitions import (
    LATENT_VARIANCE,
    k2_variance,
    linear_action_mean,
    linear_temporal_mean,
    sines_action_mean,
    sines_temporal_mean,
)
from latentgraph.data.true_graphs import named_graph, random_graph

__all__ = [
    "MECHANISM_DATASETS",
    "list_mechanism_datasets",
    "make_mechanism_dataset",
    "mixing_function",
    "named_graph",
    "random_graph",
]

OBS_NOISE_STD = 0.01
ACTION_RANGE = (-2.0, 2.0)
DEFAULT_MIXING_SEED = 265542
_CHUNK_ROWS = 1 << 16  # rows per vectorised chunk when mixing and adding noise


@dataclass(frozen=True)
class _Variant:
    kind: str  # "action" | "temporal"
    mean: str  # "sines" | "sines_unit" (w = 1, phi = 0) | "linear"
    variance: str  # "fixed" (1e-4) | "k2"
    description: str


MECHANISM_DATASETS: dict[str, str] = {}
_VARIANTS: dict[str, _Variant] = {}


def _register(name: str, variant: _Variant) -> None:
    MECHANISM_DATASETS[name] = variant.description
    _VARIANTS[name] = variant


for _kind, _parents, _graphs in (
    (
        "action",
        "a ~ U(-2, 2)",
        ("G^a = I (10 edges)", "G^a = I + cyclic shift (20 edges)", "five 2x2 blocks (20 edges)"),
    ),
    (
        "temporal",
        "z^0 ~ N(0, I)",
        ("G^z = I (10 edges)", "G^z lower-triangular (55 edges)", "two 5x5 blocks (50 edges)"),
    ),
):
    _prefix = f"{_kind}_sparsity"
    _register(
        f"{_prefix}_trivial",
        _Variant(_kind, "sines_unit", "fixed", f"{_parents}; {_graphs[0]}; unit-frequency sines"),
    )
    _register(
        f"{_prefix}_non_trivial",
        _Variant(_kind, "sines", "fixed", f"{_parents}; {_graphs[1]}; sum of sines"),
    )
    _register(
        f"{_prefix}_non_trivial_k=2",
        _Variant(_kind, "sines", "k2", f"{_parents}; {_graphs[1]}; sines, parent-dependent var"),
    )
    _register(
        f"{_prefix}_non_trivial_no_suff_var",
        _Variant(_kind, "linear", "fixed", f"{_parents}; {_graphs[1]}; linear mean (A ⊙ G)"),
    )
    _register(
        f"{_prefix}_non_trivial_no_graph_crit",
        _Variant(_kind, "sines", "fixed", f"{_parents}; {_graphs[2]}; criterion violated"),
    )
_register(
    "graph_action_3_easy",
    _Variant("action", "sines", "fixed", "a ~ U(-2, 2)^5; z_{2k}, z_{2k+1} <- a_k (10 edges)"),
)
_register(
    "graph_action_3_hard",
    _Variant("action", "sines", "fixed", "graph_action_3_easy plus z_8, z_9 <- a_0 (12 edges)"),
)
_register(
    "graph_temporal_3_easy",
    _Variant("temporal", "sines", "fixed", "z^0 ~ N(0, I); five 2x2 blocks (20 edges)"),
)
_register(
    "graph_temporal_3_hard",
    _Variant("temporal", "sines", "fixed", "graph_temporal_3_easy plus 12 cross edges (32)"),
)

# Names accepting ``graph_density`` (the official code asserts the same).
_RANDOM_GRAPH_NAMES = ("action_sparsity_non_trivial", "temporal_sparsity_non_trivial")


def list_mechanism_datasets() -> list[str]:
    """Names accepted by :func:`make_mechanism_dataset`."""
    return list(MECHANISM_DATASETS)


def make_mechanism_dataset(
    name: str,
    *,
    n_samples: int = 1_000_000,
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    mixing_seed: int = DEFAULT_MIXING_SEED,
    graph_seed: int = 0,
    data_seed: int = 0,
    graph_density: float | None = None,
    n_latents: int = 10,
    n_obs: int = 20,
) -> Dataset:
    """Generate one of the mechanism-sparsity synthetic data sets
    (``docs/mechanism_sparsity.md#synthetic-data``, with the fixes listed there).

    Args:
        name: one of :func:`list_mechanism_datasets`.
        n_samples: total rows, split by ``split_fractions`` (train, valid, test).
        split_fractions: three positive fractions summing to 1.
        mixing_seed: seed of the mixing function f (shared by every variant).
        graph_seed: seed of the random graph and of the no_suff_var matrix A.
        data_seed: seed of the samples (independent per-split streams).
        graph_density: if given, replace the true graph by a random one with Bernoulli(p)
            entries (temporal: diagonal forced to 1; action: empty rows kept, counted in
            ``info["graph"]["n_empty_rows"]``). Only for ``action_sparsity_non_trivial`` and
            ``temporal_sparsity_non_trivial``.
        n_latents: latent dimension (10 in the paper; the ``graph_*`` data need 10).
        n_obs: observed dimension, also the hidden width of f; must be >= ``n_latents``.

    Returns:
        A :class:`Dataset` with float32 ``x`` ``(n, T, n_obs)``, ``z`` ``(n, T, n_latents)``
        and, for action data, ``actions`` ``(n, n_actions)``; the true ``action_graph`` or
        ``latent_graph``; ``info`` with seeds, split sizes and the train standardisation stats.

    Example:
        >>> ds = make_mechanism_dataset("temporal_sparsity_trivial", n_samples=100)
        >>> ds.split("train")["x"].shape, int(ds.graphs["latent_graph"].sum())
        ((80, 2, 20), 10)
    """
    # ---- validate everything before any work
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a str, got {describe(name)}")
    if name not in _VARIANTS:
        raise ValueError(f"`name` must be one of {list_mechanism_datasets()}, got {name!r}")
    variant = _VARIANTS[name]
    n_samples = check_int(n_samples, "n_samples", minimum=10)
    fractions = check_split_fractions(split_fractions)
    sizes = split_sizes(n_samples, fractions)
    mixing_seed = check_seed(mixing_seed, "mixing_seed")
    graph_seed = check_seed(graph_seed, "graph_seed")
    data_seed = check_seed(data_seed, "data_seed")
    if graph_density is not None:
        graph_density = check_fraction(graph_density, "graph_density")
        if name not in _RANDOM_GRAPH_NAMES:
            raise ValueError(
                f"`graph_density` is only valid with {list(_RANDOM_GRAPH_NAMES)}, "
                f"got graph_density={graph_density!r} with name={name!r}"
            )
    n_latents = check_int(n_latents, "n_latents", minimum=1)
    n_obs = check_int(n_obs, "n_obs", minimum=1)
    if n_obs < n_latents:
        raise ValueError(f"`n_obs` must be >= n_latents={n_latents}, got {n_obs}")

    # ---- ground truth: graph (graph_seed), f (mixing_seed)
    if graph_density is None:
        graph = named_graph(name, n_latents=n_latents)
    else:
        graph = random_graph(
            variant.kind,
            n_latents,
            n_latents if variant.kind == "action" else None,
            graph_density,
            graph_seed,
        )
    linear_weights = None
    if variant.mean == "linear":
        a_matrix = np.random.default_rng(graph_seed).standard_normal(graph.shape)
        linear_weights = a_matrix * graph
    f = mixing_function(n_latents, n_obs, mixing_seed)

    # ---- pass 1: latents and clean observations, one independent stream per split
    streams = {
        split: np.random.default_rng(child)
        for split, child in zip(
            SPLIT_NAMES, np.random.SeedSequence(data_seed).spawn(len(SPLIT_NAMES)), strict=True
        )
    }
    splits: dict[str, dict[str, np.ndarray]] = {}
    for split in SPLIT_NAMES:
        splits[split] = _sample_split(
            variant, graph, linear_weights, f, sizes[split], streams[split]
        )

    # ---- pass 2: standardise with TRAIN statistics, then add observation noise
    train_x = splits["train"]["x"].reshape(-1, n_obs)
    mean = train_x.mean(axis=0, dtype=np.float64)
    std = train_x.std(axis=0, dtype=np.float64)
    # a single action-data train row has std 0: keep unit scale, as load_npz does
    std[std == 0] = 1.0
    for split in SPLIT_NAMES:
        _standardise_and_add_noise(splits[split]["x"], mean, std, streams[split])

    graph_key = "action_graph" if variant.kind == "action" else "latent_graph"
    info = {
        "kind": variant.kind,
        "generator": "latentgraph.data.make_mechanism_dataset",
        "name": name,
        "description": MECHANISM_DATASETS[name],
        "seeds": {"mixing_seed": mixing_seed, "graph_seed": graph_seed, "data_seed": data_seed},
        "n_samples": n_samples,
        "split_fractions": list(fractions),
        "split_sizes": sizes,
        "n_latents": n_latents,
        "n_obs": n_obs,
        "n_actions": int(graph.shape[1]) if variant.kind == "action" else 0,
        "n_steps": 1 if variant.kind == "action" else 2,
        "graph": {
            "source": "named" if graph_density is None else "random",
            "name": name if graph_density is None else None,
            "density": graph_density,
            "n_edges": int(graph.sum()),
            "n_empty_rows": int((graph.sum(axis=1) == 0).sum()),
        },
        "mean_function": variant.mean,
        "variance": variant.variance,
        "latent_noise_std": float(np.sqrt(LATENT_VARIANCE))
        if variant.variance == "fixed"
        else None,
        "obs_noise_std": OBS_NOISE_STD,
        "standardisation": {
            "statistics_from": "train",
            "mean": mean.tolist(),
            "std": std.tolist(),
        },
    }
    if variant.kind == "action":
        info["action_range"] = list(ACTION_RANGE)
    if linear_weights is not None:
        info["linear_weights"] = linear_weights.tolist()
    return Dataset(name=name, splits=splits, graphs={graph_key: graph}, info=info)


def _sample_split(
    variant: _Variant,
    graph: np.ndarray,
    linear_weights: np.ndarray | None,
    f: MixingMLP,
    n: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Latents and clean (unstandardised) observations of one split; x is float32."""
    n_latents = graph.shape[0]
    if variant.kind == "action":
        parents = rng.uniform(*ACTION_RANGE, size=(n, graph.shape[1]))
        if variant.mean == "linear":
            mean = linear_action_mean(parents, linear_weights)
        else:
            mean = sines_action_mean(parents, graph, trivial=variant.mean == "sines_unit")
    else:
        parents = rng.standard_normal((n, n_latents))
        if variant.mean == "linear":
            mean = linear_temporal_mean(parents, linear_weights)
        else:
            mean = sines_temporal_mean(parents, graph, trivial=variant.mean == "sines_unit")
    if variant.variance == "k2":
        std = np.sqrt(k2_variance(parents, graph))
    else:
        std = np.sqrt(LATENT_VARIANCE)
    z_next = mean + std * rng.standard_normal((n, n_latents))
    del mean
    if variant.kind == "action":
        z = z_next[:, None, :]
        arrays = {"actions": parents.astype(np.float32)}
    else:
        z = np.stack([parents, z_next], axis=1)
        arrays = {}
    x = np.empty((n, z.shape[1], f.n_obs), dtype=np.float32)
    for start in range(0, n, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n)
        x[start:stop] = f(z[start:stop])
    arrays["x"] = x
    arrays["z"] = z.astype(np.float32)
    return arrays


def _standardise_and_add_noise(
    x: np.ndarray, mean: np.ndarray, std: np.ndarray, rng: np.random.Generator
) -> None:
    """In place: x <- (x - mean) / std + 0.01 * N(0, 1), chunk by chunk."""
    for start in range(0, x.shape[0], _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, x.shape[0])
        noise = rng.standard_normal(x[start:stop].shape)
        x[start:stop] = (x[start:stop] - mean) / std + OBS_NOISE_STD * noise
