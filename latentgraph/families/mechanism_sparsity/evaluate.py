"""Evaluate a fitted mechanism-sparsity model on a held-out split (``docs/mechanism_sparsity.md#metrics``).

The representation is the encoder mean; for temporal data the time steps are stacked as rows
(the convention of Lachapelle et al. 2024,
``docs/mechanism_sparsity.md#mcc-over-both-time-steps``). Metrics come from :mod:`latentgraph.metrics`, the theory from
:mod:`latentgraph.graphs`; this module only wires them to a fitted model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
