"""Mechanism sparsity (Lachapelle et al., 2024, arXiv 2401.04890): Pyro backend."""

from latentgraph.families.mechanism_sparsity.config import (
    MechanismSparsityConfig,
    NetworkSizes,
    demo_sizes,
)
from latentgraph.families.mechanism_sparsity.evaluate import Evaluation, evaluate
from latentgraph.families.mechanism_sparsity.fit_pyro import (
    FittedMechanismSparsity,
    SparsitySettings,
    fit,
    model_config_for,
)
from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE

__all__ = [
    "Evaluation",
    "FittedMechanismSparsity",
    "MechanismSparsityConfig",
    "MechanismSparsityVAE",
    "NetworkSizes",
    "SparsitySettings",
    "demo_sizes",
    "evaluate",
    "fit",
    "model_config_for",
]
