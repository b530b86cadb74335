"""Tests of the synthetic mechanism-sparsity generators (``docs/mechanism_sparsity.md#synthetic-data``,
``docs/mechanism_sparsity.md#exact-sanity-values`` and the data entries of
``docs/mechanism_sparsity.md#where-we-differ-from-the-original-code-and-why``)."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from latentgraph.data import (
    GRAPH_NAMES,
    MECHANISM_DATASETS,
    k2_variance,
    list_mechanism_datasets,
    make_mechanism_dataset,
    mixing_function,
    named_graph,
    random_graph,
    sines_action_mean,
    sines_temporal_mean,
)

N = 2000
SPLITS = ("train", "valid", "test")

# docs/mechanism_sparsity.md#exact-sanity-values: number of edges of every named data set / graph.
EDGE_COUNTS = {
    "action_sparsity_trivial": 10,
    "action_sparsity_non_trivial": 20,
    "action_sparsity_non_trivial_k=2": 20,
    "action_sparsity_non_trivial_no_suff_var": 20,
    "action_sparsity_non_trivial_no_graph_crit": 20,
    "temporal_sparsity_trivial": 10,
    "temporal_sparsity_non_trivial": 55,
    "temporal_sparsity_non_trivial_k=2": 55,
    "temporal_sparsity_non_trivial_no_suff_var": 55,
    "temporal_sparsity_non_trivial_no_graph_crit": 50,
    "graph_action_3_easy": 10,
    "graph_action_3_hard": 12,
    "graph_temporal_3_easy": 20,
    "graph_temporal_3_hard": 32,
}
# docs/mechanism_sparsity.md#exact-sanity-values: nnz of the entanglement graph E.
ENTANGLEMENT_NNZ = {
    "action_sparsity_trivial": 10,
    "action_sparsity_non_trivial": 10,
    "action_sparsity_non_trivial_no_graph_crit": 20,
    "temporal_sparsity_trivial": 10,
    "temporal_sparsity_non_trivial": 10,
    "temporal_sparsity_non_trivial_no_graph_crit": 50,
    "graph_action_3_easy": 20,
    "graph_action_3_hard": 24,
    "graph_temporal_3_easy": 20,
    "graph_temporal_3_hard": 24,
}


@functools.cache
def make(name: str, **kwargs):
    return make_mechanism_dataset(name, n_samples=kwargs.pop("n_samples", N), **kwargs)


def is_action(name: str) -> bool:
    return name.startswith(("action", "graph_action"))


def entanglement(graph: np.ndarray, temporal: bool) -> np.ndarray:
    """Matrix form of docs/mechanism_sparsity.md#entanglement-graph: E[j, i] = 1 iff z_j may appear in z_hat_i."""
    e = graph @ (1 - graph).T == 0
    if temporal:
        e &= graph.T @ (1 - graph) == 0
    return e


def recomputed_clean_x(ds, split: str) -> np.ndarray:
    """(f(z) - train mean) / train std, with f rebuilt from the mixing seed alone."""
    f = mixing_function(ds.n_latents, ds.n_obs, ds.info["seeds"]["mixing_seed"])
    stats = ds.info["standardisation"]
    return (f(ds.split(split)["z"]) - np.array(stats["mean"])) / np.array(stats["std"])


# ---------------------------------------------------------------------------------- registry
def test_registry_lists_exactly_the_spec_names():
    prefixes = ("action_sparsity_", "temporal_sparsity_")
    suffixes = (
        "trivial",
        "non_trivial",
        "non_trivial_k=2",
        "non_trivial_no_suff_var",
        "non_trivial_no_graph_crit",
    )
    expected = {p + s for p in prefixes for s in suffixes} | set(GRAPH_NAMES)
    assert set(list_mechanism_datasets()) == expected
    assert len(list_mechanism_datasets()) == 14
    assert all(isinstance(text, str) and text for text in MECHANISM_DATASETS.values())


# ---------------------------------------------------------------------------------- graphs
@pytest.mark.parametrize("name", sorted(EDGE_COUNTS))
def test_edge_counts_of_named_graphs_and_datasets(name):
    graph = named_graph(name)
    assert graph.dtype == np.int8
    assert set(np.unique(graph)) <= {0, 1}
    assert int(graph.sum()) == EDGE_COUNTS[name]
    ds = make(name)
    key = "action_graph" if is_action(name) else "latent_graph"
    assert list(ds.graphs) == [key]
    np.testing.assert_array_equal(ds.graphs[key], graph)
    assert ds.info["graph"]["n_edges"] == EDGE_COUNTS[name]
    expected_shape = (10, 5) if name.startswith("graph_action") else (10, 10)
    assert graph.shape == expected_shape


