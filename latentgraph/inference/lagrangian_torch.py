"""Constrained sparsity by simultaneous gradient descent-ascent (PyTorch).

Minimise ``loss`` subject to ``g(theta) = sum_ij sigma(alpha_ij) - B(t) <= 0`` through the
Lagrangian ``L = loss + nu * g`` (Lachapelle et al. 2024;
``docs/mechanism_sparsity.md#sparsity-penalty-and-constraint``): the primal optimiser
descends ``L``; after each step the multiplier takes a projected ascent step
``nu <- max(0, nu + lr_dual * g)`` and, with dual restarts, is reset to 0 whenever the constraint
holds. ``lr_dual`` is a real option here (the reference code silently ignored it,
``docs/mechanism_sparsity.md#dual-learning-rate``).
The multiplier lives on the device as a tensor so the update never forces a host sync.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentgraph.inference.schedules import LinearSchedule


@dataclass
class DualAscent:
    """Projected dual ascent on one inequality constraint ``g <= 0``.

    Args:
        lr: dual learning rate (5e-4 in the paper, equal to the primal one).
        restarts: reset the multiplier to 0 as soon as the constraint is satisfied.
        multiplier: current ``nu >= 0`` (a 0-d tensor once the first update ran).
    """

    lr: float = 5e-4
    restarts: bool = True
    multiplier: torch.Tensor | float = 0.0

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"dual lr must be > 0, got {self.lr}")

    def penalty(self, defect: torch.Tensor) -> torch.Tensor:
        """The Lagrangian term ``nu * g`` (``nu`` held fixed: no gradient flows into it)."""
        nu = self.multiplier
        if torch.is_tensor(nu):
            nu = nu.detach()
        return nu * defect

    def update(self, defect: torch.Tensor) -> torch.Tensor:
        """One projected ascent step with the defect ``g`` of the same step; returns ``nu``."""
        defect = defect.detach()
        nu = torch.clamp(
            torch.as_tensor(self.multiplier, device=defect.device) + self.lr * defect, min=0.0
        )
        if self.restarts:
            nu = torch.where(defect <= 0, torch.zeros_like(nu), nu)
        self.multiplier = nu
        return nu

    def state_dict(self) -> dict:
        return {"multiplier": torch.as_tensor(self.multiplier).detach().cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.multiplier = state["multiplier"]


@dataclass
class EdgeCountConstraint:
    """``expected_edges <= bound(step)``, solved with :class:`DualAscent`.

    Args:
        bound: the schedule ``B(t)`` (e.g. from the maximum edge count down to the target).
        dual: the multiplier and its update rule.
    """

    bound: LinearSchedule
    dual: DualAscent

    def defect(self, expected_edges: torch.Tensor, step: int) -> torch.Tensor:
        return expected_edges - self.bound(step)

    def lagrangian_term(
        self, expected_edges: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(nu * g, g)`` for this step."""
        g = self.defect(expected_edges, step)
        return self.dual.penalty(g), g
