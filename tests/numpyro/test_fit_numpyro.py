"""``latentgraph.inference.fit_numpyro.fit`` on user programs: a linear-Gaussian latent model
with a learned 3x4 action graph, a flax encoder, a conjugate Gaussian (exact posterior), exact
resume from a checkpoint, argument checks, and no torch on import."""

from __future__ import annotations

import subprocess
import sys

import arviz as az
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.contrib.module import flax_module
from numpyro.distributions import constraints
from numpyro.infer import TraceMeanField_ELBO

from latentgraph import EdgeBeliefs, mean_correlation
from latentgraph.inference.fit_numpyro import _learning_rates  # the one private piece under test

# a user program: everything else from the public namespace (written only with lgn.* names)
from latentgraph.numpyro import (
    EdgeConstrainedELBO,
    NumPyroFit,
    SVISettings,
    edge_mask,
    fit,
    make_optimizer,
    relaxed_edge_posterior,
)

N_LATENTS, N_ACTIONS, N_OBS = 3, 4, 6
TRUE_GRAPH = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=np.float32)
BOUND = 6.0  # the true edge count: the sparsest graph that explains the data


def simulate(n: int = 1024, seed: int = 0):
    """``z = (G * W) a + 0.3 eps``, ``x = A z + 0.1 eps'``: latents driven sparsely by actions."""
    rng = np.random.default_rng(seed)
    actions = rng.normal(size=(n, N_ACTIONS)).astype(np.float32)
    signs = rng.choice([-1.0, 1.0], size=TRUE_GRAPH.shape)
    weight = (signs * rng.uniform(1, 2, size=TRUE_GRAPH.shape) * TRUE_GRAPH).astype(np.float32)
    z = actions @ weight.T + 0.3 * rng.normal(size=(n, N_LATENTS)).astype(np.float32)
    mixing = rng.normal(size=(N_OBS, N_LATENTS)).astype(np.float32)
    x = z @ mixing.T + 0.1 * rng.normal(size=(n, N_OBS)).astype(np.float32)
    return {"x": x, "actions": actions}, z


def model(x, actions):
    graph = edge_mask("graph", jnp.zeros((N_LATENTS, N_ACTIONS)))  # flat edge prior
    weight = numpyro.param("weight", lambda k: 0.3 * jax.random.normal(k, graph.shape))
    mixing = numpyro.param("mixing", lambda k: 0.3 * jax.random.normal(k, (N_OBS, N_LATENTS)))
    latent_scale = numpyro.param(
        "latent_scale", jnp.ones(N_LATENTS), constraint=constraints.positive
    )
    noise = numpyro.param("noise_scale", 1.0, constraint=constraints.positive)
    with numpyro.plate("rows", x.shape[0]):
        z = numpyro.sample("z", dist.Normal(actions @ (graph * weight).T, latent_scale).to_event(1))
        numpyro.sample("x", dist.Normal(z @ mixing.T, noise).to_event(1), obs=x)


def guide(x, actions):
    logits = numpyro.param("graph_logits", jnp.full((N_LATENTS, N_ACTIONS), 3.0))
    relaxed_edge_posterior("graph", logits)
    encoder = numpyro.param("encoder", lambda k: 0.3 * jax.random.normal(k, (N_LATENTS, N_OBS)))
    scale = numpyro.param("z_scale", jnp.full(N_LATENTS, 0.5), constraint=constraints.positive)
    with numpyro.plate("rows", x.shape[0]):
        numpyro.sample("z", dist.Normal(x @ encoder.T, scale).to_event(1))


SETTINGS = dict(  # shared by the main fit and the resume test: one compiled chunk for both
    batch_size=64,
    lr=0.03,
    param_lrs={"graph_logits": 0.05},
    dual_lr=1.0,
    chunk_steps=50,
    log_every=50,
    progress=False,
)


def guide_means(params, data) -> np.ndarray:
    """The guide's latent means ``E_q[z | x]`` at ``params`` (None: the untrained guide)."""
    program = guide if params is None else handlers.substitute(guide, data=params)
    trace = handlers.trace(handlers.seed(program, 0)).get_trace(**data)
    return np.asarray(trace["z"]["fn"].base_dist.loc)


