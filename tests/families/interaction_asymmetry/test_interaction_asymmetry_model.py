"""The regularised Transformer VAE (Pyro): shapes, the loss against a plain-torch formula,
bf16 and pixel-subset estimates, ablations and the learning-rate schedule (``docs/interaction_asymmetry.md#model``,
``docs/interaction_asymmetry.md#training-schedule``)."""

from __future__ import annotations

import math

import pyro
import pytest
import torch

from latentgraph.families.interaction_asymmetry.config import (
    DecoderSizes,
    EncoderSizes,
    InteractionAsymmetryConfig,
    cpu_config,
    official_config,
)
from latentgraph.families.interaction_asymmetry.decoder_torch import CrossAttentionDecoder
from latentgraph.families.interaction_asymmetry.encoder_torch import SlotEncoder
from latentgraph.families.interaction_asymmetry.fit_pyro import (
    InteractionAsymmetryObjective,
    elbo_terms,
    likelihood_constant,
)
from latentgraph.families.interaction_asymmetry.pyro_model import InteractionAsymmetryVAE
from latentgraph.families.interaction_asymmetry.schedules import (
    LearningRateSchedule,
    ScheduledTrainConfig,
    alpha_schedule,
)
from latentgraph.inference.elbo_pyro import AnalyticMeanFieldELBO
from latentgraph.models.interaction_penalty_torch import interaction_penalty


def tiny_config(**changes) -> InteractionAsymmetryConfig:
    settings = {
        "image_size": 8,
        "n_slots": 3,
        "slot_dim": 4,
        "encoder": EncoderSizes(cnn_channels=4, n_layers=1, n_heads=2),
        "decoder": DecoderSizes(
            slot_width=8,
            slot_hidden=16,
            query_width=8,
            query_hidden=16,
            fourier_octaves=3,
            n_layers=2,
            n_heads=2,
            ff_hidden=16,
            out_hidden=8,
        ),
    }
    return InteractionAsymmetryConfig(**{**settings, **changes})


def tiny_vae(seed=0, dtype=torch.float64, **changes) -> InteractionAsymmetryVAE:
    torch.manual_seed(seed)
    return InteractionAsymmetryVAE(tiny_config(**changes)).to(dtype)


def images(batch, size, seed=0, dtype=torch.float64):
    return torch.rand(batch, size, size, 3, generator=torch.Generator().manual_seed(seed)).to(dtype)


def test_official_parameter_counts_match_the_spec():
    # docs/interaction_asymmetry.md#model: encoder 0.37 M, decoder 2.98 M at the official Sprites sizes
    config = official_config()
    n_encoder = sum(p.numel() for p in SlotEncoder(config).parameters())
    n_decoder = sum(p.numel() for p in CrossAttentionDecoder(config).parameters())
    assert round(n_encoder / 1e6, 2) == 0.37
    assert round(n_decoder / 1e6, 2) == 2.98
    # hand count, biases everywhere, with the official per-layer LayerNorm on the
    # cross-attention's keys/values (kv_norm; 640 encoder and 2,064 decoder parameters)
    assert (n_encoder, n_decoder) == (365_888, 2_980_359)


def test_shapes_and_attention_rows(device):
    vae = tiny_vae(dtype=torch.float32).to(device)
    x = images(5, 8, dtype=torch.float32).to(device)
    loc, scale = vae.encode(x)
    assert loc.shape == scale.shape == (5, 3, 4)
    assert torch.all(scale > 0)
    rgb, attention = vae.decode(loc)
    assert rgb.shape == (5, 64, 3)
    assert attention.shape == (5, 2, 2, 64, 3)  # (B, L, H, P, K)
    torch.testing.assert_close(attention.sum(-1), torch.ones(5, 2, 2, 64, device=device))
    subset = torch.tensor([0, 5, 63], device=device)
    rgb_subset, attention_subset = vae.decode(loc, subset)
    assert rgb_subset.shape == (5, 3, 3) and attention_subset.shape == (5, 2, 2, 3, 3)
    torch.testing.assert_close(rgb_subset, rgb[:, subset], rtol=1e-5, atol=1e-6)
    per_image = torch.stack([torch.randperm(64, device=device)[:7] for _ in range(5)])
    rgb_each, _ = vae.decode(loc, per_image)
    torch.testing.assert_close(
        rgb_each, torch.gather(rgb, 1, per_image[..., None].expand(-1, -1, 3)), rtol=1e-5, atol=1e-6
    )
    one_slot, one_attention = vae.decode(loc[:, :1])  # any number of slots decodes
    assert one_slot.shape == (5, 64, 3) and torch.all(one_attention == 1)


