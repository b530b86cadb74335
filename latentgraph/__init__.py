"""latentgraph: identifiable causal representation learning as probabilistic programs.

The package has three layers (``README.md`` shows the tree):

1. **the library**: this namespace (backend-neutral: data generators and containers, metrics,
   graphs and :class:`EdgeBeliefs`, training settings and history, ArviZ posterior helpers,
   intervention descriptions) and the two backend namespaces ``latentgraph.pyro`` (``import
   latentgraph.pyro as lgp``; no JAX) and ``latentgraph.numpyro`` (``import latentgraph.numpyro
   as lgn``; no torch);
2. **the families** (``latentgraph.families``): the three papers' programs, fits and
   evaluations, written with the public names of layer 1;
3. **the applications** (``latentgraph.app``): the command line, run folders and reports.

``import latentgraph`` loads neither torch nor JAX, and each name below is imported on first
use, so start-up stays fast: ``latentgraph.make_mechanism_dataset(...)``,
``latentgraph.mean_correlation(...)``, ``latentgraph.EdgeBeliefs(...)``.
"""

from importlib import import_module

__version__ = "0.1.0"

_NAMES = {
    # latentgraph.data
    "ArrayDataset": "latentgraph.data",
    "ArrayDatasetWriter": "latentgraph.data",
    "DIGIT_CONCEPTS": "latentgraph.data",
    "DIGIT_HELDOUT_PAIRS": "latentgraph.data",
    "DIGIT_PARAMETERS": "latentgraph.data",
    "DIGIT_TRAINING_CONTEXTS": "latentgraph.data",
    "Dataset": "latentgraph.data",
    "GRAPH_NAMES": "latentgraph.data",
    "MECHANISM_DATASETS": "latentgraph.data",
    "MixingMLP": "latentgraph.data",
    "QUAD_CONCEPTS": "latentgraph.data",
    "QUAD_HELDOUT_PAIRS": "latentgraph.data",
    "QUAD_TRAINING_CONTEXTS": "latentgraph.data",
    "QUAD_VARIABLES": "latentgraph.data",
    "QuadSCM": "latentgraph.data",
    "SPRITE_FACTOR_NAMES": "latentgraph.data",
    "SPRITE_SHAPE_IDS": "latentgraph.data",
    "apply_digit_transforms": "latentgraph.data",
    "context_index": "latentgraph.data",
    "frequencies_and_phases": "latentgraph.data",
    "k2_variance": "latentgraph.data",
    "linear_action_mean": "latentgraph.data",
    "linear_scm_moments": "latentgraph.data",
    "linear_temporal_mean": "latentgraph.data",
    "list_mechanism_datasets": "latentgraph.data",
    "load_npz": "latentgraph.data",
    "load_or_write_sprites": "latentgraph.data",
    "make_digits_contexts": "latentgraph.data",
    "make_linear_scm_dataset": "latentgraph.data",
    "make_mechanism_dataset": "latentgraph.data",
    "make_quad": "latentgraph.data",
    "make_quad_causal": "latentgraph.data",
    "make_sprites": "latentgraph.data",
    "mixing_function": "latentgraph.data",
    "named_graph": "latentgraph.data",
    "preprocess_digits": "latentgraph.data",
    "quad_factors": "latentgraph.data",
    "quad_scm": "latentgraph.data",
    "random_graph": "latentgraph.data",
    "render_quad": "latentgraph.data",
    "render_sprites": "latentgraph.data",
    "sample_sprite_latents": "latentgraph.data",
    "sines_action_mean": "latentgraph.data",
    "sines_temporal_mean": "latentgraph.data",
    "write_sprites": "latentgraph.data",
    # latentgraph.graphs
    "EdgeBeliefs": "latentgraph.graphs",
    "EdgeKind": "latentgraph.graphs",
    "complete_disentanglement_identifiable": "latentgraph.graphs",
    "draw_correlation_matrix": "latentgraph.graphs",
    "draw_graph_comparison": "latentgraph.graphs",
    "empty_rows": "latentgraph.graphs",
    "entangled_blocks": "latentgraph.graphs",
    "entanglement_graph": "latentgraph.graphs",
    "guaranteed_disentangled": "latentgraph.graphs",
    "is_completely_disentangled": "latentgraph.graphs",
    # latentgraph.metrics
    "ConceptGraphComparison": "latentgraph.metrics",
    "ContextSWD": "latentgraph.metrics",
    "CorrelationMethod": "latentgraph.metrics",
    "DEFAULT_MAX_ROWS": "latentgraph.metrics",
    "EdgeConfusion": "latentgraph.metrics",
    "GraphKind": "latentgraph.metrics",
    "InteractionCheck": "latentgraph.metrics",
    "MCCResult": "latentgraph.metrics",
    "SlotR2Result": "latentgraph.metrics",
    "SlotReadout": "latentgraph.metrics",
    "base_point_invariance_check": "latentgraph.metrics",
    "block_average": "latentgraph.metrics",
    "compare_concept_graphs": "latentgraph.metrics",
    "compositional_check": "latentgraph.metrics",
    "compositional_contrast": "latentgraph.metrics",
    "concept_graph_scores": "latentgraph.metrics",
    "concept_r2": "latentgraph.metrics",
    "concept_r2_matrix": "latentgraph.metrics",
    "consistency_r": "latentgraph.metrics",
    "consistency_r_columns": "latentgraph.metrics",
    "consistency_r_rows": "latentgraph.metrics",
    "context_swd": "latentgraph.metrics",
    "correlation_matrix": "latentgraph.metrics",
    "cross_hessian_mass": "latentgraph.metrics",
    "double_difference": "latentgraph.metrics",
    "double_difference_check": "latentgraph.metrics",
    "edge_confusion": "latentgraph.metrics",
    "elbo_bpd": "latentgraph.metrics",
    "finite_difference_jacobian": "latentgraph.metrics",
    "fit_slot_readout": "latentgraph.metrics",
    "group_by_context": "latentgraph.metrics",
    "interaction_checks": "latentgraph.metrics",
    "jacobian_ari": "latentgraph.metrics",
    "jacobian_interaction_score": "latentgraph.metrics",
    "linear_r": "latentgraph.metrics",
    "maximal_dag": "latentgraph.metrics",
    "mcc": "latentgraph.metrics",
    "mean_correlation": "latentgraph.metrics",
    "normalised_influence": "latentgraph.metrics",
    "off_slot_mass": "latentgraph.metrics",
    "pairwise_mcc": "latentgraph.metrics",
    "permute_learned_graph": "latentgraph.metrics",
    "random_projections": "latentgraph.metrics",
    "reconstruction_metrics": "latentgraph.metrics",
    "select_by_udr": "latentgraph.metrics",
    "select_setting": "latentgraph.metrics",
    "sliced_wasserstein": "latentgraph.metrics",
    "sliced_wasserstein_by_context": "latentgraph.metrics",
    "slot_jacobian_norms": "latentgraph.metrics",
    "slot_r2": "latentgraph.metrics",
    "structural_hamming_distance": "latentgraph.metrics",
    "udr": "latentgraph.metrics",
    # latentgraph.errors
    "RunFolderError": "latentgraph.errors",
    "UserInputError": "latentgraph.errors",
    # latentgraph.inference.settings
    "History": "latentgraph.inference.settings",
    "NonFiniteLossError": "latentgraph.inference.settings",
    "TrainConfig": "latentgraph.inference.settings",
    # latentgraph.inference.posterior
    "load_posterior": "latentgraph.inference.posterior",
    "mechanism_posterior_tree": "latentgraph.inference.posterior",
    "save_posterior": "latentgraph.inference.posterior",
    "split_posterior_tree": "latentgraph.inference.posterior",
    # latentgraph.models.interventions.contexts
    "Context": "latentgraph.models.interventions.contexts",
    "Intervention": "latentgraph.models.interventions.contexts",
    "PerfectDraw": "latentgraph.models.interventions.contexts",
    "PerfectValue": "latentgraph.models.interventions.contexts",
    "Soft": "latentgraph.models.interventions.contexts",
    "Stochastic": "latentgraph.models.interventions.contexts",
    "target_mask": "latentgraph.models.interventions.contexts",
}
_SUBPACKAGES = ("data", "graphs", "metrics")


def __getattr__(name: str) -> object:
    if name in _NAMES:
        value = getattr(import_module(_NAMES[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBPACKAGES:
        return import_module(f"latentgraph.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES) | set(_SUBPACKAGES))


__all__ = sorted(_NAMES)
