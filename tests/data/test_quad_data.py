"""quad_causal / quad generators (``docs/context_module.md#dependent-quad-data``,
``docs/context_module.md#independent-quad-data``).

References: the SCM tables of ``docs/context_module.md#dependent-quad-data`` (weights, noise and intervention moments, the derived
observational standard deviations), the concept DAG listed in ``docs/context_module.md#graph-read-out``, regression of each
variable on its parents (coefficients = the true weights), analytic shape areas and the colour
ramp's knots.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from latentgraph.data import ArrayDataset
from latentgraph.data.quad import (
    QUAD_CONCEPTS,
    QUAD_HELDOUT_PAIRS,
    QUAD_TRAINING_CONTEXTS,
    QUAD_VARIABLES,
    make_quad,
    make_quad_causal,
    quad_factors,
    quad_scm,
    render_quad,
)

V = {name: i for i, name in enumerate(QUAD_VARIABLES)}
N_TRAIN = 3000


@pytest.fixture(scope="module")
def causal() -> ArrayDataset:
    return make_quad_causal(
        image_size=32, n_train=N_TRAIN, n_valid=30, n_test=30, n_heldout=1500, seed=3
    )


def _rows(ds: ArrayDataset, split: str, context: str) -> dict[str, np.ndarray]:
    arrays = ds.split(split)
    keep = arrays["context"] == ds.info["contexts"].index(context)
    return {key: value[keep] for key, value in arrays.items()}


# --------------------------------------------------------------------------- the SCM itself
def test_scm_matches_spec_tables() -> None:
    scm = quad_scm()
    # the 11 edges of docs/context_module.md#dependent-quad-data, B[child, parent]
    assert int((scm.weights != 0).sum()) == 11
    assert scm.weights[V["quad1"], V["quad2"]] == -1.23
    assert scm.weights[V["size"], V["color"]] == 1.67
    assert scm.weights[V["shape"], V["orientation"]] == 1.45
    # derived observational standard deviations listed in the docs table
    expected = [5.238, 2.712, 1.421, 1.399, 5.585, 2.868, 1.947, 1.086]
    np.testing.assert_allclose(scm.observational_std(), expected, atol=6e-4)
    # independent stand-in: B = 0, so the std is the noise std
    np.testing.assert_allclose(quad_scm(False).observational_std(), np.sqrt(scm.noise_var))


def test_concept_graph_is_the_spec_list() -> None:
    c = {name: i for i, name in enumerate(QUAD_CONCEPTS)}
    # docs/context_module.md#graph-read-out: quad4 -> {quad3, quad2, quad1}, quad3 -> {quad2, quad1}, quad2 -> quad1,
    # orientation -> {quad1, quad2, size}
    edges = [
        ("quad4", "quad3"), ("quad4", "quad2"), ("quad4", "quad1"),
        ("quad3", "quad2"), ("quad3", "quad1"), ("quad2", "quad1"),
        ("orientation", "quad1"), ("orientation", "quad2"), ("orientation", "size"),
    ]  # fmt: skip
    expected = np.zeros((6, 6), dtype=np.int8)
    for parent, child in edges:
        expected[c[child], c[parent]] = 1
    np.testing.assert_array_equal(quad_scm().concept_graph("total"), expected)
    # total effects are nonzero exactly on the ancestral pairs (no cancellation)
    total = quad_scm().total_effects()[
        np.ix_([V[n] for n in QUAD_CONCEPTS], [V[n] for n in QUAD_CONCEPTS])
    ]
    np.testing.assert_array_equal(np.abs(total) > 1e-12, expected.astype(bool))
    # direct (latent projection through color/shape only): drops the paths through quad3
    # and quad2 (quad4 -> quad2, quad3 -> quad1, quad4 ... ) but keeps orientation -> quad2
    # (via shape)
    direct = expected.copy()
    direct[c["quad2"], c["quad4"]] = 0
    direct[c["quad1"], c["quad3"]] = 0
    np.testing.assert_array_equal(quad_scm().concept_graph("direct"), direct)
    assert not quad_scm(False).concept_graph().any()


# --------------------------------------------------------------------------- contexts
def test_contexts_targets_and_splits(causal: ArrayDataset) -> None:
    info = causal.info
    assert info["contexts"][:7] == list(QUAD_TRAINING_CONTEXTS)
    assert info["contexts"][7:] == ["_".join(p) for p in QUAD_HELDOUT_PAIRS]
    assert set(causal.sizes) == {"train", "valid", "test", "heldout"}
    assert causal.sizes == {
        "train": 7 * N_TRAIN,
        "valid": 7 * 30,
        "test": 7 * 30,
        "heldout": 9 * 1500,
    }
    expected = np.zeros((16, 6), dtype=bool)
    for index, targets in enumerate(info["context_targets"]):
        expected[index, targets] = True
    for split, arrays in causal.splits.items():
        # targets are exactly the context's target set
        np.testing.assert_array_equal(arrays["targets"], expected[arrays["context"]])
        training = split != "heldout"
        assert set(np.unique(arrays["context"])) == set(range(7) if training else range(7, 16))
        counts = np.bincount(arrays["context"], minlength=16)
        assert len(set(counts[counts > 0])) == 1  # every context equally represented
    # held-out pairs never appear in training: no training row has two targets, every
    # held-out row has exactly two, and their sets are the 9 pairs
    train_sets = {tuple(np.flatnonzero(t)) for t in causal.split("train")["targets"]}
    held_sets = {tuple(np.flatnonzero(t)) for t in causal.split("heldout")["targets"]}
    assert all(len(s) <= 1 for s in train_sets) and len(train_sets) == 7
    assert all(len(s) == 2 for s in held_sets) and len(held_sets) == 9
    assert not train_sets & held_sets
    # the concepts array is the concept columns of the latents
    for arrays in causal.splits.values():
        np.testing.assert_array_equal(
            arrays["concepts"], arrays["latents"][:, info["concept_columns"]]
        )
    assert {a.dtype.name for a in causal.split("train").values()} >= {"uint8", "bool", "float32"}


def test_intervened_concepts_follow_the_intervention_distribution(causal: ArrayDataset) -> None:
    scm = quad_scm()
    for split, contexts in (("train", QUAD_CONCEPTS), ("heldout", QUAD_HELDOUT_PAIRS[:3])):
        n = N_TRAIN if split == "train" else 1500
        for context in contexts:
            targets = (context,) if isinstance(context, str) else context
            latents = _rows(causal, split, "_".join(targets))["latents"].astype(np.float64)
            for target in targets:
                j = V[target]
                mean, var = scm.intervention_mean[j], scm.intervention_var[j]
                values = latents[:, j]
                assert abs(values.mean() - mean) < 5 * math.sqrt(var / n)
                assert abs(values.var() - var) < 5 * var * math.sqrt(2 / n)
                # the incoming edges are cut: no dependence on the (observational) parents
                parents = np.flatnonzero(scm.weights[j])
                if parents.size:
                    coef = _ols(latents[:, parents], values)
                    assert np.all(np.abs(coef) < 0.08), (context, target, coef)


def _ols(features: np.ndarray, target: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(target)), features])
    return np.linalg.lstsq(design, target, rcond=None)[0][1:]


def test_non_intervened_variables_follow_the_scm_given_parents(causal: ArrayDataset) -> None:
    scm = quad_scm()
    train = causal.split("train")
    latents = train["latents"].astype(np.float64)
    targeted = np.zeros((latents.shape[0], 8), dtype=bool)
    targeted[:, [V[c] for c in QUAD_CONCEPTS]] = train["targets"]
    for j, name in enumerate(QUAD_VARIABLES):
        parents = np.flatnonzero(scm.weights[j])
        if not parents.size:
            continue
        rows = ~targeted[:, j]  # all contexts where the variable keeps its mechanism
        coef = _ols(latents[rows][:, parents], latents[rows, j])
        np.testing.assert_allclose(coef, scm.weights[j, parents], atol=0.05, err_msg=name)
        residual = latents[rows, j] - latents[rows][:, parents] @ scm.weights[j, parents]
        assert abs(residual.var() / scm.noise_var[j] - 1) < 0.1, name
    # observational marginal std matches the analytic one
    obs = _rows(causal, "train", "obs")["latents"]
    np.testing.assert_allclose(obs.std(axis=0), scm.observational_std(), rtol=0.06)


def test_independent_variant_has_no_edges() -> None:
    ds = make_quad(image_size=32, n_train=2000, n_valid=5, n_test=5, n_heldout=5, seed=1)
    assert ds.name == "quad"
    assert all(not graph.any() for graph in ds.graphs.values())
    obs = _rows(ds, "train", "obs")["latents"]
    correlation = np.corrcoef(obs.T) - np.eye(8)
    assert np.abs(correlation).max() < 0.1
    np.testing.assert_allclose(obs.std(axis=0), np.sqrt(quad_scm(False).noise_var), rtol=0.06)


def test_shape_classes_have_the_spec_masses(causal: ArrayDataset) -> None:
    factors = _rows(causal, "train", "obs")["factors"]
    counts = np.bincount(factors[:, V["shape"]].astype(int), minlength=4) / len(factors)
    # round(3 Phi): P = 1/6, 1/3, 1/3, 1/6
    np.testing.assert_allclose(counts, [1 / 6, 1 / 3, 1 / 3, 1 / 6], atol=0.035)
    assert factors[:, V["size"]].min() >= 0.2 and factors[:, V["size"]].max() <= 1.0
    np.testing.assert_allclose(
        factors,
        quad_factors(_rows(causal, "train", "obs")["latents"], quad_scm().observational_std()),
        atol=1e-6,
    )


# --------------------------------------------------------------------------- rendering
def _base_factors() -> np.ndarray:
    # quad1..4, size, color, shape, orientation
    return np.array([[0.1, 0.3, 0.5, 0.7, 0.5, 0.9, 1.0, 0.05]])


def test_stored_images_are_the_rendered_factors(causal: ArrayDataset) -> None:
    arrays = causal.split("valid")
    np.testing.assert_array_equal(arrays["images"], render_quad(arrays["factors"], 32))


def test_colour_ramp_knots() -> None:
    factors = np.array([[0.0, 0.2, 0.5, 1.0, 0.2, 0.8, 0.0, 0.0]])
    image = render_quad(factors, 64)[0]
    assert image[63, 0].tolist() == [255, 0, 0]  # quad1 = 0: red
    assert image[63, 63].tolist() == [255, 255, 0]  # quad2 = 0.2: yellow
    assert image[0, 0].tolist() == [0, 255, 127]  # quad3 = 0.5: halfway green -> cyan
    assert image[0, 63].tolist() == [255, 0, 255]  # quad4 = 1: magenta
    assert image[32, 32].tolist() == [0, 0, 255]  # shape coloured by color = 0.8: blue


@pytest.mark.parametrize(
    ("shape", "area"),
    [
        (0, math.pi * 24**2),  # circle, radius s/2 = 24
        (1, 48.0**2),  # square, side 48
        (2, 3 * math.sqrt(3) / 4 * 24**2),  # equilateral triangle, circumradius 24
        (3, math.pi * 24 * 12),  # ellipse, semi-axes 24 and 12
    ],
)
@pytest.mark.parametrize("image_size", [32, 64])
def test_shape_areas(shape: int, area: float, image_size: int) -> None:
    factors = np.array([[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, float(shape), 0.1]])  # red, magenta shape
    image = render_quad(factors, image_size)[0]
    pixels = np.all(image == [255, 0, 255], axis=-1).sum() * (64 / image_size) ** 2
    assert abs(pixels / area - 1) < (0.03 if image_size == 64 else 0.08)


@pytest.mark.parametrize("image_size", [32, 64])
def test_rendering_changes_with_each_variable(image_size: int) -> None:
    base = _base_factors()
    reference = render_quad(base, image_size)[0]
    half = image_size // 2
    quadrants = {
        "quad1": (slice(half, None), slice(None, half)),
        "quad2": (slice(half, None), slice(half, None)),
        "quad3": (slice(None, half), slice(None, half)),
        "quad4": (slice(None, half), slice(half, None)),
    }
    for name in QUAD_VARIABLES:
        changed = base.copy()
        if name == "shape":
            changed[0, V[name]] = 3.0
        elif name == "size":
            changed[0, V[name]] = 0.9
        else:
            changed[0, V[name]] = 0.6 if base[0, V[name]] < 0.5 else 0.2
        image = render_quad(changed, image_size)[0]
        diff = np.any(image != reference, axis=-1)
        assert diff.any(), name
        if name in quadrants:
            outside = np.ones_like(diff)
            outside[quadrants[name]] = False
            assert not diff[outside].any(), f"{name} changed pixels outside its quadrant"


def test_sizes_32_and_64_agree_on_colours() -> None:
    factors = _base_factors()
    big, small = render_quad(factors, 64)[0], render_quad(factors, 32)[0]
    for (r64, c64), (r32, c32) in [((1, 1), (0, 0)), ((62, 62), (31, 31)), ((32, 32), (16, 16))]:
        assert big[r64, c64].tolist() == small[r32, c32].tolist()


# --------------------------------------------------------------------------- seeds, storage
def test_determinism_and_independent_streams(tmp_path) -> None:
    kwargs = dict(image_size=32, n_train=40, n_valid=5, n_test=5, n_heldout=5)
    first, again = make_quad_causal(seed=7, **kwargs), make_quad_causal(seed=7, **kwargs)
    other = make_quad_causal(seed=8, **kwargs)
    for split in first.splits:
        for key in first.split(split):
            np.testing.assert_array_equal(first.split(split)[key], again.split(split)[key])
    assert not np.array_equal(first.split("train")["latents"], other.split("train")["latents"])
    # docs/context_module.md#train-holdout-leakage: no held-out latent vector repeats a training one
    train = {row.tobytes() for row in first.split("train")["latents"]}
    for split in ("valid", "test", "heldout"):
        assert not train & {row.tobytes() for row in first.split(split)["latents"]}
    # written chunk by chunk to memory-mapped files: the same data
    stored = make_quad_causal(seed=7, path=tmp_path / "quad", **kwargs)
    loaded = ArrayDataset.load(tmp_path / "quad")
    for split in first.splits:
        for key in first.split(split):
            np.testing.assert_array_equal(stored.split(split)[key], first.split(split)[key])
            np.testing.assert_array_equal(loaded.split(split)[key], first.split(split)[key])
    np.testing.assert_array_equal(loaded.graphs["concept_graph"], first.graphs["concept_graph"])
    assert loaded.info == first.info


def test_common_random_numbers_couple_contexts() -> None:
    kwargs = dict(image_size=32, n_train=50, n_valid=5, n_test=5, n_heldout=5, seed=2)
    coupled = make_quad_causal(common_random_numbers=True, **kwargs)
    free = make_quad_causal(**kwargs)
    # quad1 is a sink: do(quad1) leaves every other variable of the same draw unchanged
    keep = [V[n] for n in QUAD_VARIABLES if n != "quad1"]
    obs, quad1 = _rows(coupled, "train", "obs"), _rows(coupled, "train", "quad1")
    np.testing.assert_allclose(obs["latents"][:, keep], quad1["latents"][:, keep])
    obs, quad1 = _rows(free, "train", "obs"), _rows(free, "train", "quad1")
    assert not np.allclose(obs["latents"][:, keep], quad1["latents"][:, keep])


@pytest.mark.parametrize(
    ("kwargs", "error", "argument"),
    [
        ({"image_size": 48}, ValueError, "image_size"),
        ({"image_size": 64.0}, TypeError, "image_size"),
        ({"n_train": 0}, ValueError, "n_train"),
        ({"n_heldout": 1.5}, TypeError, "n_heldout"),
        ({"seed": -1}, ValueError, "seed"),
        ({"strength": True}, TypeError, "strength"),
        ({"strength": float("nan")}, ValueError, "strength"),
        ({"common_random_numbers": 1}, TypeError, "common_random_numbers"),
        ({"path": 3}, TypeError, "path"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, argument) -> None:
    with pytest.raises(error, match=argument):
        make_quad_causal(**kwargs)


def test_render_checks_its_input() -> None:
    with pytest.raises(ValueError, match="factors"):
        render_quad(np.zeros((2, 7)))
    with pytest.raises(ValueError, match="shape"):
        render_quad(np.full((1, 8), 0.5))  # shape 0.5 is not a class
    with pytest.raises(ValueError, match="image_size"):
        render_quad(_base_factors(), 16)


def test_scm_checks_target_names() -> None:
    with pytest.raises(ValueError, match="targets"):
        quad_scm().reduced_form(["colour"])
    with pytest.raises(ValueError, match="targets"):
        quad_scm().noise_moments("quad1")  # a bare string is not a target set
