"""The negative ELBO of any NumPyro model/guide pair plus annealed edge-count constraints.

A pure, hashable :class:`~latentgraph.inference.svi_jax.Objective` for
:mod:`latentgraph.inference.svi_jax`. For parameters :math:`\\theta` (NumPyro ``param`` sites,
optimised unconstrained and mapped to their constraint sets as :class:`numpyro.infer.SVI` does)
and, per constrained graph site :math:`s` of the guide with logits :math:`\\alpha^s`,

.. math::
    \\mathcal L(\\theta, \\nu) = -\\mathrm{ELBO}(\\theta)
        + \\sum_s \\nu_s \\Big(\\sum_{ij} \\sigma(\\alpha^s_{ij}) - B_s(t)\\Big),
    \\qquad B_s(t) = E_s + (B_s - E_s) \\min(1, t / T_a)

with :math:`E_s` the site's number of possible edges and :math:`T_a` the anneal length: the
constrained form of Lachapelle et al. (2024, arXiv 2401.04890), described in
``docs/mechanism_sparsity.md`` ("Sparsity penalty and constraint"); the multipliers' projected
ascent with restarts is the loop's (:func:`~.lagrangian_jax.dual_ascent`).
The expected edge count :math:`\\sum_{ij} \\sigma(\\alpha^s_{ij})` is read from the guide's
relaxed edge site (:func:`~latentgraph.models.edge_mask_numpyro.relaxed_edge_posterior`) traced
with the current parameters, so the logits may be any function of the parameters.

The objective's per-run numbers (bounds, anneal length, keyword arguments of the programs such
as a prior's log-odds) live in its ``hyper`` pytree, so a sweep may trace and vmap them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.infer.util import transform_fn

from latentgraph.inference.lagrangian_jax import lagrangian_term, linear_schedule
from latentgraph.models.edge_mask_numpyro import RelaxedEdgePosterior

EDGE_DISTRIBUTIONS = (RelaxedEdgePosterior, dist.RelaxedBernoulliLogits)
"""Guide distributions recognised as relaxed edge sites (their ``logits`` are ``alpha``)."""


def edge_distribution(fn) -> Any | None:
    """The relaxed edge distribution under ``fn``'s ``Independent`` wrappers, or None."""
    while isinstance(fn, dist.Independent):
        fn = fn.base_dist
    return fn if isinstance(fn, EDGE_DISTRIBUTIONS) else None


def edge_sites(trace: Mapping) -> dict[str, tuple[int, ...]]:
    """Relaxed edge sites of a guide trace: ``{site: shape of its value}``, in trace order."""
    return {
        name: tuple(jnp.shape(site["value"]))
        for name, site in trace.items()
        if site["type"] == "sample" and edge_distribution(site["fn"]) is not None
    }