def test_attention_formulations_agree():
    decoder = tiny_vae().decoder
    z = torch.randn(4, 3, 4, dtype=torch.float64)
    rgb, weights = decoder(z, attention="projected")
    rgb_folded, weights_folded = decoder(z, attention="folded")
    rgb_fused, none = decoder(z, attention="fused")
    assert none is None
    torch.testing.assert_close(rgb_folded, rgb, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(weights_folded, weights, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rgb_fused, rgb, rtol=1e-12, atol=1e-12)


def reference_loss(vae, x, eps, alpha, pixels=None):
    """sigma SSE + beta KL + alpha L_int per image, averaged, in plain torch (docs/interaction_asymmetry.md#objective)."""
    c = vae.config
    out = vae.encoder(x)
    loc, s = out
    std = c.posterior_scale_factor * torch.exp(s)
    z = loc + std * eps
    rgb, attention = vae.decoder(z, pixels, attention="projected")
    target = x.reshape(x.shape[0], -1, 3)
    if pixels is not None:
        target = target[:, pixels]
    sse = (c.n_pixels / target.shape[1]) * (rgb - target).square().sum(dim=(1, 2))
    kl = 0.5 * (std**2 + loc**2 - 1 - torch.log(std**2)).sum(dim=(1, 2))
    l_int = interaction_penalty(attention)
    return (c.reconstruction_weight * sse + c.beta * kl + alpha * l_int).mean()


def guide_noise(vae, x, seed):
    pyro.set_rng_seed(seed)
    trace = pyro.poutine.trace(vae.guide).get_trace(x, None, 0.0)
    loc, scale = vae.encode(x)
    return (trace.nodes["slots"]["value"] - loc) / scale


@pytest.mark.parametrize("pixels", [None, torch.tensor([3, 17, 40, 41, 63])])
def test_pyro_elbo_equals_the_plain_torch_loss_in_float64(pixels):
    vae = tiny_vae(beta=0.3, alpha=0.7, sigma=2.0)
    x, alpha = images(4, 8), 0.4
    objective = InteractionAsymmetryObjective(vae, alpha=lambda step: alpha)
    eps = guide_noise(vae, x, seed=11)
    expected = reference_loss(vae, x, eps, alpha, pixels)
    pyro.set_rng_seed(11)
    loss, logs = objective.evaluate_loss(x, pixels, alpha)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-9)
    # the same estimator as latentgraph's and Pyro's mean-field ELBOs, constant added back
    constant = likelihood_constant(vae.config)  # with the P/m scale, that of all P pixels
    for elbo in (AnalyticMeanFieldELBO(), pyro.infer.TraceMeanField_ELBO()):
        pyro.set_rng_seed(11)
        neg_elbo = elbo.differentiable_loss(vae.model, vae.guide, x, pixels, alpha)
        torch.testing.assert_close(neg_elbo / 4 - constant, expected, rtol=1e-12, atol=1e-9)
    # logged pieces recombine to the loss
    c = vae.config
    recombined = c.reconstruction_weight * logs["recon_sse"] + c.beta * logs["kl"]
    torch.testing.assert_close(
        recombined + alpha * logs["l_int"], loss.detach(), rtol=1e-12, atol=1e-9
    )


