"""Linear-Gaussian latent SCM: generator, NumPyro program, NUTS/SVI fits and their DataTree.

References checked against: closed-form moments vs empirical ones (generator), the program's
likelihood vs a row-by-row ``scipy.stats.multivariate_normal`` computation, the handler's
moments vs the numpy closed form, and NUTS vs SVI on the same data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
import scipy.stats
import xarray as xr
from numpyro import handlers
from numpyro.infer.util import log_likelihood

from latentgraph.data import (
    Dataset,
    context_index,
    linear_scm_moments,
    make_linear_scm_dataset,
)
from latentgraph.families.linear_scm import (
    LinearSCMPrior,
    convergence_summary,
    edge_diagnostics,
    edge_posterior,
    fit_nuts,
    fit_svi,
    intervened_model,
    linear_scm_inputs,
    linear_scm_model,
    perfect_intervention,
)
from latentgraph.families.linear_scm.mechanisms_numpyro import (
    LinearMechanisms,
    linear_mechanisms,
    observation_moments,
)
from latentgraph.families.linear_scm.posterior import importance_pareto_k
from latentgraph.graphs import EdgeBeliefs
from latentgraph.models.spike_slab_numpyro import SpikeAndSlabNormal


def truth(ds: Dataset) -> dict[str, np.ndarray]:
    info = ds.info
    return {
        "weights": np.asarray(info["weights"]),
        "noise_scale": np.asarray(info["noise_scale"]),
        "loc": np.asarray(info["intervention"]["loc"]),
        "scale": np.asarray(info["intervention"]["scale"]),
        "mixing": np.asarray(info["mixing_matrix"]),
        "obs_noise_scale": info["obs_noise_scale"],
    }


# ---------------------------------------------------------------------------------------------
# generator
@pytest.fixture(scope="module")
def big() -> Dataset:
    # 5 latents so that the graph has chains and colliders; large contexts for tight moments
    return make_linear_scm_dataset(
        n_latents=5, n_obs=7, n_per_context=6000, edge_density=0.7, graph_seed=3
    )


def test_generator_graph_is_a_weighted_dag(big):
    t = truth(big)
    graph = big.graphs["latent_graph"]
    assert nx.is_directed_acyclic_graph(nx.DiGraph(graph.T))  # [i, j] = 1 iff j -> i
    order = np.asarray(big.info["causal_order"])
    assert np.all(np.triu(t["weights"][np.ix_(order, order)]) == 0)
    np.testing.assert_array_equal(graph, t["weights"] != 0)
    assert graph.sum() == big.info["n_edges"] > 2
    magnitudes = np.abs(t["weights"][graph == 1])
    assert magnitudes.min() >= 0.5 and magnitudes.max() <= 1.5
    np.testing.assert_array_equal(big.graphs["action_graph"], np.eye(5))


def test_generator_contexts_and_targets(big):
    train = big.split("train")
    assert train["x"].shape == (6 * 4800, 1, 7)
    context = context_index(train["actions"])
    np.testing.assert_array_equal(np.bincount(context), [4800] * 6)
    assert big.info["contexts"][0] == "observational" and big.info["contexts"][3] == "do(z2)"


def test_generator_interventions_cut_parents(big):
    t = truth(big)
    z = big.split("train")["z"][:, 0].astype(np.float64)
    context = context_index(big.split("train")["actions"])
    n = 4800
    for k in range(5):
        zk = z[context == k + 1]
        # the target follows the intervention distribution N(2, 1) ...
        assert abs(zk[:, k].mean() - t["loc"][k]) < 4 * t["scale"][k] / np.sqrt(n)
        assert abs(zk[:, k].var() / t["scale"][k] ** 2 - 1) < 4 * np.sqrt(2 / n)
        # ... and is uncorrelated with its former parents
        for j in np.flatnonzero(t["weights"][k]):
            assert abs(np.corrcoef(zk[:, k], zk[:, j])[0, 1]) < 4 / np.sqrt(n)
        # while observationally the parents do matter
        parents = np.flatnonzero(t["weights"][k])
        if parents.size:
            z0 = z[context == 0]
            corr = [abs(np.corrcoef(z0[:, k], z0[:, j])[0, 1]) for j in parents]
            assert max(corr) > 0.2


def test_generator_moments_match_closed_form(big):
    t = truth(big)
    loc, cov = linear_scm_moments(
        t["weights"], t["noise_scale"], t["loc"], t["scale"], t["mixing"], t["obs_noise_scale"]
    )
    x = big.split("train")["x"][:, 0].astype(np.float64)
    context = context_index(big.split("train")["actions"])
    for c in range(6):
        rows = x[context == c]
        scale = np.sqrt(np.diag(cov[c]))
        assert np.all(np.abs(rows.mean(0) - loc[c]) < 5 * scale / np.sqrt(len(rows)))
        empirical = np.cov(rows.T)
        assert np.abs(empirical - cov[c]).max() / np.abs(cov[c]).max() < 0.06


def test_generator_seeds_are_separate():
    base = make_linear_scm_dataset(n_latents=3, n_obs=4, n_per_context=10)
    same = make_linear_scm_dataset(n_latents=3, n_obs=4, n_per_context=10)
    np.testing.assert_array_equal(base.split("test")["x"], same.split("test")["x"])
    other_mixing = make_linear_scm_dataset(n_latents=3, n_obs=4, n_per_context=10, mixing_seed=1)
    assert other_mixing.info["weights"] == base.info["weights"]
    assert other_mixing.info["mixing_matrix"] != base.info["mixing_matrix"]
    np.testing.assert_array_equal(other_mixing.split("test")["z"], base.split("test")["z"])


def test_generator_round_trips_through_save(tmp_path):
    ds = make_linear_scm_dataset(n_latents=3, n_obs=4, n_per_context=10)
    loaded = Dataset.load(ds.save(tmp_path / "lscm.npz"))
    assert loaded.info == ds.info
    np.testing.assert_array_equal(loaded.split("valid")["actions"], ds.split("valid")["actions"])


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"n_latents": True}, TypeError, "n_latents"),
        ({"n_latents": 4, "n_obs": 3}, ValueError, "n_obs"),
        ({"n_per_context": 2}, ValueError, "n_per_context"),
        ({"edge_density": 1.5}, ValueError, "edge_density"),
        ({"weight_range": (0.0, 1.0)}, ValueError, "weight_range"),
        ({"weight_range": "wide"}, TypeError, "weight_range"),
        ({"noise_scale_range": (2.0, 1.0)}, ValueError, "noise_scale_range"),
        ({"intervention_loc": 0.0}, ValueError, "intervention_loc"),
        ({"intervention_loc": [1.0, 2.0]}, ValueError, "intervention_loc"),
        ({"intervention_scale": -1.0}, ValueError, "intervention_scale"),
        ({"obs_noise_scale": float("nan")}, ValueError, "obs_noise_scale"),
        ({"graph_seed": -1}, ValueError, "graph_seed"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        make_linear_scm_dataset(**kwargs)


def test_context_index_rejects_multiple_targets():
    with pytest.raises(ValueError, match="at most one target"):
        context_index(np.array([[1.0, 1.0]]))


# ---------------------------------------------------------------------------------------------
# program pieces
def test_spike_and_slab_density_and_responsibility():
    prior = SpikeAndSlabNormal(0.3, 0.05, 1.0)
    w = jnp.array([-1.0, -0.1, 0.0, 0.02, 0.7])
    spike = 0.7 * scipy.stats.norm(0, 0.05).pdf(np.asarray(w))
    slab = 0.3 * scipy.stats.norm(0, 1.0).pdf(np.asarray(w))
    np.testing.assert_allclose(prior.log_prob(w), np.log(spike + slab), rtol=1e-5)
    np.testing.assert_allclose(prior.inclusion_probability(w), slab / (spike + slab), rtol=1e-5)
    draws = np.asarray(prior.sample(jax.random.key(0), (20000,)))
    np.testing.assert_allclose(draws.var(), 0.7 * 0.05**2 + 0.3 * 1.0, rtol=0.05)


def test_perfect_intervention_matches_numpy_moments():
    ds = make_linear_scm_dataset(n_latents=4, n_obs=6, n_per_context=10, graph_seed=5)
    t = truth(ds)
    inputs = linear_scm_inputs(ds)
    weights = jnp.asarray(t["weights"], jnp.float32)
    observational = LinearMechanisms(
        jnp.broadcast_to(weights, (5, 4, 4)),
        jnp.zeros((5, 4)),
        jnp.broadcast_to(jnp.asarray(t["noise_scale"], jnp.float32), (5, 4)),
    )

    def program():
        return linear_mechanisms("mechanisms", observational)

    intervened = perfect_intervention(
        program,
        targets=inputs.targets,
        loc=inputs.intervention_loc,
        scale=inputs.intervention_scale,
    )()
    loc, scale_tril = observation_moments(
        intervened, jnp.asarray(t["mixing"], jnp.float32), t["obs_noise_scale"]
    )
    expected_loc, expected_cov = linear_scm_moments(
        t["weights"], t["noise_scale"], t["loc"], t["scale"], t["mixing"], t["obs_noise_scale"]
    )
    np.testing.assert_allclose(loc, expected_loc, atol=1e-4)
    cov = np.asarray(scale_tril) @ np.swapaxes(np.asarray(scale_tril), -1, -2)
    np.testing.assert_allclose(cov, expected_cov, rtol=1e-4, atol=1e-4)
    # without the handler every context is observational
    loc0, _ = observation_moments(program(), jnp.asarray(t["mixing"], jnp.float32), 0.1)
    np.testing.assert_allclose(loc0, 0.0)


def test_model_likelihood_matches_scipy_rows():
    """Sufficient statistics give the row likelihood up to a parameter-free constant, so
    log-likelihood *differences* between parameter values must agree with scipy's."""
    ds = make_linear_scm_dataset(n_latents=3, n_obs=4, n_per_context=40, graph_seed=2)
    t = truth(ds)
    inputs = linear_scm_inputs(ds)
    model, args, kwargs = intervened_model(inputs, LinearSCMPrior())
    rng = np.random.default_rng(0)
    off = ~np.eye(3, dtype=bool)

    @jax.jit
    def ours(edge_weights, noise_scale, obs_noise_scale):
        params = {
            "edge_weights": edge_weights[None],
            "noise_scale": noise_scale[None],
            "obs_noise_scale": obs_noise_scale[None],
        }
        sites = log_likelihood(model, params, *args, **kwargs)
        return (sites["x_mean"] + sites["x_scatter"])[0]

    def reference(weights, noise_scale, obs_noise_scale):
        loc, cov = linear_scm_moments(
            weights, noise_scale, t["loc"], t["scale"], t["mixing"], obs_noise_scale
        )
        return np.array(
            [
                scipy.stats.multivariate_normal(loc[c], cov[c])
                .logpdf(inputs.x[inputs.context == c])
                .sum()
                for c in range(4)
            ]
        )

    candidates = [(t["weights"], t["noise_scale"], t["obs_noise_scale"])]
    for _ in range(3):
        weights = np.where(off, rng.normal(0, 0.4, (3, 3)), 0.0)
        candidates.append((weights, rng.uniform(0.5, 1.5, 3), rng.uniform(0.1, 0.5)))
    ours_values = np.stack(
        [
            np.asarray(ours(*(jnp.asarray(a, jnp.float32) for a in (w[off], s, o))), np.float64)
            for w, s, o in candidates
        ]
    )
    scipy_values = np.stack([reference(*c) for c in candidates])
    np.testing.assert_allclose(
        ours_values - ours_values[0], scipy_values - scipy_values[0], rtol=2e-4, atol=0.05
    )


