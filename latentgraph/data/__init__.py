"""Data room: numpy-only synthetic generators, user data loading and a small container.

Nothing here imports torch or JAX (STYLE.md, point 3).
"""

from latentgraph.data._checks import check_int, check_real_array, check_seed, describe
from latentgraph.data._files import check_regular_file, inspect_npz
from latentgraph.data.arrays import ArrayDataset, ArrayDatasetWriter
from latentgraph.data.dataset import Dataset
from latentgraph.data.digits import (
    DIGIT_CONCEPTS,
    DIGIT_HELDOUT_PAIRS,
    DIGIT_PARAMETERS,
    DIGIT_TRAINING_CONTEXTS,
    apply_digit_transforms,
    make_digits_contexts,
    preprocess_digits,
)
from latentgraph.data.linear_scm import context_index, linear_scm_moments, make_linear_scm_dataset
from latentgraph.data.mechanism import (
    MECHANISM_DATASETS,
    list_mechanism_datasets,
    make_mechanism_dataset,
)
from latentgraph.data.mixing import MixingMLP, mixing_function
from latentgraph.data.quad import (
    QUAD_CONCEPTS,
    QUAD_HELDOUT_PAIRS,
    QUAD_TRAINING_CONTEXTS,
    QUAD_VARIABLES,
    QuadSCM,
    make_quad,
    make_quad_causal,
    quad_factors,
    quad_scm,
    render_quad,
)
from latentgraph.data.sprites import FACTOR_NAMES as SPRITE_FACTOR_NAMES
from latentgraph.data.sprites import SHAPE_IDS as SPRITE_SHAPE_IDS
from latentgraph.data.sprites import (
    load_or_write_sprites,
    make_sprites,
    render_sprites,
    sample_sprite_latents,
    write_sprites,
)
from latentgraph.data.transitions import (
    frequencies_and_phases,
    k2_variance,
    linear_action_mean,
    linear_temporal_mean,
    sines_action_mean,
    sines_temporal_mean,
)
from latentgraph.data.true_graphs import GRAPH_NAMES, named_graph, random_graph
from latentgraph.data.user import load_npz

__all__ = [
    "check_int",
    "check_real_array",
    "check_regular_file",
    "check_seed",
    "describe",
    "DIGIT_CONCEPTS",
    "DIGIT_HELDOUT_PAIRS",
    "DIGIT_PARAMETERS",
    "DIGIT_TRAINING_CONTEXTS",
    "QUAD_CONCEPTS",
    "QUAD_HELDOUT_PAIRS",
    "QUAD_TRAINING_CONTEXTS",
    "QUAD_VARIABLES",
    "QuadSCM",
    "apply_digit_transforms",
    "make_digits_contexts",
    "make_quad",
    "make_quad_causal",
    "preprocess_digits",
    "quad_factors",
    "quad_scm",
    "render_quad",
    "ArrayDataset",
    "ArrayDatasetWriter",
    "GRAPH_NAMES",
    "MECHANISM_DATASETS",
    "Dataset",
    "MixingMLP",
    "SPRITE_FACTOR_NAMES",
    "SPRITE_SHAPE_IDS",
    "context_index",
    "frequencies_and_phases",
    "inspect_npz",
    "k2_variance",
    "linear_action_mean",
    "linear_scm_moments",
    "linear_temporal_mean",
    "list_mechanism_datasets",
    "load_npz",
    "load_or_write_sprites",
    "make_linear_scm_dataset",
    "make_mechanism_dataset",
    "make_sprites",
    "mixing_function",
    "named_graph",
    "random_graph",
    "render_sprites",
    "sample_sprite_latents",
    "sines_action_mean",
    "sines_temporal_mean",
    "write_sprites",
]
