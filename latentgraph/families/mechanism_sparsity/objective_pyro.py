"""Training objective of the mechanism-sparsity VAE: Pyro's mean-field ELBO plus sparsity.

Three sparsity modes (Lachapelle et al. 2024, spec Sec. 2.4):

* ``"penalty"``: the edge prior's log-odds are ``-lambda``, so the ELBO's analytic edge term is
  ``lambda * sum sigma(alpha) / d_x``; nothing is added outside the ELBO.
* ``"constraint"``: a flat edge prior (log-odds 0) and the constraint
  ``sum sigma(alpha) <= B(t)`` per learned graph, solved with descent-ascent
  (:class:`~latentgraph.inference.lagrangian_torch.EdgeCountConstraint`).
* ``"none"``: every graph frozen at all-ones (the paper's control), via the ``fix`` handler.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE
from latentgraph.inference.elbo_pyro import AnalyticMeanFieldELBO
from latentgraph.inference.lagrangian_torch import EdgeCountConstraint


class MechanismSparsityObjective:
    """Negative per-dimension ELBO (analytic-KL mean-field estimator) plus the sparsity term.

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
        self.constraints = dict(constraints or {})
        # Same estimator as pyro.infer.TraceMeanField_ELBO, without its unused log-densities.
        self.elbo = AnalyticMeanFieldELBO()
        if mode == "none":
            self.model, self.guide = vae.frozen(vae.model), vae.frozen(vae.guide)
        else:
            self.model, self.guide = vae.model, vae.guide
        vae.set_edge_prior(-penalty if mode == "penalty" else 0.0)
        self._defects: dict[str, torch.Tensor] = {}

    def negative_elbo(self, x: torch.Tensor, actions: torch.Tensor | None) -> torch.Tensor:
        return self.elbo.differentiable_loss(self.model, self.guide, x, actions)

    def loss(self, batch: Mapping[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict]:
        neg_elbo = self.negative_elbo(batch["x"], batch.get("actions"))
        total = neg_elbo
        logs: dict[str, torch.Tensor] = {"neg_elbo": neg_elbo.detach()}
        expected = self.vae.expected_edges() if self.mode != "none" else {}
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
        """The dual multipliers, by graph name (checkpointed with the weights)."""
        return {name: c.dual.state_dict() for name, c in self.constraints.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.constraints):
            raise ValueError(
                f"objective state must hold the constraints {sorted(self.constraints)}, "
                f"got {sorted(state)}"
            )
        for name, constraint in self.constraints.items():
            constraint.dual.load_state_dict(state[name])
