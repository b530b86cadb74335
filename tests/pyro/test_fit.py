"""The generic Pyro ``fit`` on user programs: edge bounds, discovery, resume, analytic answers."""

import math

import arviz
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.distributions import constraints
from pyro.nn import PyroModule

# a user program: everything from the public namespace (issue: written only with lgp.* names)
from latentgraph.pyro import (
    edge_mask,
    fit,
    inspect_programs,
    load_checkpoint,
    relaxed_edge_posterior,
)

COEF = np.array([[1.5, -1.2, 0.8, 1.0], [0.9, 1.1, -1.4, 0.7], [-0.8, 1.3, 1.2, -1.6]])
MIXING = np.linalg.qr(np.random.default_rng(5).normal(size=(6, 3)))[0] * 2.0
N_ROWS = 512


def _data(seed=0):
    """Actions a (4) -> latents z (3) through a dense 3 x 4 graph, z -> observations x (6)."""
    rng = np.random.default_rng(seed)
    actions = rng.normal(size=(N_ROWS, 4))
    z = actions @ COEF.T + 0.5 * rng.normal(size=(N_ROWS, 3))
    x = z @ MIXING.T + 0.1 * rng.normal(size=(N_ROWS, 6))
    return {"x": x.astype(np.float32), "actions": actions.astype(np.float32)}, z


def linear_model(x, actions):
    """z = (M * B) a + noise with a 3 x 4 edge mask M (children z, parents a); x = C z + noise."""
    graph = edge_mask("graph", torch.zeros(3, 4))
    coef = pyro.param("coef", torch.zeros(3, 4))
    sigma = pyro.param("sigma", torch.tensor(1.0), constraint=constraints.positive)
    mixing = torch.as_tensor(MIXING, dtype=x.dtype)
    with pyro.plate("rows", x.shape[0]):
        z = pyro.sample("z", dist.Normal(actions @ (graph * coef).T, 0.5).to_event(1))
        pyro.sample("x", dist.Normal(z @ mixing.T, sigma).to_event(1), obs=x)


def linear_guide(x, actions):
    """Amortised linear encoder q(z | x) and relaxed edges q(M) with log-odds alpha."""
    relaxed_edge_posterior("graph", pyro.param("alpha", torch.full((3, 4), 3.0)))
    encoder = pyro.param("encoder", lambda: 0.1 * torch.randn(3, 6))
    scale = pyro.param("z_scale", torch.full((3,), 0.5), constraint=constraints.positive)
    with pyro.plate("rows", x.shape[0]):
        pyro.sample("z", dist.Normal(x @ encoder.T, scale).to_event(1))


def _fit_linear(**kwargs):
    pyro.clear_param_store()
    data, _ = _data()
    settings = dict(
        steps=300, batch_size=64, lr=0.05, edge_bounds={"graph": 5.0}, param_lrs={"alpha": 0.1},
        anneal_fraction=0.3, dual_lr=10.0, seed=3, device="cpu", progress=False, log_every=20,
    )  # fmt: skip
    settings.update(kwargs)
    return fit(linear_model, linear_guide, data, **settings)


@pytest.fixture(scope="module")
def linear_fit():
    result = _fit_linear()
    params = {k: v.clone() for k, v in result.params.items()}
    return result, params


def _mean_correlation(encoder: np.ndarray, data, z) -> float:
    means = data["x"] @ encoder.T
    return float(np.mean([np.corrcoef(means[:, j], z[:, j])[0, 1] for j in range(3)]))


def test_edge_bound_is_reached_and_latents_beat_an_untrained_guide(linear_fit):
    result, params = linear_fit
    last = result.history.rows[-1]
    assert last["bound_graph"] == 5.0 and result.history.rows[0]["bound_graph"] > 10
    assert abs(last["edges_graph"] - 5.0) < 0.5  # the dense true graph would keep all 12
    probs = result.edge_probabilities["graph"]
    assert abs(probs.sum() - 5.0) < 0.5
    np.testing.assert_allclose(probs, torch.sigmoid(params["alpha"]).numpy(), rtol=1e-6)
    data, z = _data()
    trained = _mean_correlation(params["encoder"].numpy(), data, z)
    random_encoder = 0.1 * np.random.default_rng(3).normal(size=(3, 6))  # as initialised
    untrained = abs(_mean_correlation(random_encoder, data, z))
    assert trained > 0.95 and trained > untrained + 0.4, (trained, untrained)
    assert float(params["sigma"]) != 1.0 and float(params["coef"].abs().min()) > 0.5
    assert set(params) == {"alpha", "encoder", "z_scale", "sigma", "coef"}
    assert {"neg_elbo", "edges_graph", "bound_graph", "multiplier_graph"} <= set(last)


