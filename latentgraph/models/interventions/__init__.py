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

from importlib import import_module

# Loaded on first use: the descriptions (contexts) and closed forms are numpy only, and a
# NumPyro user of them must not pay for (or be able to see) the Pyro handlers" torch import.
_MODULES = {
    "Context": "latentgraph.models.interventions.contexts",
    "Intervention": "latentgraph.models.interventions.contexts",
    "InterventionMessenger": "latentgraph.models.interventions.intervene_pyro",
    "MaskedSelect": "latentgraph.models.interventions.masked_select_pyro",
    "PerfectDraw": "latentgraph.models.interventions.contexts",
    "PerfectMessenger": "latentgraph.models.interventions.perfect_pyro",
    "PerfectValue": "latentgraph.models.interventions.contexts",
    "Soft": "latentgraph.models.interventions.contexts",
    "SoftMessenger": "latentgraph.models.interventions.soft_pyro",
    "Stochastic": "latentgraph.models.interventions.contexts",
    "StochasticMessenger": "latentgraph.models.interventions.stochastic_pyro",
    "intervene": "latentgraph.models.interventions.intervene_pyro",
    "intervened_distribution": "latentgraph.models.interventions.replacement_pyro",
    "linear_gaussian_moments": "latentgraph.models.interventions.linear_gaussian",
    "linear_gaussian_scm_pyro": "latentgraph.models.interventions.scm_pyro",
    "perfect": "latentgraph.models.interventions.perfect_pyro",
    "perfect_linear_gaussian": "latentgraph.models.interventions.linear_gaussian",
    "soft": "latentgraph.models.interventions.soft_pyro",
    "soft_linear_gaussian": "latentgraph.models.interventions.linear_gaussian",
    "soft_shift_scale": "latentgraph.models.interventions.replacement_pyro",
    "stochastic": "latentgraph.models.interventions.stochastic_pyro",
    "target_mask": "latentgraph.models.interventions.contexts",
}


def __getattr__(name: str) -> object:
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))


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
