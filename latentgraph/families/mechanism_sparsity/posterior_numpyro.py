"""Draw from a fitted NumPyro mechanism-sparsity guide and return an ArviZ DataTree.

The NumPyro twin of :mod:`.posterior_pyro`: each draw traces the fitted guide (latents from
:math:`q(z \\mid x)`), draws 0/1 graphs from :math:`\\mathrm{Bernoulli}(\\sigma(\\alpha))`, traces
the model conditioned on both, and draws :math:`x` from the observation site's distribution
:math:`p(x \\mid z, M)`. The tree has the layout of :mod:`latentgraph.inference.posterior`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from numpyro import handlers

from latentgraph import split_posterior_tree
from latentgraph.data import Dataset


def sample_posterior(
    fitted,
    x: np.ndarray,
    actions: np.ndarray | None = None,
    *,
    num_samples: int = 100,
    seed: int = 0,
) -> dict:
    """As :func:`.posterior_pyro.sample_posterior`, for a
    :class:`~.fit_numpyro.FittedMechanismSparsityNumPyro` (draws depend on ``seed`` alone)."""
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
    config = fitted.vae.config
    x = jnp.asarray(np.asarray(x), dtype=jnp.float32)
    if x.ndim != 3 or x.shape[1:] != (config.n_steps, config.n_obs):
        raise ValueError(f"x must have shape (n, {config.n_steps}, {config.n_obs}), got {x.shape}")
    if config.n_actions and actions is None:
        raise ValueError("actions are required: the model has actions")
    actions = None if not config.n_actions else jnp.asarray(np.asarray(actions), jnp.float32)
    frozen = fitted.sparsity.mode == "none"
    log_odds = -fitted.sparsity.penalty if fitted.sparsity.mode == "penalty" else 0.0
    model, guide = fitted.objective.programs()
    model = handlers.substitute(model, data=fitted.params)
    guide = handlers.substitute(guide, data=fitted.params)
    probs = {
        name: (jnp.ones_like(p) if frozen else p)
        for name, p in fitted.vae.edge_probabilities(fitted.params).items()
    }
    sites = [f"z_{t}" for t in range(config.n_steps)]
    masks: dict[str, list] = {name: [] for name in probs}
    latents, predictive = [], []
    key = random.key(seed)
    for _ in range(num_samples):
        key, guide_key, graph_key, model_key, obs_key = random.split(key, 5)
        trace = handlers.trace(handlers.seed(guide, guide_key)).get_trace(x, actions, log_odds)
        values = {site: trace[site]["value"] for site in sites}
        graphs = {
            name: random.bernoulli(k, p).astype(jnp.float32)
            for (name, p), k in zip(probs.items(), random.split(graph_key, len(probs)), strict=True)
        }
        if not frozen:
            values.update(graphs)
        conditioned = handlers.seed(handlers.condition(model, data=values), model_key)
        observation = handlers.trace(conditioned).get_trace(x, actions, log_odds)["x"]["fn"]
        latents.append(np.asarray(jnp.stack([values[s] for s in sites], axis=-2)))
        predictive.append(np.asarray(observation.sample(obs_key)))
        for name, graph in graphs.items():
            masks[name].append(np.asarray(graph))
    return {
        "edge_probabilities": {k: np.asarray(v, dtype=float) for k, v in probs.items()},
        "edge_masks": {k: np.stack(v) for k, v in masks.items()},
        "latents": np.stack(latents),
        "predictive": np.stack(predictive),
    }


def posterior_tree(
    fitted,
    dataset: Dataset,
    split: str = "test",
    *,
    num_samples: int = 100,
    max_obs: int = 200,
    seed: int = 0,
):
    """The fit's posterior on the first ``max_obs`` samples of ``split`` as an ArviZ DataTree
    (see :func:`.posterior_pyro.posterior_tree`)."""
    with jax.default_device(fitted.jax_device):
        return split_posterior_tree(
            sample_posterior, fitted, dataset, split, num_samples=num_samples, max_obs=max_obs,
            seed=seed, backend="numpyro",
        )  # fmt: skip
