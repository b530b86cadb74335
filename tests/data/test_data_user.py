"""Tests of load_npz, the loader for users' own .npz files."""

from __future__ import annotations

import numpy as np
import pytest

from latentgraph.data import load_npz

SPLITS = ("train", "valid", "test")


def write(tmp_path, name="mine.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.fixture
def sequence_file(tmp_path):
    rng = np.random.default_rng(7)
    n = 100
    arrays = {
        "x": rng.normal(3.0, 2.0, size=(n, 2, 5)),
        "actions": rng.uniform(-1, 1, size=(n, 3)),
        "z": rng.normal(size=(n, 2, 4)),
        "action_graph": np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]),
        "latent_graph": np.eye(4, dtype=bool),
    }
    return write(tmp_path, **arrays), arrays


def test_full_file_is_split_and_standardised_with_train_statistics(sequence_file):
    path, raw = sequence_file
    ds = load_npz(path, seed=11)
    assert ds.kind == "custom" and ds.name == "mine"
    assert ds.info["split_sizes"] == {"train": 80, "valid": 10, "test": 10}
    assert (ds.n_obs, ds.n_steps, ds.n_actions, ds.n_latents) == (5, 2, 3, 4)
    order = np.random.default_rng(11).permutation(100)
    parts = {"train": order[:80], "valid": order[80:90], "test": order[90:]}
    train_raw = raw["x"][parts["train"]].reshape(-1, 5)
    mean, std = train_raw.mean(axis=0), train_raw.std(axis=0)
    np.testing.assert_allclose(ds.info["standardisation"]["mean"], mean, rtol=1e-6)
    for split in SPLITS:
        arrays = ds.split(split)
        assert all(value.dtype == np.float32 for value in arrays.values())
        index = parts[split]
        np.testing.assert_allclose(arrays["x"], (raw["x"][index] - mean) / std, atol=1e-5)
        np.testing.assert_allclose(arrays["z"], raw["z"][index], atol=1e-6)
        np.testing.assert_allclose(arrays["actions"], raw["actions"][index], atol=1e-6)
    train_x = ds.split("train")["x"].reshape(-1, 5)
    np.testing.assert_allclose(train_x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train_x.std(axis=0), 1.0, atol=1e-5)
    assert ds.graphs["action_graph"].dtype == np.int8
    np.testing.assert_array_equal(ds.graphs["latent_graph"], np.eye(4))


def test_two_dimensional_x_is_one_step_and_seed_controls_split(tmp_path):
    x = np.arange(60, dtype=np.float64).reshape(20, 3)
    path = write(tmp_path, x=x, z=x[:, :2])
    ds = load_npz(path, standardize=False, split_fractions=(0.5, 0.25, 0.25))
    assert ds.split("train")["x"].shape == (10, 1, 3)
    assert ds.split("test")["z"].shape == (5, 1, 2)
    assert ds.info["standardisation"] is None
    rows = np.concatenate([ds.split(s)["x"][:, 0] for s in SPLITS])
    np.testing.assert_array_equal(np.sort(rows[:, 0]), x[:, 0])  # a permutation of the rows
    assert not np.array_equal(rows, x)  # and actually shuffled
    again = load_npz(path, standardize=False, split_fractions=(0.5, 0.25, 0.25))
    np.testing.assert_array_equal(again.split("valid")["x"], ds.split("valid")["x"])
    other = load_npz(path, standardize=False, split_fractions=(0.5, 0.25, 0.25), seed=1)
    assert not np.array_equal(other.split("valid")["x"], ds.split("valid")["x"])


def test_constant_dimension_keeps_unit_scale(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 2))
    x[:, 1] = 4.0
    ds = load_npz(write(tmp_path, x=x))
    assert ds.info["standardisation"]["constant_dims"] == [1]
    np.testing.assert_array_equal(ds.split("valid")["x"][:, 0, 1], 0.0)


def test_round_trip_through_dataset_save(tmp_path, sequence_file):
    from latentgraph.data import Dataset

    ds = load_npz(sequence_file[0])
    out = ds.save(tmp_path / "saved.npz")
    np.testing.assert_array_equal(Dataset.load(out).split("test")["x"], ds.split("test")["x"])


def _object_array():
    array = np.empty(2, dtype=object)
    array[:] = [1, "a"]
    return array


N = 20
GOOD_X = np.zeros((N, 3))


@pytest.mark.parametrize(
    ("arrays", "pattern"),
    [
        ({"actions": np.zeros((N, 2))}, "'x'"),
        ({"x": np.zeros(N)}, "`x`.*shape.*1-D"),
        ({"x": np.zeros((N, 2, 3, 4))}, "`x`.*4-D"),
        ({"x": np.array(["a"] * N)}, "`x`.*dtype"),
        ({"x": np.full((N, 3), np.nan)}, "`x`.*finite"),
        ({"x": GOOD_X, "z": np.full((N, 2), np.inf)}, "`z`.*finite"),
        ({"x": GOOD_X, "actions": np.zeros((N + 1, 2))}, "`actions`.*rows"),
        ({"x": GOOD_X, "actions": np.zeros(N)}, "`actions`.*shape"),
        ({"x": GOOD_X, "z": np.zeros((N, 2, 2))}, "`z`.*shape"),
        ({"x": np.zeros((N, 2, 3)), "z": np.zeros((N, 3, 2))}, "`z`.*T=2"),
        ({"x": GOOD_X, "latent_graph": np.ones((2, 3))}, "`latent_graph`.*shape"),
        ({"x": GOOD_X, "z": np.zeros((N, 2)), "latent_graph": np.ones((3, 3))}, "latent_graph"),
        ({"x": GOOD_X, "latent_graph": 2 * np.eye(2)}, "`latent_graph`.*0 and 1"),
        ({"x": GOOD_X, "action_graph": np.ones((2, 2))}, "`action_graph`.*no `actions`"),
        (
            {"x": GOOD_X, "actions": np.zeros((N, 2)), "action_graph": np.ones((2, 3))},
            "`action_graph`.*shape",
        ),
        ({"x": GOOD_X, "action": np.zeros((N, 2))}, "unexpected keys.*'action'"),
        ({"x": np.zeros((2, 3))}, "len\\(x\\)"),
        ({"x": np.zeros((0, 3))}, "`x`.*non-empty"),
    ],
)
def test_invalid_files(tmp_path, arrays, pattern):
    with pytest.raises(ValueError, match=pattern):
        load_npz(write(tmp_path, **arrays))


def test_unreadable_files(tmp_path):
    with pytest.raises(ValueError, match="path.*not found"):
        load_npz(tmp_path / "missing.npz")
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="path.*valid .npz"):
        load_npz(text)
    single = tmp_path / "single.npy"
    np.save(single, GOOD_X)
    with pytest.raises(ValueError, match="path.*single array"):
        load_npz(single)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x=_object_array())
    with pytest.raises(ValueError, match="`x`.*pickle"):
        load_npz(pickled)


def test_invalid_arguments(tmp_path):
    path = write(tmp_path, x=GOOD_X)
    with pytest.raises(TypeError, match="path"):
        load_npz(3)
    with pytest.raises(ValueError, match="split_fractions"):
        load_npz(path, split_fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="seed"):
        load_npz(path, seed=-2)
    with pytest.raises(TypeError, match="standardize"):
        load_npz(path, standardize="yes")
