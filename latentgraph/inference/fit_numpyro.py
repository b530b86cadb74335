"""Fit any NumPyro model/guide pair by minibatch SVI, with optional annealed edge-count bounds.

:func:`fit` is the user-facing loop of :mod:`latentgraph.inference.svi_jax` (jitted
``lax.scan`` chunks, optax Adam, projected dual ascent, divergence recovery) for arbitrary
programs: ``data`` is a mapping of named arrays whose rows are examples, and each minibatch is
passed to ``model(**batch)`` and ``guide(**batch)``. The parameters are the programs'
``numpyro.param`` sites (flax networks through :func:`numpyro.contrib.module.flax_module`
included), optimised unconstrained and mapped to their constraint sets as
:class:`numpyro.infer.SVI` does. ``edge_bounds={"site": B}`` adds, for a guide site drawn with
:func:`~latentgraph.models.edge_mask_numpyro.relaxed_edge_posterior`, the constraint
:math:`\\sum_{ij} \\sigma(\\alpha_{ij}) \\le B(t)` of Lachapelle et al. (2024, arXiv 2401.04890),
``B(t)`` falling linearly from the number of possible edges to ``B`` over
``anneal_fraction * steps`` steps (see :mod:`.edge_elbo_numpyro`).

Example:
    >>> import jax.numpy as jnp, numpy as np, numpyro, numpyro.distributions as dist
    >>> def model(x):
    ...     with numpyro.plate("rows", x.shape[0]):
    ...         numpyro.sample("x", dist.Normal(numpyro.param("loc", 0.0), 1.0), obs=x)
    >>> def guide(x):
    ...     pass
    >>> data = {"x": np.full(64, 3.0, dtype=np.float32)}
    >>> result = fit(model, guide, data, steps=300, batch_size=16, lr=0.05, progress=False)
    >>> round(float(result.params["loc"]), 1)
    3.0

The Pyro twin is :func:`latentgraph.inference.fit_pyro.fit`, with the same arguments and
history, except ``chunk_steps`` (steps per jitted dispatch, here), ``batch_groups`` (there) and
``evaluate``, which here receives the current :class:`NumPyroFit`.
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from numpyro import handlers
from numpyro.distributions import biject_to, constraints
from numpyro.distributions.transforms import IdentityTransform
from numpyro.infer import Predictive, TraceMeanField_ELBO

from latentgraph.graphs import EdgeBeliefs
from latentgraph.inference.devices_jax import resolve_jax_device
from latentgraph.inference.edge_elbo_numpyro import (
    EdgeConstrainedELBO,
    edge_distribution,
    edge_sites,
)
from latentgraph.inference.settings import History, TrainConfig
from latentgraph.inference.svi_jax import RunHyper, SVISettings, SVIState, init_state, train
from latentgraph.inference.training_state_jax import load_training_state, save_training_state

__all__ = ["NumPyroFit", "fit"]

_initial_state = jax.jit(init_state, static_argnames="settings")


# ---- argument checks --------------------------------------------------------------------------


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _positive_int(value, name: str) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _non_negative_int(value, name: str) -> int:
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def _positive_number(value, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def check_data(data, name: str = "data") -> dict:
    """``data`` as a dict of arrays sharing their first (row) dimension; raises otherwise."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{name} must be a mapping of names to arrays, got {type(data).__name__}")
    if not data:
        raise ValueError(f"{name} must hold at least one array, got an empty mapping")
    rows = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"{name} keys must be valid keyword-argument names, got {key!r}")
        if not hasattr(value, "shape") or not hasattr(value, "dtype"):
            raise TypeError(
                f"{name}[{key!r}] must be a numpy or jax array, got {type(value).__name__}"
            )
        if len(value.shape) < 1 or value.shape[0] < 1:
            raise ValueError(
                f"{name}[{key!r}] must have a first (row) dimension of at least 1, got shape "
                f"{tuple(value.shape)}"
            )
        rows[key] = int(value.shape[0])
    if len(set(rows.values())) > 1:
        raise ValueError(f"{name} arrays must have the same number of rows, got {rows}")
    return dict(data)


