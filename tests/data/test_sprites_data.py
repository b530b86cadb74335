"""Sprites generator: geometry, anti-aliasing, masks vs pixels, ranges, OOD split, writer."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv
from matplotlib.path import Path as PolygonPath

from latentgraph.data.sprites import (
    _CIRCUMRADIUS,
    _SIDES,
    _START_ANGLE,
    FACTOR_NAMES,
    OOD_SPLIT,
    SHAPE_IDS,
    _inside_regular_polygon,
    _inside_shape,
    diagonal_distance,
    hue_to_rgb,
    load_or_write_sprites,
    make_sprites,
    render_sprites,
    sample_sprite_latents,
    write_sprites,
)


@pytest.fixture(scope="module")
def sprites32():
    return make_sprites(240, 32, seed=7, split_fractions=(0.8, 0.1, 0.1))


@pytest.fixture(scope="module")
def diagonal32():
    return make_sprites(600, 16, seed=3, ood="diagonal", n_ood=300, supersample=2)


def _one(x, y, scale, hue, shape):
    return np.array([[[x, y, scale, hue, shape]]], dtype=np.float64)


def _hue_distance(a, b):
    d = np.abs(a - b) % 1.0
    return np.minimum(d, 1.0 - d)


# ----------------------------------------------------------------------------- geometry
def test_hue_to_rgb_matches_colorsys():
    hues = np.linspace(0.0, 1.0, 101)
    expected = np.array([colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in hues])
    np.testing.assert_allclose(hue_to_rgb(hues), expected, atol=1e-12)


@pytest.mark.parametrize("shape", list(SHAPE_IDS))
def test_polygon_tests_agree_with_matplotlib_path(shape):
    """Fast per-shape test == general sector test == matplotlib's point-in-polygon."""
    shape_id = SHAPE_IDS[shape]
    sides, start, radius = _SIDES[shape_id], _START_ANGLE[shape_id], 0.3
    angles = start + 2 * np.pi * np.arange(sides) / sides
    vertices = radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    points = np.random.default_rng(0).uniform(-0.35, 0.35, size=(20000, 2))
    reference = PolygonPath(vertices).contains_points(points)
    # the polygon's gauge: distance of each point to the boundary is > 1e-6 where we compare
    apothem = radius * math.cos(math.pi / sides)
    normals = angles + math.pi / sides
    support = np.max(points @ np.stack([np.cos(normals), np.sin(normals)]), axis=1)
    clear = np.abs(support - apothem) > 1e-6
    general = _inside_regular_polygon(points[:, 0], points[:, 1], radius, sides, start)
    fast = _inside_shape(points[:, 0], points[:, 1], np.full(len(points), radius), shape_id)
    assert reference.mean() > 0.2 and (~reference).mean() > 0.2
    np.testing.assert_array_equal(general[clear], reference[clear])
    np.testing.assert_array_equal(fast[clear], reference[clear])


@pytest.mark.parametrize("shape", list(SHAPE_IDS))
def test_polygons_have_unit_area_times_scale_squared(shape):
    """Area of a sprite = scale^2 of the frame (unit-area polygons), checked by counting."""
    scale, size = 0.3, 200
    images, masks = render_sprites(
        _one(0.5, 0.5, scale, 0.2, SHAPE_IDS[shape]), size, supersample=1
    )
    area = np.count_nonzero(masks[0]) / size**2
    assert area == pytest.approx(scale**2, rel=0.01)
    # circumradius formula (docs/interaction_asymmetry.md#sprites: 0.877, 0.707, 0.566)
    expected = {"triangle": 0.877, "square": 0.707, "circle": 0.566}[shape]
    assert _CIRCUMRADIUS[SHAPE_IDS[shape]] == pytest.approx(expected, abs=5e-4)


def test_sprite_areas_at_64_pixels_are_41_to_92_pixels_before_occlusion(sprites32):
    """Spec 11(b): each sprite, rendered alone at 64 px, covers about 41-92 pixels."""
    split = sprites32.split("valid")
    rows = split["latents"][split["present"]][:, None, :]  # one object per image
    images, _ = render_sprites(rows, 64)
    areas = images.max(axis=-1).sum(axis=(1, 2)) / 255.0  # anti-aliased coverage in pixels
    expected = 64**2 * rows[:, 0, 2].astype(float) ** 2
    # 25 sub-samples per pixel quantise the edges: a few % per sprite, unbiased on average
    np.testing.assert_allclose(areas, expected, rtol=0.06)
    assert abs(np.mean(areas / expected) - 1) < 0.01
    assert areas.min() >= 41 * 0.94 and areas.max() <= 92.2 * 1.06


