"""A per-element choice between two distributions: the per-sample form of an intervention.

With a boolean ``mask`` over the batch elements, the site's distribution becomes

.. math::

    \\tilde p(x) = \\prod_{r} \\tilde p_{r}(x_r), \\qquad
    \\tilde p_r = \\begin{cases} q_r & \\text{mask}_r \\\\ p_r & \\text{otherwise,} \\end{cases}

where ``p`` is the natural mechanism and ``q`` the intervened one: each plate element follows its
own context. ``sample`` draws from both and keeps, per element, the one the mask selects
(``torch.where``); ``log_prob`` is ``where(mask, q.log_prob(x), p.log_prob(x))`` elementwise over
the batch shape. This is the per-sample vectorised form of the context module
(``docs/context_module.md#per-sample-form``), written for a single sample site.
"""

from __future__ import annotations

import torch
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions import constraints

__all__ = ["MaskedSelect", "broadcast_shape"]


def broadcast_shape(*shapes) -> torch.Size | None:
    """The broadcast of ``shapes`` (aligned from the right), or None if they do not broadcast.

    Plain Python: ``torch.broadcast_shapes`` imports sympy on first use (seconds).
    """
    ndim = max((len(shape) for shape in shapes), default=0)
    result = [1] * ndim
    for shape in shapes:
        for axis, size in enumerate(shape, start=ndim - len(shape)):
            if size == result[axis] or size == 1:
                continue
            if result[axis] != 1:
                return None
            result[axis] = size
    return torch.Size(result)


class MaskedSelect(TorchDistribution):
    """Element ``r`` of the batch follows ``intervened`` where ``mask[r]`` is True, else
    ``natural``.

    Args:
        natural: the mechanism's distribution ``p``.
        intervened: the intervention distribution ``q``, with the same ``event_shape``.
        mask: boolean tensor broadcastable (from the right) with the batch shapes.

    Shapes: ``batch_shape = broadcast(natural.batch_shape, intervened.batch_shape,
    mask.shape)``; ``event_shape = natural.event_shape``.

    Both log densities are evaluated on the whole value, then selected, so ``x`` must lie in the
    support of both wherever Pyro's argument validation is on (it is for real-valued
    mechanisms such as Normal; a point mass accepts any value and gives ``-inf`` off its atom).
    ``sample`` draws ``intervened`` first, then ``natural``.
    """

    arg_constraints: dict = {}

    def __init__(self, natural, intervened, mask: torch.Tensor, validate_args=None):
        if natural.event_shape != intervened.event_shape:
            raise ValueError(
                f"`intervened` must have the event shape of `natural` {tuple(natural.event_shape)}"
                f", got {tuple(intervened.event_shape)}"
            )
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"`mask` must be a bool tensor, got {type(mask).__name__}")
        batch_shape = broadcast_shape(natural.batch_shape, intervened.batch_shape, mask.shape)
        if batch_shape is None:
            raise ValueError(
                "`natural`, `intervened` and `mask` must have broadcastable batch shapes, got "
                f"{tuple(natural.batch_shape)}, {tuple(intervened.batch_shape)}, {tuple(mask.shape)}"
            )
        self.natural = (
            natural.expand(batch_shape) if natural.batch_shape != batch_shape else natural
        )
        self.intervened = (
            intervened.expand(batch_shape) if intervened.batch_shape != batch_shape else intervened
        )
        self.mask = mask
        super().__init__(batch_shape, natural.event_shape, validate_args=False)

    def _event_mask(self) -> torch.Tensor:
        return self.mask.reshape(self.mask.shape + (1,) * len(self.event_shape))

    @constraints.dependent_property
    def support(self):
        return self.natural.support

    @property
    def has_rsample(self) -> bool:
        return bool(self.natural.has_rsample and self.intervened.has_rsample)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            return self._draw(sample_shape, reparameterized=False)

    def rsample(self, sample_shape=torch.Size()):
        if not self.has_rsample:
            raise NotImplementedError("both distributions must have rsample")
        return self._draw(sample_shape, reparameterized=True)

    def _draw(self, sample_shape, *, reparameterized: bool) -> torch.Tensor:
        draw = "rsample" if reparameterized else "sample"
        intervened = getattr(self.intervened, draw)(sample_shape)
        natural = getattr(self.natural, draw)(sample_shape)
        return torch.where(self._event_mask(), intervened, natural)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask, self.intervened.log_prob(value), self.natural.log_prob(value))

    @property
    def mean(self) -> torch.Tensor:
        return torch.where(self._event_mask(), self.intervened.mean, self.natural.mean)

    @property
    def variance(self) -> torch.Tensor:
        return torch.where(self._event_mask(), self.intervened.variance, self.natural.variance)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return MaskedSelect(
            self.natural.expand(batch_shape),
            self.intervened.expand(batch_shape),
            self.mask.expand(batch_shape),
        )