def _check_bounds(edge_bounds) -> dict[str, float]:
    if edge_bounds is None:
        return {}
    if not isinstance(edge_bounds, Mapping):
        raise TypeError(
            f"edge_bounds must be a mapping of site names to edge counts, got "
            f"{type(edge_bounds).__name__}"
        )
    bounds = {}
    for site, bound in edge_bounds.items():
        if not isinstance(site, str):
            raise TypeError(f"edge_bounds keys must be site names (str), got {site!r}")
        if (
            isinstance(bound, bool)
            or not isinstance(bound, int | float | np.integer | np.floating)
            or not math.isfinite(bound)
            or bound < 0
        ):
            raise ValueError(f"edge_bounds[{site!r}] must be a finite number >= 0, got {bound!r}")
        bounds[site] = float(bound)
    return bounds


def _check_param_lrs(param_lrs) -> dict[str, float]:
    if param_lrs is None:
        return {}
    if not isinstance(param_lrs, Mapping):
        raise TypeError(
            f"param_lrs must be a mapping of fnmatch patterns to learning rates, got "
            f"{type(param_lrs).__name__}"
        )
    rates = {}
    for pattern, rate in param_lrs.items():
        if not isinstance(pattern, str):
            raise TypeError(f"param_lrs keys must be fnmatch patterns (str), got {pattern!r}")
        rates[pattern] = _positive_number(rate, f"param_lrs[{pattern!r}]")
    return rates


def _check_dims(dims) -> dict[str, tuple[str, ...]]:
    if dims is None:
        return {}
    if not isinstance(dims, Mapping):
        raise TypeError(f"dims must be a mapping of site names to dim names, got {dims!r}")
    out = {}
    for site, names in dims.items():
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise TypeError(f"dims[{site!r}] must be a sequence of dim names, got {names!r}")
        if not all(isinstance(n, str) for n in names):
            raise TypeError(f"dims[{site!r}] must hold strings, got {names!r}")
        out[site] = tuple(names)
    return out


# ---- initial parameters -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Programs:
    """What tracing the programs once tells: initial values, constraints, edge sites."""

    values: dict
    transforms: dict
    edge_shapes: dict[str, tuple[int, ...]]


def _trace_programs(model, guide, batch: Mapping, rng_key: jax.Array) -> _Programs:
    """Trace guide then model (replayed against the guide, guide params substituted, as
    :meth:`numpyro.infer.SVI.init`) on ``batch``; ``param`` values come out of one jitted call.
    """
    found: dict[str, Any] = {}

    def initial_values(key, batch):
        guide_key, model_key = random.split(key)
        guide_trace = handlers.trace(handlers.seed(guide, guide_key)).get_trace(**batch)
        guide_params = {n: s["value"] for n, s in guide_trace.items() if s["type"] == "param"}
        model_run = handlers.replay(handlers.seed(model, model_key), guide_trace)
        model_trace = handlers.trace(handlers.substitute(model_run, data=guide_params)).get_trace(
            **batch
        )
        sites = [*model_trace.values(), *guide_trace.values()]  # the guide's win, as in SVI
        mutable = [s["name"] for s in sites if s["type"] == "mutable"]
        if mutable:
            raise ValueError(
                f"model and guide must not hold mutable state (e.g. flax BatchNorm); found "
                f"mutable sites {mutable}"
            )
        found["constraints"] = {
            s["name"]: s["kwargs"].get("constraint", constraints.real)
            for s in sites
            if s["type"] == "param"
        }
        found["edge_shapes"] = edge_sites(guide_trace)
        return {s["name"]: s["value"] for s in sites if s["type"] == "param"}

    values = jax.jit(initial_values)(rng_key, batch)
    transforms = {}
    for name, constraint in found["constraints"].items():
        transform = biject_to(constraint)
        if not isinstance(transform, IdentityTransform):
            transforms[name] = transform
            values[name] = transform.inv(values[name])
    return _Programs(values, transforms, found["edge_shapes"])


