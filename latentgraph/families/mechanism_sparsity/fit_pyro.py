"""Fit the mechanism-sparsity VAE (Pyro) to a :class:`~latentgraph.data.Dataset`.

This is the family's Python entry point: data and settings in, a fitted model and its training
history out. Evaluation lives in :mod:`.evaluate`, the run folder in :mod:`.run`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pyro
import torch

from latentgraph.data import Dataset
from latentgraph.families.mechanism_sparsity.config import (
    SPARSITY_MODES,
    MechanismSparsityConfig,
    NetworkSizes,
)
from latentgraph.families.mechanism_sparsity.objective_pyro import MechanismSparsityObjective
from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE
from latentgraph.graphs import EdgeBeliefs
from latentgraph.inference.devices_torch import resolve_device
from latentgraph.inference.fit_pyro import (
    annealed_edge_constraints,
    fit_objective,
    inspect_programs,
)
from latentgraph.inference.svi_torch import History, TrainConfig


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


@dataclass
class FittedMechanismSparsity:
    """A trained model with what produced it."""

    vae: MechanismSparsityVAE
    history: History
    sparsity: SparsitySettings
    train_config: TrainConfig
    bounds: dict[str, float]
    objective: MechanismSparsityObjective

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    @torch.no_grad()
    def encode(self, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Encoder means ``(n, T, d_z)`` of observations ``(n, T, d_x)``: the representation."""
        self.vae.eval()
        out = []
        for start in range(0, len(x), batch_size):
            chunk = torch.as_tensor(
                np.asarray(x[start : start + batch_size]), dtype=torch.float32, device=self.device
            )
            out.append(self.vae.encode(chunk)[0].cpu().numpy())
        self.vae.train()
        return np.concatenate(out, axis=0)

    def edge_beliefs(self) -> dict[str, EdgeBeliefs]:
        """Learned graphs as edge probabilities (all ones when the graphs were frozen)."""
        beliefs = {}
        probs = self.vae.edge_probabilities()
        for name, p in probs.items():
            p = p.detach().cpu().numpy().astype(float)
            if self.sparsity.mode == "none":
                p = np.ones_like(p)
            kind = "action_to_latent" if name == "action_graph" else "latent_to_latent"
            beliefs[name] = EdgeBeliefs(probs=p, kind=kind)
        return beliefs

    def summary(self) -> dict:
        return {
            "sparsity": asdict(self.sparsity),
            "train": asdict(self.train_config),
            "model": self.vae.config.to_dict(),
            "bounds": self.bounds,
        }


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
    resolve=resolve_device,
) -> dict[str, float]:
    """Every check :func:`fit` makes before it builds anything; returns the edge bounds.

    Callers that write files (the run folder) call this first, so bad input never leaves a
    half-made run behind. ``resolve`` checks ``train_config.device`` for the backend (torch's
    :func:`resolve_device` here; the NumPyro fit passes JAX's).
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


def fit(
    dataset: Dataset,
    *,
    model_config: MechanismSparsityConfig | None = None,
    sparsity: SparsitySettings = SparsitySettings(),
    train_config: TrainConfig = TrainConfig(),
    evaluate=None,
    checkpoint_path=None,
    resume: bool = False,
) -> FittedMechanismSparsity:
    """Train the mechanism-sparsity VAE on ``dataset``'s train split.

    Args:
        dataset: must have ``x`` of shape ``(n, T, d_x)`` and, for action data, ``actions``.
        model_config: defaults to :func:`model_config_for` at the official sizes.
        sparsity: :class:`SparsitySettings`.
        train_config: :class:`TrainConfig` (steps, batch, lr, seed, device...).
        evaluate: optional ``evaluate(fitted, step) -> dict`` called periodically.
        checkpoint_path: optional checkpoint file (written every
            ``train_config.checkpoint_every`` steps and at the end).
        resume: continue from ``checkpoint_path`` when it exists (exactly, on the same device).
    """
    config = model_config or model_config_for(dataset)
    bounds = check_fit_arguments(dataset, config, sparsity, train_config)
    torch.manual_seed(train_config.seed)  # the initial weights depend on the seed alone
    vae = MechanismSparsityVAE(config)
    constraints = annealed_edge_constraints(
        bounds,
        {name: math.prod(shape) for name, shape in config.graph_shapes().items()},
        steps=train_config.steps,
        anneal_fraction=sparsity.anneal_fraction,
        dual_lr=sparsity.dual_lr,
        dual_restarts=sparsity.dual_restarts,
    )
    objective = MechanismSparsityObjective(
        vae, sparsity.mode, constraints=constraints, penalty=sparsity.penalty
    )
    train_split = dataset.split("train")
    data = {"x": train_split["x"]}
    if config.n_actions:
        data["actions"] = train_split["actions"]
    fitted = FittedMechanismSparsity(vae, History(), sparsity, train_config, bounds, objective)
    callback = None if evaluate is None else (lambda step: evaluate(fitted, step))
    device = resolve_device(train_config.device)
    first = {
        k: torch.as_tensor(np.array(v[: train_config.batch_size], dtype=np.float32))
        for k, v in data.items()
    }
    # Pyro's argument validation is for developing programs; this one is tested, so train without.
    with pyro.validation_enabled(False):
        # the VAE itself holds every parameter, so checkpoints keep its state_dict keys
        found = inspect_programs(
            objective.model, objective.guide, {k: v.to(device) for k, v in first.items()},
            device=device,
        )  # fmt: skip
        fitted.history = fit_objective(
            objective,
            found,
            data,
            train_config,
            param_lrs={"edge_logits.*": sparsity.graph_lr or train_config.lr},
            evaluate=callback,
            checkpoint=checkpoint_path,
            resume=resume,
            description=f"mechanism-sparsity ({sparsity.mode})",
        )
    return fitted