def test_model_declares_the_documented_sites():
    seen = {}

    def site_shapes(key):
        trace = handlers.trace(handlers.seed(linear_scm_model, key)).get_trace(
            jnp.full(3, 10.0), n_latents=2, n_obs=3
        )
        seen.update({name: site["type"] for name, site in trace.items()})
        return {name: site["value"] for name, site in trace.items() if site["type"] == "sample"}

    shapes = jax.eval_shape(site_shapes, jax.random.key(0))  # traced, never compiled
    assert shapes["edge_weights"].shape == (2,)
    assert shapes["mixing"].shape == (3, 2)
    assert shapes["x_mean"].shape == (3, 3)
    assert shapes["x_scatter"].shape == (3, 3, 3)
    assert seen["mechanisms"] == "mechanism"


# ---------------------------------------------------------------------------------------------
# fits
@pytest.fixture(scope="module")
def small() -> Dataset:
    ds = make_linear_scm_dataset(n_latents=3, n_obs=5, n_per_context=500, graph_seed=4)
    assert 0 < ds.info["n_edges"] < 6
    return ds


@pytest.fixture(scope="module")
def nuts_tree(small) -> xr.DataTree:
    return fit_nuts(small, num_chains=2, num_warmup=300, num_samples=300, seed=1)


@pytest.fixture(scope="module")
def svi_tree(small) -> xr.DataTree:
    return fit_svi(small, steps=1500, seed=1, num_particles=1, num_samples=500)


