"""Context module (Markham et al., arXiv 2507.04754): layers, program, generation, variants.

The causal layer's wiring is checked against the rule table of ``docs/context_module.md#causal-layer``,
written here as explicit loops over blocks (a second formulation of the vectorised form of
``docs/context_module.md#per-sample-form``), and on hand-built cases; the ELBO against the
summed BCE + beta * KL of ``docs/context_module.md#objective`` computed by hand.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyro
import pytest
import torch
from torch.nn import functional as F

from latentgraph.app.runs import write_json
from latentgraph.families.context_module import (
    CausalLayer,
    ContextModule,
    ContextModuleVAE,
    ExpressiveLayer,
    ModuleSizes,
    NoiseLayer,
    cpu_config,
    fit,
    generate,
    get_variant,
    official_config,
)
from latentgraph.families.context_module.evaluate import ContextImages, evaluate
from latentgraph.families.context_module.fit_pyro import (
    ContextModuleObjective,
    FittedContextModule,
    training_arrays,
)
from latentgraph.families.context_module.generate import batch_seed, generate_reference
from latentgraph.inference.checkpoint_torch import save_checkpoint
from latentgraph.inference.elbo_pyro import AnalyticMeanFieldELBO
from latentgraph.inference.svi_torch import TrainConfig

K, B = 3, 2  # concepts, concept width


@pytest.fixture(autouse=True)
def _one_thread(_pyro_state):
    torch.set_num_threads(1)  # the CPU is shared; one thread is faster than two here


def _masks(k: int = K) -> list[torch.Tensor]:
    """Every target set of ``k`` concepts as a bool mask."""
    return [torch.tensor(bits, dtype=torch.bool) for bits in itertools.product([0, 1], repeat=k)]


def _rule_table(layer: CausalLayer, mask: torch.Tensor, compose: str) -> torch.Tensor:
    """``E_T`` block by block from the rule table (reference) or the joint perfect form
    (``docs/context_module.md#approximate-intervention-semantics``)."""
    effect_obs, effect_ivn = layer.effects()
    k, b = layer.n_concepts, layer.block
    out = torch.zeros(k * b, k * b)
    for r, s in itertools.product(range(k), repeat=2):
        rows, cols = slice(r * b, (r + 1) * b), slice(s * b, (s + 1) * b)
        if compose == "joint_perfect" and mask[r]:
            block = torch.eye(b) if r == s else torch.zeros(b, b)
        elif mask[s]:
            block = effect_ivn[rows, cols]
        elif mask[r]:
            block = torch.zeros(b, b)
        else:
            block = effect_obs[rows, cols]
        out[rows, cols] = block
    return out


@pytest.mark.parametrize("compose", ["reference", "joint_perfect"])
def test_causal_layer_follows_the_rule_table_for_every_context(compose):
    torch.manual_seed(0)
    layer = CausalLayer(K, B, compose=compose)
    eps = torch.randn(5, K * B)
    for mask in _masks():
        expected = eps @ _rule_table(layer, mask, compose).T + layer.bias
        targets = mask.expand(5, -1)
        torch.testing.assert_close(layer(eps, targets), expected)
        torch.testing.assert_close(
            layer.context_effects(targets)[0], _rule_table(layer, mask, compose)
        )


def test_intervened_concept_ignores_its_parents_and_others_depend_on_parents_only():
    """Hand-built chain 0 -> 1 -> 2 (one weight per block): do(1) cuts 0 -> 1 only."""
    layer = CausalLayer(K, B)
    with torch.no_grad():
        layer.weight_obs.zero_()
        layer.weight_ivn.zero_()
        layer.bias.zero_()
        layer.weight_obs[2:4, 0:2] = 0.5 * torch.eye(2)  # c_1 += 0.5 eps_0
        layer.weight_obs[4:6, 2:4] = 0.25 * torch.eye(2)  # c_2 += 0.25 eps_1
        layer.weight_ivn[4:6, 2:4] = 0.75 * torch.eye(2)  # under do(1), c_2 += 0.75 eps_1
    eps = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    obs = layer(eps, torch.tensor([[False, False, False]]))
    assert obs.tolist() == [[1.0, 2.0, 3.5, 5.0, 5.75, 7.0]]
    do_1 = layer(eps, torch.tensor([[False, True, False]]))
    assert do_1.tolist() == [[1.0, 2.0, 3.0, 4.0, 7.25, 9.0]]
    # the intervened concept does not move with its parent; the child moves with its parent only
    for source, moved in ((0, [0]), (1, [1, 2]), (2, [2])):
        bumped = eps.clone()
        bumped[0, 2 * source : 2 * source + 2] += 1.0
        change = (layer(bumped, torch.tensor([[False, True, False]])) - do_1).abs()
        changed = [k for k in range(K) if change[0, 2 * k : 2 * k + 2].sum() > 0]
        assert changed == moved


def test_compose_modes_agree_on_single_targets_and_differ_on_pairs():
    torch.manual_seed(1)
    reference, joint = CausalLayer(K, B), CausalLayer(K, B, compose="joint_perfect")
    joint.load_state_dict(reference.state_dict())
    eps = torch.randn(4, K * B)
    for mask in _masks():
        targets = mask.expand(4, -1)
        same = torch.allclose(reference(eps, targets), joint(eps, targets))
        assert same == (int(mask.sum()) <= 1)


def test_causal_weights_start_and_stay_in_the_unit_box():
    torch.manual_seed(2)
    layer = CausalLayer(4, 3)
    bound = 1 / math.sqrt(3 * 3)
    for weight in (layer.weight_obs, layer.weight_ivn):
        assert weight.min() >= 0 and weight.max() <= bound
        assert torch.all(weight * (1 - layer.off_diagonal) == 0)  # diagonal blocks stay identity
    with torch.no_grad():
        layer.weight_obs.add_(torch.linspace(-2, 2, 144).reshape(12, 12))
    layer.project_()
    assert layer.weight_obs.min() == 0 and layer.weight_obs.max() == 1


def test_penalty_counts_identity_blocks_and_cut_blocks():
    layer = CausalLayer(K, B)
    with torch.no_grad():
        layer.weight_obs.fill_(0.5)
        layer.weight_ivn.fill_(0.25)
    # obs: every off-diagonal block is 0.5 * ones(2, 2) (Frobenius 1), diagonal I_2 (sqrt 2)
    obs = layer.penalty(torch.zeros(1, K, dtype=torch.bool), group_lasso=1.0)
    assert obs.item() == pytest.approx(3 * math.sqrt(2) + 6 * 1.0)
    # do(0): column 0 from ivn (2 blocks of Frobenius 0.5), row 0 cut, 2 obs blocks remain
    do_0 = layer.penalty(torch.tensor([[True, False, False]]), group_lasso=1.0)
    assert do_0.item() == pytest.approx(3 * math.sqrt(2) + 2 * 0.5 + 2 * 1.0)


def test_noise_layer_uses_the_targeted_block_and_never_mixes_blocks():
    layer = NoiseLayer(2, 2)
    with torch.no_grad():
        layer.weight_obs.copy_(torch.arange(16.0).reshape(4, 4) / 10)
        layer.weight_ivn.copy_(-torch.arange(16.0).reshape(4, 4) / 10)
        layer.bias.zero_()
    z = torch.tensor([[1.0, -1.0, 2.0, 0.5]])
    u = layer(z, torch.tensor([[False, True]]))
    obs_block = torch.tensor([[0.0, 0.1], [0.4, 0.5]]) @ z[0, :2]
    ivn_block = -torch.tensor([[1.0, 1.1], [1.4, 1.5]]) @ z[0, 2:]
    torch.testing.assert_close(u[0], F.gelu(torch.cat([obs_block, ivn_block])))
    dense = NoiseLayer(2, 2, obs_mask="dense")
    dense.load_state_dict(layer.state_dict())
    torch.testing.assert_close(
        dense(z, torch.tensor([[False, False]]))[0], F.gelu(layer.weight_obs @ z[0])
    )
    torch.testing.assert_close(dense(z, torch.tensor([[False, True]])), u)


@pytest.mark.parametrize("module_norm", ["none", "layer"])
def test_expressive_layer_keeps_concepts_apart(module_norm):
    torch.manual_seed(3)
    layer = ExpressiveLayer(
        3, ModuleSizes(block_in=4, block_out=2, depth=3).widths(), norm=module_norm
    )
    jacobian = torch.autograd.functional.jacobian(lambda u: layer(u[None])[0], torch.randn(12))
    blocks = jacobian.reshape(3, 2, 3, 4).abs().sum(dim=(1, 3))
    assert torch.all(blocks[~torch.eye(3, dtype=torch.bool)] == 0)
    assert torch.all(blocks.diag() > 0)
    assert ModuleSizes(block_in=2, block_out=10, depth=5).widths() == (2, 4, 6, 8, 10)


@pytest.mark.parametrize("module_norm", ["none", "layer"])
def test_a_sample_does_not_depend_on_the_rest_of_its_batch(module_norm):
    torch.manual_seed(4)
    vae = ContextModuleVAE(cpu_config(K, norm=module_norm))
    vae.train()
    images = torch.rand(6, 32, 32, 3)
    targets = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 0, 0]])
    loc, scale = vae.encode(images)
    logits = vae.decode(loc, targets.bool())
    other = torch.rand(6, 32, 32, 3)
    other[0] = images[0]
    other_targets = torch.ones_like(targets)
    other_targets[0] = targets[0]
    loc_2, scale_2 = vae.encode(other)
    torch.testing.assert_close(loc_2[0], loc[0])
    torch.testing.assert_close(scale_2[0], scale[0])
    torch.testing.assert_close(vae.decode(loc_2, other_targets.bool())[0], logits[0])
    alone = vae.decode(loc[3:4], targets[3:4].bool())  # mixed-context batch == one at a time
    torch.testing.assert_close(alone[0], logits[3])


