"""Evaluate a fitted mechanism-sparsity model on a held-out split (``docs/mechanism_sparsity.md#metrics``).

The representation is the encoder mean; for temporal data the time steps are stacked as rows
(the convention of Lachapelle et al. 2024,
``docs/mechanism_sparsity.md#mcc-over-both-time-steps``). Metrics come from :mod:`latentgraph.metrics`, the theory from
:mod:`latentgraph.graphs`; this module only wires them to a fitted model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module

import numpy as np

from latentgraph.data import Dataset
from latentgraph.graphs import EdgeBeliefs, entanglement_graph
from latentgraph.metrics import (
    MCCResult,
    consistency_r,
    linear_r,
    mean_correlation,
    structural_hamming_distance,
)

METRIC_ROWS = 100_000
ELBO_ROWS = 10_000
"""Validation examples :func:`validation_elbo` uses by default."""


@dataclass
class Evaluation:
    """Metrics and the arrays behind them for one split."""

    metrics: dict[str, float]
    z_hat: np.ndarray  # (n, T, d_z) encoder means
    z_true: np.ndarray | None
    matching: MCCResult | None
    learned: dict[str, EdgeBeliefs]
    true_graphs: dict[str, np.ndarray] = field(default_factory=dict)


def _rows(z: np.ndarray) -> np.ndarray:
    return z.reshape(-1, z.shape[-1])


def check_same_shape(fitted, dataset: Dataset) -> None:
    """``ValueError`` unless ``dataset`` has the dimensions the model was fitted to: ``n_obs``
    (``d_x``), ``n_steps`` (``T``) and ``n_actions`` (``d_a``); an encoder applied frame by frame
    would otherwise encode data of another shape and score it (Lachapelle et al., arXiv
    2401.04890, Sec. 5: the metrics compare encodings of the data the model describes). The
    latent count may differ from the data's (``n_latents`` is a model choice)."""
    config = fitted.vae.config
    fitted_shape = (config.n_obs, config.n_steps, config.n_actions)
    data_shape = (dataset.n_obs, dataset.n_steps, dataset.n_actions)
    if fitted_shape != data_shape:
        raise ValueError(
            "dataset must have the shape the model was fitted to: n_obs/n_steps/n_actions = "
            f"{'/'.join(map(str, fitted_shape))}, got {'/'.join(map(str, data_shape))} "
            f"({dataset.name})"
        )


