"""Context module (Markham et al., arXiv 2507.04754): Pyro backend.

A VAE whose decoder starts with a context module: per-concept noise, expressive and causal
layers whose wiring follows each sample's intervention targets, then an unpool into the
decoder. It generates from every training context and from unseen combinations of targets.
"""

from latentgraph.families.context_module.config import (
    BackboneSizes,
    ContextModuleConfig,
    ModuleSizes,
    cpu_config,
    official_config,
)
from latentgraph.families.context_module.evaluate import (
    ConceptTruth,
    ContextImages,
    Evaluation,
    evaluate,
)
from latentgraph.families.context_module.fit_pyro import FittedContextModule, fit
from latentgraph.families.context_module.generate import generate
from latentgraph.families.context_module.layers_torch import (
    CausalLayer,
    ContextModule,
    ExpressiveLayer,
    NoiseLayer,
    Unpool,
)
from latentgraph.families.context_module.pyro_model import ContextModuleVAE
from latentgraph.families.context_module.variants import VARIANTS, Variant, get_variant

__all__ = [
    "VARIANTS",
    "BackboneSizes",
    "CausalLayer",
    "ConceptTruth",
    "ContextImages",
    "ContextModule",
    "ContextModuleConfig",
    "ContextModuleVAE",
    "Evaluation",
    "ExpressiveLayer",
    "FittedContextModule",
    "ModuleSizes",
    "NoiseLayer",
    "Unpool",
    "Variant",
    "cpu_config",
    "evaluate",
    "fit",
    "generate",
    "get_variant",
    "official_config",
]
