"""Intervention handlers for Pyro programs: contexts of known targets, applied from outside.

- :mod:`~.contexts` (numpy only): :class:`PerfectValue`, :class:`PerfectDraw`,
  :class:`Stochastic`, :class:`Soft` descriptions, a :class:`Context` (targets + per-sample
  mask) and :func:`target_mask`.
- Handlers, one per file, each usable as ``handler(model, ...)`` or as a context manager:
  :func:`perfect` (``do(x := v)``, ``do(x ~ q)``), :func:`stochastic` (replace the
  distribution), :func:`soft` (shift/scale location and scale), :func:`intervene` (a whole
  :class:`Context`, several targets at once). Semantics in the log joint:
  :mod:`~.intervene_pyro`.
- :class:`MaskedSelect`: the per-sample (plate-element) form of an intervention.
- :func:`linear_gaussian_scm_pyro` (a small SCM program) and its closed-form moments
  (:mod:`~.linear_gaussian`, numpy).
"""

from latentgraph.models.interventions.contexts import (
    Context,
    Intervention,
    PerfectDraw,
    PerfectValue,
    Soft,
    Stochastic,
    target_mask,
)
from latentgraph.models.interventions.intervene_pyro import InterventionMessenger, intervene
from latentgraph.models.interventions.linear_gaussian import (
    linear_gaussian_moments,
    perfect_linear_gaussian,
    soft_linear_gaussian,
)
from latentgraph.models.interventions.masked_select_pyro import MaskedSelect
from latentgraph.models.interventions.perfect_pyro import PerfectMessenger, perfect
from latentgraph.models.interventions.replacement_pyro import (
    intervened_distribution,
    soft_shift_scale,
)
from latentgraph.models.interventions.scm_pyro import linear_gaussian_scm_pyro
from latentgraph.models.interventions.soft_pyro import SoftMessenger, soft
from latentgraph.models.interventions.stochastic_pyro import StochasticMessenger, stochastic

__all__ = [
    "Context",
    "Intervention",
    "InterventionMessenger",
    "MaskedSelect",
    "PerfectDraw",
    "PerfectMessenger",
    "PerfectValue",
    "Soft",
    "SoftMessenger",
    "Stochastic",
    "StochasticMessenger",
    "intervene",
    "intervened_distribution",
    "linear_gaussian_moments",
    "linear_gaussian_scm_pyro",
    "perfect",
    "perfect_linear_gaussian",
    "soft",
    "soft_linear_gaussian",
    "soft_shift_scale",
    "stochastic",
    "target_mask",
]
