"""A minibatch SVI loop for NumPyro programs, many steps per dispatch (JAX, optax).

The JAX twin of :mod:`latentgraph.inference.svi_torch`. It knows nothing about any model
family: an :class:`Objective` gives a differentiable loss (e.g. a NumPyro ELBO plus a
Lagrangian term) and the defects of its inequality constraints; this module steps optax Adam on
the parameters and projected dual ascent on the multipliers.

Layers, from pure to effectful:

* :func:`svi_step`: one step, a pure function of
  ``(SVIState(params, opt_state, dual, rng_key, step), data, RunHyper)``. It draws a minibatch
  from ``data`` with the state's key (uniform indices, with replacement), takes the gradient,
  applies Adam (a separate learning rate for the parameters named in
  ``SVISettings.graph_params``), then the dual update with the defect of the same step.
* :func:`run_chunk`: ``n_steps`` of :func:`svi_step` under :func:`jax.lax.scan`, returning the
  per-step logs. **This is the function a sweep vmaps**::

      sweep = jax.jit(jax.vmap(
          functools.partial(run_chunk, objective=obj, settings=settings, n_steps=250),
          in_axes=(0, None, 0)))              # states and hypers per run, data shared
      states, logs = sweep(states, data, hypers)

  with ``states = jax.vmap(lambda p, k: init_state(p, dual0, k, settings))(params, keys)``
  and each ``RunHyper`` leaf stacked over runs (bounds, penalties, dual learning rates).
* :func:`train_chunk`: :func:`run_chunk` jitted (``objective``, ``settings``, ``n_steps``
  static; equal frozen dataclasses hit the same compiled function).
* :func:`train`: the host loop: chunks, history rows, a tqdm bar per chunk, periodic
  evaluation, and divergence recovery (a chunk with a non-finite loss or gradient is replayed
  from its start with the learning rates scaled down).

Minibatches are drawn with replacement (``randint``), unlike the torch loop's shuffled epochs:
it costs ``O(batch)`` per step under ``scan``/``vmap``, and for ``n`` much larger than the
batch the two schemes are statistically the same.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import random
from tqdm.auto import tqdm

from latentgraph.inference.lagrangian_jax import dual_ascent
from latentgraph.inference.settings import History, NonFiniteLossError, TrainConfig


class SVIState(NamedTuple):
    """Everything one run carries from step to step (a pytree; stack it to vmap runs).

    Attributes:
        params: the parameter pytree (NumPyro ``param`` sites by name).
        opt_state: optax state of :func:`make_optimizer`.
        dual: constraint multipliers ``nu >= 0`` by constraint name (``{}`` without one).
        rng_key: the run's PRNG key, split once per step.
        step: optimiser steps taken so far (int32 scalar).
    """

    params: Any
    opt_state: Any
    dual: Any
    rng_key: jax.Array
    step: jax.Array


class RunHyper(NamedTuple):
    """Per-run numbers a sweep may vary (every leaf may be traced and vmapped).

    Attributes:
        lr_scale: multiplies every learning rate (divergence back-off; 1 normally).
        dual_lr: dual ascent learning rate.
        total_steps: the run's length (the cosine learning-rate schedule needs it).
        objective: the objective's own pytree (e.g. bounds, prior log-odds), passed to its loss.
    """

    lr_scale: Any
    dual_lr: Any
    total_steps: Any
    objective: Any


class Objective(Protocol):
    """What :func:`svi_step` minimises. Must be hashable (e.g. a frozen dataclass)."""

    def loss(
        self, params, rng_key: jax.Array, batch: Mapping, step: jax.Array, dual, hyper
    ) -> tuple[jax.Array, tuple[dict, dict]]:
        """``(loss, (defects, logs))`` for one minibatch at 1-based ``step``, with the
        multipliers ``dual`` and the objective's ``hyper``; ``defects`` has one ``g`` per key
        of ``dual``, ``logs`` holds scalars to record."""
        ...


@dataclass(frozen=True)
class SVISettings:
    """Static settings of a step (hashable: part of the compiled function's identity).

    Attributes:
        batch_size: minibatch size.
        lr: Adam learning rate of every parameter not in ``graph_params``.
        graph_lr: Adam learning rate of the parameters named in ``graph_params`` (None: ``lr``).
        graph_params: top-level parameter names trained at ``graph_lr`` (edge logits).
        dual_restarts: reset a multiplier to 0 whenever its constraint holds.
        lr_decay: ``"none"`` or ``"cosine"`` (as :class:`TrainConfig`).
        final_lr_fraction: the cosine schedule's last value as a fraction of the initial lr.
        param_groups: further ``((names, lr), ...)`` groups, each trained at its own Adam
            rate, for more than the two rates above (names in no group and not in
            ``graph_params`` stay at ``lr``).
    """

    batch_size: int
    lr: float
    graph_lr: float | None = None
    graph_params: tuple[str, ...] = ()
    dual_restarts: bool = True
    lr_decay: str = "none"
    final_lr_fraction: float = 0.05
    param_groups: tuple[tuple[tuple[str, ...], float], ...] = ()

    @classmethod
    def from_train_config(cls, config: TrainConfig, **kwargs) -> SVISettings:
        return cls(
            batch_size=config.batch_size,
            lr=config.lr,
            lr_decay=config.lr_decay,
            final_lr_fraction=config.final_lr_fraction,
            **kwargs,
        )


def make_optimizer(settings: SVISettings) -> optax.GradientTransformation:
    """Adam at ``settings.lr``, at ``settings.graph_lr`` for ``settings.graph_params`` and at
    each group's rate for ``settings.param_groups``."""
    graph_lr = settings.graph_lr or settings.lr
    groups = {f"group_{i}": names for i, (names, _) in enumerate(settings.param_groups)}

    def label(name: str) -> str:
        for group, names in groups.items():
            if name in names:
                return group
        return "graph" if name in settings.graph_params else "network"

    def labels(params):
        return {k: label(k) for k in params}

    transforms = {"network": optax.adam(settings.lr), "graph": optax.adam(graph_lr)}
    for i, (_, rate) in enumerate(settings.param_groups):
        transforms[f"group_{i}"] = optax.adam(rate)
    return optax.multi_transform(transforms, labels)


def lr_factor(settings: SVISettings, step, total_steps) -> jax.Array:
    """:meth:`TrainConfig.lr_factor` as a traceable function of the 0-based ``step``."""
    if settings.lr_decay == "none":
        return jnp.asarray(1.0)
    f = settings.final_lr_fraction
    frac = jnp.minimum(step, total_steps) / total_steps
    return f + (1 - f) * 0.5 * (1 + jnp.cos(jnp.pi * frac))


def _strongly_typed(tree):
    # A weakly typed leaf (from a Python scalar) comes out of a step strongly typed; without
    # this the second chunk would not match the first one's compiled signature.
    return jax.tree.map(lambda a: jnp.asarray(a, dtype=jnp.asarray(a).dtype), tree)


def init_state(params, dual, rng_key: jax.Array, settings: SVISettings) -> SVIState:
    """The state before the first step (pure; vmap it over ``params``/``rng_key``)."""
    params = _strongly_typed(params)
    opt_state = _strongly_typed(make_optimizer(settings).init(params))
    dual = _strongly_typed(dual)
    return SVIState(params, opt_state, dual, rng_key, jnp.asarray(0, dtype=jnp.int32))


def _n_rows(data: Mapping) -> int:
    return jax.tree.leaves(data)[0].shape[0]


def svi_step(
    state: SVIState, data: Mapping, hyper: RunHyper, *, objective: Objective, settings: SVISettings
) -> tuple[SVIState, dict]:
    """One descent-ascent step (pure). Returns the new state and this step's logs: ``loss``
    (the objective, Lagrangian included), the objective's logs and ``finite`` (loss and every
    gradient finite)."""
    rng_key, batch_key, loss_key = random.split(state.rng_key, 3)
    index = random.randint(batch_key, (settings.batch_size,), 0, _n_rows(data))
    batch = jax.tree.map(lambda array: array[index], data)
    step = state.step + 1
    (loss, (defects, logs)), grads = jax.value_and_grad(objective.loss, has_aux=True)(
        state.params, loss_key, batch, step, state.dual, hyper.objective
    )
    updates, opt_state = make_optimizer(settings).update(grads, state.opt_state, state.params)
    # Adam's step is proportional to its learning rate, so scaling the update scales the rate.
    scale = hyper.lr_scale * lr_factor(settings, step - 1, hyper.total_steps)
    updates = jax.tree.map(lambda u: (scale * u).astype(u.dtype), updates)
    params = optax.apply_updates(state.params, updates)
    dual = {
        name: dual_ascent(nu, defects[name], hyper.dual_lr, restarts=settings.dual_restarts)
        for name, nu in state.dual.items()
    }
    finite = jnp.isfinite(loss) & jnp.isfinite(optax.tree.norm(grads))
    logs = {"loss": loss, **logs, "finite": finite}
    return SVIState(params, opt_state, dual, rng_key, step), logs


def run_chunk(
    state: SVIState,
    data: Mapping,
    hyper: RunHyper,
    *,
    objective: Objective,
    settings: SVISettings,
    n_steps: int,
) -> tuple[SVIState, dict]:
    """``n_steps`` of :func:`svi_step` under :func:`jax.lax.scan` (pure; the function to vmap).

    Args:
        state: an :class:`SVIState` (for a vmapped sweep: every leaf stacked over runs).
        data: named arrays with a shared first (sample) dimension, e.g. ``{"x", "actions"}``.
        hyper: a :class:`RunHyper` (stacked over runs in a sweep).
        objective, settings, n_steps: static.

    Returns the state after the chunk and the logs of every step, each ``(n_steps,)``.
    """
    step = partial(svi_step, data=data, hyper=hyper, objective=objective, settings=settings)
    return jax.lax.scan(lambda s, _: step(s), state, None, length=n_steps)


train_chunk = jax.jit(run_chunk, static_argnames=("objective", "settings", "n_steps"))
""":func:`run_chunk`, compiled once per (objective, settings, n_steps)."""


def chunk_length(config: TrainConfig, chunk_steps: int) -> int:
    """Steps per dispatch: at most ``chunk_steps``, dividing ``config.eval_every`` when set so
    evaluations fall on chunk boundaries."""
    if not isinstance(chunk_steps, int) or isinstance(chunk_steps, bool) or chunk_steps < 1:
        raise ValueError(f"chunk_steps must be a positive int, got {chunk_steps!r}")
    length = min(chunk_steps, config.steps)
    if config.eval_every:
        length = max(d for d in range(1, length + 1) if config.eval_every % d == 0)
    return length


def train(
    objective: Objective,
    state: SVIState,
    data: Mapping,
    hyper: RunHyper,
    settings: SVISettings,
    config: TrainConfig,
    *,
    evaluate: Callable[[SVIState, int], dict] | None = None,
    chunk_steps: int = 250,
    description: str = "train",
    history: History | None = None,
    pending: tuple[dict, int] | None = None,
    on_chunk: Callable[[SVIState, RunHyper, History, tuple[dict, int]], None] | None = None,
) -> tuple[SVIState, History]:
    """Run ``config.steps - state.step`` steps in jitted chunks; returns the state and history.

    Args:
        objective, settings: see :func:`svi_step`.
        state: from :func:`init_state`, on the device to train on (data too).
        data: named device arrays with a shared first dimension.
        hyper: this run's :class:`RunHyper`.
        config: :class:`TrainConfig` (steps, log/eval intervals, progress bar, recovery).
        evaluate: ``evaluate(state, step) -> dict`` of scalars, every ``config.eval_every``
            steps and at the end; its values show in the progress bar and in
            ``History.evaluations``.
        chunk_steps: steps per dispatch (see :func:`chunk_length`).
        history: the history so far, to continue (a resumed run); rows are appended to it.
        pending: ``(sums, count)`` of the log window left open by the run being continued
            (the logs of the ``count`` steps since its last row), so that a resumed run writes
            the same rows as an uninterrupted one.
        on_chunk: ``on_chunk(state, hyper, history, pending)`` after every completed chunk
            (and its evaluation), e.g. to write a checkpoint; ``hyper.lr_scale`` holds the
            current divergence back-off.

    A chunk whose loss or gradient became non-finite is replayed from its start with every
    learning rate multiplied by ``config.recovery_lr_factor``; after ``config.max_recoveries``
    such recoveries :class:`NonFiniteLossError` is raised.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    n = _n_rows(data)
    if n < config.batch_size:
        raise ValueError(f"batch_size {config.batch_size} exceeds the {n} training samples")
    length = chunk_length(config, chunk_steps)
    log_every = max(config.log_every, 1)
    history = History() if history is None else history
    running, running_count = ({}, 0) if pending is None else (dict(pending[0]), int(pending[1]))
    postfix: dict[str, str] = {}
    done = int(state.step)
    started = time.perf_counter() - history.wall_s  # a continued run's clock goes on
    bar = tqdm(
        total=config.steps,
        initial=done,
        desc=description,
        disable=not config.progress,
        dynamic_ncols=True,
    )
    while done < config.steps:
        n_steps = min(length, config.steps - done)
        new_state, logs = train_chunk(
            state, data, hyper, objective=objective, settings=settings, n_steps=n_steps
        )
        logs = jax.device_get(logs)  # one host synchronisation per chunk
        finite = np.asarray(logs.pop("finite"))
        if not finite.all():
            bad = done + 1 + int(np.argmin(finite))  # the first non-finite step
            if len(history.events) >= config.max_recoveries:
                bar.close()
                raise NonFiniteLossError(
                    f"the loss or its gradient became non-finite near step {bad} after "
                    f"{config.max_recoveries} recoveries (learning rates scaled by "
                    f"{float(hyper.lr_scale):g})"
                )
            hyper = hyper._replace(lr_scale=hyper.lr_scale * config.recovery_lr_factor)
            history.events.append(
                {"step": bad, "restored_step": done, "lr_scale": float(hyper.lr_scale)}
            )
            tqdm.write(
                f"{description}: non-finite loss or gradient near step {bad}; back to step "
                f"{done} with the learning rates scaled by {float(hyper.lr_scale):g}",
                file=sys.stderr,
            )
            continue
        state = new_state
        wall = time.perf_counter() - started
        for i in range(n_steps):
            step = done + i + 1
            for k, v in logs.items():
                running[k] = running.get(k, 0.0) + float(v[i])
            running_count += 1
            if step % log_every == 0 or step == config.steps:
                row = {"step": step, **{k: v / running_count for k, v in running.items()}}
                row["wall_s"] = wall
                history.rows.append(row)
                running, running_count = {}, 0
                postfix.update(
                    {k: f"{v:.4g}" for k, v in row.items() if k not in ("step", "wall_s")}
                )
        done += n_steps
        if evaluate is not None and (
            (config.eval_every and done % config.eval_every == 0) or done == config.steps
        ):
            result = {"step": done, **evaluate(state, done)}
            history.evaluations.append(result)
            postfix.update({k: f"{v:.3f}" for k, v in result.items() if k != "step"})
        if on_chunk is not None:
            on_chunk(state, hyper, history, (dict(running), running_count))
        bar.set_postfix(postfix, refresh=False)
        bar.update(done - bar.n)
    bar.close()
    history.wall_s = time.perf_counter() - started
    return state, history
