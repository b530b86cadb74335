"""Mechanism sparsity (Lachapelle et al., 2024, arXiv 2401.04890).

Pyro: :func:`fit` (:mod:`.fit_pyro`), :class:`MechanismSparsityVAE`; NumPyro:
:mod:`.fit_numpyro` and the vmapped :mod:`.sweep_numpyro`; both: :class:`SparsitySettings`,
:func:`model_config_for` (:mod:`.settings`), :func:`evaluate`. Names load on first use, so the
NumPyro modules of this family never import torch.
"""

from importlib import import_module

_MODULES = {
    "Evaluation": "latentgraph.families.mechanism_sparsity.evaluate",
    "FittedMechanismSparsity": "latentgraph.families.mechanism_sparsity.fit_pyro",
    "MechanismSparsityConfig": "latentgraph.families.mechanism_sparsity.config",
    "MechanismSparsityVAE": "latentgraph.families.mechanism_sparsity.pyro_model",
    "NetworkSizes": "latentgraph.families.mechanism_sparsity.config",
    "SparsitySettings": "latentgraph.families.mechanism_sparsity.settings",
    "demo_sizes": "latentgraph.families.mechanism_sparsity.config",
    "evaluate": "latentgraph.families.mechanism_sparsity.evaluate",
    "fit": "latentgraph.families.mechanism_sparsity.fit_pyro",
    "model_config_for": "latentgraph.families.mechanism_sparsity.settings",
}


def __getattr__(name: str) -> object:
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))


__all__ = sorted(_MODULES)