@pytest.mark.parametrize("name", sorted(ENTANGLEMENT_NNZ))
def test_entanglement_sanity_values(name):
    e = entanglement(named_graph(name).astype(int), temporal=not is_action(name))
    assert int(e.sum()) == ENTANGLEMENT_NNZ[name]
    if name.endswith("_hard"):  # z_0, z_1 may leak into z_hat_8, z_hat_9
        assert e[0, 8] and e[0, 9] and e[1, 8] and e[1, 9]
        assert not e[8, 0]


def test_graph_entries_match_the_spec_definitions():
    g = named_graph("action_sparsity_non_trivial")
    for i in range(10):
        assert g[i, i] == 1 and g[i, (i - 1) % 10] == 1  # z_i <- {a_i, a_{i-1 mod 10}}
    assert g[0, 9] == 1 and g[0, 1] == 0
    g = named_graph("temporal_sparsity_non_trivial")
    assert all(g[i, j] == (1 if j <= i else 0) for i in range(10) for j in range(10))
    g = named_graph("graph_action_3_hard")
    assert g[8, 0] == 1 and g[9, 0] == 1 and g[8, 4] == 1 and g[2, 1] == 1 and g[2, 0] == 0
    g = named_graph("graph_temporal_3_hard")
    assert g[0, 8] == g[1, 9] == g[8, 4] == g[9, 5] == g[9, 1] == 1
    assert g[8, 2] == 0 and g[2, 8] == 0
    g = named_graph("temporal_sparsity_non_trivial_no_graph_crit")
    assert g[:5, :5].all() and g[5:, 5:].all() and not g[:5, 5:].any()


def test_named_graph_rejects_bad_input():
    with pytest.raises(ValueError, match="name"):
        named_graph("graph_action_4")
    with pytest.raises(TypeError, match="name"):
        named_graph(3)
    with pytest.raises(ValueError, match="n_latents"):
        named_graph("graph_temporal_3_easy", n_latents=8)
    with pytest.raises(ValueError, match="n_latents"):
        named_graph("action_sparsity_non_trivial_no_graph_crit", n_latents=7)
    assert named_graph("temporal_sparsity_non_trivial", n_latents=4).sum() == 10


def test_random_temporal_graph_has_forced_diagonal():
    graphs = [random_graph("temporal", 10, None, 0.1, seed) for seed in range(20)]
    for g in graphs:
        assert g.shape == (10, 10) and g.dtype == np.int8
        np.testing.assert_array_equal(np.diag(g), 1)
    off = np.concatenate([g[~np.eye(10, dtype=bool)] for g in graphs])
    assert 0.05 < off.mean() < 0.15  # Bernoulli(0.1) off the diagonal
    assert not all(np.array_equal(graphs[0], g) for g in graphs[1:])
    np.testing.assert_array_equal(graphs[3], random_graph("temporal", 10, None, 0.1, 3))
    assert random_graph("action", 10, 4, 1.0, 0).all()


def test_random_action_graph_keeps_and_counts_empty_rows():
    found = False
    for seed in range(20):
        ds = make("action_sparsity_non_trivial", graph_density=0.1, graph_seed=seed, n_samples=200)
        g = ds.graphs["action_graph"]
        np.testing.assert_array_equal(g, random_graph("action", 10, None, 0.1, seed))
        empty = np.flatnonzero(g.sum(axis=1) == 0)
        assert ds.info["graph"]["n_empty_rows"] == empty.size
        assert ds.info["graph"]["source"] == "random" and ds.info["graph"]["density"] == 0.1
        if empty.size:
            found = True
            z = ds.split("train")["z"][:, 0, empty]
            # mean 0, std 0.01 (docs/mechanism_sparsity.md#empty-action-rows)
            assert np.abs(z).max() < 0.06
    assert found


def test_random_graph_in_temporal_dataset():
    ds = make("temporal_sparsity_non_trivial", graph_density=0.2, graph_seed=4)
    g = ds.graphs["latent_graph"]
    np.testing.assert_array_equal(np.diag(g), 1)
    np.testing.assert_array_equal(g, random_graph("temporal", 10, None, 0.2, 4))
    assert ds.info["graph"]["n_edges"] == int(g.sum()) != 55


