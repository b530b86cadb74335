"""Training objective of the mechanism-sparsity VAE: NumPyro's mean-field ELBO plus sparsity.

The twin of :mod:`.objective_pyro`, as a pure loss for :mod:`latentgraph.inference.svi_jax`.
Three sparsity modes (Lachapelle et al. 2024, arXiv 2401.04890;
``docs/mechanism_sparsity.md#sparsity-penalty-and-constraint``):

* ``"penalty"``: the edge prior's log-odds are ``-lambda`` (``hyper["edge_log_odds"]``), so the
  ELBO's analytic edge term is ``lambda * sum sigma(alpha) / d_x``.
* ``"constraint"``: a flat edge prior and, per learned graph, the constraint
  ``sum sigma(alpha) <= B(t)`` with ``B(t)`` linear from ``hyper["bound_start"]`` to
  ``hyper["bound_end"]`` over ``hyper["anneal_steps"]`` steps, as a Lagrangian term
  ``nu * (sum sigma(alpha) - B(t))``; the multiplier's update is the loop's.
* ``"none"``: every graph frozen at all-ones (the paper's control), via
  :meth:`~.numpyro_model.NumPyroMechanismSparsityVAE.frozen`.

The loss itself is the library's generic one,
:class:`latentgraph.inference.edge_elbo_numpyro.EdgeConstrainedELBO` (the one
:func:`latentgraph.inference.fit_numpyro.fit` uses for any model/guide pair): this class only
says which programs, which graph sites are bounded and that the prior's log-odds are a
per-run hyperparameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from numpyro.infer import TraceMeanField_ELBO

from latentgraph.families.mechanism_sparsity.config import SPARSITY_MODES
from latentgraph.families.mechanism_sparsity.numpyro_model import NumPyroMechanismSparsityVAE
from latentgraph.numpyro import EdgeConstrainedELBO


@dataclass(frozen=True)
class MechanismSparsityObjective:
    """Negative per-dimension ELBO (analytic-KL mean field) plus the sparsity term (pure, hashable).

    Args:
        vae: the programs.
        mode: ``"constraint"``, ``"penalty"`` or ``"none"``.
        constrained: the graphs under an edge-count constraint (``"constraint"`` mode).
    """

    vae: NumPyroMechanismSparsityVAE
    mode: str
    constrained: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in SPARSITY_MODES:
            raise ValueError(f"mode must be one of {SPARSITY_MODES}, got {self.mode!r}")
        unknown = set(self.constrained) - set(self.vae.graph_names)
        if unknown or (self.constrained and self.mode != "constraint"):
            raise ValueError(
                f"constrained must name learned graphs {self.vae.graph_names} in constraint "
                f"mode, got {self.constrained!r} in mode {self.mode!r}"
            )

    def programs(self):
        """``(model, guide)``, frozen at all-ones graphs in ``"none"`` mode."""
        if self.mode == "none":
            return self.vae.frozen(self.vae.model), self.vae.frozen(self.vae.guide)
        return self.vae.model, self.vae.guide

    def hyper(
        self,
        *,
        penalty: float = 0.0,
        bounds: Mapping[str, float] | None = None,
        anneal_steps: float = 0.0,
    ) -> dict:
        """The objective's part of a run's hyperparameters (a pytree of scalars; vmappable, and
        the arguments may be traced, e.g. inside ``jax.vmap`` over bounds).

        ``bounds``: target edge count per constrained graph; each bound starts at the graph's
        maximum edge count and falls linearly to its target over ``anneal_steps`` steps.
        """
        bounds = dict(bounds or {})
        if set(bounds) != set(self.constrained):
            raise ValueError(
                f"bounds must be given for exactly {self.constrained}, got {sorted(bounds)}"
            )
        shapes = self.vae.config.graph_shapes()
        real = jnp.result_type(float)  # float32, or float64 in x64 mode; values may be traced
        return {
            "edge_log_odds": jnp.asarray(-penalty if self.mode == "penalty" else 0.0, real),
            "bound_start": {g: jnp.asarray(shapes[g][0] * shapes[g][1], real) for g in bounds},
            "bound_end": {g: jnp.asarray(b, real) for g, b in bounds.items()},
            "anneal_steps": jnp.asarray(anneal_steps, real),
        }

    def initial_dual(self) -> dict[str, jax.Array]:
        """Multipliers ``nu = 0``, one per constrained graph."""
        return {g: jnp.asarray(0.0) for g in self.constrained}

    def negative_elbo(self, params, rng_key: jax.Array, x, actions, edge_log_odds) -> jax.Array:
        model, guide = self.programs()
        return TraceMeanField_ELBO().loss(rng_key, params, model, guide, x, actions, edge_log_odds)

    def edge_objective(self) -> EdgeConstrainedELBO:
        """The generic objective: ``-ELBO`` of :meth:`programs` plus the Lagrangian term of every
        constrained graph, ``edges_<graph>`` logged for every learned graph, the prior's log-odds
        passed to the programs from ``hyper["edge_log_odds"]``."""
        model, guide = self.programs()
        return EdgeConstrainedELBO(
            model,
            guide,
            TraceMeanField_ELBO(),
            transforms={},  # every parameter is unconstrained
            edge_sites=self.vae.graph_names if self.mode != "none" else (),
            bounded=self.constrained,
            program_hyper=("edge_log_odds",),
        )

    def loss(self, params, rng_key, batch, step, dual, hyper):
        """``(lagrangian, (defects, logs))`` for one minibatch; see
        :class:`latentgraph.inference.svi_jax.Objective`."""
        return self.edge_objective().loss(params, rng_key, batch, step, dual, hyper)