@pytest.fixture(scope="module")
def linear():
    data, z = simulate()
    result = fit(model, guide, data, steps=400, edge_bounds={"graph": BOUND}, seed=0, **SETTINGS)
    return data, z, result


def test_parameters_move_and_edge_count_ends_at_the_bound(linear):
    data, _, result = linear
    assert isinstance(result, NumPyroFit)
    params = result.params
    assert params["graph_logits"].min() < -3 and params["graph_logits"].max() > 5  # from 3
    assert abs(params["noise_scale"] - 1.0) > 0.5 and np.ptp(params["z_scale"]) > 0  # from 1, 0.5
    assert np.abs(params["weight"]).max() > 1.0  # from 0.3 * N(0, 1)
    last = result.history.rows[-1]
    assert last["step"] == 400
    assert {"loss", "neg_elbo", "edges_graph", "bound_graph", "multiplier_graph"} <= set(last)
    assert last["bound_graph"] == pytest.approx(BOUND)
    assert last["edges_graph"] == pytest.approx(BOUND, abs=0.3)
    assert result.edge_probabilities["graph"].sum() == pytest.approx(BOUND, abs=0.3)
    first = result.history.rows[0]
    assert first["bound_graph"] > last["bound_graph"]  # annealed from 12 possible edges
    assert last["neg_elbo"] < 0.5 * first["neg_elbo"]


def test_learned_latents_and_graph_match_the_truth(linear):
    data, z, result = linear
    trained = mean_correlation(z, guide_means(result.params, data))
    untrained = mean_correlation(z, guide_means(None, data))
    assert trained.score > 0.95 > untrained.score + 0.15
    # latents are identified up to a permutation: compare the graph in the truth's order
    learned = result.edges("graph").adjacency()[trained.permutation]
    np.testing.assert_array_equal(learned, TRUE_GRAPH)


def test_positive_parameters_are_optimised_unconstrained(linear):
    _, _, result = linear
    constrained = result.params["noise_scale"]
    unconstrained = np.asarray(result.state.params["noise_scale"])
    assert constrained > 0
    np.testing.assert_allclose(np.log(constrained), unconstrained, rtol=1e-5)
    assert unconstrained < 0  # the noise scale fell below 1, its initial value
    np.testing.assert_allclose(
        result.params["z_scale"], np.exp(result.state.params["z_scale"]), rtol=1e-6
    )  # float32 exp


def test_edges_and_posterior_tree(linear):
    data, _, result = linear
    beliefs = result.edges(
        "graph",
        child_role="latent",
        parent_role="action",
        child_names=("z0", "z1", "z2"),
        parent_names=("a0", "a1", "a2", "a3"),
    )
    assert isinstance(beliefs, EdgeBeliefs)
    assert beliefs.shape == (N_LATENTS, N_ACTIONS)
    np.testing.assert_allclose(beliefs.probs, result.edge_probabilities["graph"])
    batch = {k: v[:10] for k, v in data.items()}
    tree = result.posterior(batch, num_samples=30, dims={"graph": ("child", "parent")})
    posterior = tree.posterior
    assert posterior["graph"].dims == ("chain", "draw", "child", "parent")
    assert posterior["z"].dims == ("chain", "draw", "z_dim_0", "z_dim_1")
    assert posterior["z"].shape == (1, 30, 10, N_LATENTS)
    # the draws average to the guide's mean E_q[z], within 4 standard errors
    standard_error = result.params["z_scale"].max() / np.sqrt(30)
    np.testing.assert_allclose(
        posterior["z"].mean(("chain", "draw")),
        guide_means(result.params, batch),
        atol=4 * standard_error,
    )
    summary = az.summary(tree)
    assert len(summary) == N_LATENTS * N_ACTIONS + 10 * N_LATENTS
    assert np.isfinite(summary["mean"]).all()
    with pytest.raises(ValueError, match="dims"):
        result.posterior(batch, num_samples=2, dims={"z": ("obs",)})
    with pytest.raises(ValueError, match="name"):
        result.edges("z")


class Interrupted(Exception):
    pass


