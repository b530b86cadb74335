"""ArrayDataset and ArrayDatasetWriter: round trips, memory maps, refusal to clobber, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentgraph.data.arrays import MANIFEST, ArrayDataset, ArrayDatasetWriter


def _toy(seed: int = 0) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    return ArrayDataset(
        "toy",
        {
            "train": {
                "images": rng.integers(0, 256, (6, 5, 5, 3), dtype=np.uint8),
                "latents": rng.normal(size=(6, 3, 2)).astype(np.float32),
                "context": np.arange(6, dtype=np.int64),
            },
            "test": {"images": rng.integers(0, 256, (2, 5, 5, 3), dtype=np.uint8)},
        },
        graphs={"concept_graph": np.array([[0, 0], [1, 0]])},
        info={"image_size": 5, "factors": ["x", "y"]},
    )


def test_save_load_round_trip_is_exact_and_memory_mapped(tmp_path):
    ds = _toy()
    ds.save(tmp_path / "ds")
    loaded = ArrayDataset.load(tmp_path / "ds")
    assert (
        loaded.name == "toy" and loaded.info == ds.info and loaded.sizes == {"train": 6, "test": 2}
    )
    for split, arrays in ds.splits.items():
        for key, array in arrays.items():
            got = loaded.split(split)[key]
            assert isinstance(got, np.memmap) and not got.flags.writeable
            assert got.dtype == array.dtype
            np.testing.assert_array_equal(got, array)
    np.testing.assert_array_equal(loaded.graphs["concept_graph"], [[0, 0], [1, 0]])
    assert loaded.graphs["concept_graph"].dtype == np.int8
    in_memory = ArrayDataset.load(tmp_path / "ds", mmap=False)
    assert not isinstance(in_memory.split("train")["images"], np.memmap)


def test_writer_fills_chunks_and_equals_in_memory_save(tmp_path):
    ds = _toy(1)
    layout = {
        split: {key: (array.shape, array.dtype) for key, array in arrays.items()}
        for split, arrays in ds.splits.items()
    }
    with ArrayDatasetWriter(
        tmp_path / "written", name="toy", layout=layout, graphs=ds.graphs, info=ds.info
    ) as writer:
        assert not (tmp_path / "written").exists()  # built aside, moved in at the end
        for split, arrays in ds.splits.items():
            for key, array in arrays.items():
                for start in range(0, len(array), 4):
                    writer.arrays[split][key][start : start + 4] = array[start : start + 4]
    written = writer.dataset
    assert written is not None
    for split, arrays in ds.splits.items():
        for key, array in arrays.items():
            np.testing.assert_array_equal(written.split(split)[key], array)
    assert [p.name for p in tmp_path.iterdir()] == ["written"]  # no temporary folder left


def test_writer_exception_leaves_nothing_behind(tmp_path):
    layout = {"train": {"images": ((3, 2, 2, 3), "uint8")}}
    with pytest.raises(RuntimeError, match="boom"):
        with ArrayDatasetWriter(tmp_path / "ds", name="toy", layout=layout) as writer:
            writer.arrays["train"]["images"][:] = 7
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_folders_are_never_clobbered_without_permission(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        _toy().save(user)
    with pytest.raises(FileExistsError, match="not an ArrayDataset folder"):
        _toy().save(user, overwrite=True)  # a folder that is not ours: refused even so
    with pytest.raises(FileExistsError, match="not an ArrayDataset folder"):
        ArrayDatasetWriter(user, name="toy", layout={"a": {"b": ((1,), "f4")}}, overwrite=True)
    assert (user / "notes.txt").read_text() == "mine"

    _toy(0).save(tmp_path / "ds")
    with pytest.raises(FileExistsError):
        _toy(1).save(tmp_path / "ds")
    _toy(1).save(tmp_path / "ds", overwrite=True)
    np.testing.assert_array_equal(
        ArrayDataset.load(tmp_path / "ds").split("train")["images"],
        _toy(1).split("train")["images"],
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "user"]
    empty = tmp_path / "empty"
    empty.mkdir()
    _toy().save(empty)  # an empty folder is fine
    assert (empty / MANIFEST).is_file()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"splits": {}}, ValueError, "splits"),
        ({"splits": {"tr/ain": {"x": np.zeros(2)}}}, ValueError, "splits key"),
        ({"splits": {"train": {"x": [1, 2]}}}, TypeError, "numpy array"),
        ({"splits": {"train": {"x": np.zeros(())}}}, ValueError, "first dimension"),
        ({"splits": {"train": {"x": np.zeros(2, dtype=object)}}}, ValueError, "Python objects"),
        ({"splits": {"train": {"x": np.zeros(2), "y": np.zeros(3)}}}, ValueError, "first dim"),
        ({"graphs": {"g": np.array([[0, 2]])}}, ValueError, "0 and 1"),
        ({"info": {"a": float("nan")}}, ValueError, "info"),
        ({"info": []}, TypeError, "info"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    arguments = {"name": "toy", "splits": {"train": {"x": np.zeros(2)}}} | kwargs
    with pytest.raises(error, match=match):
        ArrayDataset(**arguments)


@pytest.mark.parametrize(
    ("layout", "match"),
    [
        ({}, "layout"),
        ({"train": {"x": (2, "f4")}}, "shape"),
        ({"train": {"x": ((-1,), "f4")}}, "shape"),
        ({"train": {"x": ((2,), "O")}}, "Python objects"),
        ({"train": {"x": ((2,), "f4"), "y": ((3,), "f4")}}, "first dimension"),
    ],
)
def test_writer_rejects_bad_layouts_before_touching_disk(tmp_path, layout, match):
    with pytest.raises(ValueError, match=match):
        ArrayDatasetWriter(tmp_path / "ds", name="toy", layout=layout)
    assert list(tmp_path.iterdir()) == []


def test_load_detects_tampering(tmp_path):
    _toy().save(tmp_path / "ds")
    original = (tmp_path / "ds" / MANIFEST).read_text()
    manifest = json.loads(original)
    manifest["splits"]["train"]["images"]["shape"] = [7, 5, 5, 3]
    (tmp_path / "ds" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="manifest says"):
        ArrayDataset.load(tmp_path / "ds")
    (tmp_path / "ds" / MANIFEST).write_text(original)
    (tmp_path / "ds" / "test" / "images.npy").unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        ArrayDataset.load(tmp_path / "ds")
    with pytest.raises(FileNotFoundError, match="not an ArrayDataset folder"):
        ArrayDataset.load(tmp_path)
