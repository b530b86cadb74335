"""Training objective of the mechanism-sparsity VAE: Pyro's mean-field ELBO plus sparsity.

Three sparsity modes (Lachapelle et al. 2024, arXiv 2401.04890):

* ``"penalty"``: the edge prior's log-odds are ``-lambda``, so the ELBO's analytic edge term is
  ``lambda * sum sigma(alpha) / d_x``; nothing is added outside the ELBO.
* ``"constraint"``: a flat edge prior (log-odds 0) and the constraint
  ``sum sigma(alpha) <= B(t)`` per learned graph, solved with descent-ascent
  (:class:`~latentgraph.inference.lagrangian_torch.EdgeCountConstraint`).
* ``"none"``: every graph frozen at all-ones (the paper's control), via the ``fix`` handler.
"""

from __future__ import annotations

from collections.abc import Mapping

from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE
from latentgraph.pyro import AnalyticMeanFieldELBO, EdgeConstrainedELBO, EdgeCountConstraint


class MechanismSparsityObjective(EdgeConstrainedELBO):
    """Negative per-dimension ELBO (analytic-KL mean-field estimator) plus the sparsity term.

    The generic :class:`~latentgraph.inference.fit_pyro.EdgeConstrainedELBO` of the VAE's
    programs: the mode only sets the edge prior, freezes the graphs (``"none"``) or adds the
    constraints (``"constraint"``); :func:`latentgraph.inference.fit_pyro.fit` with
    ``edge_bounds`` builds the same objective for any Pyro program.

    Args:
        vae: the model.
        mode: ``"constraint"``, ``"penalty"`` or ``"none"``.
        constraints: graph name -> :class:`EdgeCountConstraint` (``"constraint"`` mode only).
        penalty: ``lambda`` of the penalty mode (the edge prior's log-odds are ``-lambda``).
    """

    def __init__(
        self,
        vae: MechanismSparsityVAE,
        mode: str,
        *,
        constraints: Mapping[str, EdgeCountConstraint] | None = None,
        penalty: float = 0.0,
    ):
        self.vae = vae
        self.mode = mode
        if mode == "none":
            model, guide, edge_sites = vae.frozen(vae.model), vae.frozen(vae.guide), ()
        else:
            model, guide, edge_sites = vae.model, vae.guide, vae.graph_names
        vae.set_edge_prior(-penalty if mode == "penalty" else 0.0)
        # Same estimator as pyro.infer.TraceMeanField_ELBO, without its unused log-densities.
        super().__init__(
            model,
            guide,
            elbo=AnalyticMeanFieldELBO(),
            edge_sites=edge_sites,
            constraints=constraints,
        )
