"""Metrics for learned representations and graphs (numpy/scipy/scikit-learn only).

- :mod:`~latentgraph.metrics.correlation`: MCC with Hungarian matching.
- :mod:`~latentgraph.metrics.regression`: linear R and consistency-R (both orientations).
- :mod:`~latentgraph.metrics.graph_distance`: SHD and edge confusion after matching.
- :mod:`~latentgraph.metrics.selection`: UDR and label-free selection of a setting.
- :mod:`~latentgraph.metrics.interaction`: interaction-order checks of slot decoders
  (compositional contrast, double difference, base-point invariance, cross-Hessian mass).
- :mod:`~latentgraph.metrics.objects`: J-ARI, JIS, slot R^2 with Hungarian matching,
  reconstruction. (Torch Jacobians: :mod:`latentgraph.models.jacobian_torch`, not imported
  here so this package stays numpy-only.)
- :mod:`~latentgraph.metrics.sliced_wasserstein`: seeded SWD per context and per pair.
- :mod:`~latentgraph.metrics.concepts`: per-concept block R^2 and the concept-graph read-out.
- :mod:`~latentgraph.metrics.elbo_bpd`: the context module's "ELBO BPD".

Latent arrays are ``(n_rows, n_latents)`` (temporal data stack time steps as rows) and at most
the first ``max_rows = 100_000`` rows are used, as in the official evaluation.
"""

from latentgraph.metrics._validation import DEFAULT_MAX_ROWS, CorrelationMethod
from latentgraph.metrics.concepts import (
    ConceptGraphComparison,
    block_average,
    compare_concept_graphs,
    concept_graph_scores,
    concept_r2,
    concept_r2_matrix,
    maximal_dag,
)
from latentgraph.metrics.correlation import MCCResult, correlation_matrix, mcc, mean_correlation
from latentgraph.metrics.elbo_bpd import elbo_bpd
from latentgraph.metrics.graph_distance import (
    EdgeConfusion,
    GraphKind,
    edge_confusion,
    permute_learned_graph,
    structural_hamming_distance,
)
from latentgraph.metrics.interaction import (
    InteractionCheck,
    base_point_invariance_check,
    compositional_check,
    compositional_contrast,
    cross_hessian_mass,
    double_difference,
    double_difference_check,
    finite_difference_jacobian,
    interaction_checks,
    off_slot_mass,
    slot_jacobian_norms,
)
from latentgraph.metrics.objects import (
    SlotR2Result,
    SlotReadout,
    fit_slot_readout,
    jacobian_ari,
    jacobian_interaction_score,
    normalised_influence,
    reconstruction_metrics,
    slot_r2,
)
from latentgraph.metrics.regression import (
    consistency_r,
    consistency_r_columns,
    consistency_r_rows,
    linear_r,
)
from latentgraph.metrics.selection import (
    Selection,
    pairwise_mcc,
    select_by_udr,
    select_setting,
    udr,
)
from latentgraph.metrics.sliced_wasserstein import (
    ContextSWD,
    context_swd,
    group_by_context,
    random_projections,
    sliced_wasserstein,
    sliced_wasserstein_by_context,
)

__all__ = [
    "ConceptGraphComparison",
    "ContextSWD",
    "block_average",
    "compare_concept_graphs",
    "concept_graph_scores",
    "concept_r2",
    "concept_r2_matrix",
    "context_swd",
    "elbo_bpd",
    "group_by_context",
    "maximal_dag",
    "random_projections",
    "sliced_wasserstein",
    "sliced_wasserstein_by_context",
    "DEFAULT_MAX_ROWS",
    "CorrelationMethod",
    "EdgeConfusion",
    "GraphKind",
    "InteractionCheck",
    "MCCResult",
    "Selection",
    "SlotR2Result",
    "SlotReadout",
    "base_point_invariance_check",
    "compositional_check",
    "compositional_contrast",
    "consistency_r",
    "consistency_r_columns",
    "consistency_r_rows",
    "correlation_matrix",
    "cross_hessian_mass",
    "double_difference",
    "double_difference_check",
    "edge_confusion",
    "finite_difference_jacobian",
    "fit_slot_readout",
    "interaction_checks",
    "jacobian_ari",
    "jacobian_interaction_score",
    "linear_r",
    "mcc",
    "mean_correlation",
    "normalised_influence",
    "off_slot_mass",
    "pairwise_mcc",
    "permute_learned_graph",
    "reconstruction_metrics",
    "select_by_udr",
    "select_setting",
    "slot_jacobian_norms",
    "slot_r2",
    "structural_hamming_distance",
    "udr",
]
