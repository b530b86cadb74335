"""Interaction-order checks on analytic toy decoders, torch Jacobians, J-ARI, JIS, slot R^2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score

from latentgraph.metrics.interaction import (
    base_point_invariance_check,
    compositional_check,
    compositional_contrast,
    cross_hessian_mass,
    double_difference,
    double_difference_check,
    finite_difference_jacobian,
    interaction_checks,
    off_slot_mass,
    slot_jacobian_norms,
)
from latentgraph.metrics.objects import (
    fit_slot_readout,
    jacobian_ari,
    jacobian_interaction_score,
    reconstruction_metrics,
    slot_r2,
)
from latentgraph.models.jacobian_torch import (
    cross_hessian_mass_torch,
    numpy_decoder,
    slot_influence_pixels_torch,
    slot_influence_torch,
    slot_jacobian_torch,
)

# the toy of docs/interaction_asymmetry.md#derivative-checks: P = 50 outputs, two 2-d slots
N_OUT, N_SLOTS, DIM = 50, 2, 2
CLASSES = ("compositional", "additive", "bilinear", "generic")


def _parameters(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "a0": rng.normal(size=(N_OUT, DIM)),
        "a1": rng.normal(size=(N_OUT, DIM)),
        "b": rng.normal(size=N_OUT),
        "coupling": rng.normal(size=(N_OUT, DIM, DIM)),
        "w1": rng.normal(size=(16, N_SLOTS * DIM)),
        "w2": rng.normal(size=(N_OUT, 16)) / 4,
    }


def toy_decoder(kind: str, lib=np, params: dict | None = None):
    """Analytic decoders of each interaction class on numpy (``lib=np``) or torch arrays.

    compositional: outputs 0..24 read slot 0 only, 25..49 slot 1 only (order 0).
    additive: f_0(z_0) + f_1(z_1), every output reads both slots (order 1).
    bilinear: additive + z_0^T C_p z_1 with constant C_p (order 2).
    generic: a two-layer tanh network of the concatenated slots (no finite order).
    """
    p = params or _parameters()
    if lib is torch:
        p = {key: torch.as_tensor(value) for key, value in p.items()}
    half = N_OUT // 2

    def additive(z):
        return lib.tanh(z[:, 0] @ p["a0"].T + p["b"]) + lib.sin(z[:, 1] @ p["a1"].T) ** 2

    def decoder(z):
        if kind == "compositional":
            first = lib.tanh(z[:, 0] @ p["a0"][:half].T + p["b"][:half])
            second = lib.sin(z[:, 1] @ p["a1"][half:].T) ** 2
            return (
                lib.concatenate([first, second], 1) if lib is np else torch.cat([first, second], 1)
            )
        if kind == "additive":
            return additive(z)
        if kind == "bilinear":
            return additive(z) + lib.einsum("ni,pij,nj->np", z[:, 0], p["coupling"], z[:, 1])
        flat = z.reshape(z.shape[0], -1)
        return lib.tanh(lib.tanh(flat @ p["w1"].T) @ p["w2"].T)

    return decoder


@pytest.fixture(scope="module")
def base_points() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(40, N_SLOTS, DIM))


# ----------------------------------------------------------------------------- the three checks
@pytest.mark.parametrize("kind", CLASSES)
def test_each_check_passes_exactly_on_its_class_and_fails_on_the_next(kind, base_points):
    decoder = toy_decoder(kind)
    checks = interaction_checks(decoder, base_points, tolerance=1e-20)
    order = CLASSES.index(kind)  # 0, 1, 2 or 3 (= no finite order)
    for check_order, key in enumerate(("order0", "order1", "order2")):
        check = checks[key]
        assert check.order == check_order
        if check_order >= order:
            assert check.passed, (kind, key, check)
            assert check.value <= 1e-20
        else:
            assert not check.passed, (kind, key, check)
            assert check.value > 1e-3
    if kind == "compositional":  # exact zeros, not round-off
        assert checks["order0"].value == 0.0 and checks["order1"].value == 0.0


def test_double_difference_of_bilinear_decoder_is_u_coupling_v(base_points):
    """Delta_01 = u^T C_p v exactly for f = additive + z_0^T C_p z_1, at every base point."""
    params = _parameters()
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=(40, DIM)), rng.normal(size=(40, DIM))
    delta = double_difference(toy_decoder("bilinear"), base_points, u, v, 0, 1)
    expected = np.einsum("ni,pij,nj->np", u, params["coupling"], v)
    np.testing.assert_allclose(delta, expected, atol=1e-12)
    # swapping the slot roles transposes the coupling
    swapped = double_difference(toy_decoder("bilinear"), base_points, v, u, 1, 0)
    np.testing.assert_allclose(swapped, expected, atol=1e-12)


def test_compositional_contrast_and_off_slot_mass_by_hand():
    norms = np.array([[1.0, 2.0], [3.0, 0.0]])
    assert float(compositional_contrast(norms)) == 2.0
    # weighted: means (1.5, 1.5), normalised (2/3, 4/3), (2, 0), weights (1, 1)
    assert float(compositional_contrast(norms, weighted=True)) == pytest.approx(8 / 9)
    assert off_slot_mass(norms) == pytest.approx(1 / 6)
    check = compositional_check(norms, tolerance=0.1)
    # 2 C / sum_p (sum_k g)^2 = 4 / (9 + 9)
    assert check.value == pytest.approx(2 / 9) and not check.passed
    assert compositional_check(np.array([[1.0, 0.0], [0.0, 5.0]])).value == 0.0


def test_slot_jacobian_norms_reduce_slot_coordinates_and_channels():
    jac = np.random.default_rng(3).normal(size=(2, 3, 4, 3, 2, 5))  # (n, H, W, C, K, d)
    l1 = slot_jacobian_norms(jac, ord=1, channel_axis=3)
    np.testing.assert_allclose(l1, np.abs(jac).sum(axis=(3, 5)))
    l2 = slot_jacobian_norms(jac, ord=2)
    np.testing.assert_allclose(l2, np.sqrt((jac**2).sum(-1)))
    assert l1.shape == (2, 3, 4, 2) and l2.shape == (2, 3, 4, 3, 2)
    with pytest.raises(ValueError, match="channel_axis"):
        slot_jacobian_norms(jac, channel_axis=-1)


def test_cross_hessian_mass_is_zero_only_for_additive_and_torch_estimate_agrees(base_points):
    z = torch.as_tensor(base_points[:6])
    masses = {}
    for kind in ("additive", "bilinear"):
        decoder = toy_decoder(kind, torch)
        hessian = torch.stack(
            [
                torch.func.hessian(lambda x, d=decoder: d(x.unsqueeze(0)).squeeze(0))(row)
                for row in z
            ]
        )  # (n, P, K, d, K, d)
        masses[kind] = cross_hessian_mass(hessian.numpy())
        estimate = cross_hessian_mass_torch(decoder, z, n_probes=64, seed=0)
        assert estimate == pytest.approx(masses[kind], abs=0.03)
    assert masses["additive"] == 0.0 and masses["bilinear"] > 0.05


# ----------------------------------------------------------------------------- torch Jacobians
def test_torch_jacobians_match_finite_differences_in_both_modes(base_points):
    z = base_points[:5]
    reference = finite_difference_jacobian(toy_decoder("generic"), z, step=1e-6)
    decoder = toy_decoder("generic", torch)
    reverse = slot_jacobian_torch(decoder, torch.as_tensor(z), chunk_size=7, batch_size=2)
    forward = slot_jacobian_torch(decoder, z, mode="forward")
    looped = slot_jacobian_torch(decoder, z, vectorize=False)
    assert reverse.shape == (5, N_OUT, N_SLOTS, DIM)
    np.testing.assert_allclose(reverse, reference, atol=1e-7)
    np.testing.assert_allclose(forward, reverse, atol=1e-12)
    np.testing.assert_allclose(looped, reverse, atol=1e-12)
    # numpy wrapper of the torch decoder reproduces the numpy toy
    wrapped = numpy_decoder(decoder, dtype=torch.float64, batch_size=3)
    np.testing.assert_allclose(wrapped(z), toy_decoder("generic")(z), atol=1e-12)


def test_slot_influence_reduces_channels_on_the_device():
    weights = torch.randn(3, 4, 3, 2, 2, generator=torch.Generator().manual_seed(0))

    def decoder(z):  # (B, 2, 2) -> (B, 3, 4, 3) images (H, W, C)
        return torch.einsum("hwckd,bkd->bhwc", weights, torch.tanh(z))

    z = torch.randn(4, 2, 2, generator=torch.Generator().manual_seed(1))
    jac = slot_jacobian_torch(decoder, z)  # (4, 3, 4, 3, 2, 2)
    expected = slot_jacobian_norms(jac, ord=1, channel_axis=3).reshape(4, 12, 2)
    got = slot_influence_torch(decoder, z, channel_axis=-1, chunk_size=5)
    np.testing.assert_allclose(got, expected, rtol=1e-5)

    # a per-pixel decoder, decoded 5 pixels at a time in forward mode, gives the same map
    def per_pixel(z, pixels):
        return decoder(z).reshape(len(z), 12, 3)[:, pixels]

    chunked = slot_influence_pixels_torch(per_pixel, z, n_pixels=12, pixel_chunk=5)
    np.testing.assert_allclose(chunked, expected, rtol=1e-5)
    got_l2 = slot_influence_torch(decoder, z, ord=2, channel_axis=-1)
    expected_l2 = slot_jacobian_norms(jac, ord=2, channel_axis=3).reshape(4, 12, 2)
    np.testing.assert_allclose(got_l2, expected_l2, rtol=1e-5)


# ----------------------------------------------------------------------------- J-ARI and JIS
def _painter(owner: torch.Tensor, n_slots: int, dim: int = 3):
    """Decoder whose pixel p reads slot owner[i, p] only (disjoint ownership, order 0)."""
    weights = torch.randn(n_slots, dim, 3, generator=torch.Generator().manual_seed(0))

    def decoder(z):  # z: (B, K, d) with B = 1 inside vmap; owner indexed by a captured row
        per_slot = torch.tanh(torch.einsum("bkd,kdc->bkc", z, weights.to(z)))  # (B, K, 3)
        one_hot = torch.nn.functional.one_hot(owner, n_slots).to(z)  # (P, K)
        return torch.einsum("pk,bkc->bpc", one_hot, per_slot)

    return decoder


def test_j_ari_and_jis_are_one_for_disjoint_slots_matching_the_masks():
    rng = np.random.default_rng(4)
    masks = rng.integers(0, 4, size=(3, 6, 6)).astype(np.int8)  # 0 = background, 3 objects
    permutation = np.array([2, 0, 4, 1])  # object label -> slot (background -> slot 2)
    influences = []
    for mask in masks:
        owner = torch.as_tensor(permutation[mask.reshape(-1)])
        z = torch.randn(1, 5, 3, dtype=torch.float64)
        influences.append(slot_influence_torch(_painter(owner, 5), z, channel_axis=-1))
    influence = np.concatenate(influences)  # (3, 36, 5): pixels row-major, like the masks
    assert jacobian_ari(influence, masks) == pytest.approx(1.0)
    assert jacobian_interaction_score(influence, masks) == pytest.approx(1.0)
    # uniform influence: JIS 0 exactly; every pixel falls in one cluster, so J-ARI 0
    uniform = np.ones_like(influence)
    assert jacobian_interaction_score(uniform, masks) == pytest.approx(0.0, abs=1e-12)
    assert jacobian_ari(uniform, masks) == pytest.approx(0.0)


def test_jis_known_values_and_background_is_ignored():
    k = 4
    one_hot = np.eye(k)[[0, 1, 2, 3]]
    two_way = np.array([[1.0, 1.0, 0.0, 0.0]] * 4)
    uniform = np.ones((4, k))
    masks = np.array([[1, 1, 2, 2]])
    # max G_hat: 1 -> JIS 1; 1/2 -> (1/2 - 1/4) / (3/4) = 1/3; 1/4 -> 0
    assert jacobian_interaction_score(one_hot[None], masks) == pytest.approx(1.0)
    assert jacobian_interaction_score(two_way[None], masks) == pytest.approx(1 / 3)
    assert jacobian_interaction_score(uniform[None], masks) == pytest.approx(0.0)
    # half one-hot, half uniform: m = (1 + 1/4) / 2 -> JIS 1/2
    mixed = np.concatenate([one_hot[:2], uniform[:2]])[None]
    assert jacobian_interaction_score(mixed, masks) == pytest.approx(0.5)
    # background pixels (mask 0) never count, whatever their influence
    with_background = np.concatenate([one_hot, uniform])[None]
    both = np.array([[1, 1, 2, 2, 0, 0, 0, 0]])
    assert jacobian_interaction_score(with_background, both) == pytest.approx(1.0)
    good = np.eye(2)[[0, 0, 1, 1, 0, 1, 1, 0]][None]
    assert jacobian_ari(good, both) == 1.0  # the four background pixels are scrambled
    # an image without foreground is skipped; no foreground at all is an error
    assert jacobian_ari(np.concatenate([good, good]), np.concatenate([both, 0 * both])) == 1.0
    with pytest.raises(ValueError, match="foreground"):
        jacobian_ari(good, 0 * both)


# ----------------------------------------------------------------------------- slot R^2
def test_slot_r2_is_one_for_an_invertible_linear_readout_with_permuted_slots():
    rng = np.random.default_rng(5)
    n, n_objects, n_slots, n_factors = 300, 3, 4, 4
    latents = rng.uniform(size=(n, n_objects, n_factors))
    present = rng.random((n, n_objects)) > 0.2
    present[:, 0] = True
    mixing = rng.normal(size=(n_factors, n_factors)) + 3 * np.eye(n_factors)
    slots = rng.normal(size=(n, n_slots, n_factors))  # unused slots hold noise
    for row in range(n):
        order = rng.permutation(n_slots)[:n_objects]
        slots[row, order] = latents[row] @ mixing.T + 0.5
    readout = fit_slot_readout(slots[:200], latents[:200], present[:200])
    assert readout.converged
    result = readout.score(slots[200:], latents[200:], present[200:])
    assert result.score == pytest.approx(1.0, abs=1e-9)
    # in the latents' own units, the matched slots read out exactly the true latents
    predicted = readout.predict(slots[200:])
    rows, objects = np.nonzero(present[200:])
    np.testing.assert_allclose(
        predicted[rows, result.assignment[rows, objects]], latents[200:][rows, objects], atol=1e-9
    )
    same = slot_r2(slots, latents, present, fit_rows=np.arange(200), eval_rows=np.arange(200, 300))
    assert same.score == result.score
    np.testing.assert_allclose(result.per_factor, 1.0, atol=1e-9)
    # the matching found is the one used to build the slots
    for row in range(5):
        objects = np.flatnonzero(present[200 + row])
        np.testing.assert_allclose(
            slots[200 + row, result.assignment[row, objects]],
            latents[200 + row, objects] @ mixing.T + 0.5,
        )
    # negative control: slots unrelated to the objects
    noise = slot_r2(
        rng.normal(size=slots.shape),
        latents,
        present,
        fit_rows=np.arange(200),
        eval_rows=np.arange(200, 300),
    )
    assert noise.score < 0.3


def test_slot_r2_kernel_ridge_reads_a_nonlinear_invertible_map():
    rng = np.random.default_rng(6)
    n = 400
    latents = rng.uniform(-1, 1, size=(n, 2, 2))
    slots = np.concatenate([np.tanh(latents) ** 3 + latents, rng.normal(size=(n, 1, 2))], 1)
    slots = slots[:, [2, 1, 0]]
    result = slot_r2(
        slots,
        latents,
        fit_rows=np.arange(300),
        eval_rows=np.arange(300, 400),
        readout="kernel_ridge",
        alpha=1e-3,
    )
    assert result.score > 0.95


def test_reconstruction_metrics_match_sklearn():
    rng = np.random.default_rng(7)
    x = rng.uniform(size=(20, 4, 4, 3))
    x_hat = x + 0.1 * rng.normal(size=x.shape)
    metrics = reconstruction_metrics(x, x_hat)
    flat, flat_hat = x.reshape(20, -1), x_hat.reshape(20, -1)
    assert metrics["r2"] == pytest.approx(r2_score(flat, flat_hat, multioutput="variance_weighted"))
    assert metrics["mse"] == pytest.approx(np.mean((x - x_hat) ** 2))
    assert metrics["sse_per_image"] == pytest.approx(np.sum((x - x_hat) ** 2) / 20)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: compositional_check([[1.0, 2.0]], tolerance=-1), ValueError, "tolerance"),
        (lambda: compositional_contrast([1.0, 2.0]), ValueError, "norms"),
        (lambda: double_difference_check(np.sin, np.zeros((3, 1, 2))), ValueError, "slots"),
        (lambda: double_difference_check(None, np.zeros((3, 2, 2))), TypeError, "decoder"),
        (
            lambda: double_difference_check(np.sin, np.zeros((3, 2, 2)), pairs=[(0, 0)]),
            ValueError,
            "pairs",
        ),
        (lambda: base_point_invariance_check(np.sin, np.zeros((1, 2, 2))), ValueError, "rows"),
        (
            lambda: double_difference(np.sin, np.zeros((3, 2, 2)), np.zeros((3, 2)), 0, 0, 1),
            ValueError,
            "shift_l",
        ),
        (lambda: jacobian_ari(np.ones((1, 4, 2)), np.ones((1, 3), int)), ValueError, "masks"),
        (lambda: jacobian_ari(np.ones((1, 4, 2)), np.ones((1, 4))), TypeError, "masks"),
        (
            lambda: jacobian_interaction_score(-np.ones((1, 4, 2)), np.ones((1, 4), int)),
            ValueError,
            "influence",
        ),
        (
            lambda: slot_r2(np.zeros((4, 2, 2)), np.zeros((4, 3, 2)), fit_rows=[0], eval_rows=[1]),
            ValueError,
            "at most",
        ),
        (
            lambda: slot_r2(
                np.zeros((4, 2, 2)), np.zeros((4, 2, 2)), fit_rows=[0], eval_rows=[1], readout="mlp"
            ),
            ValueError,
            "readout",
        ),
        (lambda: reconstruction_metrics(np.zeros((3, 2)), np.zeros((3, 3))), ValueError, "shape"),
        (
            lambda: slot_jacobian_torch(toy_decoder("generic", torch), np.zeros((2, 2))),
            ValueError,
            "latents",
        ),
        (
            lambda: slot_influence_torch(toy_decoder("generic", torch), np.zeros((2, 2, 2)), ord=3),
            ValueError,
            "ord",
        ),
    ],
)
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
