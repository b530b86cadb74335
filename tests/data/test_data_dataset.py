"""Tests of the Dataset container: validation, properties and the .npz round trip."""

from __future__ import annotations

import os

import numpy as np
import pytest

from latentgraph.data import Dataset, make_mechanism_dataset


@pytest.fixture(scope="module")
def action_ds():
    return make_mechanism_dataset("graph_action_3_hard", n_samples=300, data_seed=3)


@pytest.fixture(scope="module")
def temporal_ds():
    return make_mechanism_dataset("temporal_sparsity_non_trivial_no_suff_var", n_samples=300)


def tiny(n=4, **arrays):
    x = np.zeros((n, 1, 3), dtype=np.float32)
    return {"train": {"x": x, **arrays}}


def assert_same(a: Dataset, b: Dataset) -> None:
    assert a.name == b.name
    assert a.info == b.info
    assert sorted(a.splits) == sorted(b.splits)
    for split in a.splits:
        assert sorted(a.split(split)) == sorted(b.split(split))
        for key, value in a.split(split).items():
            assert b.split(split)[key].dtype == value.dtype
            np.testing.assert_array_equal(b.split(split)[key], value)
    assert sorted(a.graphs) == sorted(b.graphs)
    for key, graph in a.graphs.items():
        assert b.graphs[key].dtype == np.int8
        np.testing.assert_array_equal(b.graphs[key], graph)


def test_properties(action_ds, temporal_ds):
    assert (action_ds.n_latents, action_ds.n_obs, action_ds.n_actions, action_ds.n_steps) == (
        10,
        20,
        5,
        1,
    )
    assert action_ds.kind == "action"
    assert (temporal_ds.n_actions, temporal_ds.n_steps, temporal_ds.kind) == (0, 2, "temporal")
    custom = Dataset("c", tiny(), graphs={"latent_graph": np.eye(2, dtype=bool)})
    assert custom.n_latents == 2 and custom.kind == "custom"
    assert custom.graphs["latent_graph"].dtype == np.int8
    assert Dataset("c", tiny()).n_latents is None
    assert "graph_action_3_hard" in repr(action_ds)


def test_split_lookup(action_ds):
    assert action_ds.split("valid") is action_ds.splits["valid"]
    with pytest.raises(ValueError, match="split.*'training'"):
        action_ds.split("training")


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("which", ["action_ds", "temporal_ds"])
def test_save_load_round_trip(tmp_path, request, which, mmap):
    ds = request.getfixturevalue(which)
    path = ds.save(tmp_path / "data.npz")
    assert path == tmp_path / "data.npz"
    loaded = Dataset.load(path, mmap=mmap)
    assert_same(ds, loaded)
    assert isinstance(loaded.split("train")["x"], np.memmap) is mmap
    assert os.listdir(tmp_path) == ["data.npz"]  # no temporary file left behind
    with np.load(path, allow_pickle=False) as archive:
        assert "train/x" in archive.files and "info" in archive.files
        assert any(key.startswith("graph/") for key in archive.files)


def test_save_refuses_to_overwrite(tmp_path, action_ds, temporal_ds):
    path = action_ds.save(tmp_path / "data.npz")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        temporal_ds.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["data.npz"]
    temporal_ds.save(path, overwrite=True)
    assert_same(temporal_ds, Dataset.load(path))


def test_save_rejects_non_json_info(tmp_path):
    ds = Dataset("c", tiny(), info={"bad": np.zeros(2)})
    with pytest.raises(ValueError, match="info"):
        ds.save(tmp_path / "c.npz")
    assert not (tmp_path / "c.npz").exists()