def _learning_rates(param_lrs: Mapping[str, float], names) -> dict:
    """``SVISettings`` fields for per-parameter rates (first matching pattern wins): one extra
    rate maps onto ``graph_params``/``graph_lr``, several onto ``param_groups``."""
    rate_of: dict[str, float] = {}
    for pattern, rate in param_lrs.items():
        matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise ValueError(
                f"param_lrs pattern {pattern!r} matches no parameter; parameters are "
                f"{sorted(names)}"
            )
        for name in matched:
            rate_of.setdefault(name, rate)
    rates = sorted(set(rate_of.values()))
    if not rates:
        return {}
    if len(rates) == 1:
        return {"graph_lr": rates[0], "graph_params": tuple(rate_of)}
    groups = tuple((tuple(n for n, r in rate_of.items() if r == rate), rate) for rate in rates)
    return {"param_groups": groups}


# ---- the result -------------------------------------------------------------------------------


@dataclass
class NumPyroFit:
    """A fitted model/guide pair.

    Attributes:
        history: logged rows (``loss``, ``neg_elbo``, ``edges_<site>``, ``bound_<site>``,
            ``multiplier_<site>``), evaluations and recovery events.
        params: ``param`` site name -> constrained value (numpy; nested dicts for flax).
        state: the final :class:`~latentgraph.inference.svi_jax.SVIState` (unconstrained
            parameters, optimiser state, multipliers, key, step).
        edge_probabilities: relaxed edge site -> ``sigmoid(logits)`` at the fitted parameters.
        model, guide, objective: what was fitted.
    """

    history: History
    params: dict
    state: SVIState
    edge_probabilities: dict[str, np.ndarray]
    model: Callable
    guide: Callable
    objective: EdgeConstrainedELBO
    device: Any = None
    _constrained: dict = field(default_factory=dict, repr=False)

    def edges(
        self,
        name: str,
        *,
        child_names: Sequence[str] = (),
        parent_names: Sequence[str] = (),
        child_role: str = "child",
        parent_role: str = "parent",
    ) -> EdgeBeliefs:
        """The guide's edge site ``name`` as :class:`~latentgraph.graphs.EdgeBeliefs`
        (``probs[i, j]``: belief in ``parent j -> child i``)."""
        if name not in self.edge_probabilities:
            raise ValueError(
                f"name must be a relaxed edge site of the guide "
                f"{sorted(self.edge_probabilities)}, got {name!r}"
            )
        return EdgeBeliefs(
            self.edge_probabilities[name],
            child_role=child_role,
            parent_role=parent_role,
            child_names=tuple(child_names),
            parent_names=tuple(parent_names),
        )

    def posterior(self, data: Mapping, *, num_samples: int = 100, dims=None, seed: int = 0):
        """``num_samples`` joint draws of every latent guide site given ``data`` (passed whole
        as ``guide(**data)``), as an ArviZ ``xarray.DataTree`` with one ``posterior`` group
        (``chain`` of length 1, ``draw``).

        Args:
            data: named arrays, as for :func:`fit`.
            num_samples: draws.
            dims: ``{site: (dim names)}`` for a site's dimensions after ``(chain, draw)``;
                the others are named ``<site>_dim_<k>``.
            seed: PRNG seed of the draws.
        """
        import arviz as az

        data = check_data(data)
        num_samples = _positive_int(num_samples, "num_samples")
        seed = _non_negative_int(seed, "seed")
        dims = _check_dims(dims)
        predictive = Predictive(self.guide, params=self._constrained, num_samples=num_samples)
        batch = {k: jnp.asarray(v) for k, v in data.items()}
        draws = jax.device_get(predictive(random.key(seed), **batch))
        unknown = sorted(set(dims) - set(draws))
        if unknown:
            raise ValueError(f"dims names sites {unknown} that are not latent guide sites")
        posterior, names = {}, {}
        for site, value in draws.items():
            value = np.asarray(value)
            shape = value.shape[1:]
            site_dims = dims.get(site, tuple(f"{site}_dim_{k}" for k in range(len(shape))))
            if len(site_dims) != len(shape):
                raise ValueError(
                    f"dims[{site!r}] must name {len(shape)} dims (site shape {shape}), got "
                    f"{site_dims}"
                )
            posterior[site] = value[None]
            names[site] = list(site_dims)
        return az.from_dict({"posterior": posterior}, dims=names)