def test_orientation_and_vertical_flip():
    """y points up: a sprite at high y is drawn in the top rows; the triangle points up."""
    _, masks = render_sprites(_one(0.3, 0.8, 0.2, 0.0, SHAPE_IDS["triangle"]), 50, supersample=1)
    rows, cols = np.nonzero(masks[0])
    assert rows.mean() < 25 and cols.mean() < 25
    widths = np.array([np.count_nonzero(masks[0][r]) for r in range(rows.min(), rows.max() + 1)])
    assert widths[0] < widths[-1]  # apex on top, base at the bottom


# ----------------------------------------------------------------------------- rendering
def test_without_supersampling_every_pixel_is_its_mask_colour(sprites32):
    latents = sprites32.split("train")["latents"]
    present = sprites32.split("train")["present"]
    images, masks = render_sprites(latents, 32, present=present, supersample=1)
    palette = np.zeros((len(latents), latents.shape[1] + 1, 3))
    palette[:, 1:] = np.rint(255 * hue_to_rgb(latents[..., 3]))
    expected = np.take_along_axis(palette, masks.reshape(len(masks), -1, 1).astype(int), axis=1)
    np.testing.assert_array_equal(images.reshape(len(images), -1, 3), expected)
    assert np.all(images[masks == 0] == 0)


def test_supersampling_is_a_box_filter_of_the_fine_render(sprites32):
    """Render at 32 px with 5x5 sub-samples == 5x5 block means of the 160 px render."""
    latents = sprites32.split("valid")["latents"]
    present = sprites32.split("valid")["present"]
    coarse, coarse_masks = render_sprites(latents, 32, present=present, supersample=5)
    fine, fine_masks = render_sprites(latents, 160, present=present, supersample=1)
    means = fine.reshape(-1, 32, 5, 32, 5, 3).astype(float).mean(axis=(2, 4))
    assert np.max(np.abs(coarse - means)) <= 1.0  # rounding of the 255-scaled colours
    # masks: the object that shows on more than half of the 25 sub-samples
    blocks = fine_masks.reshape(-1, 32, 5, 32, 5)
    expected = np.zeros_like(coarse_masks)
    for k in range(1, latents.shape[1] + 1):
        expected[np.sum(blocks == k, axis=(2, 4)) > 12] = k
    np.testing.assert_array_equal(coarse_masks, expected)
    # anti-aliased: edge pixels take intermediate values, the 1x render has none
    brightness = coarse.max(axis=-1)
    assert np.any((brightness > 10) & (brightness < 245))
    assert set(np.unique(fine.max(axis=-1))) <= {0, 255}


def test_masks_match_rendered_pixels(sprites32):
    split = sprites32.split("train")
    images, masks, latents = split["images"], split["masks"], split["latents"]
    present = split["present"]
    colours = 255 * hue_to_rgb(latents[..., 3])
    n_pure = 0
    _, fine_masks = render_sprites(latents, 160, present=present, supersample=1)
    blocks = fine_masks.reshape(-1, 32, 5, 32, 5)
    for k in range(1, latents.shape[1] + 1):
        image_idx, rows, cols = np.nonzero(masks == k)
        assert np.all(present[image_idx, k - 1])
        pixels = images[image_idx, rows, cols].astype(float)
        colour = colours[image_idx, k - 1]
        # more than half of the colour comes from object k (13 of 25 sub-samples at least)
        assert np.all(pixels >= np.floor(13 / 25 * colour) - 1)
        # where only object k and black share the pixel, it has exactly object k's hue
        block = blocks[image_idx, rows, :, cols, :].reshape(len(rows), -1)
        pure = np.all((block == k) | (block == 0), axis=1)
        hue = rgb_to_hsv(pixels[pure] / 255.0)[:, 0]
        assert np.all(_hue_distance(hue, latents[image_idx[pure], k - 1, 3]) < 0.01)
        n_pure += int(pure.sum())
    assert n_pure > 1000
    # background: black wherever no object touches the pixel, never an object majority
    untouched = np.all(blocks == 0, axis=(2, 4))
    assert np.all(images[untouched] == 0) and np.all(masks[untouched] == 0)
    shown = np.stack([np.sum(blocks == k, axis=(2, 4)) for k in range(1, 5)], axis=-1)
    assert np.all(shown[masks == 0] <= 12)  # no object shows on more than half
    assert np.any(shown[masks == 0] > 0)  # (there are partly covered background pixels)


