"""A continuous spike-and-slab prior on edge weights, for samplers that need gradients (NumPyro).

Each weight ``w`` has a latent edge indicator ``gamma ~ Bernoulli(pi)`` and
``w | gamma ~ N(0, s_gamma^2)`` with a narrow spike ``s_0`` ("no edge": an effect too small to
matter) and a wide slab ``s_1`` ("edge"). The indicator is summed out analytically,

.. math:: p(w) = (1 - \\pi)\\, \\mathcal N(w; 0, s_0^2) + \\pi\\, \\mathcal N(w; 0, s_1^2),

so the density is smooth in ``w`` and NUTS samples the weights alone (George & McCulloch 1993,
stochastic search variable selection). The edge is recovered afterwards by Rao-Blackwellisation:
because ``gamma`` is independent of the data given ``w``,

.. math:: P(\\gamma = 1 \\mid \\text{data}) = \\mathbb E\\bigl[r(w) \\mid \\text{data}\\bigr],
          \\qquad r(w) = \\frac{\\pi\\, \\mathcal N(w; 0, s_1^2)}
          {\\pi\\, \\mathcal N(w; 0, s_1^2) + (1 - \\pi)\\, \\mathcal N(w; 0, s_0^2)},

an average of :meth:`SpikeAndSlabNormal.inclusion_probability` over posterior draws of ``w``
(lower variance than averaging sampled indicators).

Reference: E. I. George, R. E. McCulloch, "Variable Selection via Gibbs Sampling", JASA 88
(1993), eq. (2.2) and §2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import logsumexp
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes, validate_sample

__all__ = ["SpikeAndSlabNormal"]


class SpikeAndSlabNormal(dist.Distribution):
    """Two-component zero-mean Gaussian mixture: spike ``N(0, spike_scale^2)`` with weight
    ``1 - edge_prob``, slab ``N(0, slab_scale^2)`` with weight ``edge_prob``.

    Args:
        edge_prob: prior probability ``pi`` of an edge, in (0, 1).
        spike_scale: ``s_0 > 0``, the scale of weights that count as "no edge".
        slab_scale: ``s_1 > s_0``, the scale of real edge weights.

    Example:
        >>> prior = SpikeAndSlabNormal(0.5, 0.05, 1.0)
        >>> round(float(prior.inclusion_probability(jnp.array(0.0))), 4)  # s0 / (s0 + s1)
        0.0476
        >>> round(float(prior.inclusion_probability(jnp.array(0.5))), 4)
        1.0
    """

    arg_constraints = {
        "edge_prob": constraints.open_interval(0.0, 1.0),
        "spike_scale": constraints.positive,
        "slab_scale": constraints.positive,
    }
    support = constraints.real
    reparametrized_params = []

    def __init__(self, edge_prob, spike_scale, slab_scale, *, validate_args=None):
        self.edge_prob, self.spike_scale, self.slab_scale = promote_shapes(
            edge_prob, spike_scale, slab_scale
        )
        batch_shape = jax.lax.broadcast_shapes(
            jnp.shape(edge_prob), jnp.shape(spike_scale), jnp.shape(slab_scale)
        )
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        key_edge, key_weight = jax.random.split(key)
        shape = sample_shape + self.batch_shape
        edge = jax.random.bernoulli(key_edge, self.edge_prob, shape)
        scale = jnp.where(edge, self.slab_scale, self.spike_scale)
        return scale * jax.random.normal(key_weight, shape)

    def _component_log_probs(self, value):
        """``(log[(1 - pi) N(w; 0, s0^2)], log[pi N(w; 0, s1^2)])``."""
        spike = jnp.log1p(-self.edge_prob) + dist.Normal(0.0, self.spike_scale).log_prob(value)
        slab = jnp.log(self.edge_prob) + dist.Normal(0.0, self.slab_scale).log_prob(value)
        return spike, slab

    @validate_sample
    def log_prob(self, value):
        spike, slab = self._component_log_probs(value)
        return logsumexp(jnp.stack([spike, slab]), axis=0)

    def inclusion_probability(self, value):
        """``r(w) = P(gamma = 1 | w)``, the slab responsibility (module docstring)."""
        spike, slab = self._component_log_probs(value)
        return jax.nn.sigmoid(slab - spike)

    @property
    def mean(self):
        return jnp.zeros(self.batch_shape)

    @property
    def variance(self):
        return (1 - self.edge_prob) * self.spike_scale**2 + self.edge_prob * self.slab_scale**2
