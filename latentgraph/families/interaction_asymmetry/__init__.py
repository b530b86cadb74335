"""Interaction asymmetry (Brady et al., 2025, arXiv 2411.07784): the regularised Transformer VAE
as a Pyro program, its training, evaluation and run folder."""

from latentgraph.families.interaction_asymmetry.config import (
    DecoderSizes,
    EncoderSizes,
    InteractionAsymmetryConfig,
    cpu_config,
    official_config,
)
from latentgraph.families.interaction_asymmetry.fit_pyro import (
    FittedInteractionAsymmetry,
    InteractionAsymmetryObjective,
    SpeedSettings,
    fit,
)
from latentgraph.families.interaction_asymmetry.pyro_model import InteractionAsymmetryVAE
from latentgraph.families.interaction_asymmetry.schedules import (
    LearningRateSchedule,
    ScheduledTrainConfig,
    alpha_schedule,
)

__all__ = [
    "DecoderSizes",
    "EncoderSizes",
    "FittedInteractionAsymmetry",
    "InteractionAsymmetryConfig",
    "InteractionAsymmetryObjective",
    "InteractionAsymmetryVAE",
    "LearningRateSchedule",
    "ScheduledTrainConfig",
    "SpeedSettings",
    "alpha_schedule",
    "cpu_config",
    "fit",
    "official_config",
]
