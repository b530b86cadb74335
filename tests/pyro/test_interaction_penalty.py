"""The interaction regulariser L_int (``docs/interaction_asymmetry.md#interaction-regulariser``) against analytic values."""

from __future__ import annotations

import pytest
import torch

from latentgraph.models.interaction_penalty_torch import (
    head_summed_attention,
    interaction_penalty,
    interaction_penalty_max,
    interaction_penalty_pairwise,
)


def _random_attention(shape, *, seed=0, dtype=torch.float64, sharpness=1.0):
    generator = torch.Generator().manual_seed(seed)
    logits = sharpness * torch.randn(shape, generator=generator, dtype=dtype)
    return torch.softmax(logits, dim=-1)


def test_zero_for_one_hot_attention_consistent_across_heads_and_layers(device, dtype):
    batch, layers, heads, pixels, slots = 3, 2, 12, 50, 5
    generator = torch.Generator().manual_seed(1)
    chosen = torch.randint(slots, (batch, pixels), generator=generator)
    one_hot = torch.nn.functional.one_hot(chosen, slots).to(dtype)  # (B, P, K)
    attention = one_hot[:, None, None].expand(batch, layers, heads, pixels, slots).to(device)
    penalty = interaction_penalty(attention)
    assert penalty.shape == (batch,)
    assert torch.all(penalty == 0)


@pytest.mark.parametrize(
    ("heads", "slots", "expected"),
    [(12, 5, 57.6), (12, 7, 61.714285714285715), (12, 11, 65.45454545454545), (3, 2, 2.25)],
)
def test_uniform_attention_reaches_the_known_maximum(heads, slots, expected, device):
    # H^2 (K - 1) / (2K): 57.6 for Sprites, 61.7 for CLEVR6, 65.5 for CLEVRTex.
    attention = torch.full((2, 2, heads, 7, slots), 1.0 / slots, dtype=torch.float64, device=device)
    assert interaction_penalty_max(heads, slots) == pytest.approx(expected, rel=1e-12)
    values = interaction_penalty(attention)
    torch.testing.assert_close(values, torch.full_like(values, expected), rtol=1e-12, atol=0)


def test_max_bounds_every_attention_and_is_reached_only_by_uniform():
    heads, slots = 4, 5
    for seed, sharpness in [(0, 0.1), (1, 1.0), (2, 5.0)]:
        attention = _random_attention((4, 2, heads, 30, slots), seed=seed, sharpness=sharpness)
        per_pixel = interaction_penalty(attention, reduction="none")
        assert torch.all(per_pixel <= interaction_penalty_max(heads, slots) + 1e-12)
        assert torch.all(per_pixel < interaction_penalty_max(heads, slots) - 1e-6)


def test_hand_computed_small_case():
    # One pixel, L = 2 layers, H = 2 heads, K = 2 slots.
    # Layer 1: head 1 reads slot 1, head 2 reads slot 2; layer 2: both heads read slot 1.
    # Head 1 averages to [1, 0], head 2 to [0.5, 0.5]; S = [1.5, 0.5]; L_int = 1.5 * 0.5.
    attention = torch.tensor(
        [[[[[1.0, 0.0]], [[0.0, 1.0]]], [[[1.0, 0.0]], [[1.0, 0.0]]]]], dtype=torch.float64
    )
    assert attention.shape == (1, 2, 2, 1, 2)
    torch.testing.assert_close(
        head_summed_attention(attention), torch.tensor([[[1.5, 0.5]]]).double()
    )
    assert float(interaction_penalty(attention)) == pytest.approx(0.75, abs=1e-15)
    assert float(interaction_penalty_pairwise(attention)) == pytest.approx(0.75, abs=1e-15)


def test_one_hot_heads_that_disagree_are_penalised():
    # Two heads, one layer, each one-hot on a different slot: S = [1, 1, 0], L_int = 1.
    attention = torch.tensor([[[[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]]]])
    assert float(interaction_penalty(attention, reduction="mean")) == pytest.approx(1.0)


def test_gini_form_equals_the_pairwise_form():
    attention = _random_attention((3, 2, 5, 40, 6), seed=3)
    torch.testing.assert_close(
        interaction_penalty(attention),
        interaction_penalty_pairwise(attention),
        rtol=1e-12,
        atol=1e-12,
    )


def test_reductions_and_shapes():
    attention = _random_attention((3, 2, 4, 10, 5), seed=4)
    per_pixel = interaction_penalty(attention, reduction="none")
    assert per_pixel.shape == (3, 10)
    torch.testing.assert_close(interaction_penalty(attention), per_pixel.mean(dim=1))
    torch.testing.assert_close(interaction_penalty(attention, reduction="mean"), per_pixel.mean())


def test_gradient_is_finite_and_matches_finite_differences():
    logits = torch.randn(2, 2, 3, 4, 5, dtype=torch.float64, requires_grad=True)

    def penalty(x):
        return interaction_penalty(torch.softmax(x, dim=-1), reduction="mean")

    penalty(logits).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert torch.autograd.gradcheck(penalty, (logits,))
    # one-hot-like attention (saturated softmax) still has finite gradients
    sharp = (50 * torch.randn(2, 2, 3, 4, 5)).requires_grad_()
    interaction_penalty(torch.softmax(sharp, -1), reduction="mean").backward()
    assert torch.isfinite(sharp.grad).all()


def test_low_precision_input_is_reduced_in_float32():
    attention = _random_attention((2, 2, 12, 64, 5), seed=5)
    reference = interaction_penalty(attention)
    low = interaction_penalty(attention.to(torch.bfloat16))
    assert low.dtype == torch.float32
    # bf16 rounds each weight by <= 2^-9 relative; the penalty moves by far less than that
    torch.testing.assert_close(low.double(), reference, rtol=5e-3, atol=0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="shape"):
        interaction_penalty(torch.rand(2, 3, 4, 5))
    with pytest.raises(TypeError, match="floating"):
        interaction_penalty(torch.ones(1, 1, 1, 1, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        interaction_penalty([[0.5, 0.5]])
    with pytest.raises(ValueError, match="reduction"):
        interaction_penalty(torch.rand(1, 1, 1, 1, 2), reduction="sum")
    with pytest.raises(ValueError, match="n_slots"):
        interaction_penalty_max(12, 0)
