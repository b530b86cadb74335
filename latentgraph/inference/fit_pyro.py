"""Fit any Pyro model/guide pair by stochastic variational inference, with optional edge bounds.

:func:`fit` maximises the ELBO of a user's Pyro program over minibatches,

.. math:: \\max_\\theta\\; \\mathrm{ELBO}(\\theta)
          \\quad\\text{s.t.}\\quad \\sum_{ij} \\sigma(\\alpha^{(s)}_{ij}) \\le B_s(t)
          \\text{ for every bounded edge site } s,

where ``alpha^(s)`` are the guide's log-odds of the relaxed edge site ``s``
(:func:`~latentgraph.models.edge_mask_pyro.relaxed_edge_posterior`) and ``B_s(t)`` falls
linearly from the number of possible edges to the bound ``B_s`` over the first
``anneal_fraction`` of the steps. The constraint is solved by simultaneous descent-ascent on the
Lagrangian (:class:`~latentgraph.inference.lagrangian_torch.EdgeCountConstraint`), the
constrained form of mechanism sparsity in Lachapelle et al. (2024, arXiv 2401.04890, Sec. 5).
Edge sites without a bound keep their prior as the only sparsity term.

The pieces compose: :class:`EdgeConstrainedELBO` is the objective, :func:`inspect_programs`
finds the parameters of a model/guide pair (``pyro.param`` sites, ``PyroModule``s, modules
registered with ``pyro.module``, and the ``nn.Module`` a bound ``model``/``guide`` method
belongs to) and its edge sites, :func:`fit_objective` runs the shared torch loop
(:func:`~latentgraph.inference.svi_torch.train`: minibatches, progress bar, evaluation,
atomic checkpoints, exact resume, NaN recovery) on them, and :func:`fit` is all three.

Example:
    >>> pyro.clear_param_store()
    >>> def model(x):
    ...     loc = pyro.param("loc", torch.zeros(2))
    ...     with pyro.plate("rows", x.shape[0]):
    ...         pyro.sample("x", dist.Normal(loc, 1.0).to_event(1), obs=x)
    >>> def guide(x):
    ...     pass
    >>> result = fit(model, guide, {"x": np.ones((64, 2))}, steps=10, batch_size=8, lr=0.1,
    ...              progress=False)
    >>> sorted(result.params)
    ['loc']
"""

from __future__ import annotations

import fnmatch
import functools
import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample

from latentgraph.graphs import EdgeBeliefs
from latentgraph.inference.devices_torch import resolve_device, seed_everything
from latentgraph.inference.elbo_pyro import AnalyticMeanFieldELBO
from latentgraph.inference.lagrangian_torch import DualAscent, EdgeCountConstraint
from latentgraph.inference.schedules import LinearSchedule
from latentgraph.inference.settings import History, TrainConfig
from latentgraph.inference.svi_torch import _check_data, _check_groups, train

__all__ = [
    "EdgeConstrainedELBO",
    "ProgramParameters",
    "annealed_edge_constraints",
    "PyroFit",
    "fit",
    "fit_objective",
    "inspect_programs",
]

_RELAXED_EDGES = (dist.RelaxedBernoulli, dist.RelaxedBernoulliStraightThrough)


# ---- small helpers ---------------------------------------------------------------------------


def _unwrap(fn):
    """The base distribution of ``Independent``/``.to_event`` wrappers."""
    while isinstance(fn, torch.distributions.Independent):
        fn = fn.base_dist
    return fn


def edge_logits(fn) -> torch.Tensor | None:
    """The log-odds ``alpha`` of a relaxed edge distribution (``None`` for any other one)."""
    base = _unwrap(fn)
    return base.logits if isinstance(base, _RELAXED_EDGES) else None


def _owner_module(program) -> torch.nn.Module | None:
    """The ``nn.Module`` a program is (a ``PyroModule``) or is a bound method of, looking
    through handlers applied from outside (``poutine.block(vae.model)``)."""
    for _ in range(64):  # handlers nest shallowly; the limit only guards against cycles
        if isinstance(program, torch.nn.Module):
            return program
        owner = getattr(program, "__self__", None)
        if isinstance(owner, torch.nn.Module):
            return owner
        inner = getattr(program, "__wrapped__", None)
        if inner is None and isinstance(program, functools.partial):
            # a handler's ``partial(_context_wrap, messenger, fn)``
            inner = next((a for a in reversed(program.args) if callable(a)), None)
        if inner is None:
            return None
        program = inner
    return None


