"""Plain PyTorch building blocks shared by the Pyro model families.

Everything here is a deterministic ``torch.nn.Module``; the probabilistic programs in the
``*_pyro.py`` files call these networks and wrap their outputs in distributions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

LEAKY_SLOPE = 0.2


def mlp(
    n_in: int, hidden: Sequence[int], n_out: int, *, slope: float = LEAKY_SLOPE
) -> nn.Sequential:
    """A LeakyReLU multilayer perceptron ``n_in -> hidden[0] -> ... -> hidden[-1] -> n_out``.

    Every hidden layer is ``Linear`` followed by ``LeakyReLU(slope)``; the output layer is linear.
    Linear layers use PyTorch's default initialisation (Kaiming-uniform with ``a = sqrt(5)``),
    which is what the reference implementation of Lachapelle et al. (2024) uses.

    Shapes: ``(..., n_in) -> (..., n_out)``.
    """
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class ParallelLinear(nn.Module):
    """``n_units`` independent linear maps applied in one batched contraction.

    .. math:: y_{b,k,o} = \\sum_i W_{k,o,i}\\, x_{b,k,i} + c_{k,o}

    Shapes: input ``(batch, n_units, n_in)``, weight ``(n_units, n_out, n_in)``, output
    ``(batch, n_units, n_out)``. Each unit is initialised exactly as an ``nn.Linear(n_in, n_out)``
    would be (Kaiming-uniform with ``a = sqrt(5)``, bias ``U(+-1/sqrt(n_in))``), so a stack of
    these reproduces ``n_units`` separate PyTorch MLPs without a Python loop over units.
    """

    def __init__(self, n_units: int, n_in: int, n_out: int, *, bias: bool = True):
        super().__init__()
        self.n_units, self.n_in, self.n_out = n_units, n_in, n_out
        self.weight = nn.Parameter(torch.empty(n_units, n_out, n_in))
        self.bias = nn.Parameter(torch.empty(n_units, n_out)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.n_in)  # = kaiming_uniform(a=sqrt(5)) bound for fan_in n_in
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("bki,koi->bko", x, self.weight)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"n_units={self.n_units}, n_in={self.n_in}, n_out={self.n_out}"
