"""The edge-mask sample site: a sparsity prior on every edge of a graph (NumPyro).

The NumPyro twin of :mod:`latentgraph.models.edge_mask_pyro`; both give the same numbers for
the same logits and noise (tested). A graph with ``n_children x n_parents`` possible edges is a
sample site whose value is a mask ``M`` in ``[0, 1]^{n_children x n_parents}`` (row = child,
column = parent).

* **Prior** (:class:`EdgeSparsityPrior`): independent Bernoulli edges with prior log-odds
  ``l_ij``; its log density, extended linearly from ``{0, 1}`` to relaxed masks, is
  :math:`\\log p(M) = \\sum_{ij} M_{ij} l_{ij} - \\operatorname{softplus}(l_{ij})`.
* **Variational posterior** (:class:`RelaxedEdgePosterior`): the Binary-Concrete
  (Gumbel-sigmoid; Maddison et al. 2017, Jang et al. 2017) relaxation of
  Bernoulli(:math:`\\sigma(\\alpha_{ij})`),
  :math:`M_{ij} = \\sigma((\\alpha_{ij} + L_{ij}) / \\tau)` with logistic noise
  ``L = log U - log(1 - U)``, optionally straight-through (hard 0/1 forward, soft gradient).
  One draw per site per step, shared by the whole minibatch (Lachapelle et al. 2024;
  ``docs/mechanism_sparsity.md#graph-masks``).

The ELBO term of the edge site is analytic. NumPyro's ``kl_divergence`` is a
``multipledispatch`` function (there is no ``register_kl`` in NumPyro), so the term is
registered on it with ``kl_divergence.register`` and
:class:`numpyro.infer.TraceMeanField_ELBO` uses it. With ``q_ij = sigma(alpha_ij)``:

.. math:: \\mathrm{KL}(q \\| p) = \\sum_{ij} -q_{ij} l_{ij}
          \\;[\\,+\\, q_{ij}\\log q_{ij} + (1-q_{ij})\\log(1-q_{ij})\\,]

dropping the constant :math:`\\sum \\operatorname{softplus}(l_{ij})`; ``l = -lambda`` gives the
paper's penalty :math:`\\lambda \\sum_{ij} \\sigma(\\alpha_{ij})`
(``docs/mechanism_sparsity.md#sparsity-penalty-and-constraint``). The bracketed
entropy is off by default (``include_entropy=False``), as in the paper.

Example:
    >>> import jax.numpy as jnp
    >>> from numpyro.infer import TraceMeanField_ELBO
    >>> from jax import random
    >>> model = lambda: edge_mask("g", jnp.full((2, 3), -4.0))   # penalty lambda = 4
    >>> guide = lambda: relaxed_edge_posterior("g", jnp.zeros((2, 3)))
    >>> float(TraceMeanField_ELBO().loss(random.key(0), {}, model, guide))  # 4 * 6 * 0.5
    12.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax import lax, random
from numpyro.distributions import constraints
from numpyro.distributions.kl import kl_divergence
from numpyro.distributions.util import validate_sample


class EdgeSparsityPrior(dist.Distribution):
    """Independent Bernoulli edges with prior log-odds ``logits``, on relaxed masks in [0, 1].

    Args:
        logits: prior log-odds per edge, any batch shape (use ``.to_event(2)`` for a graph).
        include_entropy: whether the analytic KL against a :class:`RelaxedEdgePosterior`
            includes the posterior's Bernoulli entropy (see the module docstring).

    ``sample`` draws hard Bernoulli edges; ``log_prob`` is the Bernoulli log-pmf extended
    linearly to masks in ``[0, 1]``.
    """

    arg_constraints = {"logits": constraints.real}
    support = constraints.unit_interval
    pytree_data_fields = ("logits",)
    pytree_aux_fields = ("include_entropy",)

    def __init__(self, logits, *, include_entropy: bool = False, validate_args=None):
        self.logits = jnp.asarray(logits)
        self.include_entropy = include_entropy
        super().__init__(batch_shape=jnp.shape(self.logits), validate_args=validate_args)

    @property
    def probs(self) -> jax.Array:
        return jax.nn.sigmoid(self.logits)

    def sample(self, key, sample_shape=()):
        shape = sample_shape + self.batch_shape
        return random.bernoulli(key, self.probs, shape).astype(self.logits.dtype)

    @validate_sample
    def log_prob(self, value):
        return value * self.logits - jax.nn.softplus(self.logits)


class RelaxedEdgePosterior(dist.Distribution):
    """Binary-Concrete (Gumbel-sigmoid) edges with log-odds ``logits`` and temperature ``tau``.

    .. math:: M = \\sigma\\big((\\alpha + L) / \\tau\\big), \\qquad L \\sim \\mathrm{Logistic}(0, 1)

    Args:
        logits: variational log-odds ``alpha``; ``sigma(alpha)`` is the edge probability.
        temperature: ``tau > 0`` (1 in the paper).
        straight_through: forward ``1[M > 0.5]``, gradient through the soft ``M``.

    ``log_prob`` is the Binary-Concrete density of the soft sample (Maddison et al. 2017,
    eq. 17 in logit form), equal to :class:`numpyro.distributions.RelaxedBernoulliLogits`'.
    """

    arg_constraints = {"logits": constraints.real, "temperature": constraints.positive}
    support = constraints.unit_interval
    reparametrized_params = ["logits", "temperature"]
    pytree_data_fields = ("logits", "temperature")
    pytree_aux_fields = ("straight_through",)

    def __init__(
        self, logits, temperature=1.0, *, straight_through: bool = False, validate_args=None
    ):
        self.logits = jnp.asarray(logits)
        self.temperature = jnp.asarray(temperature, dtype=self.logits.dtype)
        self.straight_through = straight_through
        super().__init__(batch_shape=jnp.shape(self.logits), validate_args=validate_args)

    @property
    def probs(self) -> jax.Array:
        return jax.nn.sigmoid(self.logits)

    def from_noise(self, noise):
        """The mask for given standard-logistic ``noise`` (shape ``batch_shape``): the
        reparameterisation, exposed so tests can share noise across backends."""
        soft = jax.nn.sigmoid((self.logits + noise) / self.temperature)
        if not self.straight_through:
            return soft
        hard = (soft > 0.5).astype(soft.dtype)
        return soft + lax.stop_gradient(hard - soft)

    def sample(self, key, sample_shape=()):
        shape = sample_shape + self.batch_shape
        return self.from_noise(random.logistic(key, shape, dtype=self.logits.dtype))

    @validate_sample
    def log_prob(self, value):
        # L = tau * logit(M) - alpha is standard logistic; |dL/dM| = tau / (M (1 - M)).
        logistic = self.temperature * (jnp.log(value) - jnp.log1p(-value)) - self.logits
        return (
            jnp.log(self.temperature)
            - jnp.log(value)
            - jnp.log1p(-value)
            - jax.nn.softplus(logistic)
            - jax.nn.softplus(-logistic)
        )


def edge_kl(q_logits, prior_logits, *, include_entropy: bool = False) -> jax.Array:
    """Elementwise analytic edge term ``-q l [+ q log q + (1-q) log(1-q)]``, ``q = sigma(alpha)``."""
    q = jax.nn.sigmoid(q_logits)
    kl = -q * prior_logits
    if include_entropy:
        kl = kl + q * jax.nn.log_sigmoid(q_logits) + (1 - q) * jax.nn.log_sigmoid(-q_logits)
    return kl


@kl_divergence.register(RelaxedEdgePosterior, EdgeSparsityPrior)
def _kl_relaxed_edges(q, p):
    return edge_kl(q.logits, p.logits, include_entropy=p.include_entropy)


@kl_divergence.register(dist.RelaxedBernoulliLogits, EdgeSparsityPrior)
def _kl_relaxed_bernoulli_edges(q, p):
    return edge_kl(q.logits, p.logits, include_entropy=p.include_entropy)


def edge_mask(name: str, prior_logits, *, include_entropy: bool = False) -> jax.Array:
    """Model side: sample a graph mask ``name`` under the Bernoulli sparsity prior.

    Args:
        name: site name, e.g. ``"action_graph"``.
        prior_logits: ``(n_children, n_parents)`` prior log-odds of each edge; ``-lambda``
            reproduces a penalty ``lambda * sum sigma(alpha)``; ``0`` is a flat prior.
        include_entropy: see :class:`EdgeSparsityPrior`.

    Returns the mask, shape ``(n_children, n_parents)``. Under a guide the value is the guide's
    relaxed sample; to freeze a graph, substitute a value and block the site (see
    :meth:`~latentgraph.families.mechanism_sparsity.numpyro_model.NumPyroMechanismSparsityVAE.frozen`).
    """
    prior_logits = jnp.asarray(prior_logits)
    prior = EdgeSparsityPrior(prior_logits, include_entropy=include_entropy)
    return numpyro.sample(name, prior.to_event(prior_logits.ndim))


def relaxed_edge_posterior(
    name: str, logits, *, temperature: float = 1.0, straight_through: bool = False
) -> jax.Array:
    """Guide side: sample a relaxed mask for site ``name`` from Gumbel-sigmoid(``logits``, ``tau``).

    Args:
        logits: ``(n_children, n_parents)`` variational log-odds ``alpha``.
        temperature: relaxation temperature ``tau > 0`` (1 in the paper).
        straight_through: forward hard ``1[M > 0.5]``, backward through the soft sample.
    """
    logits = jnp.asarray(logits)
    posterior = RelaxedEdgePosterior(logits, temperature, straight_through=straight_through)
    return numpyro.sample(name, posterior.to_event(logits.ndim))
