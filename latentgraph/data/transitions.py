"""Transition means and variances of the synthetic mechanism-sparsity data.

``docs/mechanism_sparsity.md#action-data-sets`` and ``docs/mechanism_sparsity.md#temporal-data-sets``.

With 0-based latent index i, frequency w_i = (i + 3) / pi and phase phi_i = i (trivial variants:
w_i = 1, phi_i = 0). ``G`` is the true graph, rows = latents, columns = parents.

- action mean:    mu_i(a) = sum_l G[i, l] sin(w_i a_l + phi_i)
- temporal mean:  mu_i(z) = z_i + 0.5 sum_j G[i, j] sin(w_i z_j + phi_i)
- k=2 variance:   sigma_i^2 = (0.1 / d) exp(sum_l G[i, l] cos(w_i u_l + phi_i)), where u is a
  (d = n_actions) or z^{t-1} (d = n_latents)
- no_suff_var:    mu = (A ⊙ G) a, or mu = z + 0.5 (A ⊙ G) z, with A_ij ~ N(0, 1)

All functions are vectorised over the leading sample axis: inputs ``(n, d)``, outputs
``(n, n_latents)`` float64.
"""

from __future__ import annotations

import numpy as np

from latentgraph.data._checks import check_binary_matrix, check_int, check_real_array

__all__ = [
    "LATENT_VARIANCE",
    "frequencies_and_phases",
    "sines_action_mean",
    "sines_temporal_mean",
    "k2_variance",
    "linear_action_mean",
    "linear_temporal_mean",
]

LATENT_VARIANCE = 1e-4  # sigma_i^2 of every fixed-variance data set (std 0.01)


def frequencies_and_phases(n_latents: int, *, trivial: bool = False) -> tuple[np.ndarray, ...]:
    """``(w, phi)`` with w_i = (i + 3) / pi and phi_i = i, or w = 1, phi = 0 if ``trivial``."""
    n_latents = check_int(n_latents, "n_latents", minimum=1)
    if trivial:
        return np.ones(n_latents), np.zeros(n_latents)
    index = np.arange(n_latents, dtype=np.float64)
    return (index + 3.0) / np.pi, index


def _check(
    inputs: np.ndarray, graph: np.ndarray, what: str, graph_name: str, *, binary: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``inputs`` ``(n, d)`` and a non-empty ``(n_latents, d)`` graph: a 0/1 matrix
    if ``binary``, else finite real weights."""
    if binary:
        graph = check_binary_matrix(graph, graph_name)
    else:
        graph = check_real_array(
            graph, graph_name, ndims=(2,), layout="(n_latents, d)", non_empty=True
        )
    inputs = check_real_array(inputs, what, ndims=(2,), layout=f"(n, {graph.shape[1]})")
    if inputs.shape[1] != graph.shape[1]:
        raise ValueError(
            f"`{what}` must have shape (n, {graph.shape[1]}) to match the columns of "
            f"`{graph_name}`, got {inputs.shape}"
        )
    return inputs, graph


def _sum_over_parents(inputs: np.ndarray, graph: np.ndarray, fn, trivial: bool) -> np.ndarray:
    """out[:, i] = sum_{l in parents(i)} fn(w_i * inputs[:, l] + phi_i)."""
    n_latents = graph.shape[0]
    w, phi = frequencies_and_phases(n_latents, trivial=trivial)
    out = np.zeros((inputs.shape[0], n_latents))
    for i in range(n_latents):
        parents = np.flatnonzero(graph[i])
        if parents.size:
            out[:, i] = fn(w[i] * inputs[:, parents] + phi[i]).sum(axis=1)
    return out


def sines_action_mean(
    actions: np.ndarray, action_graph: np.ndarray, *, trivial: bool = False
) -> np.ndarray:
    """mu_i(a) = sum_l G^a[i, l] sin(w_i a_l + phi_i); a latent without parents has mean 0."""
    actions, action_graph = _check(actions, action_graph, "actions", "action_graph")
    return _sum_over_parents(actions, action_graph, np.sin, trivial)


def sines_temporal_mean(
    z_prev: np.ndarray, latent_graph: np.ndarray, *, trivial: bool = False
) -> np.ndarray:
    """mu_i(z) = z_i + 0.5 sum_j G^z[i, j] sin(w_i z_j + phi_i)."""
    z_prev, latent_graph = _check(z_prev, latent_graph, "z_prev", "latent_graph")
    if latent_graph.shape[0] != latent_graph.shape[1]:
        raise ValueError(f"`latent_graph` must be square, got shape {latent_graph.shape}")
    return z_prev + 0.5 * _sum_over_parents(z_prev, latent_graph, np.sin, trivial)


def k2_variance(parents: np.ndarray, graph: np.ndarray) -> np.ndarray:
    """sigma_i^2 = (0.1 / d) exp(sum_l G[i, l] cos(w_i u_l + phi_i)), d = graph.shape[1].

    ``parents`` is ``a`` for action data (d = n_actions) or ``z^{t-1}`` for temporal data
    (d = n_latents).
    """
    parents, graph = _check(parents, graph, "parents", "graph")
    return (0.1 / graph.shape[1]) * np.exp(_sum_over_parents(parents, graph, np.cos, False))


def linear_action_mean(actions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """mu = (A ⊙ G^a) a, with ``weights`` = A ⊙ G^a of shape (n_latents, n_actions)."""
    actions, weights = _check(actions, weights, "actions", "weights", binary=False)
    return actions @ weights.T


def linear_temporal_mean(z_prev: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """mu = z + 0.5 (A ⊙ G^z) z, with ``weights`` = A ⊙ G^z of shape (n_latents, n_latents)."""
    z_prev, weights = _check(z_prev, weights, "z_prev", "weights", binary=False)
    if weights.shape[0] != weights.shape[1]:
        raise ValueError(f"`weights` must be square (n_latents, n_latents), got {weights.shape}")
    return z_prev + 0.5 * (z_prev @ weights.T)
