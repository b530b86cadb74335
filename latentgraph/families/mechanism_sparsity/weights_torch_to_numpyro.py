"""Carry the weights of a Pyro :class:`~.pyro_model.MechanismSparsityVAE` into NumPyro params.

Both backends use the same layer layout, so the map is a renaming plus transposes:

==========================================  ===========================================
torch ``state_dict`` key                    NumPyro params path
==========================================  ===========================================
``encoder.{2k}.weight`` / ``.bias``         ``encoder$params/layers_k/kernel`` (``.T``) / ``bias``
``decoder.{2k}.weight`` / ``.bias``         ``decoder$params/layers_k/kernel`` (``.T``) / ``bias``
``mechanisms.latent_in.weight``             ``mechanisms$params/latent_in/kernel`` (last axes swapped)
``mechanisms.action_in.weight``             ``mechanisms$params/action_in/kernel`` (swapped)
``mechanisms.input_bias``                   ``mechanisms$params/input_bias``
``mechanisms.hidden_layers.{k}.weight``     ``mechanisms$params/hidden_layers_k/kernel`` (swapped)
``mechanisms.out.weight`` / ``.bias``       ``mechanisms$params/out/kernel`` (swapped) / ``bias``
``edge_logits.<graph>``                     ``<graph>_logits``
``decoder_logvar``, ``transition_raw_var``,  same names
``initial_loc``, ``initial_raw_var``
==========================================  ===========================================

The edge *prior* buffers (``<graph>_prior_logits``) are not weights: in NumPyro the prior
log-odds are an argument of the programs.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from latentgraph.families.mechanism_sparsity.config import MechanismSparsityConfig

_SAME_NAME = ("decoder_logvar", "transition_raw_var", "initial_loc", "initial_raw_var")


def _array(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; no torch import needed here
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _mlp(state: Mapping[str, np.ndarray], prefix: str, n_layers: int) -> dict:
    return {
        f"layers_{k}": {
            "kernel": state[f"{prefix}.{2 * k}.weight"].T,
            "bias": state[f"{prefix}.{2 * k}.bias"],
        }
        for k in range(n_layers)
    }


def numpyro_params_from_torch(state_dict: Mapping, config: MechanismSparsityConfig) -> dict:
    """The NumPyro params pytree holding the weights of a torch ``state_dict``.

    Args:
        state_dict: ``MechanismSparsityVAE(config).state_dict()`` (tensors or arrays).
        config: the configuration both models were built from.

    Returns nested dicts of ``jax.Array`` in the dtype of the inputs (float64 stays float64
    when JAX's x64 mode is on). Raises ``ValueError`` naming any weight that is missing.
    """
    state = {k: _array(v) for k, v in state_dict.items()}
    s = config.sizes
    try:
        mechanisms = {"input_bias": state["mechanisms.input_bias"]}
        for group in ("latent_in", "action_in"):
            if f"mechanisms.{group}.weight" in state:
                mechanisms[group] = {
                    "kernel": np.swapaxes(state[f"mechanisms.{group}.weight"], -1, -2)
                }
        for k in range(s.transition_layers - 1):
            mechanisms[f"hidden_layers_{k}"] = {
                "kernel": np.swapaxes(state[f"mechanisms.hidden_layers.{k}.weight"], -1, -2),
                "bias": state[f"mechanisms.hidden_layers.{k}.bias"],
            }
        mechanisms["out"] = {
            "kernel": np.swapaxes(state["mechanisms.out.weight"], -1, -2),
            "bias": state["mechanisms.out.bias"],
        }
        params = {
            "encoder$params": _mlp(state, "encoder", len(s.encoder_hidden) + 1),
            "decoder$params": _mlp(state, "decoder", len(s.decoder_hidden) + 1),
            "mechanisms$params": mechanisms,
        }
        for name in _SAME_NAME:
            if name in state:
                params[name] = state[name]
        for graph in config.graph_shapes():
            params[f"{graph}_logits"] = state[f"edge_logits.{graph}"]
    except KeyError as err:
        raise ValueError(
            f"state_dict does not hold the weights of this config: missing {err.args[0]!r}"
        ) from None
    return _to_jax(params)


def _to_jax(tree):
    if isinstance(tree, Mapping):
        return {k: _to_jax(v) for k, v in tree.items()}
    return jnp.asarray(tree)