def test_negative_elbo_is_summed_bce_plus_beta_kl():
    torch.manual_seed(5)
    config = cpu_config(K)
    config = type(config)(K, config.backbone, config.module, beta=2.0)
    vae = ContextModuleVAE(config)
    images = torch.rand(3, 32, 32, 3)
    targets = torch.tensor([[0, 0, 0], [0, 1, 0], [1, 0, 1]], dtype=torch.bool)
    torch.manual_seed(6)
    with pyro.validation_enabled(False):
        loss = AnalyticMeanFieldELBO().differentiable_loss(vae.model, vae.guide, images, targets)
    torch.manual_seed(6)
    loc, scale = vae.encode(images)
    z = torch.distributions.Normal(loc, scale).rsample()
    bce = F.binary_cross_entropy_with_logits(vae.decode(z, targets), images, reduction="sum")
    kl = 0.5 * (loc**2 + scale**2 - 1 - 2 * scale.log()).sum()
    torch.testing.assert_close(loss, bce + 2.0 * kl)


def test_generation_is_seeded_fresh_per_context_and_leaves_the_global_rng_alone():
    torch.manual_seed(7)
    vae = ContextModuleVAE(cpu_config(K))
    state = torch.get_rng_state()
    first = generate(vae, [0], 5, seed=3, batch_size=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert first.shape == (5, 32, 32, 3) and first.dtype == np.float32
    assert 0 <= first.min() and first.max() <= 1
    np.testing.assert_array_equal(generate(vae, [0], 5, seed=3, batch_size=2), first)
    assert not np.allclose(generate(vae, [0], 5, seed=4, batch_size=2), first)
    assert not np.allclose(first[:2], first[2:4])  # batches draw their own noise (fresh samples)
    # label-free variants route every context as obs: same noise, obs wiring
    mask = np.array([True, False, True])
    with torch.random.fork_rng():
        torch.manual_seed(batch_seed(3, mask, 0))
        as_obs = vae.model(None, torch.zeros(4, K, dtype=torch.bool)).detach().numpy()
    pooled = generate(vae, [0, 2], 4, seed=3, variant=get_variant("cm-pooled"))
    np.testing.assert_allclose(pooled, as_obs, rtol=0, atol=1e-6)
    assert not np.allclose(generate(vae, [0, 2], 4, seed=3), as_obs)
    with pytest.raises(ValueError, match="concept indices"):
        generate(vae, [K], 2, seed=0)


def test_official_network_shapes():
    vae = ContextModuleVAE(official_config(6))
    assert vae.config.latent_dim == 192
    assert vae.head.causal.weight_obs.shape == (48, 48)
    out = vae.model(None, torch.zeros(2, 6, dtype=torch.bool))
    assert out.shape == (2, 64, 64, 3)
    base = ContextModuleVAE(official_config(6).with_module(None))
    assert base.head is None and base.config.latent_dim == 128
    with pytest.raises(ValueError, match="conv_channels"):
        type(vae.config.backbone)(image_size=32, conv_channels=(8, 16, 32, 64))


def _toy_data(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    context = np.arange(n) % (K + 1)
    targets = np.zeros((n, K), dtype=bool)
    targets[context > 0, context[context > 0] - 1] = True
    return images, targets


def test_variants_route_and_select_their_data():
    images, targets = _toy_data()
    assert len(training_arrays(images, targets, get_variant("base"))["images"]) == 16
    assert len(training_arrays(images, targets, get_variant("cm"))["images"]) == 64
    assert not get_variant("cm-pooled").route(torch.as_tensor(targets)).any()
    assert get_variant("cm-finetune").freeze_steps(100) == 20
    with pytest.raises(ValueError, match="variant must be one of"):
        get_variant("cm-e2e")


def test_frozen_backbone_gets_no_gradient_until_unfrozen():
    vae = ContextModuleVAE(cpu_config(K))
    objective = ContextModuleObjective(
        vae, get_variant("cm-finetune"), frozen=vae.backbone_parameters(), freeze_steps=2
    )
    images, targets = _toy_data(4)
    batch = {"images": torch.as_tensor(images).float(), "targets": torch.as_tensor(targets).float()}
    with pyro.validation_enabled(False):
        for step, frozen in ((1, True), (2, True), (3, False)):
            vae.zero_grad(set_to_none=True)
            objective.loss(batch, step)[0].backward()
            assert all((p.grad is None) == frozen for p in vae.backbone_parameters())
            assert vae.loc_head.weight.grad is not None


def test_cm_frozen_loads_and_keeps_the_pretrained_backbone(tmp_path):
    torch.manual_seed(8)
    base_config = cpu_config(K).with_module(None)
    base = ContextModuleVAE(base_config)
    save_checkpoint({"module": base.state_dict()}, tmp_path / "checkpoint.pt")
    write_json(
        tmp_path / "config.json",
        {
            "family": "context-module",
            "model": base_config.to_dict(),
            "variant": get_variant("base-pooled").to_dict(),
        },
    )
    images, targets = _toy_data()
    fitted = fit(
        images,
        targets,
        config=cpu_config(K),
        variant="cm-frozen",
        pretrained=tmp_path,
        train_config=TrainConfig(steps=3, batch_size=16, lr=1e-2, progress=False, device="cpu"),
    )
    trained = fitted.vae.state_dict()
    for name, value in base.state_dict().items():
        if name.startswith(("encoder.", "decoder.")):
            torch.testing.assert_close(trained[name], value)
    torch.manual_seed(0)  # fit's seed: the initial weights
    initial = ContextModuleVAE(cpu_config(K)).state_dict()
    for name in ("loc_head.weight", "head.noise.weight_obs", "head.causal.weight_ivn"):
        assert not torch.equal(trained[name], initial[name])
    with pytest.raises(ValueError, match="needs pretrained"):
        fit(images, targets, config=cpu_config(K), variant="cm-finetune")
    with pytest.raises(ValueError, match="does not match"):
        fit(
            images[:, :, :, :1].copy(),
            targets,
            config=cpu_config(K, channels=1),
            variant="cm-frozen",
            pretrained=tmp_path,
        )


def test_fit_rejects_bad_arrays_before_training():
    images, targets = _toy_data()
    config = cpu_config(K)
    with pytest.raises(TypeError, match="uint8"):
        fit(images.astype(np.float32), targets, config=config)
    with pytest.raises(ValueError, match="shape"):
        fit(images[:, :16], targets, config=config)
    with pytest.raises(ValueError, match="targets must have shape"):
        fit(images, targets[:, :2], config=config)
    with pytest.raises(ValueError, match="batch_size"):
        fit(
            images,
            targets,
            config=config.with_module(None),
            variant="base",
            train_config=TrainConfig(batch_size=32, progress=False),
        )
    with pytest.raises(ValueError, match="needs context"):
        fit(images, targets, config=config.with_module(None), variant="cm")


def test_reference_batch_norm_needs_single_context_batches_and_evaluates_pooled():
    """The reference option of ``docs/context_module.md#batch-statistics-leak``: BatchNorm in the backbone and the module, trained on
    single-context batches; evaluation uses the running statistics, so a sample's encoding no
    longer depends on its batch."""
    images, targets = _toy_data()
    config = cpu_config(K).with_norms("batch", "batch")
    assert config.uses_batch_norm and not cpu_config(K).uses_batch_norm
    assert config.backbone.norm == config.module.norm == "batch"
    assert cpu_config(K).with_norms(module="batch").backbone == cpu_config(K).backbone
    with pytest.raises(ValueError, match="without the module"):
        cpu_config(K).with_module(None).with_norms(module="batch")
    with pytest.raises(ValueError, match="norm"):
        cpu_config(K).with_norms(backbone="instance")
    train_config = TrainConfig(steps=3, batch_size=8, lr=1e-3, device="cpu", progress=False)
    with pytest.raises(ValueError, match="single-context"):
        fit(images, targets, config=config, train_config=train_config)
    with pytest.raises(ValueError, match="batching must be one of"):
        fit(images, targets, config=cpu_config(K), train_config=train_config, batching="one")
    with pytest.raises(ValueError, match="largest context"):  # 16 images per context
        fit(images, targets, config=config, batching="single-context",
            train_config=TrainConfig(steps=1, batch_size=32, device="cpu", progress=False))  # fmt: skip
    fitted = fit(
        images, targets, config=config, train_config=train_config, batching="single-context"
    )
    norms = [
        m for m in fitted.vae.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert len(norms) >= 4 and all(int(m.num_batches_tracked) == 3 for m in norms)
    assert all(m.running_mean.abs().sum() > 0 for m in norms)  # it trained on batches
    np.testing.assert_allclose(
        fitted.encode(images[:8], batch_size=2), fitted.encode(images[:8], batch_size=8),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip


def test_module_output_shape():
    module = ContextModule(K, ModuleSizes(block_in=4, block_out=2, depth=3), decode_dim=7)
    assert module(torch.randn(5, 12), torch.zeros(5, K, dtype=torch.bool)).shape == (5, 7)
    with pytest.raises(ValueError, match="targets must be"):
        module(torch.randn(5, 12), torch.zeros(5, K + 1, dtype=torch.bool))


def test_reference_generation_repeats_64_draws():
    torch.manual_seed(9)
    vae = ContextModuleVAE(cpu_config(K))
    ref = generate_reference(vae, [1], 130)
    assert ref.shape == (130, 32, 32, 3)
    np.testing.assert_array_equal(ref[:64], ref[64:128])
    np.testing.assert_array_equal(ref[128:], ref[:2])
    assert len(np.unique(ref.reshape(130, -1), axis=0)) == 64


@pytest.mark.parametrize("protocol", ["clean", "reference"])
def test_evaluate_on_toy_contexts(protocol):
    torch.manual_seed(10)
    images, targets = _toy_data(48)
    fitted = FittedContextModule(ContextModuleVAE(cpu_config(K)), get_variant("cm"), None, None)
    contexts = [
        ContextImages(name, tuple(np.flatnonzero(mask)), images[(targets == mask).all(1)])
        for name, mask in (("obs", [0, 0, 0]), ("c0", [1, 0, 0]), ("c2", [0, 0, 1]))
    ]
    pair = ContextImages("c0_c2", (0, 2), images[:12])
    result = evaluate(
        fitted, concept_contexts=contexts, pair_contexts=[pair], n_eval=8, protocol=protocol,
        true_graph=np.array([[0, 1, 0], [0, 0, 0], [0, 1, 0]]),
    )  # fmt: skip
    m = result.metrics
    assert m["swd_concept"] == pytest.approx(np.mean([m["swd_obs"], m["swd_c0"], m["swd_c2"]]))
    assert m["swd_composition"] == m["swd_c0_c2"]
    assert "swd_composition_joint_perfect" in m and 0 <= m["graph_shd"] <= 6
    assert m["elbo_bpd_ref"] == pytest.approx(3 * m["recon_bpd"])
    assert result.generated["c0"].shape == (8, 32, 32, 3)
    with pytest.raises(ValueError, match="protocol"):
        evaluate(fitted, concept_contexts=contexts, protocol="paper")