def test_occlusion_later_objects_on_top():
    red_then_blue = np.array(
        [[[0.5, 0.5, 0.4, 0.0, SHAPE_IDS["square"]], [0.6, 0.5, 0.4, 2 / 3, SHAPE_IDS["square"]]]]
    )
    images, masks = render_sprites(red_then_blue, 20, supersample=1)
    # columns 8..11 lie in both squares (x in [0.3, 0.7] and [0.4, 0.8])
    assert np.all(masks[0, 10, 8:12] == 2) and np.all(images[0, 10, 8:12] == [0, 0, 255])
    assert np.all(masks[0, 10, 6:8] == 1) and np.all(images[0, 10, 6:8] == [255, 0, 0])
    images, masks = render_sprites(red_then_blue[:, ::-1], 20, supersample=1)
    assert np.all(masks[0, 10, 8:12] == 2) and np.all(images[0, 10, 8:12] == [255, 0, 0])


# ----------------------------------------------------------------------------- data sets
def test_in_distribution_latents_ranges_and_layout(sprites32):
    assert sprites32.sizes == {"train": 192, "valid": 24, "test": 24}
    assert sprites32.info["factor_names"] == list(FACTOR_NAMES)
    split = sprites32.split("train")
    images, masks, latents, present = (split[k] for k in ("images", "masks", "latents", "present"))
    assert images.dtype == np.uint8 and images.shape == (192, 32, 32, 3)
    assert masks.dtype == np.int8 and masks.shape == (192, 32, 32)
    assert latents.dtype == np.float32 and latents.shape == (192, 4, 5)
    assert present.dtype == np.bool_ and present.shape == (192, 4)
    counts = present.sum(1)
    assert set(counts) == {2, 3, 4}
    # objects fill slots 0..count-1; absent rows are zero
    np.testing.assert_array_equal(present, np.arange(4)[None] < counts[:, None])
    assert np.all(latents[~present] == 0)
    rows = latents[present]
    assert rows[:, :2].min() >= 0.1 and rows[:, :2].max() <= 0.8
    assert rows[:, 2].min() >= 0.1 and rows[:, 2].max() <= 0.15
    assert rows[:, 3].min() >= 0.0 and rows[:, 3].max() <= 1.0
    assert set(rows[:, 4]) == {1.0, 2.0, 3.0}
    assert masks.max() <= counts.max() and np.all(masks.max(axis=(1, 2)) <= counts)


def test_determinism_and_independent_split_streams():
    a = make_sprites(30, 16, seed=5, supersample=2)
    b = make_sprites(30, 16, seed=5, supersample=2)
    c = make_sprites(30, 16, seed=6, supersample=2)
    for split in a.splits:
        for key in a.split(split):
            np.testing.assert_array_equal(a.split(split)[key], b.split(split)[key])
    assert not np.array_equal(a.split("train")["latents"], c.split("train")["latents"])
    # changing the split sizes leaves the first rows of a split's stream unchanged
    d = make_sprites(60, 16, seed=5, supersample=2)
    np.testing.assert_array_equal(
        d.split("train")["latents"][:27], a.split("train")["latents"][:27]
    )


