"""validation_elbo: the label-free fit score of a fitted mechanism-sparsity model.

Checks: the same weights give the same number on Pyro and NumPyro (weights carried over with
``weights_torch_to_numpyro``, the same seeded noise); the number is NumPyro's own
``TraceMeanField_ELBO`` of the training objective, rescaled to nats per example (up to Monte-Carlo
error); it is reproducible, training raises it, and it works on ``fit_many``'s runs.
"""

import jax
import numpy as np
import pytest
import torch
from jax import random

from latentgraph import TrainConfig
from latentgraph.data import make_mechanism_dataset
from latentgraph.families.mechanism_sparsity import (
    NetworkSizes,
    SparsitySettings,
    fit_numpyro,
    fit_pyro,
    model_config_for,
)
from latentgraph.families.mechanism_sparsity.evaluate import validation_elbo
from latentgraph.families.mechanism_sparsity.sweep_numpyro import fit_many
from latentgraph.families.mechanism_sparsity.weights_torch_to_numpyro import (
    numpyro_params_from_torch,
)

TINY = NetworkSizes(
    encoder_hidden=(8, 8), decoder_hidden=(8,), transition_hidden=4, transition_layers=2
)
MODES = {
    "constraint": SparsitySettings(mode="constraint", bound=3.0),
    "penalty": SparsitySettings(mode="penalty", penalty=0.5),
    "none": SparsitySettings(mode="none"),
}


@pytest.fixture(scope="module")
def datasets():
    return {
        kind: make_mechanism_dataset(
            f"{kind}_sparsity_non_trivial", n_samples=2000, n_latents=3, n_obs=6
        )
        for kind in ("action", "temporal")
    }


@pytest.fixture(scope="module")
def trained(datasets):
    """NumPyro fits of the temporal toy data, 200 steps, per mode (shared by the tests)."""
    dataset = datasets["temporal"]
    return {m: fit_numpyro.fit(dataset, **_kwargs(dataset, m, steps=200)) for m in MODES}


def _kwargs(dataset, mode, steps=1, seed=0):
    return {
        "model_config": model_config_for(dataset, TINY),
        "sparsity": MODES[mode],
        "train_config": TrainConfig(
            steps=steps, batch_size=64, lr=3e-3, seed=seed, device="cpu", progress=False
        ),
    }


def _pyro_and_numpyro_twins(dataset, mode):
    torch.manual_seed(0)
    pyro_fit = fit_pyro.fit(dataset, **_kwargs(dataset, mode))
    with torch.no_grad():  # edge beliefs away from their symmetric start
        for logits in pyro_fit.vae.edge_logits.values():
            logits.copy_(2 * torch.randn_like(logits))
    numpyro_fit = fit_numpyro.untrained(dataset, **_kwargs(dataset, mode))
    numpyro_fit.params = numpyro_params_from_torch(pyro_fit.vae.state_dict(), pyro_fit.vae.config)
    return pyro_fit, numpyro_fit


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("kind", ["action", "temporal"])
def test_pyro_and_numpyro_give_the_same_validation_elbo(datasets, kind, mode):
    pyro_fit, numpyro_fit = _pyro_and_numpyro_twins(datasets[kind], mode)
    a = validation_elbo(pyro_fit, datasets[kind], num_particles=2)
    b = validation_elbo(numpyro_fit, datasets[kind], num_particles=2)
    assert np.isfinite(a)
    assert abs(a - b) <= 1e-5 * abs(a)  # float32 on both sides


@pytest.mark.parametrize("mode", ["constraint", "none"])
def test_it_is_the_training_elbo_in_nats_per_example(datasets, trained, mode):
    """Flat edge prior (constraint) or frozen graphs (none): the training loss's only terms are
    the data terms, scaled by 1 / (batch * T * d_x); both estimators average the same quantity."""
    dataset = datasets["temporal"]
    fitted = trained[mode]
    ours = validation_elbo(fitted, dataset, num_particles=8)
    x = dataset.split("valid")["x"]
    n_dims = x.shape[1] * x.shape[2]
    losses = [
        float(fitted.objective.negative_elbo(fitted.params, random.key(k), x, None, 0.0))
        for k in range(8)
    ]
    theirs = -np.mean(losses) * n_dims
    assert ours == pytest.approx(theirs, rel=2e-3)
    assert ours != pytest.approx(theirs / n_dims, rel=0.5)  # the scale is per example


def test_reproducible_seeded_and_raised_by_training(datasets, trained):
    dataset = datasets["temporal"]
    fitted = trained["penalty"]
    start = fit_numpyro.untrained(dataset, **_kwargs(dataset, "penalty"))
    first = validation_elbo(fitted, dataset)
    assert validation_elbo(fitted, dataset) == first
    assert validation_elbo(fitted, dataset, seed=1) != first
    assert validation_elbo(fitted, dataset) > validation_elbo(start, dataset) + 1.0
    assert validation_elbo(fitted, dataset, max_rows=50) != first


@pytest.mark.slow  # compiles the vmapped sweep program (about a minute on a loaded 2-core CPU)
def test_fit_many_runs_are_scored_like_single_fits(datasets):
    dataset = datasets["action"]
    kwargs = _kwargs(dataset, "constraint", steps=20)
    settings = [MODES["constraint"], SparsitySettings(mode="constraint", bound=6.0)]
    runs = fit_many(
        dataset,
        model_config=kwargs["model_config"],
        settings=settings,
        seeds=[0, 1],
        train_config=kwargs["train_config"],
    )
    scores = [validation_elbo(run, dataset) for run in runs]
    assert all(np.isfinite(scores))
    assert scores[0] != scores[1]  # seeds differ
    copy = fit_numpyro.untrained(dataset, **kwargs)
    copy.params = jax.tree.map(lambda leaf: leaf, runs[0].params)
    assert validation_elbo(copy, dataset) == scores[0]


def test_bad_arguments_are_refused(datasets):
    dataset = datasets["action"]
    fitted = fit_numpyro.untrained(dataset, **_kwargs(dataset, "constraint"))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="num_particles must be an int >= 1"):
            validation_elbo(fitted, dataset, num_particles=bad)
    for bad in (0, 2.0, False):
        with pytest.raises(ValueError, match="max_rows must be an int >= 1 or None"):
            validation_elbo(fitted, dataset, max_rows=bad)
    with pytest.raises(TypeError, match="fitted must be a fitted mechanism-sparsity model"):
        validation_elbo(object(), dataset)
