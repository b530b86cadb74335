"""Settings and checks of a mechanism-sparsity fit, shared by both backends (imports neither).

:class:`SparsitySettings` (how the learned graphs are kept sparse), :func:`model_config_for`
(the model matching a dataset), :func:`constraint_bounds` and :func:`check_fit_arguments`
(every check a fit makes before it builds anything). The Pyro fit (:mod:`.fit_pyro`) and the
NumPyro fit (:mod:`.fit_numpyro`) both use them, so a NumPyro user never loads torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from latentgraph import TrainConfig
from latentgraph.data import Dataset
from latentgraph.families.mechanism_sparsity.config import (
    SPARSITY_MODES,
    MechanismSparsityConfig,
    NetworkSizes,
)


@dataclass(frozen=True)
class SparsitySettings:
    """How the learned graphs are kept sparse.

    Attributes:
        mode: ``"constraint"`` (main method), ``"penalty"`` or ``"none"`` (all-ones control).
        bound: target expected edge count ``B`` per learned graph (constraint mode); ``None``
            uses the dataset's true edge count (the paper's ``--set_constraint_to_gt``).
        penalty: ``lambda`` (penalty mode), i.e. edge prior log-odds ``-lambda``.
        anneal_fraction: share of the steps over which ``B(t)`` falls linearly from the maximum
            edge count to ``B`` (150k of 300k in the paper: 0.5).
        dual_lr: dual ascent learning rate.
        dual_restarts: reset the multiplier when the constraint holds.
        graph_lr: Adam learning rate of the edge logits ``alpha`` (None: the primal lr, as in
            the paper). Logits start at 5 and Adam moves them by about ``lr`` per step, so short
            runs need a larger ``graph_lr`` for edges to be pruned at all.
    """

    mode: str = "constraint"
    bound: float | None = None
    penalty: float = 0.0
    anneal_fraction: float = 0.5
    dual_lr: float = 5e-4
    dual_restarts: bool = True
    graph_lr: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in SPARSITY_MODES:
            raise ValueError(f"sparsity mode must be one of {SPARSITY_MODES}, got {self.mode!r}")
        if self.bound is not None and not (self.bound >= 0 and math.isfinite(self.bound)):
            raise ValueError(f"bound must be a finite number >= 0, got {self.bound!r}")
        if not (self.penalty >= 0 and math.isfinite(self.penalty)):
            raise ValueError(f"penalty must be a finite number >= 0, got {self.penalty!r}")
        if not 0 <= self.anneal_fraction <= 1:
            raise ValueError(f"anneal_fraction must be in [0, 1], got {self.anneal_fraction!r}")
        if not (
            isinstance(self.dual_lr, float | int)
            and self.dual_lr > 0
            and math.isfinite(self.dual_lr)
        ):
            raise ValueError(f"dual_lr must be a positive finite number, got {self.dual_lr!r}")
        if self.graph_lr is not None and not (self.graph_lr > 0 and math.isfinite(self.graph_lr)):
            raise ValueError(f"graph_lr must be a positive finite number, got {self.graph_lr!r}")


def _require(value, cls: type, name: str) -> None:
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")


def model_config_for(
    dataset: Dataset, sizes: NetworkSizes | None = None, **overrides
) -> MechanismSparsityConfig:
    """The model configuration matching a dataset's dimensions (``d_z`` from its ground truth)."""
    _require(dataset, Dataset, "dataset")
    n_latents = overrides.pop("n_latents", None)
    n_latents = dataset.n_latents if n_latents is None else n_latents
    if n_latents is None:
        raise ValueError(
            "n_latents is unknown for this dataset (no true latents or graphs): pass n_latents"
        )
    return MechanismSparsityConfig(
        n_latents=n_latents,
        n_obs=dataset.n_obs,
        n_actions=dataset.n_actions,
        n_steps=dataset.n_steps,
        sizes=sizes or NetworkSizes(),
        **overrides,
    )


def constraint_bounds(
    dataset: Dataset, config: MechanismSparsityConfig, sparsity: SparsitySettings
) -> dict[str, float]:
    """Check that ``config`` fits ``dataset`` and return the edge bound of each learned graph.

    Empty unless ``sparsity.mode == "constraint"``; a bound of ``None`` takes the dataset's true
    edge count. Raises ``ValueError``/``TypeError`` before anything is built or trained.
    """
    _require(dataset, Dataset, "dataset")
    _require(sparsity, SparsitySettings, "sparsity")
    if not isinstance(config, MechanismSparsityConfig):
        raise TypeError(
            f"model_config must be a MechanismSparsityConfig, got {type(config).__name__}"
        )
    if (
        config.n_obs != dataset.n_obs
        or config.n_steps != dataset.n_steps
        or config.n_actions != dataset.n_actions
    ):
        raise ValueError(
            "model_config does not match the dataset: expected n_obs/n_steps/n_actions = "
            f"{dataset.n_obs}/{dataset.n_steps}/{dataset.n_actions}, got "
            f"{config.n_obs}/{config.n_steps}/{config.n_actions}"
        )
    bounds: dict[str, float] = {}
    if sparsity.mode != "constraint":
        return bounds
    for name, shape in config.graph_shapes().items():
        b_max = float(shape[0] * shape[1])
        if sparsity.bound is not None:
            bound = float(sparsity.bound)
        elif name in dataset.graphs:
            bound = float(np.asarray(dataset.graphs[name]).sum())
        else:
            raise ValueError(f"bound is required: the dataset has no true {name} to take it from")
        if bound > b_max:
            raise ValueError(
                f"bound must be <= the {int(b_max)} possible edges of {name}, got {bound}"
            )
        bounds[name] = bound
    return bounds


def check_fit_arguments(
    dataset: Dataset,
    config: MechanismSparsityConfig,
    sparsity: SparsitySettings,
    train_config: TrainConfig,
    *,
    resolve,
) -> dict[str, float]:
    """Every check :func:`fit` makes before it builds anything; returns the edge bounds.

    Callers that write files (the run folder) call this first, so bad input never leaves a
    half-made run behind. ``resolve`` checks ``train_config.device`` for the backend (each backend's fit passes its
    own ``resolve_device``).
    """
    _require(train_config, TrainConfig, "train_config")
    bounds = constraint_bounds(dataset, config, sparsity)
    n_train = len(dataset.split("train")["x"])
    if train_config.batch_size > n_train:
        raise ValueError(
            f"batch_size must be <= the {n_train} training samples, got {train_config.batch_size}"
        )
    resolve(train_config.device)
    return bounds
