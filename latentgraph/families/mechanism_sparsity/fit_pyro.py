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
    MechanismSparsityConfig,
)
from latentgraph.families.mechanism_sparsity.objective_pyro import MechanismSparsityObjective
from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE
from latentgraph.families.mechanism_sparsity.settings import (
    SparsitySettings,
    model_config_for,
)
from latentgraph.families.mechanism_sparsity.settings import (
    check_fit_arguments as _check_settings,
)
from latentgraph.graphs import EdgeBeliefs
from latentgraph.pyro import (
    History,
    TrainConfig,
    annealed_edge_constraints,
    fit_objective,
    inspect_programs,
    resolve_device,
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


def check_fit_arguments(
    dataset: Dataset,
    config: MechanismSparsityConfig,
    sparsity: SparsitySettings,
    train_config: TrainConfig,
    *,
    resolve=resolve_device,
) -> dict[str, float]:
    """:func:`.settings.check_fit_arguments` with torch's device check; returns the edge bounds."""
    return _check_settings(dataset, config, sparsity, train_config, resolve=resolve)


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