def test_ablations_change_exactly_their_terms():
    x, alpha = images(3, 8), 0.5

    def terms(**changes):
        vae = tiny_vae(seed=2, **changes)
        pyro.set_rng_seed(5)
        values, raw_kl, _ = elbo_terms(
            vae.model, vae.guide, x, None, alpha * (vae.config.alpha > 0)
        )
        return {k: float(v.detach()) for k, v in values.items()}, float(raw_kl["slots"])

    both, kl = terms(beta=0.2, alpha=0.05)
    no_alpha, _ = terms(beta=0.2, alpha=0.0)
    no_beta, _ = terms(beta=0.0, alpha=0.05)
    neither, _ = terms(beta=0.0, alpha=0.0)
    assert set(both) == {"slots", "pixels", "interaction"}
    assert both["slots"] == pytest.approx(0.2 * kl, rel=1e-12) and kl > 0
    # alpha = 0 drops the factor; the other terms are the same numbers
    assert set(no_alpha) == {"slots", "pixels"}
    assert no_alpha == {k: both[k] for k in ("slots", "pixels")}
    # beta = 0 masks the KL to exactly 0; the other terms are unchanged
    assert no_beta["slots"] == 0.0
    assert {k: no_beta[k] for k in ("pixels", "interaction")} == {
        k: both[k] for k in ("pixels", "interaction")
    }
    assert neither == {"slots": 0.0, "pixels": both["pixels"]}


def test_beta_zero_gives_the_kl_no_gradient():
    vae = tiny_vae(beta=0.0, alpha=0.0)
    pyro.set_rng_seed(0)
    terms, raw_kl, _ = elbo_terms(vae.model, vae.guide, images(2, 8), None, 0.0)
    assert float(raw_kl["slots"]) > 0 and float(terms["slots"]) == 0.0
    encoder = list(vae.encoder.parameters())
    grads = torch.autograd.grad(terms["slots"], encoder, allow_unused=True, retain_graph=True)
    assert all(g is None or torch.all(g == 0) for g in grads)
    # the reconstruction term still trains the encoder (through the sampled slots)
    grads = torch.autograd.grad(terms["pixels"], encoder, allow_unused=True)
    assert any(g is not None and torch.any(g != 0) for g in grads)


@pytest.mark.slow
def test_compiled_networks_give_the_same_loss():
    # torch.compile on the CPU takes minutes on a busy 2-core machine, hence slow
    vae = tiny_vae(dtype=torch.float32)
    objective = InteractionAsymmetryObjective(vae, alpha=lambda step: 0.05)
    x = images(4, 8, dtype=torch.float32)
    pyro.set_rng_seed(0)
    eager, _ = objective.evaluate_loss(x, None, 0.05)
    vae.set_speed(compile=True)
    pyro.set_rng_seed(0)
    compiled, _ = objective.evaluate_loss(x, None, 0.05)
    compiled.backward()
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-3)
    assert all(torch.isfinite(p.grad).all() for p in vae.parameters() if p.grad is not None)


def test_bf16_autocast_loss_is_within_tolerance_of_float32():
    # Stated tolerance: 2% relative on the loss at the CPU preset (bf16 keeps 8 mantissa bits;
    # the distributions and sums stay float32). Same weights, same noise, 32x32 images.
    torch.manual_seed(0)
    vae = InteractionAsymmetryVAE(cpu_config())
    objective = InteractionAsymmetryObjective(vae, alpha=lambda step: 0.05)
    x = images(4, 32, dtype=torch.float32)
    values = {}
    for precision in ("float32", "bf16"):
        vae.set_speed(precision=precision)
        pyro.set_rng_seed(3)
        loss, logs = objective.evaluate_loss(x, None, 0.05)
        assert loss.dtype == torch.float32
        values[precision] = (float(loss), float(logs["l_int"]), float(logs["kl"]))
    loss32, l_int32, kl32 = values["float32"]
    loss16, l_int16, kl16 = values["bf16"]
    assert loss16 == pytest.approx(loss32, rel=2e-2)
    assert l_int16 == pytest.approx(l_int32, rel=1e-2)
    assert kl16 == pytest.approx(kl32, rel=5e-2)
    assert loss16 != loss32  # the autocast path did run in lower precision


