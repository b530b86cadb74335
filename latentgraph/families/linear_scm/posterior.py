"""Posterior draws of the linear SCM as an ArviZ DataTree, and what is read from it.

Backend-neutral (numpy, xarray, ArviZ): the NumPyro fits hand over plain arrays.

Groups of the tree:

* ``posterior``: ``weights`` ``(chain, draw, child, parent)`` (``W``, zero diagonal: no self
  loops), ``edge_probability`` (same dims; the slab responsibility ``r(W_ij)`` of each draw,
  whose mean over draws is the Rao-Blackwellised posterior edge probability),
  ``noise_scale`` ``(chain, draw, latent)``, ``obs_noise_scale`` ``(chain, draw)`` and, when
  learned, ``mixing`` ``(chain, draw, observed, latent)``.
* ``sample_stats``: the sampler's per-draw statistics (NUTS: ``diverging``, ``energy``,
  ``lp``, ``n_steps``, ``acceptance_rate``; SVI: ``lp`` and the guide's ``log_q``).
* ``observed_data``: the observed sites ``x_mean`` ``(context, observed)`` and ``x_scatter``
  ``(context, observed, observed_bis)``.
* ``constant_data``: the rows ``x`` ``(row, observed)``, their ``context``, the ``targets``,
  the intervention distributions and a known ``mixing``.

Orientation: ``weights[..., i, j]`` is the weight of ``z_j -> z_i`` (rows are children), as
everywhere in latentgraph.
"""

from __future__ import annotations

import json

import arviz
import numpy as np
import xarray as xr

from latentgraph.families.linear_scm.inputs import LinearSCMInputs
from latentgraph.graphs import EdgeBeliefs

__all__ = [
    "convergence_summary",
    "edge_diagnostics",
    "edge_posterior",
    "importance_pareto_k",
    "off_diagonal_weights",
    "to_datatree",
]


def to_datatree(
    posterior: dict[str, np.ndarray],
    sample_stats: dict[str, np.ndarray],
    inputs: LinearSCMInputs,
    attrs: dict,
    extra_groups: dict[str, xr.Dataset] | None = None,
) -> xr.DataTree:
    """Assemble the tree described in the module docstring.

    ``posterior`` holds ``weights``, ``edge_probability``, ``noise_scale``,
    ``obs_noise_scale`` and optionally ``mixing``, each with leading ``(chain, draw)`` axes;
    ``attrs`` go to the root (values that are not str/int/float are stored as JSON text).
    """
    latents = [f"z{k}" for k in range(inputs.n_latents)]
    observed = [f"x{a}" for a in range(inputs.n_obs)]
    coords = {
        "child": latents,
        "parent": latents,
        "latent": latents,
        "observed": observed,
        "observed_bis": observed,
        "context": list(inputs.context_names),
        "row": np.arange(inputs.x.shape[0]),
    }
    dims = {
        "weights": ["child", "parent"],
        "edge_probability": ["child", "parent"],
        "noise_scale": ["latent"],
        "obs_noise_scale": [],
        "mixing": ["observed", "latent"],
        "x_mean": ["context", "observed"],
        "x_scatter": ["context", "observed", "observed_bis"],
        "x": ["row", "observed"],
        "row_context": ["row"],
        "counts": ["context"],
        "targets": ["context", "latent"],
        "intervention_loc": ["context", "latent"],
        "intervention_scale": ["context", "latent"],
        "known_mixing": ["observed", "latent"],
    }
    constant = {
        "x": inputs.x,
        "row_context": inputs.context,
        "counts": inputs.counts,
        "targets": inputs.targets.astype(np.int8),
        "intervention_loc": inputs.intervention_loc,
        "intervention_scale": inputs.intervention_scale,
    }
    if inputs.mixing is not None:
        constant["known_mixing"] = inputs.mixing
    tree = arviz.from_dict(
        {
            "posterior": {key: np.asarray(value) for key, value in posterior.items()},
            "sample_stats": {key: np.asarray(value) for key, value in sample_stats.items()},
            "observed_data": {"x_mean": inputs.mean, "x_scatter": inputs.scatter},
            "constant_data": constant,
        },
        coords=coords,
        dims=dims,
    )
    for name, dataset in (extra_groups or {}).items():
        tree[name] = xr.DataTree(dataset)
    tree.attrs.update(
        {
            key: value if isinstance(value, str | int | float) else json.dumps(value)
            for key, value in attrs.items()
        }
    )
    return tree