def test_resume_is_bit_identical(tmp_path):
    data, _ = simulate()
    common = dict(steps=200, edge_bounds={"graph": BOUND}, seed=3, **SETTINGS)
    straight = fit(model, guide, data, **common)

    def crash(_, step):
        if step == 150:
            raise Interrupted
        return {}

    path = tmp_path / "state.npz"
    resumable = dict(common, checkpoint=path, checkpoint_every=100, eval_every=50)
    with pytest.raises(Interrupted):
        fit(model, guide, data, evaluate=crash, **resumable)
    resumed = fit(model, guide, data, resume=True, **resumable)
    assert int(resumed.state.step) == 200
    for a, b in zip(jax.tree.leaves(straight.state), jax.tree.leaves(resumed.state), strict=True):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    drop = lambda rows: [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]  # noqa: E731
    assert drop(resumed.history.rows) == drop(straight.history.rows)
    with pytest.raises(ValueError, match="same settings"):
        fit(model, guide, data, resume=True, **dict(resumable, batch_size=32))
    with pytest.raises(ValueError, match="same settings"):
        fit(model, guide, data, resume=True, **dict(resumable, lr=0.01))


def test_flax_module_parameters_are_trained():
    data, _ = simulate(n=256)

    def flax_guide(x, actions):
        encoder = flax_module("encoder", nn.Dense(2 * N_LATENTS), input_shape=(1, N_OBS))
        loc, raw_scale = jnp.split(encoder(x), 2, axis=-1)
        with numpyro.plate("rows", x.shape[0]):
            numpyro.sample("z", dist.Normal(loc, jax.nn.softplus(raw_scale) + 1e-3).to_event(1))

    ones = {"graph": jnp.ones((N_LATENTS, N_ACTIONS))}  # a fixed dense graph, not a site
    dense_model = handlers.block(handlers.substitute(model, data=ones), hide=["graph"])

    kernels = []

    def record(current, step):
        kernels.append(np.array(current.params["encoder$params"]["kernel"]))
        return {"kernel_norm": float(np.linalg.norm(kernels[-1]))}

    result = fit(dense_model, flax_guide, data, steps=150, batch_size=32, lr=0.03, eval_every=50,
                 evaluate=record, progress=False)  # fmt: skip
    assert set(result.params["encoder$params"]) == {"kernel", "bias"}
    assert len(kernels) == 3 and np.abs(kernels[2] - kernels[0]).max() > 0.05
    assert [e["step"] for e in result.history.evaluations] == [50, 100, 150]
    rows = result.history.rows
    assert rows[-1]["neg_elbo"] < 0.5 * rows[0]["neg_elbo"]
    assert result.edge_probabilities == {}


def test_conjugate_gaussian_matches_the_exact_posterior():
    """``mu ~ N(0, 1)``, ``x_i ~ N(mu, 1)``: ``mu | x ~ N(sum(x) / (n + 1), 1 / (n + 1))``.
    All observations sit in one row, so every step sees the exact ELBO's estimator."""
    n = 20
    x = np.random.default_rng(1).normal(2.0, 1.0, size=(1, n)).astype(np.float32)

    def conjugate_model(x):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        with numpyro.plate("obs", x.shape[-1]):
            numpyro.sample("x", dist.Normal(mu, 1.0), obs=x[0])

    def conjugate_guide(x):
        loc = numpyro.param("loc", 0.0)
        scale = numpyro.param("scale", 1.0, constraint=constraints.positive)
        numpyro.sample("mu", dist.Normal(loc, scale))

    result = fit(conjugate_model, conjugate_guide, {"x": x}, steps=1500, batch_size=1, lr=0.05,
                 elbo=TraceMeanField_ELBO(num_particles=8), lr_decay="cosine", progress=False,
                 chunk_steps=500)  # fmt: skip
    assert result.params["loc"] == pytest.approx(x.sum() / (n + 1), abs=0.02)
    assert result.params["scale"] == pytest.approx((n + 1) ** -0.5, rel=0.1)


