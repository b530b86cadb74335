"""Metrics for learned representations and graphs (numpy/scipy/scikit-learn only).

- :mod:`~latentgraph.metrics.correlation`: MCC with Hungarian matching.
- :mod:`~latentgraph.metrics.regression`: linear R and consistency-R (both orientations).
- :mod:`~latentgraph.metrics.graph_distance`: SHD and edge confusion after matching.
- :mod:`~latentgraph.metrics.selection`: UDR and label-free selection of a setting.

Latent arrays are ``(n_rows, n_latents)`` (temporal data stack time steps as rows) and at most
the first ``max_rows = 100_000`` rows are used, as in the official evaluation.
"""

from latentgraph.metrics._validation import DEFAULT_MAX_ROWS, CorrelationMethod
from latentgraph.metrics.correlation import MCCResult, correlation_matrix, mcc, mean_correlation
from latentgraph.metrics.graph_distance import (
    EdgeConfusion,
    GraphKind,
    edge_confusion,
    permute_learned_graph,
    structural_hamming_distance,
)
from latentgraph.metrics.regression import (
    consistency_r,
    consistency_r_columns,
    consistency_r_rows,
    linear_r,
)
from latentgraph.metrics.selection import pairwise_mcc, select_by_udr, udr

__all__ = [
    "DEFAULT_MAX_ROWS",
    "CorrelationMethod",
    "EdgeConfusion",
    "GraphKind",
    "MCCResult",
    "consistency_r",
    "consistency_r_columns",
    "consistency_r_rows",
    "correlation_matrix",
    "edge_confusion",
    "linear_r",
    "mcc",
    "mean_correlation",
    "pairwise_mcc",
    "permute_learned_graph",
    "select_by_udr",
    "structural_hamming_distance",
    "udr",
]