@pytest.mark.parametrize(
    "name",
    [
        "action_sparsity_trivial",
        "action_sparsity_non_trivial_k=2",
        "temporal_sparsity_non_trivial_no_suff_var",
        "graph_action_3_easy",
    ],
)
def test_graph_density_only_with_non_trivial(name):
    with pytest.raises(ValueError, match="graph_density"):
        make_mechanism_dataset(name, n_samples=100, graph_density=0.5)


# ---------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("name", sorted(EDGE_COUNTS))
def test_shapes_and_dtypes(name):
    ds = make(name)
    action = is_action(name)
    n_actions = (5 if name.startswith("graph_action") else 10) if action else 0
    n_steps = 1 if action else 2
    assert ds.kind == ("action" if action else "temporal")
    assert (ds.n_latents, ds.n_obs, ds.n_actions, ds.n_steps) == (10, 20, n_actions, n_steps)
    sizes = {"train": 1600, "valid": 200, "test": 200}
    assert ds.info["split_sizes"] == sizes
    for split in SPLITS:
        arrays = ds.split(split)
        n = sizes[split]
        assert set(arrays) == ({"x", "z", "actions"} if action else {"x", "z"})
        assert arrays["x"].shape == (n, n_steps, 20) and arrays["x"].dtype == np.float32
        assert arrays["z"].shape == (n, n_steps, 10) and arrays["z"].dtype == np.float32
        if action:
            assert arrays["actions"].shape == (n, n_actions)
            assert arrays["actions"].dtype == np.float32
            assert np.abs(arrays["actions"]).max() <= 2.0
        assert np.isfinite(arrays["x"]).all() and np.isfinite(arrays["z"]).all()


def test_split_sizes_for_smallest_and_default_sizes():
    ds = make_mechanism_dataset("action_sparsity_trivial", n_samples=10)
    assert ds.info["split_sizes"] == {"train": 8, "valid": 1, "test": 1}
    ds = make_mechanism_dataset(
        "action_sparsity_trivial", n_samples=11, split_fractions=(0.6, 0.2, 0.2)
    )
    assert ds.info["split_sizes"] == {"train": 7, "valid": 2, "test": 2}
    assert make("action_sparsity_trivial").info["split_sizes"] == {
        "train": 1600,
        "valid": 200,
        "test": 200,
    }


# ---------------------------------------------------------------------------------- seeds
def test_same_seeds_same_data():
    a = make_mechanism_dataset("action_sparsity_non_trivial_k=2", n_samples=300, data_seed=5)
    b = make_mechanism_dataset("action_sparsity_non_trivial_k=2", n_samples=300, data_seed=5)
    for split in SPLITS:
        for key in ("x", "z", "actions"):
            np.testing.assert_array_equal(a.split(split)[key], b.split(split)[key])
    assert a.info == b.info


def test_mixing_seed_changes_f_only():
    a = make("temporal_sparsity_non_trivial", mixing_seed=1)
    b = make("temporal_sparsity_non_trivial", mixing_seed=2)
    np.testing.assert_array_equal(a.graphs["latent_graph"], b.graphs["latent_graph"])
    for split in SPLITS:
        np.testing.assert_array_equal(a.split(split)["z"], b.split(split)["z"])
        assert np.abs(a.split(split)["x"] - b.split(split)["x"]).mean() > 0.1
    f1, f2 = mixing_function(10, 20, 1), mixing_function(10, 20, 2)
    z = np.random.default_rng(0).standard_normal((5, 10))
    assert not np.allclose(f1(z), f2(z))


