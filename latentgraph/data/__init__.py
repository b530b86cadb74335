"""Data room: numpy-only synthetic generators, user data loading and a small container.

Nothing here imports torch or JAX (STYLE.md, point 3).
"""

from latentgraph.data.arrays import ArrayDataset, ArrayDatasetWriter
from latentgraph.data.dataset import Dataset
from latentgraph.data.linear_scm import context_index, linear_scm_moments, make_linear_scm_dataset
from latentgraph.data.mechanism import (
    MECHANISM_DATASETS,
    list_mechanism_datasets,
    make_mechanism_dataset,
)
from latentgraph.data.mixing import MixingMLP, mixing_function
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
    "ArrayDataset",
    "ArrayDatasetWriter",
    "GRAPH_NAMES",
    "MECHANISM_DATASETS",
    "Dataset",
    "MixingMLP",
    "context_index",
    "frequencies_and_phases",
    "k2_variance",
    "linear_action_mean",
    "linear_scm_moments",
    "linear_temporal_mean",
    "list_mechanism_datasets",
    "load_npz",
    "make_linear_scm_dataset",
    "make_mechanism_dataset",
    "mixing_function",
    "named_graph",
    "random_graph",
    "sines_action_mean",
    "sines_temporal_mean",
]
