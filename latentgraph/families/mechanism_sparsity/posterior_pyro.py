"""Draw from a fitted mechanism-sparsity guide with Pyro and return an ArviZ DataTree.

Each draw runs the fitted guide (the encoder's :math:`q(z \\mid x)`), draws 0/1 graphs from the
edge posterior :math:`\\mathrm{Bernoulli}(\\sigma(\\alpha))` (the relaxed sample is only a
gradient device), then runs the model conditioned on those latents and graphs with its
observation site un-conditioned (``pyro.poutine.uncondition``), which draws
:math:`x \\sim p(x \\mid z, M)`: the posterior predictive. See
:mod:`latentgraph.inference.posterior` for the tree's layout.
"""

from __future__ import annotations

import numpy as np
import pyro
import torch

from latentgraph import split_posterior_tree
from latentgraph.data import Dataset


@torch.no_grad()
def sample_posterior(
    fitted,
    x: np.ndarray,
    actions: np.ndarray | None = None,
    *,
    num_samples: int = 100,
    seed: int = 0,
) -> dict[str, np.ndarray | dict]:
    """``num_samples`` joint draws of graphs, latents and predicted observations.

    Args:
        fitted: a :class:`~latentgraph.families.mechanism_sparsity.fit_pyro.FittedMechanismSparsity`.
        x: ``(n, T, d_x)`` observations; actions: ``(n, d_a)`` when the model has actions.
        seed: the draws depend on it alone (the global torch RNG is left as it was).

    Returns ``{"edge_probabilities": {graph: (child, parent)}, "edge_masks": {graph: (S, child,
    parent)}, "latents": (S, n, T, d_z), "predictive": (S, n, T, d_x)}``.
    """
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
    vae, device = fitted.vae, fitted.device
    x_t = torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device)
    if x_t.dim() != 3 or x_t.shape[1:] != (vae.config.n_steps, vae.config.n_obs):
        raise ValueError(
            f"x must have shape (n, {vae.config.n_steps}, {vae.config.n_obs}), got {tuple(x_t.shape)}"
        )
    a_t = None
    if vae.config.n_actions:
        if actions is None:
            raise ValueError("actions are required: the model has actions")
        a_t = torch.as_tensor(np.asarray(actions), dtype=torch.float32, device=device)
    frozen = fitted.sparsity.mode == "none"
    probs = {
        name: (torch.ones_like(p) if frozen else p) for name, p in vae.edge_probabilities().items()
    }
    masks: dict[str, list] = {name: [] for name in probs}
    latents, predictive = [], []
    sample_sites = [f"z_{t}" for t in range(vae.config.n_steps)]
    vae.eval()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), pyro.validation_enabled(False):
        torch.manual_seed(seed)
        for _ in range(num_samples):
            guide = pyro.poutine.trace(fitted.objective.guide).get_trace(x_t, a_t)
            values = {site: guide.nodes[site]["value"] for site in sample_sites}
            graphs = {name: torch.bernoulli(p) for name, p in probs.items()}
            if not frozen:
                values.update(graphs)
            model = pyro.poutine.condition(
                pyro.poutine.uncondition(fitted.objective.model), data=values
            )
            trace = pyro.poutine.trace(model).get_trace(x_t, a_t)
            latents.append(torch.stack([values[s] for s in sample_sites], dim=-2).cpu().numpy())
            predictive.append(trace.nodes["x"]["value"].cpu().numpy())
            for name, graph in graphs.items():
                masks[name].append(graph.cpu().numpy())
    vae.train()
    return {
        "edge_probabilities": {k: v.cpu().numpy().astype(float) for k, v in probs.items()},
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
    """The fit's posterior on the first ``max_obs`` samples of ``split`` as an ArviZ DataTree.

    Example::

        tree = posterior_tree(fitted, dataset)
        arviz.plot_forest(tree, var_names=["action_graph_probability"])
        arviz.summary(tree, var_names=["z"], kind="stats")
    """
    return split_posterior_tree(
        sample_posterior, fitted, dataset, split, num_samples=num_samples, max_obs=max_obs,
        seed=seed, backend="pyro",
    )  # fmt: skip
