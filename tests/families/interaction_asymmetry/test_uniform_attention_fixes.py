"""The fixes of the uniform-attention diagnosis (issue 16; Brady et al., arXiv 2411.07784):
the official key/value LayerNorm, the logit scale, the importance-weighted pixel sampler,
frame-relative sprite sizes, and the penalty's range (``docs/interaction_asymmetry.md``)."""

from __future__ import annotations

import numpy as np
import pyro
import pyro.poutine as poutine
import pytest
import torch

from latentgraph.data.sprites import load_or_write_sprites, make_sprites
from latentgraph.families.interaction_asymmetry.config import (
    DecoderSizes,
    EncoderSizes,
    InteractionAsymmetryConfig,
    cpu_config,
)
from latentgraph.families.interaction_asymmetry.decoder_torch import CrossAttentionDecoder
from latentgraph.families.interaction_asymmetry.fit_pyro import SpeedSettings, intensity_pixels
from latentgraph.families.interaction_asymmetry.pyro_model import InteractionAsymmetryVAE
from latentgraph.models.interaction_penalty_torch import (
    interaction_penalty,
    interaction_penalty_max,
)


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


# ---- the penalty's range ---------------------------------------------------------------------


def test_one_hot_attention_on_separated_slots_gives_zero_penalty():
    # every head of every layer puts the whole weight of pixel p on slot owner[p]
    batch, layers, heads, pixels, slots = 2, 2, 4, 30, 5
    owner = torch.arange(pixels) % slots
    one_hot = torch.nn.functional.one_hot(owner, slots).double()
    attention = one_hot.expand(batch, layers, heads, pixels, slots)
    assert torch.all(interaction_penalty(attention) == 0)
    uniform = torch.full_like(attention, 1 / slots)
    torch.testing.assert_close(
        interaction_penalty(uniform),
        torch.full((batch,), interaction_penalty_max(heads, slots), dtype=torch.float64),
    )
    # heads that disagree about a one-hot pixel are penalised (heads summed before products)
    split = attention.clone()
    split[:, :, :2] = torch.nn.functional.one_hot((owner + 1) % slots, slots).double()
    assert torch.all(interaction_penalty(split) == 2 * 2)  # S = (2, 2): one product 2 * 2


# ---- key/value LayerNorm ---------------------------------------------------------------------


