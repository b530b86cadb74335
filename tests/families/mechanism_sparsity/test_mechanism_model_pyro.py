"""The mechanism-sparsity Pyro program: shapes, initial values, and its ELBO against plain torch."""

import math

import pyro
import pytest
import torch
from torch import nn

from latentgraph.families.mechanism_sparsity.config import MechanismSparsityConfig, NetworkSizes
from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE
from latentgraph.families.mechanism_sparsity.reference_torch import negative_elbo
from latentgraph.models.mechanisms_torch import MaskedMechanisms
from latentgraph.models.nn_torch import ParallelLinear

TINY = NetworkSizes(
    encoder_hidden=(16, 16), decoder_hidden=(16,), transition_hidden=8, transition_layers=2
)
ACTION = MechanismSparsityConfig(n_latents=3, n_obs=5, n_actions=2, n_steps=1, sizes=TINY)
TEMPORAL = MechanismSparsityConfig(n_latents=3, n_obs=5, n_actions=0, n_steps=2, sizes=TINY)
BOTH = MechanismSparsityConfig(n_latents=3, n_obs=5, n_actions=2, n_steps=2, sizes=TINY)


def _inputs(config, batch, device, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, config.n_steps, config.n_obs, generator=g).to(device, dtype)
    a = (
        torch.rand(batch, config.n_actions, generator=g).to(device, dtype) * 4 - 2
        if config.n_actions
        else None
    )
    return x, a


@pytest.mark.parametrize("config", [ACTION, TEMPORAL, BOTH], ids=["action", "temporal", "both"])
def test_trace_shapes(config, device, dtype):
    vae = MechanismSparsityVAE(config).to(device, dtype)
    x, a = _inputs(config, 7, device, dtype)
    guide_tr = pyro.poutine.trace(vae.guide).get_trace(x, a)
    model_tr = pyro.poutine.trace(pyro.poutine.replay(vae.model, trace=guide_tr)).get_trace(x, a)
    for t in range(config.n_steps):
        assert model_tr.nodes[f"z_{t}"]["value"].shape == (7, 3)
        assert model_tr.nodes[f"z_{t}"]["fn"].event_shape == (3,)
    assert model_tr.nodes["x"]["fn"].batch_shape == (7,)
    assert model_tr.nodes["x"]["fn"].event_shape == (config.n_steps, 5)
    for name, shape in config.graph_shapes().items():
        assert model_tr.nodes[name]["value"].shape == shape
        assert guide_tr.nodes[name]["value"].shape == shape
    model_tr.compute_log_prob()
    guide_tr.compute_log_prob()


@pytest.mark.parametrize("config", [ACTION, TEMPORAL, BOTH], ids=["action", "temporal", "both"])
@pytest.mark.parametrize("frozen", [False, True])
def test_pyro_elbo_matches_plain_torch(config, frozen, device):
    """Same weights and same noise: Pyro's TraceMeanField ELBO equals the hand-written loss."""
    torch.manual_seed(0)
    vae = MechanismSparsityVAE(config).to(device, torch.float64)
    with torch.no_grad():  # move away from the very peaked initial values
        vae.decoder_logvar.fill_(-1.0)
        vae.transition_raw_var.fill_(0.3)
        for logits in vae.edge_logits.values():
            logits.copy_(torch.randn_like(logits))
    vae.set_edge_prior(-0.7)
    x, a = _inputs(config, 11, device, torch.float64)
    model, guide = (
        (vae.frozen(vae.model), vae.frozen(vae.guide)) if frozen else (vae.model, vae.guide)
    )
    pyro.set_rng_seed(5)
    pyro_loss = pyro.infer.TraceMeanField_ELBO().differentiable_loss(model, guide, x, a)
    pyro.set_rng_seed(5)
    guide_tr = pyro.poutine.trace(guide).get_trace(x, a)
    loc, var = vae.encode(x)
    z = torch.stack([guide_tr.nodes[f"z_{t}"]["value"] for t in range(config.n_steps)], dim=1)
    eps = (z - loc) / var.sqrt()
    masks = (
        vae.all_ones_graphs()
        if frozen
        else {n: guide_tr.nodes[n]["value"] for n in vae.graph_names}
    )
    reference = negative_elbo(vae, x, a, latent_noise=eps, masks=masks)
    if frozen:  # frozen graphs carry no edge term at all
        reference = reference - sum(
            0.7 * torch.sigmoid(lg).sum() / config.n_obs for lg in vae.edge_logits.values()
        )
    torch.testing.assert_close(pyro_loss, reference, rtol=1e-9, atol=1e-9)


def test_initial_values_match_the_spec():
    vae = MechanismSparsityVAE(MechanismSparsityConfig(n_actions=10, sizes=TINY))
    probs = vae.edge_probabilities()["action_graph"]
    torch.testing.assert_close(probs, torch.full((10, 10), 0.9933), atol=1e-4, rtol=0)
    assert vae.decoder_std().item() == pytest.approx(math.exp(-5) + 1e-4, rel=1e-6)
    assert vae.decoder_std().item() == pytest.approx(0.00684, abs=5e-6)
    torch.testing.assert_close(
        vae.transition_scale() ** 2, torch.full((10,), 1e-4), rtol=1e-5, atol=0
    )


def test_parallel_linear_equals_separate_linears():
    torch.manual_seed(0)
    layer = ParallelLinear(4, 3, 5)
    x = torch.randn(6, 4, 3)
    for k in range(4):
        lin = nn.Linear(3, 5)
        with torch.no_grad():
            lin.weight.copy_(layer.weight[k])
            lin.bias.copy_(layer.bias[k])
        torch.testing.assert_close(layer(x)[:, k], lin(x[:, k]))
    assert layer.weight.abs().max() <= 1 / math.sqrt(3)


def test_masked_parents_do_not_influence_children():
    torch.manual_seed(0)
    mech = MaskedMechanisms(3, n_action_parents=4, hidden=8, n_layers=3)
    mask = torch.tensor([[1.0, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1]])
    actions = torch.randn(5, 4, requires_grad=True)
    out = mech(actions=actions, action_mask=mask)
    assert out.shape == (5, 3)
    for child in range(3):
        (grad,) = torch.autograd.grad(out[:, child].sum(), actions, retain_graph=True)
        influence = grad.abs().sum(0) > 0
        assert torch.equal(influence, mask[child].bool())


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="n_actions"):
        MechanismSparsityConfig(n_actions=0, n_steps=1)
    with pytest.raises(ValueError, match="n_steps"):
        MechanismSparsityConfig(n_steps=3)
    with pytest.raises(ValueError, match="temperature"):
        MechanismSparsityConfig(n_actions=2, temperature=0.0)