def _same(a, b) -> bool:
    """Whether two ELBOs or transforms compute the same thing (same type and settings)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b) if type(a).__eq__ is not object.__eq__ else vars(a) == vars(b)
    except (TypeError, ValueError):  # array-valued settings: fall back to identity
        return False


@dataclass(frozen=True, eq=False)
class EdgeConstrainedELBO:
    """``-ELBO`` plus a Lagrangian edge-count term per bounded site (pure, hashable).

    Two objectives are equal when they hold the same programs (by identity), equivalent ELBOs
    and transforms and the same sites, so repeated fits of one model reuse the compiled chunk.

    Args:
        model, guide: NumPyro programs, called with the minibatch's arrays (and the
            ``program_hyper`` entries) as keyword arguments.
        elbo: a NumPyro ELBO (e.g. :class:`numpyro.infer.TraceMeanField_ELBO`).
        transforms: ``{param name: transform}`` from unconstrained to constrained values, for
            the parameters with a constraint other than ``real`` (the others pass unchanged).
        edge_sites: the guide's relaxed edge sites, each logged as ``edges_<site>``.
        bounded: the sites under an edge-count bound (a subset of ``edge_sites``).
        program_hyper: names of entries of the ``hyper`` pytree passed to model and guide as
            keyword arguments at every step besides the minibatch (e.g. a prior's log-odds
            that a sweep traces and vmaps).
    """

    model: Callable
    guide: Callable
    elbo: Any
    transforms: Mapping[str, Any]
    edge_sites: tuple[str, ...] = ()
    bounded: tuple[str, ...] = ()
    program_hyper: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [s for s in self.bounded if s not in self.edge_sites]
        if unknown:
            raise ValueError(
                f"bounded must name edge sites of the guide {self.edge_sites}, got {unknown}"
            )

    def _key(self) -> tuple:
        return (self.model, self.guide, type(self.elbo), tuple(sorted(self.transforms)),
                self.edge_sites, self.bounded, self.program_hyper)  # fmt: skip

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other) -> bool:
        if not isinstance(other, EdgeConstrainedELBO):
            return NotImplemented
        return (
            self._key() == other._key()
            and _same(self.elbo, other.elbo)
            and all(_same(t, other.transforms[k]) for k, t in self.transforms.items())
        )

    def constrain(self, params: Mapping) -> dict:
        """Unconstrained (optimised) parameters -> the values the programs see."""
        return transform_fn(dict(self.transforms), dict(params))

    def unconstrain(self, params: Mapping) -> dict:
        """Inverse of :meth:`constrain`."""
        return transform_fn(dict(self.transforms), dict(params), invert=True)

    def hyper(
        self,
        *,
        bounds: Mapping[str, Any],
        possible_edges: Mapping[str, Any],
        anneal_steps: Any = 0.0,
        program_kwargs: Mapping[str, Any] | None = None,
    ) -> dict:
        """The objective's part of a run's hyperparameters (a pytree; values may be traced).

        Args:
            bounds: final edge count ``B_s`` per bounded site (exactly ``self.bounded``).
            possible_edges: ``E_s``, where each bound starts, per bounded site.
            anneal_steps: ``T_a``: steps over which ``B_s(t)`` falls from ``E_s`` to ``B_s``.
            program_kwargs: the values of ``self.program_hyper`` (exactly those names).
        """
        if set(bounds) != set(self.bounded):
            raise ValueError(
                f"bounds must be given for exactly {self.bounded}, got {sorted(bounds)}"
            )
        program_kwargs = dict(program_kwargs or {})
        if set(program_kwargs) != set(self.program_hyper):
            raise ValueError(
                f"program_kwargs must be given for exactly {self.program_hyper}, got "
                f"{sorted(program_kwargs)}"
            )
        real = jnp.result_type(float)  # float32, or float64 in x64 mode
        hyper = {
            "bound_start": {s: jnp.asarray(possible_edges[s], real) for s in self.bounded},
            "bound_end": {s: jnp.asarray(bounds[s], real) for s in self.bounded},
            "anneal_steps": jnp.asarray(anneal_steps, real),
        }
        return {**program_kwargs, **hyper}

    def initial_dual(self) -> dict[str, jax.Array]:
        """Multipliers ``nu = 0``, one per bounded site."""
        return {s: jnp.asarray(0.0) for s in self.bounded}

    def expected_edges(self, params, rng_key, batch: Mapping, program_kwargs=None) -> dict:
        """``sum sigma(alpha)`` per edge site, from the guide traced with ``params``
        (unconstrained) on ``batch``; the guide's random draws are not used."""
        if not self.edge_sites:
            return {}
        guide = handlers.seed(handlers.substitute(self.guide, data=self.constrain(params)), rng_key)
        trace = handlers.trace(guide).get_trace(**batch, **dict(program_kwargs or {}))
        return {
            s: jax.nn.sigmoid(edge_distribution(trace[s]["fn"]).logits).sum()
            for s in self.edge_sites
        }

    def loss(self, params, rng_key, batch, step, dual, hyper):
        """``(lagrangian, (defects, logs))`` for one minibatch; see
        :class:`latentgraph.inference.svi_jax.Objective`."""
        kwargs = {name: hyper[name] for name in self.program_hyper}
        neg_elbo = self.elbo.loss(
            rng_key, self.constrain(params), self.model, self.guide, **batch, **kwargs
        )
        total = neg_elbo
        logs = {"neg_elbo": neg_elbo}
        expected = self.expected_edges(params, rng_key, batch, kwargs)
        for name, edges in expected.items():
            logs[f"edges_{name}"] = jax.lax.stop_gradient(edges)
        defects = {}
        for name in self.bounded:
            bound = linear_schedule(
                step, hyper["bound_start"][name], hyper["bound_end"][name], hyper["anneal_steps"]
            )
            defects[name] = expected[name] - bound
            total = total + lagrangian_term(dual[name], defects[name])
            logs[f"bound_{name}"] = bound
            logs[f"multiplier_{name}"] = dual[name]
        return total, (defects, logs)