def test_graph_seed_changes_random_graphs_and_a_matrix_only():
    a = make("action_sparsity_non_trivial", graph_density=0.5, graph_seed=0)
    b = make("action_sparsity_non_trivial", graph_density=0.5, graph_seed=1)
    assert not np.array_equal(a.graphs["action_graph"], b.graphs["action_graph"])
    np.testing.assert_array_equal(a.split("train")["actions"], b.split("train")["actions"])
    # A named graph ignores graph_seed entirely.
    c = make("action_sparsity_non_trivial", graph_seed=0)
    d = make("action_sparsity_non_trivial", graph_seed=1)
    np.testing.assert_array_equal(c.split("test")["x"], d.split("test")["x"])
    # no_suff_var: graph_seed redraws A but not the graph.
    e = make("temporal_sparsity_non_trivial_no_suff_var", graph_seed=0)
    g = make("temporal_sparsity_non_trivial_no_suff_var", graph_seed=1)
    np.testing.assert_array_equal(e.graphs["latent_graph"], g.graphs["latent_graph"])
    assert not np.allclose(e.info["linear_weights"], g.info["linear_weights"])
    np.testing.assert_array_equal(e.split("train")["z"][:, 0], g.split("train")["z"][:, 0])
    assert not np.allclose(e.split("train")["z"][:, 1], g.split("train")["z"][:, 1])


def test_data_seed_changes_samples_not_f_or_graph():
    a = make("action_sparsity_non_trivial", data_seed=0)
    b = make("action_sparsity_non_trivial", data_seed=1)
    np.testing.assert_array_equal(a.graphs["action_graph"], b.graphs["action_graph"])
    for split in SPLITS:
        assert not np.allclose(a.split(split)["actions"], b.split(split)["actions"])
        assert not np.allclose(a.split(split)["z"], b.split(split)["z"])
    # f is the same: both are explained by the mixing seed's f up to the 0.01 noise.
    for ds in (a, b):
        residual = ds.split("train")["x"] - recomputed_clean_x(ds, "train")
        assert 0.008 < residual.std() < 0.012


@pytest.mark.parametrize(
    "name",
    [
        "action_sparsity_trivial",
        "action_sparsity_non_trivial_no_suff_var",
        "temporal_sparsity_non_trivial",
        "temporal_sparsity_non_trivial_no_suff_var",
        "graph_action_3_hard",
    ],
)
def test_every_variant_shares_f(name):
    """docs/mechanism_sparsity.md#dedicated-mixing-stream: x = standardised f(z) + N(0, 0.01^2) with f from the mixing seed alone."""
    ds = make(name)
    for split in SPLITS:
        residual = ds.split(split)["x"] - recomputed_clean_x(ds, split)
        assert 0.008 < residual.std() < 0.012


# ------------------------------------- shared-action-draws-across-splits, per-split-standardisation
@pytest.mark.parametrize("name", ["action_sparsity_non_trivial", "temporal_sparsity_trivial"])
def test_standardisation_uses_train_statistics(name):
    ds = make(name)
    stats = ds.info["standardisation"]
    assert stats["statistics_from"] == "train"
    train_x = ds.split("train")["x"].reshape(-1, 20).astype(np.float64)
    np.testing.assert_allclose(train_x.mean(axis=0), 0.0, atol=0.003)
    np.testing.assert_allclose(train_x.std(axis=0), 1.0, atol=0.003)
    f = mixing_function(10, 20, ds.info["seeds"]["mixing_seed"])
    clean_train = f(ds.split("train")["z"]).reshape(-1, 20)
    np.testing.assert_allclose(stats["mean"], clean_train.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats["std"], clean_train.std(axis=0), rtol=1e-4)
    for split in ("valid", "test"):
        # With the split's own statistics, the per-dimension bias would be ~0.07 here.
        residual = ds.split(split)["x"] - recomputed_clean_x(ds, split)
        assert np.abs(residual.reshape(-1, 20).mean(axis=0)).max() < 0.005
        assert 0.008 < residual.std() < 0.012
        split_x = ds.split(split)["x"].reshape(-1, 20)
        assert np.abs(split_x.mean(axis=0)).max() > 0.01  # not re-centred per split


def test_valid_and_test_actions_are_fresh_draws():
    ds = make("action_sparsity_non_trivial")
    train = ds.split("train")["actions"]
    train_values = set(train[:, 0].tolist())
    for split in ("valid", "test"):
        actions = ds.split(split)["actions"]
        assert not np.array_equal(actions, train[: len(actions)])
        assert not set(actions[:, 0].tolist()) & train_values
    assert not np.array_equal(ds.split("valid")["actions"], ds.split("test")["actions"])
    # a ~ U(-2, 2): mean 0, variance 4/3.
    assert abs(train.mean()) < 0.05 and abs(train.var() - 4 / 3) < 0.05


def test_temporal_initial_state_is_standard_normal():
    z0 = make("temporal_sparsity_non_trivial").split("train")["z"][:, 0]
    assert abs(z0.mean()) < 0.03 and abs(z0.std() - 1.0) < 0.03