def test_lagrangian_term_by_hand():
    """Flat edge prior: the analytic edge KL is 0, so the loss is ``nu (sum sigma(2a) - B(t))``
    with the logits a function of the parameter, and ``B(t)`` 3/10 of the way from 6 to 2."""

    def edge_model():
        edge_mask("g", jnp.zeros((2, 3)))

    def edge_guide():
        relaxed_edge_posterior("g", 2.0 * numpyro.param("a", jnp.zeros((2, 3))))

    def build(bounded=("g",)):
        return EdgeConstrainedELBO(
            edge_model, edge_guide, TraceMeanField_ELBO(), {}, ("g",), bounded
        )

    a = jnp.array([[0.5, -1.0, 2.0], [0.0, 1.5, -0.5]])
    objective = build()
    hyper = objective.hyper(bounds={"g": 2.0}, possible_edges={"g": 6}, anneal_steps=10)
    loss, (defects, logs) = objective.loss(
        {"a": a}, jax.random.key(0), {}, jnp.asarray(3), {"g": jnp.asarray(0.7)}, hyper
    )
    edges = float(jax.nn.sigmoid(2 * a).sum())
    bound = 6 + (2 - 6) * 0.3
    assert float(logs["neg_elbo"]) == pytest.approx(0.0, abs=1e-6)
    assert float(logs["edges_g"]) == pytest.approx(edges, rel=1e-6)
    assert float(logs["bound_g"]) == pytest.approx(bound, rel=1e-6)
    assert float(defects["g"]) == pytest.approx(edges - bound, rel=1e-5)
    assert float(loss) == pytest.approx(0.7 * (edges - bound), rel=1e-5)
    # equal settings are one objective (one compiled chunk); other bounded sites are another
    assert objective == build() and hash(objective) == hash(build())
    assert objective != build(bounded=())


def test_param_lrs_give_each_group_its_adam_rate():
    """Adam's first step moves every entry by its rate (times the gradient's sign)."""
    names = ["graph_logits", "encoder", "mixing", "weight"]
    fields = _learning_rates({"graph*": 0.1, "enc*": 0.01, "*": 0.1}, names)
    settings = SVISettings(batch_size=1, lr=1e-3, **fields)
    params = {name: jnp.ones(2) for name in names}
    optimizer = make_optimizer(settings)
    updates, _ = optimizer.update(params, optimizer.init(params), params)  # gradient = 1
    steps = {name: float(-updates[name][0]) for name in names}
    assert steps == pytest.approx({"graph_logits": 0.1, "encoder": 0.01, "mixing": 0.1,
                                   "weight": 0.1}, rel=1e-4)  # fmt: skip
    one_rate = _learning_rates({"graph*": 0.1}, names)
    assert one_rate == {"graph_lr": 0.1, "graph_params": ("graph_logits",)}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": 5000}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"edge_bounds": {"graph": 13}}, "edge_bounds"),
        ({"edge_bounds": {"z": 2}}, "edge_bounds"),
        ({"edge_bounds": {"graph": -1}}, "edge_bounds"),
        ({"param_lrs": {"nothing*": 0.1}}, "param_lrs"),
        ({"param_lrs": {"graph_logits": 0}}, "param_lrs"),
        ({"resume": True}, "checkpoint"),
        ({"anneal_fraction": 1.5}, "anneal_fraction"),
        ({"dual_lr": float("nan")}, "dual_lr"),
        ({"lr_decay": "linear"}, "lr_decay"),
        ({"chunk_steps": 0}, "chunk_steps"),
        ({"data": {"x": np.zeros((8, N_OBS)), "actions": np.zeros((9, N_ACTIONS))}}, "data"),
        ({"data": {}}, "data"),
    ],
)
def test_bad_arguments_are_refused(change, match):
    data, _ = simulate(n=64)
    arguments = dict(data=data, steps=10, batch_size=8, lr=0.01, progress=False)
    arguments.update(change)
    with pytest.raises(ValueError, match=match):
        fit(model, guide, **arguments)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"model": None}, "model"),
        ({"data": [1, 2]}, "data"),
        ({"data": {"x": [1.0, 2.0]}}, "data"),
        ({"elbo": "elbo"}, "elbo"),
        ({"progress": 1}, "progress"),
        ({"evaluate": 3}, "evaluate"),
    ],
)
def test_bad_argument_types_are_refused(change, match):
    data, _ = simulate(n=64)
    arguments = dict(model=model, guide=guide, data=data, steps=10, batch_size=8, lr=0.01)
    arguments.update(change)
    with pytest.raises(TypeError, match=match):
        fit(**arguments)


def test_import_loads_no_torch():
    code = (
        "import sys, latentgraph.inference.fit_numpyro; "
        "assert 'torch' not in sys.modules and 'pyro' not in sys.modules, 'torch loaded'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