# ---- fit --------------------------------------------------------------------------------------


def fit(
    model: Callable,
    guide: Callable,
    data: Mapping,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    edge_bounds: Mapping[str, float] | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    elbo=None,
    param_lrs: Mapping[str, float] | None = None,
    anneal_fraction: float = 0.5,
    dual_lr: float | None = None,
    dual_restarts: bool = True,
    eval_every: int = 0,
    evaluate: Callable[[NumPyroFit, int], dict] | None = None,
    log_every: int = 50,
    checkpoint_every: int = 0,
    lr_decay: str = "none",
    chunk_steps: int = 250,
    description: str = "fit",
) -> NumPyroFit:
    """Minimise ``-ELBO`` of ``model``/``guide`` on ``data`` (plus edge-count constraints).

    Args:
        model, guide: NumPyro programs taking the arrays of ``data`` as keyword arguments.
        data: named arrays (numpy or jax), rows = examples, all with the same number of rows;
            minibatches of ``batch_size`` rows are drawn uniformly with replacement.
        steps, batch_size, lr: optimiser steps, minibatch rows, Adam learning rate.
        edge_bounds: ``{guide edge site: B}``: the annealed constraint ``sum sigma(alpha) <=
            B(t)`` on that relaxed edge site (``B(t)`` from the site's number of entries to
            ``B`` over ``anneal_fraction * steps`` steps), by projected dual ascent at rate
            ``dual_lr`` (None: ``lr``, as the Pyro twin), with ``dual_restarts`` (the
            multiplier is reset to 0 whenever the constraint holds).
        seed: the initial parameters and every random draw of the run.
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"``/``"gpu"``.
        progress: show a tqdm bar.
        checkpoint: ``.npz`` path for the full training state, written atomically every
            ``checkpoint_every`` steps (rounded up to a chunk; 0: only at the end) and at the end.
        resume: continue from ``checkpoint`` (bit-identical to an uninterrupted run on the same
            device); the other arguments must be those of the interrupted run.
        elbo: a NumPyro ELBO; default :class:`numpyro.infer.TraceMeanField_ELBO` (analytic KL
            where registered, e.g. for the edge sites).
        param_lrs: ``{fnmatch pattern: lr}`` on top-level ``param`` names (a flax module's
            parameters are one name, ``"<module>$params"``); the first matching pattern wins
            and every pattern must match some parameter.
        eval_every, evaluate: ``evaluate(fit, step) -> dict`` of scalars every ``eval_every``
            steps (0: only at the end), recorded in ``history.evaluations``; ``fit`` is a
            :class:`NumPyroFit` at the current parameters (NumPyro has no global parameter
            store to read them from, unlike the Pyro twin's ``evaluate(step)``).
        log_every: steps averaged into one history row.
        lr_decay: ``"none"`` or ``"cosine"`` (to 5% of every rate at the end).
        chunk_steps: optimiser steps per jitted dispatch.
        description: the progress bar's label.

    Returns a :class:`NumPyroFit`. Every argument is checked before any work; a non-finite
    loss or gradient replays its chunk at half the learning rates (up to 3 times, then
    :class:`~latentgraph.inference.settings.NonFiniteLossError`).
    """
    if not callable(model):
        raise TypeError(f"model must be a callable NumPyro program, got {type(model).__name__}")
    if not callable(guide):
        raise TypeError(f"guide must be a callable NumPyro program, got {type(guide).__name__}")
    data = check_data(data)
    steps = _positive_int(steps, "steps")
    batch_size = _positive_int(batch_size, "batch_size")
    n_rows = next(iter(data.values())).shape[0]
    if batch_size > n_rows:
        raise ValueError(f"batch_size must be at most the {n_rows} rows of data, got {batch_size}")
    lr = _positive_number(lr, "lr")
    bounds = _check_bounds(edge_bounds)
    seed = _non_negative_int(seed, "seed")
    if not isinstance(device, str):
        raise TypeError(f"device must be a str such as 'auto' or 'cpu', got {device!r}")
    _check_bool(progress, "progress")
    _check_bool(resume, "resume")
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        raise TypeError(f"checkpoint must be a path or None, got {type(checkpoint).__name__}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint, the path to continue from; got None")
    if resume and not Path(checkpoint).is_file():
        raise ValueError(f"resume=True but checkpoint {str(checkpoint)!r} is not a file")
    if elbo is None:
        elbo = TraceMeanField_ELBO()
    elif not callable(getattr(elbo, "loss", None)):
        raise TypeError(f"elbo must be a NumPyro ELBO (with .loss), got {type(elbo).__name__}")
    rates = _check_param_lrs(param_lrs)
    if (
        isinstance(anneal_fraction, bool)
        or not isinstance(anneal_fraction, int | float)
        or not 0 <= anneal_fraction <= 1
    ):
        raise ValueError(f"anneal_fraction must be in [0, 1], got {anneal_fraction!r}")
    dual_lr = lr if dual_lr is None else _positive_number(dual_lr, "dual_lr")
    _check_bool(dual_restarts, "dual_restarts")
    eval_every = _non_negative_int(eval_every, "eval_every")
    if evaluate is not None and not callable(evaluate):
        raise TypeError(f"evaluate must be callable or None, got {type(evaluate).__name__}")
    log_every = _positive_int(log_every, "log_every")
    checkpoint_every = _non_negative_int(checkpoint_every, "checkpoint_every")
    if lr_decay not in ("none", "cosine"):
        raise ValueError(f"lr_decay must be 'none' or 'cosine', got {lr_decay!r}")
    chunk_steps = _positive_int(chunk_steps, "chunk_steps")
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {type(description).__name__}")
    config = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        log_every=log_every,
        eval_every=eval_every,
        checkpoint_every=checkpoint_every,
        progress=progress,
        lr_decay=lr_decay,
    )
    jax_device = resolve_jax_device(device)

    data = jax.device_put({k: jnp.asarray(v) for k, v in data.items()}, jax_device)
    first = {k: v[:batch_size] for k, v in data.items()}
    init_key, train_key = random.split(random.key(seed))
    programs = _trace_programs(model, guide, first, init_key)
    unknown = sorted(set(bounds) - set(programs.edge_shapes))
    if unknown:
        raise ValueError(
            f"edge_bounds names {unknown}, which are not relaxed edge sites of the guide "
            f"(found {sorted(programs.edge_shapes)})"
        )
    possible = {s: math.prod(programs.edge_shapes[s]) for s in bounds}
    for site, bound in bounds.items():
        if bound > possible[site]:
            raise ValueError(
                f"edge_bounds[{site!r}] must be at most the site's {possible[site]} possible "
                f"edges, got {bound:g}"
            )
    settings = SVISettings(
        batch_size=batch_size,
        lr=lr,
        dual_restarts=dual_restarts,
        lr_decay=lr_decay,
        **_learning_rates(rates, list(programs.values)),
    )
    objective = EdgeConstrainedELBO(
        model, guide, elbo, programs.transforms, tuple(programs.edge_shapes), tuple(bounds)
    )
    hyper = RunHyper(
        lr_scale=jnp.asarray(1.0),
        dual_lr=jnp.asarray(dual_lr),
        total_steps=jnp.asarray(steps),
        objective=objective.hyper(
            bounds=bounds,
            possible_edges=possible,
            anneal_steps=int(round(anneal_fraction * steps)),
        ),
    )
    state = _initial_state(programs.values, objective.initial_dual(), train_key, settings=settings)
    state, hyper = jax.device_put((state, hyper), jax_device)
    meta = {  # what a resumed run must share with the interrupted one (JSON round-trips)
        "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "rows": n_rows,
        "edge_bounds": bounds, "anneal_fraction": float(anneal_fraction), "dual_lr": dual_lr,
        "dual_restarts": dual_restarts, "param_lrs": rates, "lr_decay": lr_decay,
    }  # fmt: skip
    return run_fit(
        objective,
        state,
        data,
        hyper,
        settings,
        config,
        first=first,
        checkpoint=checkpoint,
        resume=resume,
        meta=meta,
        evaluate=evaluate,
        chunk_steps=chunk_steps,
        description=description,
        device=jax_device,
    )


