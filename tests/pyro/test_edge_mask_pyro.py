"""The edge-mask primitive: prior, relaxed posterior, analytic ELBO term and the fix handler."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch.nn import functional as F

from latentgraph.models.edge_mask_pyro import EdgeSparsityPrior, edge_mask, relaxed_edge_posterior
from latentgraph.models.handlers_pyro import fix


def _graph_only(alpha, prior_logits, include_entropy=False, straight_through=False):
    def model():
        return edge_mask("g", prior_logits, include_entropy=include_entropy)

    def guide():
        return relaxed_edge_posterior("g", alpha, straight_through=straight_through)

    return model, guide


@pytest.mark.parametrize("lam", [0.0, 0.5, 8.0])
def test_penalty_is_prior_log_odds(lam, device, dtype):
    torch.manual_seed(0)
    alpha = torch.randn(4, 3, device=device, dtype=dtype, requires_grad=True)
    prior = torch.full((4, 3), -lam, device=device, dtype=dtype)
    model, guide = _graph_only(alpha, prior)
    loss = pyro.infer.TraceMeanField_ELBO().differentiable_loss(model, guide)
    expected = lam * torch.sigmoid(alpha).sum()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    s = torch.sigmoid(alpha)
    torch.testing.assert_close(alpha.grad, lam * s * (1 - s))


def test_entropy_option_gives_bernoulli_kl_up_to_constant(device, dtype):
    torch.manual_seed(1)
    alpha = torch.randn(5, 2, device=device, dtype=dtype)
    prior = torch.randn(5, 2, device=device, dtype=dtype)
    model, guide = _graph_only(alpha, prior, include_entropy=True)
    loss = pyro.infer.TraceMeanField_ELBO().differentiable_loss(model, guide)
    bernoulli_kl = torch.distributions.kl_divergence(
        torch.distributions.Bernoulli(logits=alpha), torch.distributions.Bernoulli(logits=prior)
    ).sum()
    torch.testing.assert_close(loss, bernoulli_kl - F.softplus(prior).sum())


def test_relaxed_samples_threshold_like_bernoulli():
    torch.manual_seed(2)
    alpha = torch.tensor([-2.0, 0.0, 1.5])
    m = relaxed_edge_posterior("g", alpha.expand(40_000, 3))  # 40k independent draws per edge
    assert ((m > 0) & (m < 1)).all()
    frac = (m > 0.5).float().mean(0)
    torch.testing.assert_close(frac, torch.sigmoid(alpha), atol=0.015, rtol=0)


def test_straight_through_is_hard_with_soft_gradient():
    torch.manual_seed(3)
    alpha = torch.zeros(6, 6, requires_grad=True)
    m = relaxed_edge_posterior("g", alpha, straight_through=True)
    assert set(m.detach().unique().tolist()) <= {0.0, 1.0}
    (m * torch.arange(36.0).reshape(6, 6)).sum().backward()
    assert alpha.grad.abs().sum() > 0


def test_prior_log_prob_and_support():
    prior = EdgeSparsityPrior(torch.tensor([math.log(3.0)]))  # p = 0.75
    torch.testing.assert_close(prior.log_prob(torch.tensor([1.0])), torch.tensor([math.log(0.75)]))
    torch.testing.assert_close(prior.log_prob(torch.tensor([0.0])), torch.tensor([math.log(0.25)]))
    with pytest.raises(ValueError):
        EdgeSparsityPrior(torch.zeros(1), validate_args=True).log_prob(torch.tensor([1.5]))


def test_fix_holds_value_and_drops_density():
    def model():
        return pyro.sample("a", dist.Normal(0.0, 1.0)) + pyro.sample("b", dist.Normal(0.0, 1.0))

    tr = pyro.poutine.trace(fix(model, data={"a": torch.tensor(3.0)})).get_trace()
    assert tr.nodes["a"]["value"].item() == 3.0
    b = tr.nodes["b"]["value"]
    torch.testing.assert_close(tr.log_prob_sum(), dist.Normal(0.0, 1.0).log_prob(b))
    with pytest.raises(TypeError, match="data"):
        fix(model)