def off_diagonal_weights(tree: xr.DataTree, var_name: str = "weights") -> xr.DataArray:
    """``var_name`` ``(chain, draw, child, parent)`` restricted to the ``d (d - 1)`` possible
    edges, as ``(chain, draw, edge)`` with edge labels ``"z_j->z_i"`` (parent -> child)."""
    values = tree["posterior"][var_name]
    stacked = values.stack(edge=("child", "parent"))
    keep = stacked["child"].values != stacked["parent"].values
    children, parents = stacked["child"].values, stacked["parent"].values
    labels = [f"{p}->{c}" for c, p in zip(children, parents, strict=True)]
    stacked = stacked.drop_vars(["edge", "child", "parent"]).assign_coords(edge=labels)
    return stacked.isel(edge=np.flatnonzero(keep))


def edge_posterior(tree: xr.DataTree) -> EdgeBeliefs:
    """Posterior edge probabilities ``P(z_j -> z_i | data)`` as
    :class:`~latentgraph.graphs.beliefs.EdgeBeliefs` (``kind="latent_to_latent"``, rows are
    children; the edges here are instantaneous, not time-lagged)."""
    probs = tree["posterior"]["edge_probability"].mean(dim=("chain", "draw"))
    probs = probs.transpose("child", "parent")
    names = tuple(str(name) for name in probs["child"].values)
    return EdgeBeliefs(np.clip(probs.values, 0.0, 1.0), "latent_to_latent", names, names)


def convergence_summary(tree: xr.DataTree, *, round_to: int | str = "none"):
    """ArviZ summary (mean, sd, interval, bulk/tail ESS, R-hat, MCSE) of the off-diagonal
    edge weights, the noise scales and, when learned, the mixing (a pandas DataFrame)."""
    posterior = tree["posterior"]
    variables = {"weights": off_diagonal_weights(tree)}
    for name in ("noise_scale", "obs_noise_scale", "mixing"):
        if name in posterior:
            variables[name] = posterior[name]
    return arviz.summary(xr.Dataset(variables), round_to=round_to)


def edge_diagnostics(tree: xr.DataTree) -> dict[str, float]:
    """Worst-case convergence over the off-diagonal edge weights: ``max_rhat``
    (rank-normalised split R-hat), ``min_ess_bulk`` and ``min_ess_tail``."""
    weights = xr.Dataset({"weights": off_diagonal_weights(tree)})
    rhat = arviz.rhat(weights)["weights"]
    ess_bulk = arviz.ess(weights, method="bulk")["weights"]
    ess_tail = arviz.ess(weights, method="tail")["weights"]
    return {
        "max_rhat": float(rhat.max()),
        "min_ess_bulk": float(ess_bulk.min()),
        "min_ess_tail": float(ess_tail.min()),
    }


def importance_pareto_k(tree: xr.DataTree) -> float:
    """Pareto ``k`` of the importance weights ``p(theta, data) / q(theta)`` of an SVI fit.

    The PSIS diagnostic of Yao, Vehtari, Simpson & Gelman, "Yes, but Did It Work?: Evaluating
    Variational Inference", ICML 2018: ``k < 0.7`` means the guide is close enough to the
    posterior for importance sampling to correct it; ``k > 0.7`` flags a poor approximation.
    Needs ``sample_stats`` ``lp`` and ``log_q`` (as written by ``fit_svi``).
    """
    stats = tree["sample_stats"]
    if "log_q" not in stats:
        raise ValueError("`tree` has no sample_stats 'log_q'; it is written by fit_svi only")
    log_weights = (stats["lp"] - stats["log_q"]).astype(np.float64)
    # a draw outside the support (lp = -inf) or with a degenerate density (NaN, inf) counts 0;
    # with no usable draw at all the approximation is as bad as it gets: k = inf
    finite = np.isfinite(log_weights)
    if not bool(finite.any()):
        return float("inf")
    _, pareto_k = log_weights.where(finite, -np.inf).azstats.psislw(dim=["chain", "draw"])
    return float(pareto_k)