# ---------------------------------------------------------------------------------- means
def test_action_mean_hand_computed():
    a = np.array([[0.3, -1.2, 1.7, 0.5, -0.4, 2.0, -2.0, 0.0, 1.1, -0.9]])
    mu = sines_action_mean(a, named_graph("action_sparsity_non_trivial"))
    # latent 3: w_3 = 6 / pi, phi_3 = 3, parents a_3 and a_2
    expected_3 = math.sin(6 / math.pi * 0.5 + 3) + math.sin(6 / math.pi * 1.7 + 3)
    # latent 0: w_0 = 3 / pi, phi_0 = 0, parents a_0 and a_9
    expected_0 = math.sin(3 / math.pi * 0.3) + math.sin(3 / math.pi * -0.9)
    assert mu[0, 3] == pytest.approx(expected_3, abs=1e-12)
    assert mu[0, 0] == pytest.approx(expected_0, abs=1e-12)
    trivial = sines_action_mean(a, named_graph("action_sparsity_trivial"), trivial=True)
    np.testing.assert_allclose(trivial[0], np.sin(a[0]), atol=1e-12)


def test_temporal_mean_hand_computed():
    z = np.array([[0.3, -1.2, 1.7, 0.5, -0.4, 2.0, -2.0, 0.0, 1.1, -0.9]])
    mu = sines_temporal_mean(z, named_graph("temporal_sparsity_non_trivial"))
    # latent 2: w_2 = 5 / pi, phi_2 = 2, parents z_0, z_1, z_2
    expected = 1.7 + 0.5 * sum(math.sin(5 / math.pi * v + 2) for v in (0.3, -1.2, 1.7))
    assert mu[0, 2] == pytest.approx(expected, abs=1e-12)
    trivial = sines_temporal_mean(z, named_graph("temporal_sparsity_trivial"), trivial=True)
    np.testing.assert_allclose(trivial[0], z[0] + 0.5 * np.sin(z[0]), atol=1e-12)


@pytest.mark.parametrize(
    ("name", "formula"),
    [
        ("action_sparsity_trivial", lambda a: np.sin(a)),
        (
            "action_sparsity_non_trivial",
            lambda a: (
                np.sin((np.arange(10) + 3) / np.pi * a + np.arange(10))
                + np.sin((np.arange(10) + 3) / np.pi * np.roll(a, 1, axis=1) + np.arange(10))
            ),
        ),
        ("temporal_sparsity_trivial", lambda z: z + 0.5 * np.sin(z)),
        (
            "graph_temporal_3_easy",
            lambda z: (
                z
                + 0.5
                * (
                    np.sin((np.arange(10) + 3) / np.pi * z + np.arange(10))
                    + np.sin(
                        (np.arange(10) + 3) / np.pi * z[:, [1, 0, 3, 2, 5, 4, 7, 6, 9, 8]]
                        + np.arange(10)
                    )
                )
            ),
        ),
    ],
)
def test_samples_follow_the_mean_function(name, formula):
    ds = make(name)
    train = ds.split("train")
    parents = train["actions"] if is_action(name) else train["z"][:, 0]
    residual = train["z"][:, -1].astype(np.float64) - formula(parents.astype(np.float64))
    assert abs(residual.mean()) < 0.002
    assert 0.009 < residual.std() < 0.011  # latent noise std 0.01


@pytest.mark.parametrize("kind", ["action", "temporal"])
def test_no_suff_var_means_are_linear(kind):
    ds = make(f"{kind}_sparsity_non_trivial_no_suff_var")
    key = "action_graph" if kind == "action" else "latent_graph"
    weights = np.array(ds.info["linear_weights"])
    assert np.all(weights[ds.graphs[key] == 0] == 0) and np.all(weights[ds.graphs[key] == 1] != 0)
    train = ds.split("train")
    if kind == "action":
        mean = train["actions"] @ weights.T
    else:
        z0 = train["z"][:, 0].astype(np.float64)
        mean = z0 + 0.5 * z0 @ weights.T
    residual = train["z"][:, -1] - mean
    assert 0.009 < residual.std() < 0.011


