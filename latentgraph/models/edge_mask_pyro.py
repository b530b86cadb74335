"""The edge-mask sample site: a sparsity prior on every edge of a graph (Pyro).

A graph with ``n_children x n_parents`` possible edges is a sample site whose value is a mask
``M`` in ``[0, 1]^{n_children x n_parents}`` (row = child, column = parent).

* **Prior** (:class:`EdgeSparsityPrior`): independent Bernoulli edges with prior log-odds
  ``l_ij``. Its log density, extended linearly from ``{0, 1}`` to relaxed masks, is
  :math:`\\log p(M) = \\sum_{ij} M_{ij} l_{ij} - \\operatorname{softplus}(l_{ij})`.
* **Variational posterior** (:func:`relaxed_edge_posterior`): a Binary-Concrete (Gumbel-sigmoid,
  Maddison et al. 2017; Jang et al. 2017) relaxation of Bernoulli(:math:`\\sigma(\\alpha_{ij})`):
  :math:`M_{ij} = \\sigma((\\alpha_{ij} + \\log U - \\log(1-U)) / \\tau)`, ``U ~ U(0, 1)``,
  optionally straight-through (hard 0/1 forward, soft gradient). One draw per site per step,
  shared by the whole minibatch, as in Lachapelle et al. (2024), ``docs/mechanism_sparsity.md#graph-masks``.

The ELBO term of the edge site is analytic (registered with :func:`torch.distributions.kl.register_kl`
so :class:`pyro.infer.TraceMeanField_ELBO` uses it). With ``q_ij = sigma(alpha_ij)`` it is

.. math:: \\mathrm{KL}(q \\| p) = \\sum_{ij} -q_{ij} l_{ij}
          \\;[\\,+\\, q_{ij}\\log q_{ij} + (1-q_{ij})\\log(1-q_{ij})\\,]

dropping the constant :math:`\\sum \\operatorname{softplus}(l_{ij})`. Setting ``l = -lambda``
gives exactly the paper's penalty :math:`\\lambda \\sum_{ij} \\sigma(\\alpha_{ij})`
(``docs/mechanism_sparsity.md#sparsity-penalty-and-constraint``): *a sparsity penalty is a prior log-odds*. The bracketed posterior entropy of the full Bernoulli
KL is off by default (``include_entropy=False``), matching the paper, where edge probabilities
are point estimates; switch it on for the full mean-field Bernoulli ELBO.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions import constraints
from torch.distributions.kl import register_kl
from torch.nn import functional as F


class EdgeSparsityPrior(TorchDistribution):
    """Independent Bernoulli edges with prior log-odds ``logits``, on relaxed masks in [0, 1].

    Args:
        logits: prior log-odds per edge, any batch shape (use ``.to_event(2)`` for a graph).
        include_entropy: whether the analytic KL against a relaxed edge posterior includes the
            posterior's Bernoulli entropy (see the module docstring).

    ``sample()`` draws hard Bernoulli edges; ``log_prob`` is the Bernoulli log-pmf extended
    linearly to masks in ``[0, 1]``.
    """

    arg_constraints = {"logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, logits: torch.Tensor, *, include_entropy: bool = False, validate_args=None):
        self.logits = logits
        self.include_entropy = include_entropy
        super().__init__(batch_shape=logits.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(EdgeSparsityPrior, _instance)
        new.logits = self.logits.expand(batch_shape)
        new.include_entropy = self.include_entropy
        super(EdgeSparsityPrior, new).__init__(batch_shape=batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def probs(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            return torch.bernoulli(self.probs.expand(self._extended_shape(sample_shape)))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return value * self.logits - F.softplus(self.logits)


def _relaxed_edge_kl(q_logits: torch.Tensor, prior: EdgeSparsityPrior) -> torch.Tensor:
    q = torch.sigmoid(q_logits)
    kl = -q * prior.logits
    if prior.include_entropy:
        # q log q + (1 - q) log(1 - q), written with log-sigmoids for stability
        kl = kl + q * F.logsigmoid(q_logits) + (1 - q) * F.logsigmoid(-q_logits)
    return kl


@register_kl(dist.RelaxedBernoulli, EdgeSparsityPrior)
def _kl_relaxed_bernoulli_edges(q, p):
    return _relaxed_edge_kl(q.logits, p)


@register_kl(dist.RelaxedBernoulliStraightThrough, EdgeSparsityPrior)
def _kl_relaxed_bernoulli_st_edges(q, p):
    return _relaxed_edge_kl(q.logits, p)


def edge_mask(
    name: str, prior_logits: torch.Tensor, *, include_entropy: bool = False
) -> torch.Tensor:
    """Model side: sample a graph mask ``name`` under the Bernoulli sparsity prior.

    Args:
        name: site name, e.g. ``"action_graph"``.
        prior_logits: ``(n_children, n_parents)`` prior log-odds of each edge; ``-lambda``
            reproduces a penalty ``lambda * sum sigma(alpha)``; ``0`` is a flat prior.

    Returns the mask, shape ``(n_children, n_parents)``. Under a guide the value is the guide's
    relaxed sample; to freeze a graph use :func:`latentgraph.models.handlers_pyro.fix`.
    """
    prior = EdgeSparsityPrior(prior_logits, include_entropy=include_entropy)
    return pyro.sample(name, prior.to_event(prior_logits.dim()))


def relaxed_edge_posterior(
    name: str,
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    straight_through: bool = False,
) -> torch.Tensor:
    """Guide side: sample a relaxed mask for site ``name`` from Gumbel-sigmoid(``logits``, ``temperature``).

    Args:
        logits: ``(n_children, n_parents)`` variational log-odds ``alpha``; ``sigma(alpha)`` is the
            posterior edge probability.
        temperature: relaxation temperature ``tau > 0`` (1 in the paper).
        straight_through: forward hard ``1[M > 0.5]``, backward through the soft sample.
    """
    family = dist.RelaxedBernoulliStraightThrough if straight_through else dist.RelaxedBernoulli
    temp = torch.as_tensor(temperature, dtype=logits.dtype, device=logits.device)
    return pyro.sample(name, family(temp, logits=logits).to_event(logits.dim()))
