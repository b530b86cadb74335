"""Fit the mechanism-sparsity VAE (NumPyro) to a :class:`~latentgraph.data.Dataset`.

The NumPyro twin of :mod:`.fit_pyro`, with the same settings objects
(:class:`~.fit_pyro.SparsitySettings`, :class:`~latentgraph.inference.svi_torch.TrainConfig`)
and a fitted object with the same interface (``encode``, ``edge_beliefs``, ``history``,
``summary``), so :func:`.evaluate.evaluate` and the run folder work on either backend.
Training runs many steps per dispatch (:mod:`latentgraph.inference.svi_jax`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import random

from latentgraph import History, TrainConfig
from latentgraph.data import Dataset
from latentgraph.families.mechanism_sparsity.config import MechanismSparsityConfig
from latentgraph.families.mechanism_sparsity.numpyro_model import NumPyroMechanismSparsityVAE
from latentgraph.families.mechanism_sparsity.objective_numpyro import MechanismSparsityObjective
from latentgraph.families.mechanism_sparsity.settings import (
    SparsitySettings,
    model_config_for,
)
from latentgraph.families.mechanism_sparsity.settings import (
    check_fit_arguments as shared_fit_checks,
)
from latentgraph.graphs import EdgeBeliefs
from latentgraph.numpyro import (
    RunHyper,
    SVISettings,
    device_name,
    init_state,
    load_training_state,
    resolve_jax_device,
    save_training_state,
    train,
)


@partial(jax.jit, static_argnames="vae")
def _encoder_mean(vae: NumPyroMechanismSparsityVAE, params, x):
    return vae.encode(params, x)[0]


_initial_state = jax.jit(init_state, static_argnames="settings")


@partial(jax.jit, static_argnames="vae")
def _initial_params(vae: NumPyroMechanismSparsityVAE, rng_key, x, actions):
    return vae.init_params(rng_key, x, actions)


@dataclass
class FittedMechanismSparsityNumPyro:
    """A trained NumPyro model with what produced it (the interface of
    :class:`~.fit_pyro.FittedMechanismSparsity`)."""

    vae: NumPyroMechanismSparsityVAE
    params: dict
    history: History
    sparsity: SparsitySettings
    train_config: TrainConfig
    bounds: dict[str, float]
    objective: MechanismSparsityObjective
    jax_device: Any
    dual: dict = field(default_factory=dict)

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda:N"``."""
        return device_name(self.jax_device)

    def encode(self, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Encoder means ``(n, T, d_z)`` of observations ``(n, T, d_x)``: the representation."""
        out = []
        for start in range(0, len(x), batch_size):
            chunk = np.asarray(x[start : start + batch_size], dtype=np.float32)
            chunk = jax.device_put(chunk, self.jax_device)
            out.append(np.asarray(_encoder_mean(self.vae, self.params, chunk)))
        return np.concatenate(out, axis=0)

    def edge_beliefs(self) -> dict[str, EdgeBeliefs]:
        """Learned graphs as edge probabilities (all ones when the graphs were frozen)."""
        beliefs = {}
        for name, p in self.vae.edge_probabilities(self.params).items():
            p = np.asarray(p, dtype=float)
            if self.sparsity.mode == "none":
                p = np.ones_like(p)
            kind = "action_to_latent" if name == "action_graph" else "latent_to_latent"
            beliefs[name] = EdgeBeliefs(probs=p, kind=kind)
        return beliefs

    def summary(self) -> dict:
        return {
            "backend": "numpyro",
            "sparsity": asdict(self.sparsity),
            "train": asdict(self.train_config),
            "model": self.vae.config.to_dict(),
            "bounds": self.bounds,
        }


def _train_arrays(dataset: Dataset, config: MechanismSparsityConfig) -> dict[str, np.ndarray]:
    train_split = dataset.split("train")
    data = {"x": np.asarray(train_split["x"], dtype=np.float32)}
    if config.n_actions:
        data["actions"] = np.asarray(train_split["actions"], dtype=np.float32)
    return data


def check_fit_arguments(
    dataset: Dataset,
    config: MechanismSparsityConfig,
    sparsity: SparsitySettings,
    train_config: TrainConfig,
) -> dict[str, float]:
    """Every check :func:`fit` makes before it builds anything; returns the edge bounds (as
    :func:`.fit_pyro.check_fit_arguments`, with the device resolved by JAX)."""
    return shared_fit_checks(dataset, config, sparsity, train_config, resolve=resolve_jax_device)


def untrained(
    dataset: Dataset,
    *,
    model_config: MechanismSparsityConfig | None = None,
    sparsity: SparsitySettings = SparsitySettings(),
    train_config: TrainConfig = TrainConfig(),
) -> FittedMechanismSparsityNumPyro:
    """The model :func:`fit` starts from (its initial weights depend on the seed alone): the
    random-encoder control of ``docs/mechanism_sparsity.md#reference-results``. Arguments as
    :func:`fit`."""
    config = model_config or model_config_for(dataset)
    bounds = check_fit_arguments(dataset, config, sparsity, train_config)
    device = resolve_jax_device(train_config.device)
    vae = NumPyroMechanismSparsityVAE(config)
    objective = MechanismSparsityObjective(vae, sparsity.mode, tuple(bounds))
    rows = {k: v[:2] for k, v in dataset.split("train").items()}  # shapes only
    init_key = random.split(random.key(train_config.seed))[0]
    x = jnp.asarray(rows["x"], dtype=jnp.float32)
    actions = jnp.asarray(rows["actions"], dtype=jnp.float32) if config.n_actions else None
    params = _initial_params(vae, init_key, x, actions)
    return FittedMechanismSparsityNumPyro(
        vae=vae,
        params=jax.device_put(params, device),
        history=History(),
        sparsity=sparsity,
        train_config=train_config,
        bounds=bounds,
        objective=objective,
        jax_device=device,
        dual=objective.initial_dual(),
    )


def fit(
    dataset: Dataset,
    *,
    model_config: MechanismSparsityConfig | None = None,
    sparsity: SparsitySettings = SparsitySettings(),
    train_config: TrainConfig = TrainConfig(),
    evaluate=None,
    checkpoint_path=None,
    resume: bool = False,
    chunk_steps: int = 250,
) -> FittedMechanismSparsityNumPyro:
    """Train the mechanism-sparsity VAE (NumPyro) on ``dataset``'s train split.

    Args:
        dataset: must have ``x`` of shape ``(n, T, d_x)`` and, for action data, ``actions``.
            The train split is copied to the device whole.
        model_config: defaults to :func:`~.fit_pyro.model_config_for` at the official sizes.
        sparsity: :class:`~.fit_pyro.SparsitySettings`.
        train_config: :class:`TrainConfig`; ``device`` ``"auto"``/``"cpu"``/``"cuda[:N]"``
            names a JAX device.
        evaluate: optional ``evaluate(fitted, step) -> dict`` called periodically.
        checkpoint_path: optional ``.npz`` holding the full training state (parameters, Adam's
            moments, multipliers, PRNG key, step, learning-rate scale, history and the open log
            window; :func:`latentgraph.numpyro.save_training_state`, no pickle), written every
            ``train_config.checkpoint_every`` steps (rounded up to a chunk) and at the end.
        resume: continue from ``checkpoint_path`` when it exists (from step 0 when it does
            not); on the same device and thread count the run ends bit for bit where an
            uninterrupted one would. A checkpoint of other settings is refused.
        chunk_steps: optimiser steps per jitted dispatch.
    """
    fitted = untrained(
        dataset, model_config=model_config, sparsity=sparsity, train_config=train_config
    )
    vae, objective, device = fitted.vae, fitted.objective, fitted.jax_device
    settings = SVISettings.from_train_config(
        train_config,
        graph_lr=sparsity.graph_lr,
        graph_params=tuple(vae.logits_site(g) for g in vae.graph_names),
        dual_restarts=sparsity.dual_restarts,
    )
    anneal = int(round(sparsity.anneal_fraction * train_config.steps))
    hyper = RunHyper(
        lr_scale=jnp.asarray(1.0),
        dual_lr=jnp.asarray(sparsity.dual_lr),
        total_steps=jnp.asarray(train_config.steps),
        objective=objective.hyper(
            penalty=sparsity.penalty, bounds=fitted.bounds, anneal_steps=anneal
        ),
    )
    train_key = random.split(random.key(train_config.seed))[1]
    state = _initial_state(fitted.params, objective.initial_dual(), train_key, settings=settings)
    state, hyper = jax.device_put((state, hyper), device)
    data = jax.device_put(_train_arrays(dataset, vae.config), device)

    meta = _resume_meta(sparsity, train_config, vae.config, chunk_steps)
    history, pending = None, None
    if resume and checkpoint_path is not None and Path(checkpoint_path).is_file():
        restored = load_training_state(checkpoint_path, state)
        if restored["meta"] != meta:
            raise ValueError(
                f"checkpoint {str(checkpoint_path)!r} was written by a run with other settings "
                f"({restored['meta']}, this one has {meta}): resume needs the same settings"
            )
        state = jax.device_put(restored["state"], device)
        hyper = hyper._replace(lr_scale=jnp.asarray(restored["lr_scale"]))
        history, pending = restored["history"], restored["pending"]
    every, written = train_config.checkpoint_every, {"step": int(state.step)}

    def on_chunk(current, current_hyper, rows: History, window) -> None:
        done = int(current.step)
        due = every and done // every > written["step"] // every
        if checkpoint_path is not None and (due or done == train_config.steps):
            save_training_state(
                checkpoint_path, current, lr_scale=float(current_hyper.lr_scale),
                history=rows, pending=window, meta=meta,
            )  # fmt: skip
            written["step"] = done

    def periodic(current, step: int) -> dict:
        fitted.params, fitted.dual = current.params, current.dual
        return evaluate(fitted, step)

    state, fitted.history = train(
        objective,
        state,
        data,
        hyper,
        settings,
        train_config,
        evaluate=None if evaluate is None else periodic,
        chunk_steps=chunk_steps,
        description=f"mechanism-sparsity numpyro ({sparsity.mode})",
        history=history,
        pending=pending,
        on_chunk=on_chunk,
    )
    fitted.params, fitted.dual = state.params, state.dual
    return fitted


def _resume_meta(sparsity, train_config, model_config, chunk_steps: int) -> dict:
    """What a resumed run must share with the one that wrote the checkpoint (JSON numbers):
    everything that changes the numbers; the progress bar, device and checkpoint interval
    may differ."""
    train = {k: v for k, v in asdict(train_config).items()
             if k not in ("progress", "device", "checkpoint_every")}  # fmt: skip
    return json.loads(json.dumps({"sparsity": asdict(sparsity), "train": train,
                                  "model": model_config.to_dict(), "chunk_steps": chunk_steps}))  # fmt: skip