def test_load_rejects_foreign_files(tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="latentgraph"):
        Dataset.load(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="path"):
        Dataset.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match="path"):
        Dataset.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    ("splits", "graphs", "pattern"),
    [
        ({"train": {"x": np.zeros((4, 1, 3))}}, {}, "float32"),
        ({"train": {"x": np.zeros((4, 3), np.float32)}}, {}, "shape"),
        ({"train": {"a/b": np.zeros((4, 1, 3), np.float32)}}, {}, "letters, digits"),
        (tiny(y=np.zeros((5, 2))), {}, "share their first dimension"),
        (tiny(y=np.array([None] * 4)), {}, "bool, integer, float or complex"),
        (tiny(), {"gene graph": np.eye(2)}, "letters, digits"),
        (tiny(), {"gene_graph": np.full((2, 2), 1.5)}, "probabilities in"),
        (tiny(), {"gene_graph": np.ones(3)}, "2-D"),
        ({"graph": {"x": np.zeros((4, 1, 3), np.float32)}}, {}, "reserved"),
        ({"train": {}}, {}, "at least one array"),
        (tiny(z=np.zeros((5, 1, 2), np.float32)), {}, "z"),
        (tiny(actions=np.zeros((4,), np.float32)), {}, "actions"),
        (tiny(), {"action_graph": np.ones((2, 2))}, "no actions"),
        (tiny(), {"latent_graph": np.ones((2, 3))}, "square"),
        (tiny(), {"latent_graph": 2 * np.eye(2)}, "0 and 1"),
        (tiny(z=np.zeros((4, 1, 2), np.float32)), {"latent_graph": np.eye(3)}, "n_latents"),
        ({}, {}, "non-empty"),
    ],
)
def test_invalid_contents(splits, graphs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Dataset("bad", splits, graphs=graphs)


def test_splits_must_agree():
    splits = tiny()
    splits["valid"] = {"x": np.zeros((2, 1, 4), dtype=np.float32)}
    with pytest.raises(ValueError, match="all splits"):
        Dataset("bad", splits)


# ---------------------------------------------------------------------------------------------
# any named arrays and graphs


def gene_dataset(n_cells=(30, 6, 4), seed=0) -> Dataset:
    """Expression ``(n, 50)`` of 50 genes under 5 perturbations, with a 50 x 50 gene graph
    (rows = target genes) and a 50 x 5 probability graph perturbation -> gene."""
    rng = np.random.default_rng(seed)
    splits = {
        split: {
            "expression": rng.normal(size=(n, 50)),
            "perturbation": rng.integers(0, 2, size=(n, 5)).astype(np.int8),
        }
        for split, n in zip(("train", "valid", "test"), n_cells, strict=True)
    }
    gene_graph = np.tril(rng.random((50, 50)) < 0.1, k=-1)
    targets = rng.random((50, 5))
    return Dataset(
        "genes",
        splits,
        graphs={"gene_graph": gene_graph, "perturbation-targets": targets},
        info={"kind": "custom", "organism": "toy"},
    )


def test_any_named_arrays_and_graphs():
    ds = gene_dataset()
    assert ds.array_names == ("expression", "perturbation")
    assert ds.sizes == {"train": 30, "valid": 6, "test": 4}
    assert ds.split("valid")["expression"].shape == (6, 50)
    assert ds.split("test")["perturbation"].dtype == np.int8
    assert ds.graphs["gene_graph"].dtype == np.int8 and ds.graphs["gene_graph"].shape == (50, 50)
    probs = ds.graphs["perturbation-targets"]
    assert probs.dtype == np.float64 and 0.0 < probs.min() and probs.max() < 1.0
    # mechanism quantities: derived when present, a clear error naming x when not
    assert ds.n_actions == 0 and ds.n_latents is None
    with pytest.raises(ValueError, match="`n_obs` needs the split array 'x'.*expression"):
        _ = ds.n_obs
    with pytest.raises(ValueError, match="`n_steps` needs the split array 'x'"):
        _ = ds.n_steps
    assert "arrays={'expression': (50,), 'perturbation': (5,)}" in repr(ds)


@pytest.mark.parametrize("mmap", [False, True])
def test_gene_dataset_round_trip(tmp_path, mmap):
    ds = gene_dataset()
    loaded = Dataset.load(ds.save(tmp_path / "genes.npz"), mmap=mmap)
    assert loaded.name == "genes" and loaded.info == ds.info
    assert sorted(loaded.splits) == sorted(ds.splits)
    for split in ds.splits:
        assert sorted(loaded.split(split)) == sorted(ds.split(split))
        for key, value in ds.split(split).items():
            got = loaded.split(split)[key]
            assert isinstance(got, np.memmap) is mmap
            assert got.dtype == value.dtype
            np.testing.assert_array_equal(got, value)
    assert sorted(loaded.graphs) == ["gene_graph", "perturbation-targets"]
    for key, graph in ds.graphs.items():
        assert loaded.graphs[key].dtype == graph.dtype
        np.testing.assert_array_equal(loaded.graphs[key], graph)


def test_mixed_names_keep_mechanism_checks():
    x = np.zeros((4, 2, 3), np.float32)
    ds = Dataset(
        "mixed",
        {"train": {"x": x, "context": np.arange(4)}},
        graphs={"latent_graph": np.eye(2), "concept_graph": np.ones((3, 2))},
    )
    assert (ds.n_obs, ds.n_steps, ds.n_latents) == (3, 2, 2)
    assert ds.graphs["concept_graph"].dtype == np.int8
    assert repr(ds).endswith("graphs=['concept_graph', 'latent_graph'])")
    with pytest.raises(ValueError, match="float32"):
        Dataset("bad", {"train": {"z": np.zeros((4, 2, 2)), "y": np.zeros(4)}})
    with pytest.raises(ValueError, match="z"):
        Dataset("bad", {"train": {"z": np.zeros((4, 2), np.float32)}})


def test_splits_must_hold_the_same_arrays():
    ds = gene_dataset()
    splits = dict(ds.splits)
    splits["valid"] = {"expression": splits["valid"]["expression"]}
    with pytest.raises(ValueError, match="all splits must hold the same arrays"):
        Dataset("bad", splits)
    splits["valid"] = {
        "expression": splits["train"]["expression"][:, :10],
        "perturbation": splits["train"]["perturbation"],
    }
    with pytest.raises(ValueError, match=r"all splits must share.*'expression'.*\(10,\)"):
        Dataset("bad", splits)
