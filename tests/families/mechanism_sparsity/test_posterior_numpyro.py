"""The posterior of a NumPyro mechanism-sparsity fit: same DataTree layout as the Pyro one."""

import numpy as np
import pytest

from latentgraph.data import make_mechanism_dataset
from latentgraph.families.mechanism_sparsity import SparsitySettings, model_config_for
from latentgraph.families.mechanism_sparsity.config import demo_sizes
from latentgraph.families.mechanism_sparsity.fit_numpyro import fit
from latentgraph.families.mechanism_sparsity.posterior_numpyro import (
    posterior_tree,
    sample_posterior,
)
from latentgraph.inference.svi_torch import TrainConfig


def test_numpyro_posterior_follows_the_guide_and_has_the_shared_layout():
    dataset = make_mechanism_dataset(
        "action_sparsity_non_trivial", n_samples=1500, n_latents=3, n_obs=6
    )
    fitted = fit(
        dataset,
        model_config=model_config_for(dataset, demo_sizes()),
        sparsity=SparsitySettings(graph_lr=0.2, dual_lr=0.05),
        train_config=TrainConfig(steps=30, batch_size=64, lr=3e-3, progress=False, device="cpu"),
    )
    tree = posterior_tree(fitted, dataset, num_samples=6, max_obs=12)
    assert tree.attrs["backend"] == "numpyro"
    assert set(tree.posterior.data_vars) == {"z", "action_graph_probability", "action_graph_mask"}
    assert tree.posterior["action_graph_mask"].dims == ("chain", "draw", "child", "parent_action")
    assert tree.posterior_predictive["x"].shape == (1, 6, 12, 1, 6)
    x, actions = dataset.split("test")["x"][:30], dataset.split("test")["actions"][:30]
    draws = sample_posterior(fitted, x, actions, num_samples=300, seed=1)
    loc, var = (np.asarray(a) for a in fitted.vae.encode(fitted.params, x))
    standard = (draws["latents"] - loc) / np.sqrt(var)
    assert abs(standard.mean()) < 0.05 and standard.std() == pytest.approx(1.0, abs=0.05)
    probs = np.asarray(fitted.vae.edge_probabilities(fitted.params)["action_graph"])
    se = np.sqrt(probs * (1 - probs) / 300) + 1e-9
    assert np.all(np.abs(draws["edge_masks"]["action_graph"].mean(0) - probs) < 5 * se + 1e-6)
    again = sample_posterior(fitted, x, actions, num_samples=3, seed=1)
    np.testing.assert_array_equal(again["predictive"], draws["predictive"][:3])