def test_nuts_finds_the_true_edges(small, nuts_tree):
    beliefs = edge_posterior(nuts_tree)
    assert isinstance(beliefs, EdgeBeliefs) and beliefs.kind == "latent_to_latent"
    graph = small.graphs["latent_graph"].astype(bool)
    absent = ~graph & ~np.eye(3, dtype=bool)
    assert beliefs.probs[graph].min() >= 0.9
    assert beliefs.probs[absent].max() <= 0.1
    posterior_mean = nuts_tree["posterior"]["weights"].mean(("chain", "draw")).values
    np.testing.assert_allclose(posterior_mean, truth(small)["weights"], atol=0.15)


def test_nuts_tree_layout_and_diagnostics(nuts_tree):
    posterior = nuts_tree["posterior"]
    assert posterior["weights"].dims == ("chain", "draw", "child", "parent")
    assert posterior["edge_probability"].dims == ("chain", "draw", "child", "parent")
    assert list(posterior["child"].values) == ["z0", "z1", "z2"]
    assert dict(posterior.sizes)["chain"] == 2
    assert set(nuts_tree["sample_stats"].data_vars) >= {"diverging", "lp", "energy"}
    assert nuts_tree["observed_data"]["x_scatter"].dims == ("context", "observed", "observed_bis")
    diagnostics = edge_diagnostics(nuts_tree)
    assert 0.99 < diagnostics["max_rhat"] < 1.05
    assert diagnostics["min_ess_bulk"] > 100
    summary = convergence_summary(nuts_tree)
    assert len(summary) == 6 + 3 + 1  # off-diagonal weights, noise scales, obs noise
    assert "r_hat" in summary.columns and "ess_bulk" in summary.columns