def run_fit(
    objective: EdgeConstrainedELBO,
    state: SVIState,
    data: Mapping,
    hyper: RunHyper,
    settings: SVISettings,
    config: TrainConfig,
    *,
    first: Mapping,
    checkpoint=None,
    resume: bool = False,
    meta: Mapping | None = None,
    evaluate=None,
    chunk_steps: int = 250,
    description: str = "fit",
    device=None,
) -> NumPyroFit:
    """The training part of :func:`fit` for a prepared objective and initial state (for
    callers that build their own, e.g. with ``program_hyper`` entries in the hyperparameters).

    ``first`` is a minibatch the guide is traced on (with its default keyword arguments) for
    the edge probabilities; ``meta`` the JSON numbers a resumed run must match.
    """
    meta = dict(meta or {})
    history, pending = History(), None
    if resume:
        restored = load_training_state(checkpoint, state)
        if restored["meta"] != meta:
            raise ValueError(
                f"checkpoint {str(checkpoint)!r} was written by a run with {restored['meta']}, "
                f"this one has {meta}: resume needs the same settings"
            )
        state = jax.device_put(restored["state"], device)
        hyper = hyper._replace(lr_scale=jnp.asarray(restored["lr_scale"]))
        history, pending = restored["history"], restored["pending"]
    every = config.checkpoint_every
    written = {"step": int(state.step)}

    def on_chunk(current: SVIState, current_hyper: RunHyper, rows: History, window) -> None:
        done = int(current.step)
        due = every and done // every > written["step"] // every
        if checkpoint is not None and (due or done == config.steps):
            save_training_state(
                checkpoint,
                current,
                lr_scale=float(current_hyper.lr_scale),
                history=rows,
                pending=window,
                meta=meta,
            )
            written["step"] = done

    def periodic(current: SVIState, step: int) -> dict:
        return evaluate(_result(objective, current, History(), first, device), step)

    state, history = train(
        objective,
        state,
        data,
        hyper,
        settings,
        config,
        evaluate=None if evaluate is None else periodic,
        chunk_steps=chunk_steps,
        description=description,
        history=history,
        pending=pending,
        on_chunk=on_chunk,
    )
    return _result(objective, state, history, first, device)


def _result(objective, state: SVIState, history: History, first: Mapping, device) -> NumPyroFit:
    constrained = objective.constrain(state.params)
    probabilities = {}
    if objective.edge_sites:
        guide = handlers.seed(handlers.substitute(objective.guide, data=constrained), 0)
        trace = handlers.trace(guide).get_trace(**first)
        for site in objective.edge_sites:
            logits = edge_distribution(trace[site]["fn"]).logits
            probabilities[site] = np.asarray(jax.nn.sigmoid(logits), dtype=float)
    return NumPyroFit(
        history=history,
        params=jax.tree.map(np.asarray, jax.device_get(constrained)),
        state=state,
        edge_probabilities=probabilities,
        model=objective.model,
        guide=objective.guide,
        objective=objective,
        device=device,
        _constrained=constrained,
    )