def test_pixel_subset_loss_is_an_unbiased_estimate_of_the_full_loss():
    # The guide's draw is fixed (replayed), so only the pixel subsets vary. Each call decodes
    # R copies of the batch with R independent subsets; its loss is the mean of R estimates.
    vae = tiny_vae(seed=4, beta=0.1, alpha=0.3)
    x, alpha, m, copies, calls = images(2, 8, seed=1), 0.3, 8, 100, 12
    n_pixels, constant = vae.config.n_pixels, likelihood_constant(vae.config)
    z = vae.encode(x)[0].detach() + 0.3 * torch.randn(2, 3, 4, dtype=torch.float64)

    def losses(pixels, repeat):
        batch_x = x.repeat(repeat, 1, 1, 1)
        fixed = pyro.poutine.trace(vae.guide).get_trace(batch_x, pixels, alpha)
        fixed.nodes["slots"]["value"] = z.repeat(repeat, 1, 1)
        guide = pyro.poutine.replay(vae.guide, trace=fixed)
        terms, _, _ = elbo_terms(vae.model, guide, batch_x, pixels, alpha)
        batch = 2 * repeat
        unbiased = sum(terms.values()) / batch - constant
        share = 1.0 if pixels is None else pixels.shape[1] / n_pixels
        unscaled = (terms["slots"] + share * terms["pixels"] + terms["interaction"]) / batch
        return float(unbiased), float(unscaled - share * constant)

    with torch.no_grad():
        full, _ = losses(None, 1)
        generator = torch.Generator().manual_seed(0)
        means, biased = [], []
        for _ in range(calls):
            pixels = torch.rand(2 * copies, n_pixels, generator=generator).argsort(dim=1)[:, :m]
            unbiased, unscaled = losses(pixels, copies)
            means.append(unbiased)
            biased.append(unscaled)
    means, biased = torch.tensor(means), torch.tensor(biased)
    standard_error = float(means.std()) / math.sqrt(calls)
    assert abs(float(means.mean()) - full) < 4 * standard_error
    # without the P/m scale the estimate is biased far beyond its noise (the test can fail)
    assert abs(float(biased.mean()) - full) > 20 * float(biased.std()) / math.sqrt(calls)