@pytest.mark.parametrize("kind", ["action", "temporal"])
def test_k2_variance_formula(kind):
    name = f"{kind}_sparsity_non_trivial_k=2"
    graph = named_graph(name)
    # hand-computed for one input, latent 3 (parents 2, 3 for actions; 0..3 for time)
    u = np.array([[0.3, -1.2, 1.7, 0.5, -0.4, 2.0, -2.0, 0.0, 1.1, -0.9]])
    parents = (2, 3) if kind == "action" else (0, 1, 2, 3)
    expected = 0.01 * math.exp(sum(math.cos(6 / math.pi * u[0, j] + 3) for j in parents))
    assert k2_variance(u, graph)[0, 3] == pytest.approx(expected, rel=1e-12)
    # the samples have that variance
    train = make(name).split("train")
    inputs = (train["actions"] if kind == "action" else train["z"][:, 0]).astype(np.float64)
    mean = (sines_action_mean if kind == "action" else sines_temporal_mean)(inputs, graph)
    standardised = (train["z"][:, -1] - mean) / np.sqrt(k2_variance(inputs, graph))
    assert abs(standardised.std() - 1.0) < 0.03
    assert np.abs(train["z"][:, -1] - mean).std() > 0.05  # far above the fixed std 0.01


# ---------------------------------------------------------------------------------- mixing
def test_mixing_function_structure():
    f = mixing_function(10, 20, 265542)
    w1, w2, w3, w4 = f.weights
    assert w1.shape == (10, 20) and w4.shape == (20, 20)
    gram = w1 @ w1.T
    np.testing.assert_allclose(gram, gram[0, 0] * np.eye(10), atol=1e-12)  # orthogonal rows
    for w in (w2, w3, w4):
        np.testing.assert_allclose(w.T @ w, (w.T @ w)[0, 0] * np.eye(20), atol=1e-12)
    z = np.random.default_rng(1).standard_normal((4, 3, 10))
    out = f(z)
    assert out.shape == (4, 3, 20)
    np.testing.assert_allclose(f(2.5 * z), 2.5 * out, atol=1e-12)  # positively homogeneous
    assert not np.allclose(f(-z), -out)  # but not linear
    np.testing.assert_array_equal(out, mixing_function(10, 20, 265542)(z))
    with pytest.raises(ValueError, match="n_obs"):
        mixing_function(10, 5, 0)
    with pytest.raises(ValueError, match="z"):
        f(np.zeros((2, 9)))


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"name": "action_sparsity"}, ValueError, "name.*action_sparsity_trivial"),
        ({"name": 3}, TypeError, "name"),
        ({"n_samples": 9}, ValueError, "n_samples"),
        ({"n_samples": 1e6}, TypeError, "n_samples.*float"),
        ({"n_samples": True}, TypeError, "n_samples"),
        ({"n_samples": 10, "split_fractions": (0.9, 0.09, 0.01)}, ValueError, "n_samples"),
        ({"split_fractions": (0.8, 0.1, 0.2)}, ValueError, "split_fractions.*sum"),
        ({"split_fractions": (0.9, 0.2, -0.1)}, ValueError, "split_fractions"),
        ({"split_fractions": (0.8, 0.2)}, ValueError, "split_fractions"),
        ({"split_fractions": "abc"}, TypeError, "split_fractions"),
        ({"mixing_seed": -1}, ValueError, "mixing_seed"),
        ({"graph_seed": 1.5}, TypeError, "graph_seed"),
        ({"data_seed": "0"}, TypeError, "data_seed"),
        ({"graph_density": 0.0}, ValueError, "graph_density"),
        ({"graph_density": 1.5}, ValueError, "graph_density"),
        ({"graph_density": "0.5"}, TypeError, "graph_density"),
        ({"n_obs": 5}, ValueError, "n_obs"),
        ({"name": "graph_temporal_3_hard", "n_latents": 8}, ValueError, "n_latents"),
    ],
)
def test_invalid_arguments(kwargs, error, pattern):
    kwargs = {"name": "action_sparsity_non_trivial", "n_samples": 100, **kwargs}
    with pytest.raises(error, match=pattern):
        make_mechanism_dataset(kwargs.pop("name"), **kwargs)


def test_other_sizes_are_supported():
    ds = make_mechanism_dataset("temporal_sparsity_non_trivial", n_samples=50, n_latents=4, n_obs=6)
    assert ds.split("train")["x"].shape == (40, 2, 6)
    assert ds.graphs["latent_graph"].sum() == 10
