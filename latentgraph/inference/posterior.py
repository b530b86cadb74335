"""Fits as ArviZ-schema ``xarray.DataTree`` objects: posterior analysis with ArviZ 1.x.

Backend-neutral: a backend draws samples from its fitted guide (see
``latentgraph.families.mechanism_sparsity.posterior_pyro``) into plain numpy arrays and
:func:`mechanism_posterior_tree` names their dimensions once, here, so that
``arviz.summary(tree)``, ``arviz.plot_forest(tree, var_names=[...])`` and xarray selections like
``tree.posterior["action_graph_probability"].sel(child="z3")`` work without renaming anything.

Layout (groups and variables; ``chain`` has length 1 and ``draw`` indexes the guide samples,
the ArviZ convention for a variational posterior, so every ArviZ function finds its sample
dimensions without arguments):

* ``posterior``: ``<graph>_probability`` (chain, draw, child, parent_<kind>) the edge
  probabilities :math:`\\sigma(\\alpha_{ij})` (constant over draws: the guide's parameters);
  ``<graph>_mask`` the same dims, 0/1 graphs drawn from :math:`\\mathrm{Bernoulli}(\\sigma(\\alpha))`;
  ``z`` (chain, draw, obs, step, latent) latents drawn from the amortised encoder
  :math:`q(z \\mid x)`.
* ``posterior_predictive``: ``x`` (chain, draw, obs, step, feature), drawn from
  :math:`p(x \\mid z, M)` at those latents and masks.
* ``observed_data``: ``x`` (obs, step, feature); ``constant_data``: ``actions`` (obs, action)
  when the data have actions.

Coordinates: latents ``z0, z1, ...``, actions ``a0, ...``, features ``x0, ...``, observations by
their row index in the split. The latent graph's parents are the previous step's latents
(``parent_latent`` with the latent names); the action graph's parents are the actions
(``parent_action``). Entry ``[child, parent] = 1`` means parent -> child, as everywhere in
latentgraph.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from latentgraph._atomic import atomic_write

PARENT_DIMS = {"action_graph": "parent_action", "latent_graph": "parent_latent"}


def _names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _check(array: np.ndarray, ndim: int, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    return array


def mechanism_posterior_tree(
    *,
    edge_probabilities: Mapping[str, np.ndarray],
    edge_masks: Mapping[str, np.ndarray],
    latents: np.ndarray,
    predictive: np.ndarray,
    observed: np.ndarray,
    actions: np.ndarray | None = None,
    obs_index: np.ndarray | None = None,
    attrs: Mapping[str, str | int | float] | None = None,
):
    """Build the DataTree of a mechanism-sparsity fit from guide samples.

    Args:
        edge_probabilities: graph name -> ``(n_latents, n_parents)`` edge probabilities.
        edge_masks: graph name -> ``(draws, n_latents, n_parents)`` sampled 0/1 masks.
        latents: ``(draws, n_obs, T, n_latents)`` latents drawn from the encoder.
        predictive: ``(draws, n_obs, T, n_features)`` observations drawn from the model.
        observed: ``(n_obs, T, n_features)`` the observations the latents encode.
        actions: optional ``(n_obs, n_actions)``.
        obs_index: row indices of the observations in their split (default ``0..n_obs-1``).
        attrs: extra attributes stored on the root (backend, family, dataset...).

    Returns an ``xarray.DataTree`` with groups ``posterior``, ``posterior_predictive``,
    ``observed_data`` and (with actions) ``constant_data``.
    """
    import arviz as az

    latents = _check(latents, 4, "latents")
    predictive = _check(predictive, 4, "predictive")
    observed = _check(observed, 3, "observed")
    draws, n_obs, n_steps, n_latents = latents.shape
    if predictive.shape[:3] != (draws, n_obs, n_steps) or observed.shape != predictive.shape[1:]:
        raise ValueError(
            "latents, predictive and observed must agree in draws/obs/steps: got "
            f"{latents.shape}, {predictive.shape}, {observed.shape}"
        )
    if set(edge_probabilities) != set(edge_masks):
        raise ValueError(
            f"edge_probabilities and edge_masks must name the same graphs, got "
            f"{sorted(edge_probabilities)} and {sorted(edge_masks)}"
        )
    n_features = observed.shape[-1]
    coords: dict[str, list] = {
        "obs": list(range(n_obs)) if obs_index is None else [int(i) for i in obs_index],
        "step": list(range(n_steps)),
        "latent": _names("z", n_latents),
        "feature": _names("x", n_features),
        "child": _names("z", n_latents),
    }
    posterior: dict[str, np.ndarray] = {"z": latents[None]}
    dims: dict[str, list[str]] = {
        "z": ["obs", "step", "latent"],
        "x": ["obs", "step", "feature"],
        "actions": ["obs", "action"],
    }
    for name, probs in edge_probabilities.items():
        if name not in PARENT_DIMS:
            raise ValueError(f"graph names must be in {sorted(PARENT_DIMS)}, got {name!r}")
        probs = _check(probs, 2, f"edge_probabilities[{name!r}]")
        masks = _check(edge_masks[name], 3, f"edge_masks[{name!r}]")
        if masks.shape != (draws, *probs.shape) or probs.shape[0] != n_latents:
            raise ValueError(
                f"edge_masks[{name!r}] must have shape {(draws, *probs.shape)} with "
                f"{n_latents} children, got {masks.shape}"
            )
        parent_dim = PARENT_DIMS[name]
        coords[parent_dim] = (
            _names("z", probs.shape[1]) if name == "latent_graph" else _names("a", probs.shape[1])
        )
        posterior[f"{name}_probability"] = np.broadcast_to(probs, masks.shape)[None].copy()
        posterior[f"{name}_mask"] = masks[None].astype(np.int8)
        dims[f"{name}_probability"] = dims[f"{name}_mask"] = ["child", parent_dim]
    groups = {
        "posterior": posterior,
        "posterior_predictive": {"x": predictive[None]},
        "observed_data": {"x": observed},
    }
    if actions is not None:
        actions = _check(actions, 2, "actions")
        coords["action"] = _names("a", actions.shape[1])
        groups["constant_data"] = {"actions": actions}
    tree = az.from_dict(groups, coords=coords, dims=dims)
    tree.attrs.update({"family": "mechanism-sparsity", **dict(attrs or {})})
    return tree


def split_posterior_tree(
    sample, fitted, dataset, split: str, *, num_samples: int, max_obs: int, seed: int, backend: str
):
    """The tree of ``sample(fitted, x, actions, num_samples=, seed=)`` (a backend's guide
    sampler) on the first ``max_obs`` samples of ``dataset``'s ``split``."""
    if not isinstance(max_obs, int) or isinstance(max_obs, bool) or max_obs < 1:
        raise ValueError(f"max_obs must be a positive int, got {max_obs!r}")
    data = dataset.split(split)
    x = np.asarray(data["x"][:max_obs])
    actions = np.asarray(data["actions"][:max_obs]) if "actions" in data else None
    draws = sample(fitted, x, actions, num_samples=num_samples, seed=seed)
    attrs = {"backend": backend, "dataset": dataset.name, "split": split,
             "sparsity_mode": fitted.sparsity.mode}  # fmt: skip
    return mechanism_posterior_tree(**draws, observed=x, actions=actions, attrs=attrs)


def save_posterior(tree, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write ``tree`` as netCDF (HDF5) to ``path`` atomically.

    The file is built in memory (a few MB: the run folder keeps a bounded number of draws),
    then written through :func:`latentgraph._atomic.atomic_write` (uniquely named temporary,
    ``fsync``, rename; a symbolic link at ``path`` is replaced, never followed). So a full disk
    or a read-only folder fails in a plain ``write`` (an ``OSError`` naming ``path``; the
    temporary is removed, an older ``path`` stays as it was) and never inside HDF5, whose
    half-closed file after a failed write can crash the process when it is collected.
    """
    path = Path(path)
    buffer = io.BytesIO()
    tree.to_netcdf(buffer, engine="h5netcdf")
    with atomic_write(path, overwrite=overwrite) as handle:
        handle.write(buffer.getbuffer())
    return path


def load_posterior(path: str | os.PathLike):
    """Read a tree written by :func:`save_posterior` (an ``xarray.DataTree``)."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} does not exist or is not a file")
    return xr.open_datatree(path, engine="h5netcdf").load()
