"""The posterior of a Pyro mechanism-sparsity fit as an ArviZ DataTree (issue 3, item 4)."""

import arviz as az
import matplotlib
import numpy as np
import pytest
import torch

from latentgraph.data import make_mechanism_dataset
from latentgraph.families.mechanism_sparsity import SparsitySettings, fit, model_config_for
from latentgraph.families.mechanism_sparsity.config import demo_sizes
from latentgraph.families.mechanism_sparsity.posterior_pyro import posterior_tree, sample_posterior
from latentgraph.inference.posterior import load_posterior, save_posterior
from latentgraph.inference.svi_torch import TrainConfig

matplotlib.use("Agg")


def _fit(dataset, mode="constraint"):
    return fit(
        dataset,
        model_config=model_config_for(dataset, demo_sizes()),
        sparsity=SparsitySettings(mode=mode, graph_lr=0.2, dual_lr=0.05, anneal_fraction=0.3),
        train_config=TrainConfig(steps=40, batch_size=64, lr=3e-3, progress=False, device="cpu"),
    )


@pytest.fixture(scope="module")
def action():
    dataset = make_mechanism_dataset(
        "action_sparsity_non_trivial", n_samples=1500, n_latents=3, n_obs=6
    )
    return dataset, _fit(dataset)


def test_tree_has_the_arviz_groups_and_named_dimensions(action):
    dataset, fitted = action
    tree = posterior_tree(fitted, dataset, num_samples=30, max_obs=25)
    assert {"posterior", "posterior_predictive", "observed_data", "constant_data"} <= set(
        tree.children
    )
    post = tree.posterior
    assert post["action_graph_probability"].dims == ("chain", "draw", "child", "parent_action")
    assert list(post["child"].values) == ["z0", "z1", "z2"]
    assert post["action_graph_mask"].shape == (1, 30, 3, dataset.n_actions)
    assert post["z"].dims == ("chain", "draw", "obs", "step", "latent")
    assert tree.posterior_predictive["x"].shape == (1, 30, 25, 1, 6)
    np.testing.assert_array_equal(tree.observed_data["x"].values, dataset.split("test")["x"][:25])
    probs = fitted.vae.edge_probabilities()["action_graph"].detach().numpy()
    np.testing.assert_allclose(post["action_graph_probability"].values[0, 7], probs, rtol=1e-6)
    # ArviZ works on it as it is: a summary and a forest plot of the edge probabilities.
    summary = az.summary(tree, var_names=["action_graph_probability"], kind="stats")
    assert len(summary) == 3 * dataset.n_actions
    az.plot_forest(tree, var_names=["action_graph_probability"])


def test_draws_follow_the_guide_and_the_model(action):
    dataset, fitted = action
    x = dataset.split("test")["x"][:40]
    actions = dataset.split("test")["actions"][:40]
    draws = sample_posterior(fitted, x, actions, num_samples=400, seed=3)
    probs = fitted.vae.edge_probabilities()["action_graph"].detach().numpy()
    se = np.sqrt(probs * (1 - probs) / 400) + 1e-9
    assert np.all(np.abs(draws["edge_masks"]["action_graph"].mean(0) - probs) < 5 * se + 1e-6)
    with torch.no_grad():
        loc, var = fitted.vae.encode(torch.as_tensor(x))
        standard = (draws["latents"] - loc.numpy()) / np.sqrt(var.numpy())
        assert abs(standard.mean()) < 0.05 and standard.std() == pytest.approx(1.0, abs=0.05)
        decoded = fitted.vae.decoder(torch.as_tensor(draws["latents"])).numpy()
        noise = (draws["predictive"] - decoded) / fitted.vae.decoder_std().numpy()
    assert abs(noise.mean()) < 0.05 and noise.std() == pytest.approx(1.0, abs=0.05)


def test_draws_repeat_for_a_seed_and_leave_the_global_rng_alone(action):
    dataset, fitted = action
    x, actions = dataset.split("test")["x"][:5], dataset.split("test")["actions"][:5]
    state = torch.get_rng_state()
    a = sample_posterior(fitted, x, actions, num_samples=4, seed=1)
    b = sample_posterior(fitted, x, actions, num_samples=4, seed=1)
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(a["predictive"], b["predictive"])
    with pytest.raises(ValueError, match="num_samples"):
        sample_posterior(fitted, x, actions, num_samples=0)
    with pytest.raises(ValueError, match="x must have shape"):
        sample_posterior(fitted, x[:, 0], actions)


def test_frozen_control_has_all_ones_graphs_and_the_file_round_trips(tmp_path):
    dataset = make_mechanism_dataset(
        "temporal_sparsity_non_trivial", n_samples=800, n_latents=3, n_obs=6
    )
    fitted = _fit(dataset, mode="none")
    tree = posterior_tree(fitted, dataset, num_samples=5, max_obs=10)
    assert tree.posterior["latent_graph_mask"].dims[-1] == "parent_latent"
    assert np.all(tree.posterior["latent_graph_mask"].values == 1)
    assert "constant_data" not in tree.children
    path = save_posterior(tree, tmp_path / "posterior.nc")
    loaded = load_posterior(path)
    np.testing.assert_array_equal(loaded.posterior["z"].values, tree.posterior["z"].values)
    assert loaded.attrs["backend"] == "pyro" and loaded.attrs["sparsity_mode"] == "none"
