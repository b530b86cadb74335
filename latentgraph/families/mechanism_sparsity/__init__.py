"""Mechanism sparsity (Lachapelle et al., 2024, arXiv 2401.04890).

Pyro: :func:`fit` (:mod:`.fit_pyro`), :class:`MechanismSparsityVAE`; NumPyro:
:mod:`.fit_numpyro` and the vmapped :mod:`.sweep_numpyro`; both: :class:`SparsitySettings`,
:func:`model_config_for` (:mod:`.settings`), :func:`evaluate`. Names load on first use, so the
NumPyro modules of this family never import torch.
"""

from importlib import import_module

# Backend-neutral names are imported now (a lazy name equal to a submodule's, like
# ``evaluate``, would be shadowed by the submodule once it is imported); the Pyro ones on first use.
from latentgraph.families.mechanism_sparsity.config import (
    MechanismSparsityConfig,
    NetworkSizes,
    demo_sizes,
)
from latentgraph.families.mechanism_sparsity.evaluate import Evaluation, evaluate
from latentgraph.families.mechanism_sparsity.settings import SparsitySettings, model_config_for

_MODULES = {
    "FittedMechanismSparsity": "latentgraph.families.mechanism_sparsity.fit_pyro",
    "MechanismSparsityVAE": "latentgraph.families.mechanism_sparsity.pyro_model",
    "fit": "latentgraph.families.mechanism_sparsity.fit_pyro",
}


def __getattr__(name: str) -> object:
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))


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
