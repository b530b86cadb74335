"""The NumPyro edge-mask primitive: prior, relaxed posterior, analytic ELBO term, freezing."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from jax import random
from numpyro import handlers
from numpyro.distributions.kl import kl_divergence
from numpyro.infer import TraceMeanField_ELBO

from latentgraph.models.edge_mask_numpyro import (
    EdgeSparsityPrior,
    RelaxedEdgePosterior,
    edge_kl,
    edge_mask,
    relaxed_edge_posterior,
)


def _graph_only(prior_logits, include_entropy=False, straight_through=False):
    def model():
        return edge_mask("g", prior_logits, include_entropy=include_entropy)

    def guide(alpha):
        return relaxed_edge_posterior("g", alpha, straight_through=straight_through)

    return model, guide


@pytest.mark.parametrize("lam", [0.0, 0.5, 8.0])
def test_penalty_is_prior_log_odds(lam):
    alpha = random.normal(random.key(0), (4, 3))
    model, guide = _graph_only(jnp.full((4, 3), -lam))

    def loss(a):
        return TraceMeanField_ELBO().loss(random.key(1), {}, lambda: model(), lambda: guide(a))

    value, grad = jax.value_and_grad(loss)(alpha)
    s = jax.nn.sigmoid(alpha)
    np.testing.assert_allclose(value, lam * s.sum(), rtol=1e-6)
    np.testing.assert_allclose(grad, lam * s * (1 - s), rtol=1e-5, atol=1e-7)


def _bernoulli_kl(q_logits, p_logits):
    q, p = jax.nn.sigmoid(q_logits), jax.nn.sigmoid(p_logits)
    return q * jnp.log(q / p) + (1 - q) * jnp.log((1 - q) / (1 - p))


def test_entropy_option_is_the_bernoulli_kl_up_to_a_constant_closed_form_and_monte_carlo():
    alpha = random.normal(random.key(1), (5, 2))
    prior = random.normal(random.key(2), (5, 2))
    q = RelaxedEdgePosterior(alpha).to_event(2)
    p = EdgeSparsityPrior(prior, include_entropy=True).to_event(2)
    analytic = kl_divergence(q, p) + jax.nn.softplus(prior).sum()
    np.testing.assert_allclose(analytic, _bernoulli_kl(alpha, prior).sum(), rtol=1e-5)
    # Monte Carlo over hard edges M ~ Bernoulli(sigma(alpha)): E[log q(M) - log p(M)].
    hard = EdgeSparsityPrior(alpha).sample(random.key(3), (200_000,))
    log_q = EdgeSparsityPrior(alpha).to_event(2).log_prob(hard)
    log_p = EdgeSparsityPrior(prior).to_event(2).log_prob(hard)
    mc = log_q - log_p
    assert abs(float(mc.mean() - analytic)) < 4 * float(mc.std()) / math.sqrt(len(mc))


def test_without_entropy_the_term_is_minus_expected_log_prior_edges():
    alpha, prior = jnp.array([[-1.0, 2.0]]), jnp.array([[0.3, -4.0]])
    kl = kl_divergence(RelaxedEdgePosterior(alpha), EdgeSparsityPrior(prior))
    np.testing.assert_allclose(kl, -jax.nn.sigmoid(alpha) * prior, rtol=1e-6)
    np.testing.assert_allclose(kl, edge_kl(alpha, prior), rtol=1e-6)


def test_numpyros_own_relaxed_bernoulli_gets_the_same_term():
    alpha, prior = jnp.array([0.5, -1.0]), jnp.array([-2.0, 1.0])
    ours = kl_divergence(RelaxedEdgePosterior(alpha), EdgeSparsityPrior(prior))
    theirs = kl_divergence(dist.RelaxedBernoulliLogits(1.0, alpha), EdgeSparsityPrior(prior))
    np.testing.assert_allclose(ours, theirs)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_log_prob_is_the_binary_concrete_density(temperature):
    alpha = jnp.array([-2.0, 0.0, 1.5])
    value = jnp.array([0.1, 0.5, 0.97])
    ours = RelaxedEdgePosterior(alpha, temperature).log_prob(value)
    reference = dist.RelaxedBernoulliLogits(temperature, alpha).log_prob(value)
    np.testing.assert_allclose(ours, reference, rtol=1e-5)


def test_relaxed_samples_threshold_like_bernoulli():
    alpha = jnp.array([-2.0, 0.0, 1.5])
    m = RelaxedEdgePosterior(alpha).sample(random.key(4), (40_000,))
    assert bool(((m > 0) & (m < 1)).all())
    np.testing.assert_allclose((m > 0.5).mean(0), jax.nn.sigmoid(alpha), atol=0.015)


def test_straight_through_is_hard_with_soft_gradient():
    weights = jnp.arange(36.0).reshape(6, 6)

    def f(alpha):
        m = RelaxedEdgePosterior(alpha, straight_through=True).sample(random.key(5))
        return (m * weights).sum(), m

    grad, m = jax.grad(f, has_aux=True)(jnp.zeros((6, 6)))
    assert set(np.unique(np.asarray(m)).tolist()) <= {0.0, 1.0}
    assert float(jnp.abs(grad).sum()) > 0


def test_prior_log_prob_and_support():
    prior = EdgeSparsityPrior(jnp.array([math.log(3.0)]))  # p = 0.75
    np.testing.assert_allclose(prior.log_prob(jnp.array([1.0])), [math.log(0.75)], rtol=1e-6)
    np.testing.assert_allclose(prior.log_prob(jnp.array([0.0])), [math.log(0.25)], rtol=1e-6)
    with pytest.warns(UserWarning, match="Out-of-support"):
        EdgeSparsityPrior(jnp.zeros(1), validate_args=True).log_prob(jnp.array([1.5]))


def test_blocked_substitute_freezes_a_graph_in_model_and_guide():
    model, guide = _graph_only(jnp.full((2, 2), -3.0))
    ones = {"g": jnp.ones((2, 2))}

    def freeze(fn):
        return handlers.block(handlers.substitute(fn, data=ones), hide=["g"])

    tr = handlers.trace(handlers.seed(freeze(model), 0)).get_trace()
    assert "g" not in tr
    value = handlers.seed(freeze(model), 0)()
    np.testing.assert_array_equal(value, ones["g"])
    loss = TraceMeanField_ELBO().loss(
        random.key(0), {}, freeze(model), freeze(lambda: guide(jnp.zeros((2, 2))))
    )
    assert float(loss) == 0.0