def test_edges_and_posterior_are_named_and_summarised(linear_fit):
    result, params = linear_fit
    beliefs = result.edges("graph", child_names=("x0", "x1", "x2"), parent_role="latent")
    np.testing.assert_allclose(beliefs.probs, result.edge_probabilities["graph"])
    assert beliefs.child_names == ("x0", "x1", "x2") and beliefs.parent_role == "latent"
    assert beliefs.parent_names == ("latent0", "latent1", "latent2", "latent3")
    with pytest.raises(ValueError, match="child_names"):
        result.edges("graph", child_names=("x0", "x1"))
    data, _ = _data()
    small = {k: v[:5] for k, v in data.items()}
    tree = result.posterior(small, num_samples=30, dims={"graph": ("child", "parent")}, seed=1)
    assert tree.posterior["graph"].dims == ("chain", "draw", "child", "parent")
    assert tree.posterior["z"].dims == ("chain", "draw", "z_dim_0", "z_dim_1")
    assert tree.posterior["z"].shape == (1, 30, 5, 3)
    z_mean = tree.posterior["z"].mean(("chain", "draw")).values
    exact = small["x"] @ params["encoder"].numpy().T  # the guide's mean
    assert np.abs(z_mean - exact).max() < 4 * float(params["z_scale"].max()) / math.sqrt(30)
    summary = arviz.summary(tree)
    assert len(summary) == 12 + 15
    again = result.posterior(small, num_samples=30, seed=1)
    np.testing.assert_array_equal(again.posterior["z"].values, tree.posterior["z"].values)
    with pytest.raises(ValueError, match="dims"):
        result.posterior(small, dims={"graph": ("child",)})
    with pytest.raises(ValueError, match="dims"):
        result.posterior(small, dims={"nope": ("a",)})
    with pytest.raises(ValueError, match="name"):
        result.edges("z")


def test_resume_from_a_checkpoint_is_bit_identical(tmp_path):
    kwargs = dict(steps=40, log_every=7, eval_every=1, checkpoint_every=10)
    reference = _fit_linear(checkpoint=tmp_path / "a.pt", **kwargs)
    reference_params = {k: v.clone() for k, v in reference.params.items()}

    class Interrupted(Exception):
        pass

    def stop_at_23(step):
        if step == 23:
            raise Interrupted
        return {}

    with pytest.raises(Interrupted):
        _fit_linear(checkpoint=tmp_path / "b.pt", evaluate=stop_at_23, **kwargs)
    assert load_checkpoint(tmp_path / "b.pt")["step"] == 20
    resumed = _fit_linear(checkpoint=tmp_path / "b.pt", resume=True, **kwargs)
    for name, tensor in reference_params.items():
        assert torch.equal(tensor, resumed.params[name]), name
    strip = [{k: v for k, v in row.items() if k != "wall_s"} for row in reference.history.rows]
    assert strip == [{k: v for k, v in r.items() if k != "wall_s"} for r in resumed.history.rows]
    state = load_checkpoint(tmp_path / "a.pt")
    assert set(state["module"]) == {"alpha", "encoder", "z_scale", "sigma", "coef"}
    assert "graph" in state["extra"]


class _Decoder(PyroModule):
    def __init__(self):
        super().__init__()
        self.linear = PyroModule[torch.nn.Linear](2, 3)