def test_learning_rate_schedule_matches_the_spec():
    schedule = LearningRateSchedule()
    assert schedule(0) == pytest.approx(5e-4 / 10_000)
    assert schedule(4_999) == pytest.approx(2.5e-4)
    assert schedule(9_999) == schedule(29_999) == pytest.approx(5e-4)
    assert schedule(30_000) == pytest.approx(1e-4)
    assert schedule(500_000) == pytest.approx(1e-4 * 0.1 ** (470_000 / 500_000))  # ~1.15e-5
    assert schedule(500_000) == pytest.approx(1.15e-5, rel=2e-3)
    pre_release = LearningRateSchedule(drop_to=None)
    assert pre_release(30_000) == pytest.approx(5e-4 * 0.1 ** (20_000 / 500_000))
    short = schedule.scaled(0.01)
    assert (short.warmup_steps, short.hold_until, short.decay_steps) == (100, 300, 5_000)
    config = ScheduledTrainConfig(steps=10, batch_size=2, schedule=short)
    assert config.lr == 5e-4
    assert config.lr_factor(99) == pytest.approx(1.0) and config.lr_factor(300) == pytest.approx(
        0.2
    )
    ramp = alpha_schedule(0.05, 25_000)
    assert (ramp(0), ramp(12_500), ramp(25_000), ramp(90_000)) == (0.0, 0.025, 0.05, 0.05)
    # the CLI's "hold" schedule for short runs: the scaled warm-up, then the peak to the end
    hold = LearningRateSchedule(drop_to=None, decay_factor=1.0).scaled(4_000 / 500_000)
    assert hold.warmup_steps == 80 and hold(39) == pytest.approx(2.5e-4)
    assert hold(80) == hold(3_999) == pytest.approx(5e-4)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="n_heads"):
        tiny_config(decoder=DecoderSizes(slot_width=10, n_heads=4))
    with pytest.raises(ValueError, match="beta"):
        tiny_config(beta=-1.0)
    with pytest.raises(ValueError, match="attention_scale"):
        tiny_config(attention_scale="depth")
    with pytest.raises(ValueError, match="images must have shape"):
        tiny_vae().encode(torch.rand(2, 9, 9, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="precision"):
        tiny_vae().set_speed(precision="fp8")
    with pytest.raises(ValueError, match="hold_until"):
        LearningRateSchedule(warmup_steps=100, hold_until=50)
    with pytest.raises(ValueError, match="lr_decay"):
        ScheduledTrainConfig(lr_decay="cosine")


def test_foreground_jacobian_map_equals_the_full_jacobian_on_the_foreground():
    from latentgraph.families.interaction_asymmetry.evaluate import _sampled, slot_influence
    from latentgraph.families.interaction_asymmetry.fit_pyro import (
        FittedInteractionAsymmetry,
        SpeedSettings,
    )
    from latentgraph.inference.svi_torch import History
    from latentgraph.models.jacobian_torch import slot_influence_torch

    vae = tiny_vae(seed=6, dtype=torch.float32)
    fitted = FittedInteractionAsymmetry(vae, History(), ScheduledTrainConfig(), SpeedSettings())
    generator = torch.Generator().manual_seed(2)
    x = (255 * torch.rand(3, 8, 8, 3, generator=generator)).to(torch.uint8).numpy()
    masks = torch.randint(0, 3, (3, 8, 8), generator=generator).numpy().astype("int8")
    masks[2] = 0  # an image without foreground
    influence = slot_influence(fitted, x, masks, seed=4)
    loc, scale = fitted.encode(x)
    full = slot_influence_torch(
        fitted.decoder_function(), torch.as_tensor(_sampled(loc, scale, 4)), mode="forward"
    )
    foreground = masks.reshape(3, -1) > 0
    assert influence.shape == full.shape == (3, 64, 3)
    torch.testing.assert_close(
        torch.as_tensor(influence[foreground]),
        torch.as_tensor(full[foreground]),
        rtol=1e-5,
        atol=1e-7,
    )
    assert (influence[~foreground] == 0).all() and (full[~foreground] > 0).any()


@pytest.mark.gpu
def test_gpu_speed_paths_give_the_float32_loss(device):
    # On the GPU: bf16 autocast, torch.compile and the fused (projected, alpha = 0) attention
    # against the float32 folded path, official sizes, same weights and noise.
    torch.manual_seed(0)
    vae = InteractionAsymmetryVAE(official_config()).to(device)
    objective = InteractionAsymmetryObjective(vae, alpha=lambda step: 0.05)
    x = torch.rand(8, 64, 64, 3, generator=torch.Generator().manual_seed(1)).to(device)

    def loss(alpha, **speed):
        vae.set_speed(**speed)
        pyro.set_rng_seed(3)
        value, _ = objective.evaluate_loss(x, None, alpha)
        value.backward()
        return float(value)

    reference = loss(0.05)
    assert loss(0.05, precision="bf16") == pytest.approx(reference, rel=2e-2)
    assert loss(0.05, precision="bf16", compile=True) == pytest.approx(reference, rel=2e-2)
    assert loss(0.0, attention="projected") == pytest.approx(loss(0.0), rel=1e-4)
