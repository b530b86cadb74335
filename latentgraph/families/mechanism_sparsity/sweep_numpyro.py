"""Train many mechanism-sparsity runs as one program: ``jax.vmap`` over (setting, seed) runs.

Every run is :func:`latentgraph.inference.svi_jax.run_chunk` on its own state (weights, Adam
state, multipliers, PRNG key) and hyperparameters (bound or penalty, dual learning rate, anneal
length); the runs are stacked along a leading axis and a single jitted, vmapped chunk advances
all of them, so a sweep of K runs costs one dispatch per chunk instead of K. On a GPU that turns
K small, launch-bound programs into one large one; on a compute-bound CPU it mostly saves
dispatch and Python overhead.

Each run starts exactly where :func:`.fit_numpyro.fit` would start it (same initial weights and
training key for its seed); the vmapped arithmetic may differ from the unbatched one in the last
bits, so runs agree with single fits statistically, not bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from tqdm.auto import tqdm

from latentgraph import History, TrainConfig
from latentgraph.data import Dataset
from latentgraph.families.mechanism_sparsity.config import MechanismSparsityConfig
from latentgraph.families.mechanism_sparsity.fit_numpyro import (
    FittedMechanismSparsityNumPyro,
    _train_arrays,
    untrained,
)
from latentgraph.families.mechanism_sparsity.settings import SparsitySettings, model_config_for
from latentgraph.numpyro import RunHyper, SVISettings, init_state, run_chunk

STATIC_FIELDS = ("mode", "graph_lr", "dual_restarts")
"""Settings every run of one sweep must share (they shape the compiled program)."""


def _stack(trees: Sequence):
    return jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(x) for x in leaves]), *trees)


def _unstack(tree, index: int):
    return jax.tree.map(lambda leaf: leaf[index], tree)


def _where_alive(alive, new, old):
    return jnp.where(alive.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)


STRATEGIES = ("auto", "vmap", "map")


@partial(jax.jit, static_argnames=("objective", "settings", "n_steps", "strategy"))
def _sweep_chunk(states, data, hypers, *, objective, settings, n_steps, strategy):
    chunk = partial(run_chunk, objective=objective, settings=settings, n_steps=n_steps)
    if strategy == "vmap":
        return jax.vmap(chunk, in_axes=(0, None, 0))(states, data, hypers)
    return jax.lax.map(lambda run: chunk(run[0], data, run[1]), (states, hypers))


def fit_many(
    dataset: Dataset,
    *,
    model_config: MechanismSparsityConfig | None = None,
    settings: Sequence[SparsitySettings],
    seeds: Sequence[int],
    train_config: TrainConfig = TrainConfig(),
    chunk_steps: int = 250,
    strategy: str = "auto",
) -> list[FittedMechanismSparsityNumPyro]:
    """Train every ``(setting, seed)`` run together; returns them in the order
    ``[(s, seed) for s in settings for seed in seeds]``.

    Args:
        dataset, model_config, train_config: as :func:`.fit_numpyro.fit` (``train_config.seed``
            is replaced by each run's seed).
        settings: one :class:`SparsitySettings` per swept value; they may differ in ``bound``,
            ``penalty``, ``dual_lr`` and ``anneal_fraction`` and must share ``mode``,
            ``graph_lr`` and ``dual_restarts``.
        seeds: the training seeds of every setting.
        chunk_steps: steps per dispatch (the largest divisor of ``train_config.steps`` not above
            it is used, so every dispatch has the same compiled shape).
        strategy: how one program advances the runs: ``"vmap"`` (batched arithmetic across
            runs: the win on a GPU), ``"map"`` (``jax.lax.map``: the runs one after another
            inside the program; on a compute-bound CPU batched matrix products are slower than
            plain ones, see BENCHMARKS.md), or ``"auto"`` (vmap on an accelerator, map on the CPU).

    A run whose loss or gradient becomes non-finite is not rolled back (the others go on); it
    is returned with an event ``{"step", "diverged": True}`` in ``history.events`` and frozen
    at its last finite chunk.
    """
    if not settings or not seeds:
        raise ValueError("settings and seeds must each hold at least one entry")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    for name in STATIC_FIELDS:
        values = {getattr(s, name) for s in settings}
        if len(values) > 1:
            raise ValueError(f"every setting of a sweep must share {name}, got {sorted(values)}")
    config = model_config or model_config_for(dataset)
    runs = [(setting, seed) for setting in settings for seed in seeds]
    starts = [
        untrained(
            dataset,
            model_config=config,
            sparsity=setting,
            train_config=replace(train_config, seed=seed),
        )
        for setting, seed in runs
    ]
    objective, vae = starts[0].objective, starts[0].vae
    sparsity = settings[0]
    svi_settings = SVISettings.from_train_config(
        train_config,
        graph_lr=sparsity.graph_lr,
        graph_params=tuple(vae.logits_site(g) for g in vae.graph_names),
        dual_restarts=sparsity.dual_restarts,
    )
    states, hypers = [], []
    for (setting, seed), start in zip(runs, starts, strict=True):
        train_key = random.split(random.key(seed))[1]  # as fit_numpyro.fit
        states.append(init_state(start.params, objective.initial_dual(), train_key, svi_settings))
        anneal = int(round(setting.anneal_fraction * train_config.steps))
        hypers.append(
            RunHyper(
                lr_scale=jnp.asarray(1.0),
                dual_lr=jnp.asarray(setting.dual_lr),
                total_steps=jnp.asarray(train_config.steps),
                objective=objective.hyper(
                    penalty=setting.penalty, bounds=start.bounds, anneal_steps=anneal
                ),
            )
        )
    device = starts[0].jax_device
    if strategy == "auto":
        strategy = "map" if device.platform == "cpu" else "vmap"
    states, hypers = jax.device_put((_stack(states), _stack(hypers)), device)
    data = jax.device_put(_train_arrays(dataset, config), device)
    length = max(d for d in range(1, min(chunk_steps, train_config.steps) + 1)
                 if train_config.steps % d == 0)  # fmt: skip
    histories = [History() for _ in runs]
    alive = np.ones(len(runs), dtype=bool)
    done = 0
    started = time.perf_counter()
    bar = tqdm(total=train_config.steps, desc=f"sweep of {len(runs)} runs",
               disable=not train_config.progress, dynamic_ncols=True)  # fmt: skip
    while done < train_config.steps:
        new_states, logs = _sweep_chunk(
            states,
            data,
            hypers,
            objective=objective,
            settings=svi_settings,
            n_steps=length,
            strategy=strategy,
        )
        logs = jax.device_get(logs)
        finite = np.asarray(logs.pop("finite")).all(axis=1) & alive
        for index in np.flatnonzero(alive & ~finite):
            histories[index].events.append({"step": done + length, "diverged": True})
        alive &= finite
        merged = jax.tree.map(  # a diverged run keeps its last finite state
            partial(_where_alive, jnp.asarray(alive)),
            new_states._replace(rng_key=None),
            states._replace(rng_key=None),
        )
        states = merged._replace(rng_key=new_states.rng_key)
        done += length
        for index in np.flatnonzero(alive):
            histories[index].rows.append(
                {"step": done, **{k: float(np.mean(v[index])) for k, v in logs.items()}}
            )
        bar.set_postfix(
            {"loss": f"{np.mean(logs['loss'][alive]) if alive.any() else np.nan:.4g}",
             "alive": f"{int(alive.sum())}/{len(runs)}"}, refresh=False)  # fmt: skip
        bar.update(length)
    bar.close()
    wall = time.perf_counter() - started
    fitted = []
    for index, start in enumerate(starts):
        state = _unstack(states, index)
        start.params, start.dual = state.params, state.dual
        start.history = histories[index]
        start.history.wall_s = wall
        fitted.append(start)
    return fitted