def test_pyro_modules_registered_modules_and_bound_methods_are_found():
    pyro.clear_param_store()
    decoder = _Decoder()
    encoder = torch.nn.Linear(3, 2)

    def model(x):
        with pyro.plate("rows", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(decoder.linear(z), 1.0).to_event(1), obs=x)

    def guide(x):
        pyro.module("encoder", encoder)
        with pyro.plate("rows", x.shape[0]):
            pyro.sample("z", dist.Normal(encoder(x), 1.0).to_event(1))

    rng = np.random.default_rng(1)
    data = {"x": torch.as_tensor(rng.normal(size=(64, 3)), dtype=torch.float32)}
    found = inspect_programs(model, guide, data, device=torch.device("cpu"))
    assert set(found.named) == {
        "linear.weight", "linear.bias", "encoder$$$weight", "encoder$$$bias"
    }  # fmt: skip
    assert found.named["encoder$$$weight"] is encoder.weight
    assert found.named["linear.weight"] is decoder.linear.weight
    assert set(found.module.state_dict()) == {
        "linear_weight", "linear_bias", "encoder___weight", "encoder___bias"
    }  # fmt: skip
    before = decoder.linear.weight.detach().clone(), encoder.weight.detach().clone()
    fit(model, guide, data, steps=5, batch_size=32, lr=0.1, progress=False, device="cpu")
    assert not torch.equal(before[0], decoder.linear.weight)
    assert not torch.equal(before[1], encoder.weight)

    class Programs(torch.nn.Module):  # parameters used directly, no pyro.module
        def __init__(self):
            super().__init__()
            self.loc = torch.nn.Parameter(torch.zeros(3))
            self.register_buffer("unit", torch.ones(()))

        def model(self, x):
            with pyro.plate("rows", x.shape[0]):
                pyro.sample("x", dist.Normal(self.loc, self.unit).to_event(1), obs=x)

        def guide(self, x):
            pass

    programs = Programs()
    found = inspect_programs(programs.model, programs.guide, data, device=torch.device("cpu"))
    assert found.module is programs and list(found.named) == ["loc"]
    blocked = pyro.poutine.block(pyro.poutine.scale(programs.model, scale=2.0), hide=["x"])
    found = inspect_programs(blocked, programs.guide, data, device=torch.device("cpu"))
    assert found.module is programs  # seen through handlers applied from outside
    result = fit(
        programs.model, programs.guide, data, steps=300, batch_size=64, lr=0.05,
        progress=False, device="cpu",
    )  # fmt: skip
    np.testing.assert_allclose(result.params["loc"].numpy(), data["x"].mean(0).numpy(), atol=0.02)


def _conjugate_model(x):
    mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
    with pyro.plate("rows", x.shape[0]):
        pyro.sample("x", dist.Normal(mu, 1.0), obs=x)


def _conjugate_guide(x):
    loc = pyro.param("loc", torch.tensor(0.0))
    scale = pyro.param("scale", torch.tensor(1.0), constraint=constraints.positive)
    pyro.sample("mu", dist.Normal(loc, scale))


@pytest.mark.parametrize(
    "elbo", [None, pyro.infer.Trace_ELBO(), pyro.infer.TraceMeanField_ELBO()],
    ids=["analytic", "trace", "mean-field"],
)  # fmt: skip
def test_conjugate_gaussian_fit_matches_the_exact_posterior(elbo):
    """mu ~ N(0, 1), x_i ~ N(mu, 1): the posterior is N(sum x / (n + 1), 1 / (n + 1))."""
    pyro.clear_param_store()
    x = np.random.default_rng(2).normal(1.5, 1.0, size=40).astype(np.float32)
    result = fit(
        _conjugate_model, _conjugate_guide, {"x": x}, steps=800, batch_size=40, lr=0.05,
        elbo=elbo, lr_decay="cosine", progress=False, device="cpu", seed=0,
    )  # fmt: skip
    n = len(x)
    assert abs(float(result.params["loc"]) - x.sum() / (n + 1)) < 0.03
    assert abs(float(result.params["scale"]) - 1 / math.sqrt(n + 1)) < 0.03
    assert result.edge_probabilities == {}


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": 1000}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"edge_bounds": {"nope": 3.0}}, "edge_bounds"),
        ({"edge_bounds": {"graph": 13.0}}, "edge_bounds"),
        ({"edge_bounds": {"graph": -1.0}}, "edge_bounds"),
        ({"anneal_fraction": 1.5}, "anneal_fraction"),
        ({"dual_lr": 0.0}, "dual_lr"),
        ({"param_lrs": {"missing*": 0.1}}, "param_lrs"),
        ({"param_lrs": {"alpha": -0.1}}, "param_lrs"),
        ({"data": {"x": np.zeros((64, 6)), "actions": np.zeros((63, 4))}}, "data"),
        ({"data": {}}, "data"),
        ({"resume": True}, "resume"),
        ({"lr_decay": "step"}, "lr_decay"),
        ({"device": "tpu9"}, "device"),
    ],
)
def test_bad_arguments_are_refused_before_training(overrides, argument):
    pyro.clear_param_store()
    data = overrides.pop("data", _data()[0])
    with pytest.raises(ValueError, match=argument):
        fit(linear_model, linear_guide, data, **{**dict(steps=5, batch_size=64, lr=0.1,
            progress=False, device="cpu"), **overrides})  # fmt: skip
    store = pyro.get_param_store()
    if "alpha" in store:  # discovery ran (site names are checked on its trace): nothing trained
        assert torch.equal(store["alpha"], torch.full((3, 4), 3.0))


def test_bad_argument_types_are_refused():
    data = _data()[0]
    with pytest.raises(TypeError, match="model"):
        fit(3, linear_guide, data, steps=5, batch_size=64, lr=0.1)
    with pytest.raises(TypeError, match="elbo"):
        fit(linear_model, linear_guide, data, steps=5, batch_size=64, lr=0.1, elbo=object())