def _scaled_projection_attention(kv_norm: bool, factor: float) -> torch.Tensor:
    torch.manual_seed(0)
    decoder = CrossAttentionDecoder(tiny_config(kv_norm=kv_norm)).double()
    with torch.no_grad():  # scale the projected slots by `factor`
        decoder.slot_mlp[-1].weight.mul_(factor)
        decoder.slot_mlp[-1].bias.mul_(factor)
        z = torch.randn(3, 3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        return decoder(z)[1]


def test_kv_layernorm_makes_attention_invariant_to_the_slot_projection_scale():
    # docs/interaction_asymmetry.md#key-value-layernorm: the official layer normalises the keys'
    # and values' input, so the logits do not shrink with the projected slots
    # (up to LayerNorm's eps = 1e-5 against the variance of the scaled projection)
    small, large = (_scaled_projection_attention(True, f) for f in (10.0, 100.0))
    torch.testing.assert_close(small, large, rtol=0, atol=1e-5)
    small, large = (_scaled_projection_attention(False, f) for f in (0.1, 10.0))
    assert (large.amax(-1) - small.amax(-1)).mean() > 0.05  # without it the scale sets sharpness


def test_kv_layernorm_parameters_and_the_pre_fix_configuration():
    with_norm = sum(p.numel() for p in CrossAttentionDecoder(cpu_config()).parameters())
    without = sum(p.numel() for p in CrossAttentionDecoder(cpu_config(kv_norm=False)).parameters())
    assert with_norm - without == 2 * 2 * 64  # 2 layers x (gain + bias) x slot width 64
    legacy = cpu_config().to_dict()
    del legacy["kv_norm"]  # a run folder written before the field
    assert InteractionAsymmetryConfig.from_dict(legacy).kv_norm is False
    assert InteractionAsymmetryConfig.from_dict(cpu_config().to_dict()).kv_norm is True
    with pytest.raises(ValueError, match="kv_norm must be a bool"):
        cpu_config(kv_norm=1)


def test_logit_scale_is_width_or_head_dim_to_the_minus_half():
    for mode, expected in (("width", 64**-0.5), ("head_dim", 16**-0.5)):
        decoder = CrossAttentionDecoder(cpu_config(attention_scale=mode))
        assert all(layer.scale == pytest.approx(expected) for layer in decoder.layers)


# ---- the importance-weighted pixel sampler ---------------------------------------------------


def _sparse_image(size: int = 8) -> torch.Tensor:
    image = torch.zeros(size, size, 3, dtype=torch.float64)
    image[1:3, 2:5] = torch.tensor([1.0, 0.2, 0.0], dtype=torch.float64)  # a bright object
    image[5, 6] = torch.tensor([0.1, 0.6, 0.9], dtype=torch.float64)
    return image


def _per_image_loss(vae, images, slots, alpha, pixels=None, weights=None) -> torch.Tensor:
    """``-(scaled log-likelihood + interaction factor)`` per image for fixed slots."""
    model = poutine.condition(vae.model, data={"slots": slots})
    trace = poutine.trace(model).get_trace(images, pixels, alpha, weights)
    trace.compute_log_prob()
    pixels_site = trace.nodes["pixels"]["log_prob"]
    per_image = pixels_site.sum(0) if pixels_site.dim() == 2 else pixels_site
    return -(per_image + trace.nodes["interaction"]["log_prob"])


def test_intensity_sampler_gives_an_unbiased_estimate_of_the_full_image_loss():
    torch.manual_seed(0)
    vae = InteractionAsymmetryVAE(tiny_config()).double()
    n = 4000  # the same image n times: n independent draws in one batch
    images = _sparse_image().expand(n, -1, -1, -1)
    slots = torch.randn(3, 4, dtype=torch.float64).expand(n, -1, -1)
    with torch.no_grad(), pyro.validation_enabled(True):
        full = _per_image_loss(vae, images[:1], slots[:1], 0.5)[0]
        pixels, weights = intensity_pixels(images, 6, foreground_share=0.8)
        estimates = _per_image_loss(vae, images, slots, 0.5, pixels, weights)
        # the same draws weighted as if uniform (P / m) are biased: the test can fail
        biased = _per_image_loss(vae, images, slots, 0.5, pixels, torch.full_like(weights, 64 / 6))
    standard_error = estimates.std() / n**0.5
    assert abs(estimates.mean() - full) < 4 * standard_error
    assert abs(biased.mean() - full) > 10 * biased.std() / n**0.5
    # the bright pixels are drawn far more often than uniform would (19 of 64 pixels)
    bright = (_sparse_image().flatten(0, 1).amax(-1) > 0).nonzero().flatten()
    assert torch.isin(pixels, bright).double().mean() > 0.8


def test_intensity_sampler_weights_and_checks():
    black = torch.zeros(2, 4, 4, 3)
    pixels, weights = intensity_pixels(black, 5)
    torch.testing.assert_close(weights, torch.full((2, 5), 16 / 5))  # uniform on a black image
    with pytest.raises(ValueError, match="foreground_share"):
        intensity_pixels(black, 5, foreground_share=1.0)
    with pytest.raises(ValueError, match="pixel_sampler"):
        SpeedSettings(pixels_per_image=8, pixel_sampler="importance")


# ---- frame-relative sprite sizes -------------------------------------------------------------


def test_sprite_scale_range_sets_object_size_and_keeps_the_default():
    default = make_sprites(60, 32, n_objects=(2, 3), seed=3)
    same = make_sprites(60, 32, n_objects=(2, 3), seed=3, scale_range=(0.1, 0.15))
    big = make_sprites(60, 32, n_objects=(2, 3), seed=3, scale_range=(0.16, 0.24))
    for split in ("train", "test"):
        np.testing.assert_array_equal(default.split(split)["images"], same.split(split)["images"])
    assert "scale_range" not in default.info and big.info["scale_range"] == [0.16, 0.24]
    train, present = big.split("train")["latents"], big.split("train")["present"]
    scales = train[..., 2][present]
    assert scales.min() >= 0.16 and scales.max() <= 0.24
    # area is scale^2 of the frame: the foreground share grows about (0.2 / 0.125)^2 = 2.6x
    ratio = (big.split("train")["masks"] > 0).mean() / (default.split("train")["masks"] > 0).mean()
    assert 2.0 < ratio < 3.2
    with pytest.raises(ValueError, match="scale_range"):
        make_sprites(20, 16, scale_range=(0.3, 0.2))


def test_sprite_folder_remembers_its_scale_range(tmp_path):
    load_or_write_sprites(tmp_path / "s", n=20, image_size=16, scale_range=(0.16, 0.24))
    again = load_or_write_sprites(tmp_path / "s", n=20, image_size=16, scale_range=(0.16, 0.24))
    assert again.info["scale_range"] == [0.16, 0.24]
    with pytest.raises(ValueError, match="scale_range"):
        load_or_write_sprites(tmp_path / "s", n=20, image_size=16)


# ---- the command line's presets --------------------------------------------------------------


def test_cpu_preset_sets_the_diagnosed_recipe_and_paper_keeps_the_official(tmp_path):
    import json

    from latentgraph.app.cli import main

    tiny = ["--n-images", "60", "--steps", "2", "--batch-size", "4", "--pixels-per-image", "32",
            "--jacobian-images", "2", "--readout-images", "20", "--device", "cpu",
            "--no-progress", "--objects", "2-3"]  # fmt: skip
    for preset, scale, sampler, objects in (
        ("cpu", "head_dim", "intensity", [0.16, 0.24]),
        ("paper", "width", "uniform", None),
    ):
        out = tmp_path / preset
        sizes = ["--image-size", "32", "--sizes", "cpu"] if preset == "paper" else []
        assert main(["fit", "interaction-asymmetry", "--preset", preset, *sizes, *tiny,
                     "--out", str(out)]) == 0  # fmt: skip
        config = json.loads((out / "config.json").read_text())
        assert config["model"]["attention_scale"] == scale
        assert config["model"]["kv_norm"] is True
        assert config["speed"]["pixel_sampler"] == sampler
        assert config["dataset"]["info"].get("scale_range") == objects
