"""The lean analytic-KL ELBO equals Pyro's TraceMeanField_ELBO for the same draws."""

import pyro
import pyro.distributions as dist
import pytest
import torch

from latentgraph.families.mechanism_sparsity.config import MechanismSparsityConfig, NetworkSizes
from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE
from latentgraph.inference.elbo_pyro import AnalyticMeanFieldELBO

TINY = NetworkSizes(
    encoder_hidden=(8,), decoder_hidden=(8,), transition_hidden=4, transition_layers=1
)


@pytest.mark.parametrize("n_steps,n_actions", [(1, 2), (2, 0), (2, 2)])
@pytest.mark.parametrize("frozen", [False, True])
def test_matches_trace_mean_field_on_the_mechanism_model(n_steps, n_actions, frozen):
    torch.manual_seed(0)
    vae = MechanismSparsityVAE(
        MechanismSparsityConfig(
            n_latents=3, n_obs=4, n_actions=n_actions, n_steps=n_steps, sizes=TINY
        )
    )
    vae.set_edge_prior(-1.3)
    x = torch.randn(9, n_steps, 4)
    a = torch.randn(9, n_actions) if n_actions else None
    model, guide = (
        (vae.frozen(vae.model), vae.frozen(vae.guide)) if frozen else (vae.model, vae.guide)
    )
    pyro.set_rng_seed(3)
    expected = pyro.infer.TraceMeanField_ELBO().differentiable_loss(model, guide, x, a)
    pyro.set_rng_seed(3)
    actual = AnalyticMeanFieldELBO().differentiable_loss(model, guide, x, a)
    torch.testing.assert_close(actual, expected)
    params = list(vae.parameters())
    g_expected = torch.autograd.grad(expected, params, allow_unused=True)
    g_actual = torch.autograd.grad(actual, params, allow_unused=True)
    for ge, ga in zip(g_expected, g_actual, strict=True):
        assert (ge is None) == (ga is None)
        if ge is not None:
            torch.testing.assert_close(ga, ge)


def test_analytic_value_on_a_conjugate_model():
    """z ~ N(0, 1), x ~ N(z, 1), q(z) = N(m, s): the ELBO has a closed form in expectation."""
    m, s, x = torch.tensor(0.3), torch.tensor(0.5), torch.tensor(1.2)

    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide():
        pyro.sample("z", dist.Normal(m, s))

    elbo = AnalyticMeanFieldELBO()
    pyro.set_rng_seed(0)
    estimate = torch.stack([elbo.differentiable_loss(model, guide) for _ in range(20_000)]).mean()
    kl = 0.5 * (s**2 + m**2 - 1 - torch.log(s**2))
    expected_nll = 0.5 * torch.log(torch.tensor(2 * torch.pi)) + 0.5 * ((x - m) ** 2 + s**2)
    torch.testing.assert_close(estimate, kl + expected_nll, atol=0.01, rtol=0)


def test_missing_guide_site_is_reported():
    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    with pytest.raises(NotImplementedError, match="'z'"):
        AnalyticMeanFieldELBO().differentiable_loss(model, lambda: None)