def _sanitise(name: str, taken: set[str]) -> str:
    """A parameter name ``nn.Module.register_parameter`` accepts, unique among ``taken``."""
    base = re.sub(r"\W", "_", name) or "param"
    key, k = base, 1
    while key in taken:
        key, k = f"{base}_{k}", k + 1
    taken.add(key)
    return key


class _RecordSites(Messenger):
    """Keeps the distribution of the named sample sites of the last run (reads, changes nothing)."""

    def __init__(self, names):
        super().__init__()
        self.names = frozenset(names)
        self.fns: dict = {}

    def _postprocess_message(self, msg) -> None:
        if msg["type"] == "sample" and msg["name"] in self.names:
            self.fns[msg["name"]] = msg["fn"]


# ---- the objective ---------------------------------------------------------------------------


class EdgeConstrainedELBO:
    """Negative ELBO of ``model``/``guide`` plus annealed edge-count constraints.

    .. math:: \\mathcal L_t(\\theta) = -\\mathrm{ELBO}(\\theta)
              + \\sum_s \\nu_s \\big(\\textstyle\\sum_{ij} \\sigma(\\alpha^{(s)}_{ij}) - B_s(t)\\big)

    with the multipliers ``nu_s >= 0`` updated by dual ascent after every step (Lachapelle et
    al. 2024, arXiv 2401.04890, Sec. 5). Implements the :class:`~latentgraph.inference.svi_torch.
    Objective` protocol of :func:`~latentgraph.inference.svi_torch.train`.

    Args:
        model, guide: Pyro programs called as ``model(**batch)``, ``guide(**batch)``.
        elbo: anything with ``differentiable_loss(model, guide, **batch)`` (default
            :class:`~latentgraph.inference.elbo_pyro.AnalyticMeanFieldELBO`).
        edge_sites: guide sites whose expected edge count ``sum sigma(alpha)`` is logged as
            ``edges_<site>``.
        constraints: site name -> :class:`EdgeCountConstraint` (each site also in
            ``edge_sites``); logged as ``bound_<site>`` and ``multiplier_<site>``.
    """

    def __init__(self, model, guide, *, elbo=None, edge_sites=(), constraints=None):
        self.model, self.guide = model, guide
        self.elbo = AnalyticMeanFieldELBO() if elbo is None else elbo
        self.constraints = dict(constraints or {})
        self.edge_sites = tuple(edge_sites)
        missing = sorted(set(self.constraints) - set(self.edge_sites))
        if missing:
            raise ValueError(f"constraints name sites that are not edge sites: {missing}")
        self._recorder = _RecordSites(self.edge_sites)
        self._recorded_guide = self._recorder(guide) if self.edge_sites else guide
        self._defects: dict[str, torch.Tensor] = {}

    def negative_elbo(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.elbo.differentiable_loss(self.model, self._recorded_guide, **batch)

    def expected_edges(self) -> dict[str, torch.Tensor]:
        """``sum sigma(alpha)`` of every edge site in the last guide run (differentiable)."""
        fns = self._recorder.fns
        return {name: torch.sigmoid(edge_logits(fns[name])).sum() for name in self.edge_sites}

    def loss(self, batch: Mapping[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict]:
        neg_elbo = self.negative_elbo(batch)
        total = neg_elbo
        logs: dict[str, torch.Tensor] = {"neg_elbo": neg_elbo.detach()}
        expected = self.expected_edges()
        for name, edges in expected.items():
            logs[f"edges_{name}"] = edges.detach()
        for name, constraint in self.constraints.items():
            term, defect = constraint.lagrangian_term(expected[name], step)
            total = total + term
            self._defects[name] = defect
            logs[f"bound_{name}"] = torch.as_tensor(constraint.bound(step))
            logs[f"multiplier_{name}"] = torch.as_tensor(constraint.dual.multiplier).detach()
        return total, logs

    def after_step(self, step: int, logs: dict) -> None:
        for name, constraint in self.constraints.items():
            constraint.dual.update(self._defects[name])

    def state_dict(self) -> dict:
        """The dual multipliers, by site name (checkpointed with the parameters)."""
        return {name: c.dual.state_dict() for name, c in self.constraints.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.constraints):
            raise ValueError(
                f"objective state must hold the constraints {sorted(self.constraints)}, "
                f"got {sorted(state)}"
            )
        for name, constraint in self.constraints.items():
            constraint.dual.load_state_dict(state[name])


def annealed_edge_constraints(
    bounds: Mapping[str, float],
    n_edges: Mapping[str, int],
    *,
    steps: int,
    anneal_fraction: float,
    dual_lr: float,
    dual_restarts: bool,
) -> dict[str, EdgeCountConstraint]:
    """One :class:`EdgeCountConstraint` per bounded site: ``B(t)`` linear from the site's
    ``n_edges`` down to its bound over ``round(anneal_fraction * steps)`` steps."""
    anneal = int(round(anneal_fraction * steps))
    return {
        name: EdgeCountConstraint(
            LinearSchedule(start=float(n_edges[name]), end=float(bound), duration=anneal),
            DualAscent(lr=dual_lr, restarts=dual_restarts),
        )
        for name, bound in bounds.items()
    }


# ---- finding the parameters ------------------------------------------------------------------


class _Holder(torch.nn.Module):
    """Holds loose parameters (and the programs' modules) so the torch loop can checkpoint them."""


@dataclass
class ProgramParameters:
    """What :func:`inspect_programs` found in a model/guide pair.

    Attributes:
        module: one ``nn.Module`` holding every trainable tensor (the programs' own module when
            there is exactly one and nothing else, so its ``state_dict`` is unchanged; otherwise
            a holder whose ``state_dict`` keys are the sanitised parameter names).
        named: parameter name (the Pyro param-store name, else the module's own name) -> the
            trainable (unconstrained) tensor, in the order they were found.
        edge_sites: guide sites of relaxed edge masks -> their ``(n_children, n_parents)`` shape.
        latent_sites: every latent sample site of the guide -> the shape of one draw.
    """

    module: torch.nn.Module
    named: dict[str, torch.nn.Parameter]
    edge_sites: dict[str, tuple[int, ...]] = field(default_factory=dict)
    latent_sites: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _as_parameter(name: str, tensor: torch.Tensor) -> torch.nn.Parameter:
    """The param store's tensor ``name`` as an ``nn.Parameter`` (the same object in the store).

    Pyro's own ``PyroModule`` converts param-store tensors the same way (pyro/nn/module.py).
    """
    if isinstance(tensor, torch.nn.Parameter):
        return tensor
    store = pyro.get_param_store()
    parameter = torch.nn.Parameter(tensor.detach())
    store._params[name] = parameter
    store._param_to_name.pop(tensor, None)
    store._param_to_name[parameter] = name
    return parameter


def inspect_programs(
    model, guide, batch: Mapping[str, torch.Tensor], *, device: torch.device
) -> ProgramParameters:
    """Run ``guide(**batch)`` and ``model(**batch)`` (replayed on the guide) once, on ``device``.

    Parameters are created on ``device`` (the trace runs under ``with torch.device(device)``)
    and gathered from ``pyro.param`` sites (the unconstrained tensors), ``PyroModule``s and
    ``pyro.module``-registered modules, plus every parameter of the ``nn.Module`` that a bound
    ``model``/``guide`` method belongs to. The trace draws random numbers: callers reseed
    afterwards (:func:`~latentgraph.inference.svi_torch.train` does).
    """
    owners: list[torch.nn.Module] = []
    for program in (model, guide):
        owner = _owner_module(program)
        if owner is not None and all(owner is not o for o in owners):
            owners.append(owner.to(device))
    with torch.device(device), torch.no_grad():
        guide_trace = poutine.trace(guide).get_trace(**batch)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(**batch)
    store = pyro.get_param_store()
    named: dict[str, torch.nn.Parameter] = {}
    seen: set[int] = set()
    for owner in owners:
        prefix = (
            "" if len(owners) == 1 else ("model." if owner is _owner_module(model) else "guide.")
        )
        for name, parameter in owner.named_parameters():
            if id(parameter) not in seen:
                seen.add(id(parameter))
                named[prefix + name] = parameter
    owned = {id(p): name for name, p in named.items()}
    loose: dict[str, torch.nn.Parameter] = {}
    for trace in (guide_trace, model_trace):
        for name, site in trace.nodes.items():
            if site["type"] != "param" or name in loose:
                continue
            unconstrained = store._params[name] if name in store else site["value"]
            if id(unconstrained) in owned:
                continue
            loose[name] = _as_parameter(name, unconstrained)
            seen.add(id(loose[name]))
    named.update(loose)
    if len(owners) == 1 and not loose:
        module = owners[0]
    else:
        module, taken = _Holder(), set()
        for name, parameter in named.items():
            module.register_parameter(_sanitise(name, taken), parameter)
    edge_sites, latent_sites = {}, {}
    for name, site in guide_trace.nodes.items():
        if site["type"] != "sample" or site["is_observed"] or site_is_subsample(site):
            continue
        latent_sites[name] = tuple(site["value"].shape)
        logits = edge_logits(site["fn"])
        if logits is not None:
            edge_sites[name] = tuple(logits.shape)
    return ProgramParameters(module, named, edge_sites, latent_sites)


def _param_groups(
    named: Mapping[str, torch.nn.Parameter], param_lrs: Mapping[str, float]
) -> list[dict] | None:
    """Adam groups: the unmatched parameters at the default rate, then one group per pattern."""
    if not param_lrs:
        return None
    by_pattern: dict[str, list] = {pattern: [] for pattern in param_lrs}
    rest = []
    for name, parameter in named.items():
        pattern = next((p for p in param_lrs if fnmatch.fnmatchcase(name, p)), None)
        (rest if pattern is None else by_pattern[pattern]).append(parameter)
    unmatched = [p for p, params in by_pattern.items() if not params]
    if unmatched:
        raise ValueError(
            f"param_lrs patterns {unmatched} match no parameter; the parameters are {sorted(named)}"
        )
    groups = [{"params": rest}] if rest else []
    groups += [{"params": params, "lr": float(param_lrs[p])} for p, params in by_pattern.items()]
    return groups


# ---- argument checks -------------------------------------------------------------------------


def _positive_int(value, name: str, *, zero: bool = False) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if zero else 1):
        kind = "non-negative" if zero else "positive"
        raise ValueError(f"{name} must be a {kind} int, got {value!r}")


def _positive_float(value, name: str) -> None:
    if isinstance(value, bool) or not (
        isinstance(value, float | int) and value > 0 and math.isfinite(value)
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _check_bool(value, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def _check_program(program, name: str) -> None:
    if not callable(program):
        raise TypeError(f"{name} must be a callable Pyro program, got {type(program).__name__}")


def _host_arrays(data) -> dict[str, np.ndarray]:
    """Named arrays (numpy or torch) as host arrays, checked for a shared first dimension."""
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f"data must be a non-empty mapping of names to arrays, got {data!r}")
    arrays = {}
    for name, value in data.items():
        if not isinstance(name, str):
            raise ValueError(f"data keys must be strings (argument names), got {name!r}")
        if torch.is_tensor(value):
            value = value.detach().cpu().numpy()
        arrays[name] = value if isinstance(value, np.ndarray) else np.asarray(value)
    return arrays


def _check_loop_arguments(
    *, param_lrs, evaluate, checkpoint, resume, progress, description
) -> None:
    if param_lrs is not None:
        if not isinstance(param_lrs, Mapping):
            raise TypeError(f"param_lrs must be a mapping of patterns to rates, got {param_lrs!r}")
        for pattern, rate in param_lrs.items():
            if not isinstance(pattern, str):
                raise ValueError(f"param_lrs keys must be fnmatch patterns, got {pattern!r}")
            _positive_float(rate, f"param_lrs[{pattern!r}]")
    if evaluate is not None and not callable(evaluate):
        raise TypeError(f"evaluate must be callable or None, got {type(evaluate).__name__}")
    if checkpoint is not None and not isinstance(checkpoint, str | Path):
        raise TypeError(f"checkpoint must be a path or None, got {type(checkpoint).__name__}")
    _check_bool(resume, "resume")
    _check_bool(progress, "progress")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path to resume from, got checkpoint=None")
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {type(description).__name__}")


def _first_batch(arrays: Mapping[str, np.ndarray], batch_size: int, device) -> dict:
    return {
        k: torch.as_tensor(np.array(v[:batch_size], dtype=np.float32), device=device)
        for k, v in arrays.items()
    }


# ---- the loop --------------------------------------------------------------------------------


def fit_objective(
    objective,
    parameters: ProgramParameters,
    data: Mapping[str, np.ndarray],
    config: TrainConfig,
    *,
    param_lrs: Mapping[str, float] | None = None,
    evaluate: Callable[[int], dict] | None = None,
    checkpoint=None,
    resume: bool = False,
    batch_groups=None,
    description: str = "fit",
) -> History:
    """Train ``parameters`` on ``objective`` with :func:`~latentgraph.inference.svi_torch.train`.

    ``param_lrs`` maps fnmatch patterns on the names in ``parameters.named`` to Adam learning
    rates (first match wins; the rest train at ``config.lr``). Returns the :class:`History`.
    """
    groups = _param_groups(parameters.named, param_lrs or {})
    return train(
        parameters.module,
        objective,
        data,
        config,
        evaluate=evaluate,
        checkpoint_path=checkpoint,
        resume=resume,
        param_groups=groups,
        batch_groups=batch_groups,
        description=description,
    )


@dataclass
class PyroFit:
    """A fitted model/guide pair: its history, parameters and edge posteriors.

    Attributes:
        model, guide: the programs (their parameters now trained).
        history: the :class:`History` of the run.
        params: parameter name -> constrained value (a detached copy, on the training device).
        edge_probabilities: edge site -> ``sigma(alpha)`` as a numpy array.
        device: the training device.
    """

    model: Callable
    guide: Callable
    history: History
    params: dict[str, torch.Tensor]
    edge_probabilities: dict[str, np.ndarray]
    device: torch.device
    latent_sites: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def edges(
        self,
        name: str,
        *,
        child_names=(),
        parent_names=(),
        child_role: str = "child",
        parent_role: str = "parent",
    ) -> EdgeBeliefs:
        """Posterior edge probabilities ``sigma(alpha)`` of edge site ``name`` (rows =
        children, columns = parents) as :class:`~latentgraph.graphs.EdgeBeliefs`."""
        if name not in self.edge_probabilities:
            raise ValueError(
                f"name must be an edge site of the guide, one of {sorted(self.edge_probabilities)}"
                f"; got {name!r}"
            )
        return EdgeBeliefs(
            self.edge_probabilities[name],
            child_role=child_role,
            parent_role=parent_role,
            child_names=child_names,
            parent_names=parent_names,
        )

    def _fitted_guide(self):
        """The guide with its ``pyro.param`` sites held at the fitted values, so later changes
        to the global param store (e.g. ``pyro.clear_param_store()``) do not reach it."""
        return poutine.substitute(self.guide, data=self.params)

    def posterior(self, data, *, num_samples: int = 100, dims=None, seed: int = 0):
        """``num_samples`` joint draws of every latent guide site, as an ArviZ ``DataTree``.

        The ``posterior`` group holds one variable per latent site with dims ``(chain, draw,
        <site>_dim_0, ...)`` (one chain), or the names given in ``dims={"site": (...)}``. The
        draws use their own seeded generator state, so the caller's random state is untouched.

        Args:
            data: named arrays passed to ``guide(**data)`` (all rows at once).
            num_samples: draws per site.
            dims: optional site name -> dimension names of one draw.
            seed: seed of the draws.
        """
        import arviz

        _positive_int(num_samples, "num_samples")
        _positive_int(seed, "seed", zero=True)
        arrays = _host_arrays(data)
        dims = dict(dims or {})
        for site in dims:
            if site not in self.latent_sites:
                raise ValueError(
                    f"dims names a site that is not a latent guide site: {site!r}; the sites "
                    f"are {sorted(self.latent_sites)}"
                )
        batch = {
            k: torch.as_tensor(np.asarray(v), dtype=torch.float32, device=self.device)
            for k, v in arrays.items()
        }
        draws: dict[str, list[np.ndarray]] = {}
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            for _ in range(num_samples):
                with warnings.catch_warnings():  # self.params holds the model's too
                    warnings.filterwarnings("ignore", message="pyro.module data did not find")
                    trace = poutine.trace(self._fitted_guide()).get_trace(**batch)
                for name, site in trace.nodes.items():
                    if site["type"] != "sample" or site["is_observed"]:
                        continue
                    if site_is_subsample(site):
                        continue
                    draws.setdefault(name, []).append(site["value"].detach().cpu().numpy())
        posterior = {name: np.stack(values)[None] for name, values in draws.items()}
        all_dims = {}
        for name, value in posterior.items():
            names = tuple(dims.get(name, (f"{name}_dim_{i}" for i in range(value.ndim - 2))))
            if len(names) != value.ndim - 2:
                raise ValueError(
                    f"dims[{name!r}] must name the {value.ndim - 2} dimensions of one draw "
                    f"{value.shape[2:]}, got {names}"
                )
            all_dims[name] = list(names)
        return arviz.from_dict({"posterior": posterior}, dims=all_dims)


def fit(
    model,
    guide,
    data,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    edge_bounds: Mapping[str, float] | None = None,
    seed: int = 0,
    device="auto",
    progress: bool = True,
    checkpoint=None,
    resume: bool = False,
    elbo=None,
    param_lrs: Mapping[str, float] | None = None,
    anneal_fraction: float = 0.5,
    dual_lr: float | None = None,
    dual_restarts: bool = True,
    eval_every: int = 0,
    evaluate: Callable[[int], dict] | None = None,
    log_every: int = 50,
    checkpoint_every: int = 0,
    lr_decay: str = "none",
    batch_groups=None,
    description: str = "fit",
) -> PyroFit:
    """Fit ``guide`` to ``model``'s posterior on ``data`` (SVI with Adam), optionally bounding
    the expected edge count of relaxed edge sites (see the module docstring for the maths).

    Args:
        model, guide: Pyro programs taking the data as keyword arguments; their parameters
            are found wherever they live (:func:`inspect_programs`). ``pyro.param`` values
            come from the global param store: clear it for a fresh start.
        data: names -> arrays (numpy or torch) sharing their first (row) dimension; each step
            passes one minibatch of ``batch_size`` rows, as float32 tensors on the device, to
            ``model(**batch)`` and ``guide(**batch)``.
        steps, batch_size, lr: optimiser steps, rows per step, Adam learning rate.
        edge_bounds: guide edge site -> bound ``B`` on ``sum sigma(alpha)``, reached after
            ``anneal_fraction * steps`` steps; solved by dual ascent at ``dual_lr`` (default
            ``lr``), with the multiplier reset while the constraint holds if
            ``dual_restarts``.
        seed, device, progress: training seed (minibatch order and Pyro's noise), ``"auto"``,
            ``"cpu"`` or ``"cuda[:N]"``, and the progress bar.
        checkpoint, resume, checkpoint_every: checkpoint file (written every
            ``checkpoint_every`` steps and at the end) and whether to continue from it;
            resuming is bit-identical to never stopping.
        elbo: any object with ``differentiable_loss(model, guide, **batch)``, e.g.
            ``pyro.infer.Trace_ELBO()``; default
            :class:`~latentgraph.inference.elbo_pyro.AnalyticMeanFieldELBO`.
        param_lrs: fnmatch pattern on parameter names -> learning rate (first match wins).
        eval_every, evaluate: ``evaluate(step) -> dict`` of scalars every ``eval_every`` steps
            and at the end (``history.evaluations``).
        log_every, lr_decay, batch_groups, description: as in
            :class:`~latentgraph.inference.settings.TrainConfig` and
            :func:`~latentgraph.inference.svi_torch.train`.

    Returns a :class:`PyroFit`. History rows log ``loss``, ``neg_elbo`` and, per edge site,
    ``edges_<site>`` (and ``bound_<site>``, ``multiplier_<site>`` when bounded).
    """
    _check_program(model, "model")
    _check_program(guide, "guide")
    arrays = _host_arrays(data)
    config = TrainConfig(
        steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device,
        log_every=log_every, eval_every=eval_every, checkpoint_every=checkpoint_every,
        progress=progress, lr_decay=lr_decay,
    )  # fmt: skip
    n_rows = _check_data(arrays, batch_size)
    if batch_groups is not None:
        _check_groups(batch_groups, n_rows, batch_size)
    _check_loop_arguments(
        param_lrs=param_lrs, evaluate=evaluate, checkpoint=checkpoint, resume=resume,
        progress=progress, description=description,
    )  # fmt: skip
    if elbo is not None and not callable(getattr(elbo, "differentiable_loss", None)):
        raise TypeError(
            f"elbo must have differentiable_loss(model, guide, **batch), got {type(elbo).__name__}"
        )
    if edge_bounds is not None and not isinstance(edge_bounds, Mapping):
        raise TypeError(
            f"edge_bounds must be a mapping of site names to bounds, got {edge_bounds!r}"
        )
    bounds = dict(edge_bounds or {})
    for name, bound in bounds.items():
        if isinstance(bound, bool) or not (
            isinstance(bound, float | int) and bound >= 0 and math.isfinite(bound)
        ):
            raise ValueError(f"edge_bounds[{name!r}] must be a finite number >= 0, got {bound!r}")
    if isinstance(anneal_fraction, bool) or not (
        isinstance(anneal_fraction, float | int) and 0 <= anneal_fraction <= 1
    ):
        raise ValueError(f"anneal_fraction must be in [0, 1], got {anneal_fraction!r}")
    if dual_lr is not None:
        _positive_float(dual_lr, "dual_lr")
    _check_bool(dual_restarts, "dual_restarts")
    target = resolve_device(device)

    seed_everything(seed)  # parameters created by the first trace are initialised from seed
    found = inspect_programs(model, guide, _first_batch(arrays, batch_size, target), device=target)
    unknown = sorted(set(bounds) - set(found.edge_sites))
    if unknown:
        raise ValueError(
            f"edge_bounds names sites that are not relaxed edge sites of the guide: {unknown}; "
            f"the edge sites are {sorted(found.edge_sites)}"
        )
    for name, bound in bounds.items():
        n_edges = math.prod(found.edge_sites[name])
        if bound > n_edges:
            raise ValueError(
                f"edge_bounds[{name!r}] must be <= the {n_edges} possible edges, got {bound}"
            )
    constraints = annealed_edge_constraints(
        bounds,
        {name: math.prod(shape) for name, shape in found.edge_sites.items()},
        steps=steps,
        anneal_fraction=anneal_fraction,
        dual_lr=lr if dual_lr is None else dual_lr,
        dual_restarts=dual_restarts,
    )
    objective = EdgeConstrainedELBO(
        model, guide, elbo=elbo, edge_sites=tuple(found.edge_sites), constraints=constraints
    )
    _param_groups(found.named, param_lrs or {})  # unmatched patterns fail before training
    history = fit_objective(
        objective, found, arrays, config, param_lrs=param_lrs, evaluate=evaluate,
        checkpoint=checkpoint, resume=resume, batch_groups=batch_groups, description=description,
    )  # fmt: skip
    return PyroFit(
        model=model,
        guide=guide,
        history=history,
        params=_constrained_params(found.named),
        edge_probabilities=_edge_probabilities(guide, objective, arrays, batch_size, target),
        device=target,
        latent_sites=found.latent_sites,
    )


def _constrained_params(named: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Parameter name -> value, constrained for param-store parameters."""
    store = pyro.get_param_store()
    out = {}
    for name, tensor in named.items():
        value = store[name] if name in store and store._params[name] is tensor else tensor
        out[name] = value.detach().clone()
    return out


def _edge_probabilities(guide, objective, arrays, batch_size, device) -> dict[str, np.ndarray]:
    """``sigma(alpha)`` of every edge site, from one guide run on the first rows."""
    if not objective.edge_sites:
        return {}
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        trace = poutine.trace(guide).get_trace(**_first_batch(arrays, batch_size, device))
    return {
        name: torch.sigmoid(edge_logits(trace.nodes[name]["fn"])).detach().cpu().numpy()
        for name in objective.edge_sites
    }