def evaluate(
    fitted,
    dataset: Dataset,
    split: str = "test",
    *,
    max_rows: int = METRIC_ROWS,
    encode_all: bool = True,
) -> Evaluation:
    """Encode ``split`` and compute every metric the ground truth allows.

    The metrics use the first ``max_rows`` rows (sample x time step) of the split. With
    ``encode_all=False`` only the samples those rows need are encoded, so periodic evaluation
    during training costs the same for any split size; ``z_hat`` then holds just those.

    Metrics: ``mcc`` (Pearson), ``mcc_spearman``, ``linear_r``, ``consistency_r`` (the
    column-wise, theoretically correct orientation), ``consistency_r_rows`` (the official
    row-wise one), ``shd`` (summed over learned graphs, after the MCC permutation), and per
    graph ``shd_<graph>``, ``n_edges_<graph>``, plus ``n_edges_learned`` (total) and
    ``expected_edges_learned``. Without true latents only the graph sizes are reported.
    """
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 2:
        raise ValueError(f"max_rows must be an int >= 2, got {max_rows!r}")
    check_same_shape(fitted, dataset)
    data = dataset.split(split)
    if not encode_all:
        n_needed = -(-max_rows // dataset.n_steps)
        data = {k: v[:n_needed] for k, v in data.items()}
    z_hat = fitted.encode(data["x"])
    learned = fitted.edge_beliefs()
    metrics: dict[str, float] = {
        "n_edges_learned": float(sum(b.n_edges() for b in learned.values())),
        "expected_edges_learned": float(sum(b.expected_edges() for b in learned.values())),
    }
    for name, beliefs in learned.items():
        metrics[f"n_edges_{name}"] = float(beliefs.n_edges())
    z_true = data.get("z")
    true_graphs = {k: np.asarray(v) for k, v in dataset.graphs.items()}
    if z_true is None:
        return Evaluation(metrics, z_hat, None, None, learned, true_graphs)
    zt, zh = _rows(z_true)[:max_rows], _rows(z_hat)[:max_rows]
    matching = mean_correlation(zt, zh)
    metrics["mcc"] = matching.score
    metrics["mcc_spearman"] = mean_correlation(zt, zh, method="spearman").score
    metrics["linear_r"] = linear_r(zt, zh)
    if true_graphs:
        ent = entanglement_graph(
            action_graph=true_graphs.get("action_graph"),
            latent_graph=true_graphs.get("latent_graph"),
        )
    else:
        ent = np.eye(zt.shape[1], dtype=bool)
    metrics["consistency_r"] = consistency_r(zt, zh, ent, matching.permutation, transposed=True)
    metrics["consistency_r_rows"] = consistency_r(
        zt, zh, ent, matching.permutation, transposed=False
    )
    shd_total = 0.0
    for name, beliefs in learned.items():
        if name in true_graphs:
            kind = "action" if name == "action_graph" else "latent"
            shd = structural_hamming_distance(
                true_graphs[name], beliefs.adjacency(), matching.permutation, kind=kind
            )
            metrics[f"shd_{name}"] = float(shd)
            shd_total += shd
    if any(name in true_graphs for name in learned):
        metrics["shd"] = shd_total
    return Evaluation(metrics, z_hat, z_true, matching, learned, true_graphs)


def _elbo_backend(fitted):
    """The module computing ``fitted``'s ELBO terms (imported lazily: this module is neutral)."""
    family = __name__.rsplit(".", 1)[0]
    if hasattr(fitted, "jax_device") and hasattr(fitted, "params"):
        return import_module(f"{family}.elbo_numpyro")
    if hasattr(fitted, "vae") and hasattr(fitted.vae, "parameters"):
        return import_module(f"{family}.elbo_pyro")
    raise TypeError(
        "fitted must be a fitted mechanism-sparsity model (fit_pyro.fit, fit_numpyro.fit or "
        f"sweep_numpyro.fit_many); received {type(fitted).__name__}"
    )


def elbo_noise(
    n_rows: int, n_steps: int, n_latents: int, graph_shapes: dict, particle: int, seed: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The standard noise of one Monte-Carlo particle of :func:`validation_elbo`: normal
    ``(n_rows, n_steps, n_latents)`` for the latents and logistic (``log u - log(1 - u)``) of
    each graph's shape, from ``numpy.random.default_rng([seed, particle])``."""
    rng = np.random.default_rng([seed, particle])
    latent = rng.normal(size=(n_rows, n_steps, n_latents))
    edges = {}
    for name, shape in graph_shapes.items():
        u = rng.uniform(size=shape)
        edges[name] = np.log(u) - np.log1p(-u)
    return latent, edges


def validation_elbo(
    fitted,
    dataset: Dataset,
    split: str = "valid",
    *,
    num_particles: int = 4,
    max_rows: int | None = ELBO_ROWS,
    seed: int = 0,
) -> float:
    """Mean ELBO per example of ``split`` (nats; higher is better), from its ``x`` (and actions)
    alone: a label-free fit score for model selection.

    For example :math:`n` with observations :math:`x_n = (x^1..x^T)` and actions :math:`a_n`,
    with the graphs drawn from their relaxed posterior :math:`\\tilde M \\sim q(M)` and
    :math:`\\tilde z = m + s \\odot \\varepsilon` (``docs/mechanism_sparsity.md#objective``;
    Lachapelle et al., arXiv 2401.04890, Sec. 5),

    .. math:: \\mathrm{ELBO}_n = \\log p(x_n \\mid \\tilde z, \\tilde M)
              - \\mathrm{KL}\\big(q(z \\mid x_n) \\,\\|\\, p(z \\mid \\tilde M, a_n)\\big),

    the KL analytic per step (step t's prior evaluated at the drawn :math:`\\tilde z^{t-1}`), as
    in training; the result is the mean over the first ``max_rows`` examples and
    ``num_particles`` draws. Two choices differ from the training loss, on purpose: the KL
    weight is 1 whatever ``beta`` (a bound on :math:`\\log p(x \\mid a)`, comparable across
    settings), and the graph prior's term is left out (it is a per-setting regulariser, not a
    fit to data: a penalty would otherwise be scored by its own prior). Unscaled: nats per
    example, summed over the ``T * d_x`` observed dimensions.

    Reproducible: the noise comes from ``numpy.random.default_rng([seed, particle])``
    (:func:`elbo_noise`) and is the same for the Pyro and NumPyro fitted objects, so the same
    weights give the same number on both backends.

    Args:
        fitted: the result of ``fit_pyro.fit``, ``fit_numpyro.fit`` or one of
            ``sweep_numpyro.fit_many``'s.
        dataset: the dataset it was fitted on.
        split: ``"valid"`` (default) or another split name.
        num_particles: Monte-Carlo draws per example (>= 1).
        max_rows: examples used (``None``: the whole split).
        seed: seed of the draws.
    """
    if not isinstance(num_particles, int) or isinstance(num_particles, bool) or num_particles < 1:
        raise ValueError(f"num_particles must be an int >= 1, got {num_particles!r}")
    if max_rows is not None and (
        not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1
    ):
        raise ValueError(f"max_rows must be an int >= 1 or None, got {max_rows!r}")
    backend = _elbo_backend(fitted)
    data = dataset.split(split)
    x = np.asarray(data["x"])[:max_rows]
    actions = data.get("actions") if fitted.vae.config.n_actions else None
    actions = None if actions is None else np.asarray(actions)[: len(x)]
    config = fitted.vae.config
    total = 0.0
    for particle in range(num_particles):
        latent, edges = elbo_noise(
            len(x), x.shape[1], config.n_latents, config.graph_shapes(), particle, seed
        )
        log_lik, kl = backend.elbo_terms(fitted, x, actions, latent, edges)
        total += log_lik - kl
    return total / (num_particles * len(x))
