"""Transform contexts of the sklearn digits (``docs/context_module.md#digit-transform-contexts``, offline stand-in).

References: exact identities of the transforms (an integer shift moves every pixel by whole
pixels, so the composed affine map equals a scale followed by ``np.roll``; the centroid of a
shifted digit moves by the shift; zoom scales ink mass by ``s^2``; dilation/erosion bound the
image pointwise), and the split rule (no source image in two of train/valid/test).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from latentgraph.data import ArrayDataset
from latentgraph.data.digits import (
    DIGIT_CONCEPTS,
    DIGIT_HELDOUT_PAIRS,
    DIGIT_PARAMETERS,
    apply_digit_transforms,
    make_digits_contexts,
    preprocess_digits,
)

P = {name: i for i, name in enumerate(DIGIT_PARAMETERS)}


@pytest.fixture(scope="module")
def digits() -> ArrayDataset:
    return make_digits_contexts(seed=1, split_seed=2)


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    return preprocess_digits(load_digits().images)


def _params(**values: float) -> np.ndarray:
    row = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    for key, value in values.items():
        row[P[key]] = value
    return row[None]


def _centroid(image: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(image.shape)
    return np.array([(rows * image).sum(), (cols * image).sum()]) / image.sum()


def test_splits_by_source_image_without_leakage(digits: ArrayDataset) -> None:
    sources = {split: set(arrays["source_index"]) for split, arrays in digits.splits.items()}
    assert not sources["train"] & sources["valid"]
    assert not (sources["train"] | sources["valid"]) & (sources["test"] | sources["heldout"])
    assert sources["heldout"] == sources["test"]
    assert len(sources["train"] | sources["valid"] | sources["test"]) == 1797
    assert [len(digits.info["source_indices"][s]) for s in ("train", "valid", "test")] == [
        1078,
        360,  # 1797 * (0.6, 0.2, 0.2) by largest remainder: the tie goes to valid
        359,
    ]
    # labels travel with their source image
    labels = load_digits().target
    for arrays in digits.splits.values():
        np.testing.assert_array_equal(arrays["labels"], labels[arrays["source_index"]])


def test_contexts_and_targets(digits: ArrayDataset) -> None:
    info = digits.info
    assert info["contexts"][:6] == ["obs", *DIGIT_CONCEPTS]
    assert len(DIGIT_HELDOUT_PAIRS) == 9 and ("thicken", "thin") not in DIGIT_HELDOUT_PAIRS
    expected = np.zeros((15, 5), dtype=bool)
    for index, targets in enumerate(info["context_targets"]):
        expected[index, targets] = True
    for split, arrays in digits.splits.items():
        np.testing.assert_array_equal(arrays["targets"], expected[arrays["context"]])
        contexts = set(np.unique(arrays["context"]))
        assert contexts == (set(range(6, 15)) if split == "heldout" else set(range(6)))
        # every source image appears once per context
        for c in contexts:
            rows = arrays["source_index"][arrays["context"] == c]
            assert sorted(rows) == sorted(info["source_indices"][split])
    train_sets = {tuple(np.flatnonzero(t)) for t in digits.split("train")["targets"]}
    held_sets = {tuple(np.flatnonzero(t)) for t in digits.split("heldout")["targets"]}
    assert not train_sets & held_sets and len(held_sets) == 9
    image = digits.split("train")["images"]
    assert image.dtype == np.uint8 and image.shape[1:] == (32, 32, 1)


def test_parameters_are_identity_or_in_range(digits: ArrayDataset) -> None:
    ranges = {"scale": (0.6, 0.8), "shear": (0.25, 0.5), "shift_x": (2, 4), "shift_y": (2, 4)}
    identity = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    columns = digits.info["concept_columns"]
    for arrays in digits.splits.values():
        latents, targets = arrays["latents"], arrays["targets"]
        for k in range(len(DIGIT_CONCEPTS)):
            for column in columns[k]:
                applied = latents[targets[:, k], column]
                untouched = latents[~targets[:, k], column]
                np.testing.assert_array_equal(untouched, identity[column])
                name = DIGIT_PARAMETERS[column]
                if name in ranges:
                    low, high = ranges[name]
                    assert applied.min() >= low and applied.max() <= high
                    assert applied.std() > 0.03  # drawn per image
                else:
                    np.testing.assert_array_equal(applied, 1.0)


def test_images_are_the_transformed_sources(digits: ArrayDataset, base: np.ndarray) -> None:
    for split in ("train", "heldout"):
        arrays = digits.split(split)
        rows = np.arange(0, len(arrays["context"]), 97)
        expected = apply_digit_transforms(
            base[arrays["source_index"][rows]], arrays["latents"][rows]
        )
        np.testing.assert_array_equal(
            arrays["images"][rows, ..., 0], np.rint(255 * expected).astype(np.uint8)
        )
    obs = digits.split("test")
    keep = obs["context"] == 0
    np.testing.assert_array_equal(
        obs["images"][keep, ..., 0],
        np.rint(255 * base[obs["source_index"][keep]]).astype(np.uint8),
    )


def test_preprocessing_frames_the_digit(base: np.ndarray) -> None:
    assert base.shape == (1797, 32, 32) and base.min() >= 0 and base.max() <= 1
    assert not base[:, :6].any() and not base[:, -6:].any()  # 20x20 digit, 6 px margin
    assert not base[:, :, :6].any() and not base[:, :, -6:].any()
    # bilinear zoom keeps the 8x8 corners: pixel values 0..16 -> [0, 1]
    raw = load_digits().images
    np.testing.assert_allclose(base[:, 6, 6], raw[:, 0, 0] / 16)
    np.testing.assert_allclose(base[:, 25, 25], raw[:, 7, 7] / 16)


def test_transform_identities(base: np.ndarray) -> None:
    image = base[:1]
    np.testing.assert_array_equal(apply_digit_transforms(image, _params()), image)
    # an integer shift right 3 and down 2 is np.roll (the digit stays in the frame)
    shifted = apply_digit_transforms(image, _params(shift_x=3, shift_y=2))
    np.testing.assert_allclose(shifted[0], np.roll(image[0], (2, 3), axis=(0, 1)), atol=1e-12)
    # composition order: shift o scale = roll(scale)
    scaled = apply_digit_transforms(image, _params(scale=0.7))
    both = apply_digit_transforms(image, _params(scale=0.7, shift_x=3, shift_y=2))
    np.testing.assert_allclose(both[0], np.roll(scaled[0], (2, 3), axis=(0, 1)), atol=1e-12)
    # a fractional shift moves the centroid by the shift (bilinear interpolation is
    # mass-preserving for translations inside the frame)
    moved = apply_digit_transforms(image, _params(shift_x=2.5, shift_y=3.25))
    np.testing.assert_allclose(_centroid(moved[0]) - _centroid(image[0]), [3.25, 2.5], atol=1e-9)
    # zoom about the centre scales the ink mass by about s^2
    for s in (0.6, 0.8):
        mass = apply_digit_transforms(base[:50], np.repeat(_params(scale=s), 50, 0)).sum((1, 2))
        np.testing.assert_allclose(mass / base[:50].sum((1, 2)), s**2, rtol=0.05)
    # shear x' = x + k (y - c) moves the centroid column by k (row_centroid - c)
    k, centre = 0.4, 15.5
    sheared = apply_digit_transforms(image, _params(shear=k))
    r0, c0 = _centroid(image[0])
    r1, c1 = _centroid(sheared[0])
    assert abs(r1 - r0) < 0.05 and abs(c1 - (c0 + k * (r0 - centre))) < 0.1
    # dilation never darkens, erosion never brightens; they change the image
    thick = apply_digit_transforms(base[:20], np.repeat(_params(thicken=1), 20, 0))
    thin = apply_digit_transforms(base[:20], np.repeat(_params(thin=1), 20, 0))
    assert np.all(thick >= base[:20]) and np.all(thin <= base[:20])
    assert thick.sum() > 1.2 * base[:20].sum() and thin.sum() < 0.8 * base[:20].sum()


def test_determinism_and_seeds() -> None:
    kwargs = dict(split_fractions=(0.9, 0.05, 0.05))  # the fewest images (15 test contexts)
    first = make_digits_contexts(seed=3, split_seed=4, **kwargs)
    again = make_digits_contexts(seed=3, split_seed=4, **kwargs)
    for split in first.splits:
        for key in first.split(split):
            np.testing.assert_array_equal(first.split(split)[key], again.split(split)[key])
    other_seed = make_digits_contexts(seed=5, split_seed=4, **kwargs)
    assert first.info["source_indices"] == other_seed.info["source_indices"]
    assert not np.array_equal(first.split("train")["latents"], other_seed.split("train")["latents"])
    other_split = make_digits_contexts(seed=3, split_seed=6, n_replicas=2, **kwargs)
    assert first.info["source_indices"] != other_split.info["source_indices"]
    assert other_split.sizes == {split: 2 * n for split, n in first.sizes.items()}


@pytest.mark.parametrize(
    ("kwargs", "error", "argument"),
    [
        ({"image_size": 16}, ValueError, "digit_size"),
        ({"digit_size": 20.0}, TypeError, "digit_size"),
        ({"split_fractions": (0.5, 0.5)}, ValueError, "split_fractions"),
        ({"n_replicas": 0}, ValueError, "n_replicas"),
        ({"scale_range": (0.8, 0.6)}, ValueError, "scale_range"),
        ({"scale_range": (0.0, 0.5)}, ValueError, "scale_range"),
        ({"shift_range": "2,4"}, TypeError, "shift_range"),
        ({"seed": -1}, ValueError, "seed"),
        ({"split_seed": 1.0}, TypeError, "split_seed"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, argument) -> None:
    with pytest.raises(error, match=argument):
        make_digits_contexts(**kwargs)


def test_transform_checks_its_input(base: np.ndarray) -> None:
    with pytest.raises(ValueError, match="parameters"):
        apply_digit_transforms(base[:2], _params())
    with pytest.raises(ValueError, match="parameters"):
        apply_digit_transforms(base[:1], _params(scale=0.0))
    with pytest.raises(ValueError, match="thicken"):
        apply_digit_transforms(base[:1], _params(thicken=0.5))
    with pytest.raises(ValueError, match="images"):
        preprocess_digits(np.zeros((2, 28, 28)))