def test_tree_round_trips_through_netcdf(nuts_tree, tmp_path):
    path = tmp_path / "posterior.nc"
    nuts_tree.to_netcdf(path, engine="h5netcdf")
    loaded = xr.open_datatree(path, engine="h5netcdf")
    np.testing.assert_allclose(edge_posterior(loaded).probs, edge_posterior(nuts_tree).probs)
    assert loaded.attrs["inference"] == "nuts" and loaded.attrs["mixing"] == "known"


def test_svi_agrees_with_nuts_on_edges(nuts_tree, svi_tree):
    nuts = edge_posterior(nuts_tree)
    svi = edge_posterior(svi_tree)
    np.testing.assert_array_equal(svi.adjacency(), nuts.adjacency())
    assert dict(svi_tree["posterior"].sizes)["chain"] == 1
    assert svi_tree["svi"]["loss"].size == 1500
    assert np.isfinite(importance_pareto_k(svi_tree))


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"num_chains": 0}, ValueError, "num_chains"),
        ({"num_warmup": 1.5}, TypeError, "num_warmup"),
        ({"chain_method": "threads"}, ValueError, "chain_method"),
        ({"mixing": "partly"}, ValueError, "mixing"),
        ({"mixing": np.ones((2, 2))}, ValueError, "mixing"),
        ({"prior": {"edge_prob": 0.3}}, TypeError, "prior"),
        ({"target_accept_prob": 1.0}, ValueError, "target_accept_prob"),
        ({"dense_mass": 1}, TypeError, "dense_mass"),
        ({"init_steps": -1}, ValueError, "init_steps"),
        ({"split": "holdout"}, ValueError, "split"),
    ],
)
def test_fit_nuts_rejects_bad_arguments(small, kwargs, error, name):
    with pytest.raises(error, match=name):
        fit_nuts(small, **kwargs)


def test_fits_reject_bad_data():
    with pytest.raises(TypeError, match="dataset"):
        fit_svi({"x": np.zeros((3, 2))})
    tiny = make_linear_scm_dataset(n_latents=2, n_obs=6, n_per_context=7)
    with pytest.raises(ValueError, match="more than n_obs=6 rows"):
        fit_svi(tiny)
    bare = make_linear_scm_dataset(n_latents=2, n_obs=2, n_per_context=50)
    del bare.info["mixing_matrix"]
    with pytest.raises(ValueError, match="mixing_matrix"):
        fit_svi(bare)
    with pytest.raises(ValueError, match="guide"):
        fit_svi(bare, mixing="learned", guide="flow")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"edge_prob": 1.0}, ValueError),
        ({"spike_scale": 2.0}, ValueError),
        ({"slab_scale": "1"}, TypeError),
        ({"noise_scale": -1.0}, ValueError),
    ],
)
def test_prior_rejects_bad_hyperparameters(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        LinearSCMPrior(**kwargs)