def test_ood_split_slot_supported_and_combinations_unseen(diagonal32):
    delta = diagonal32.info["delta"]
    train, ood = diagonal32.split("train"), diagonal32.split(OOD_SPLIT)
    assert set(diagonal32.splits) == {"train", "valid", "test", OOD_SPLIT}
    assert len(ood["images"]) == 300
    # every factor of every ID row lies in the band; every OOD row leaves it in some factor
    for name in ("train", "valid", "test"):
        assert np.all(diagonal_distance(diagonal32.split(name)["codes"]) <= delta + 1e-6)
    assert np.all(np.any(diagonal_distance(ood["codes"]) > delta, axis=1))
    # slot-supported: each slot's marginal covers its whole range in training (10 bins each)
    for slot in range(2):
        for factor in range(4):
            bins = np.floor(train["codes"][:, slot, factor] * 10).clip(0, 9)
            assert len(np.unique(bins)) == 10, (slot, factor)
        assert set(train["latents"][:, slot, 4]) == {1.0, 3.0}
    # unseen combinations: hues that differ by > 0.3 occur in OOD only (ID gap <= 0.9 * 0.177)
    train_gap = _hue_distance(train["latents"][:, 0, 3], train["latents"][:, 1, 3])
    ood_gap = _hue_distance(ood["latents"][:, 0, 3], ood["latents"][:, 1, 3])
    assert train_gap.max() <= 0.9 * delta * math.sqrt(2) + 1e-6
    assert np.mean(ood_gap > 0.3) > 0.2
    # ranges of docs/interaction_asymmetry.md#out-of-distribution-splits and the 0.2 centre distance of OOD pairs
    for split in (train, ood):
        lat = split["latents"]
        assert lat[..., 0].min() >= 0.1 and lat[..., 0].max() <= 0.9
        assert lat[..., 1].min() >= 0.2 and lat[..., 1].max() <= 0.8
        assert lat[..., 2].min() >= 0.09 and lat[..., 2].max() <= 0.09 + 0.13 / 3 + 1e-6
        assert lat[..., 3].min() >= 0.05 and lat[..., 3].max() <= 0.95
    centres = ood["latents"][:, :, :2]
    assert np.all(np.linalg.norm(centres[:, 0] - centres[:, 1], axis=-1) >= 0.2 - 1e-6)


def test_writer_equals_in_memory_and_is_reused(tmp_path):
    settings = dict(n=40, image_size=16, seed=2, ood="diagonal", supersample=3, n_ood=9)
    memory = make_sprites(**settings)
    disk = write_sprites(tmp_path / "sprites", **settings, chunk_size=7)
    assert disk.sizes == memory.sizes and disk.info == memory.info
    for split in memory.splits:
        for key, array in memory.split(split).items():
            got = disk.split(split)[key]
            assert isinstance(got, np.memmap) and got.dtype == array.dtype
            np.testing.assert_array_equal(got, array)
    stamp = (tmp_path / "sprites" / "train" / "images.npy").stat().st_mtime_ns
    again = load_or_write_sprites(tmp_path / "sprites", **settings)
    assert (tmp_path / "sprites" / "train" / "images.npy").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.split("train")["images"], memory.split("train")["images"])
    with pytest.raises(ValueError, match="other settings"):
        load_or_write_sprites(tmp_path / "sprites", **{**settings, "seed": 3})


def test_sampler_matches_data_set_conventions():
    sampled = sample_sprite_latents(50, n_objects=3, seed=0)
    assert sampled["latents"].shape == (50, 3, 5) and sampled["present"].all()
    off = sample_sprite_latents(50, seed=0, ood="diagonal", off_diagonal=True)
    assert np.all(np.any(diagonal_distance(off["codes"]) > 0.125, axis=1))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: make_sprites(2), ValueError, "`n`"),
        (lambda: make_sprites(40, 2), ValueError, "`image_size`"),
        (lambda: make_sprites(40, 16, n_objects=(3, 2)), ValueError, "`n_objects`"),
        (lambda: make_sprites(40, 16, n_objects="2"), TypeError, "`n_objects`"),
        (lambda: make_sprites(40, 16, ood="diagonal", n_objects=(2, 3)), ValueError, "n_objects"),
        (lambda: make_sprites(40, 16, ood="lshape"), ValueError, "`ood`"),
        (lambda: make_sprites(40, 16, seed=-1), ValueError, "`seed`"),
        (lambda: make_sprites(40, 16, delta=0.7, ood="diagonal"), ValueError, "`delta`"),
        (lambda: make_sprites(40, 16, n_ood=3), ValueError, "`n_ood`"),
        (lambda: render_sprites(np.zeros((2, 3)), 8), ValueError, "`latents`"),
        (lambda: render_sprites(_one(0.5, 0.5, 0.1, 0.1, 7), 8), ValueError, "shape"),
        (lambda: render_sprites(_one(0.5, 0.5, -0.1, 0.1, 1), 8), ValueError, "scale"),
        (
            lambda: render_sprites(_one(0.5, 0.5, 0.1, 0.1, 1), 8, supersample=0),
            ValueError,
            "`supersample`",
        ),
        (lambda: write_sprites(123, 10), TypeError, "`path`"),
    ],
)
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
