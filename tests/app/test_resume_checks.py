"""``--resume`` checks the run folder before touching it (issue 18): a damaged or foreign
``config.json`` or checkpoint is one line naming the file and what is wrong, exit code 2, and
the folder is byte for byte as it was; a checkpoint crafted to run code when unpickled never
runs it.

The reference for "unchanged" is a hash of every entry of the folder (names, kinds, bytes, link
targets) taken before the command.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil

import pytest
import torch

from latentgraph.app.cli import main

MS_FIT = [
    "fit", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial", "--n-samples", "1000",
    "--sizes", "small", "--batch-size", "32", "--steps", "4", "--checkpoint-every", "2",
    "--seed", "5", "--no-progress", "--device", "cpu",
]  # fmt: skip

OTHER_FITS = {
    "interaction-asymmetry": [
        "fit", "interaction-asymmetry", "--image-size", "32", "--objects", "2", "--n-images", "40",
        "--steps", "2", "--batch-size", "8", "--pixels-per-image", "32", "--jacobian-images", "2",
        "--readout-images", "20", "--no-progress", "--device", "cpu",
    ],
    "context-module": [
        "fit", "context-module", "--dataset", "quad_causal", "--image-size", "32", "--sizes", "cpu",
        "--n-train", "16", "--n-valid", "8", "--n-test", "8", "--n-heldout", "8", "--steps", "2",
        "--batch-size", "8", "--n-eval", "8", "--no-progress", "--device", "cpu",
    ],
}  # fmt: skip


def folder_hash(folder) -> str:
    """Names, kinds, contents and link targets of every entry below ``folder``."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode() + b"\0")
            if os.path.islink(path):
                digest.update(b"link:" + os.readlink(path).encode())
            elif os.path.isdir(path):
                digest.update(b"dir")
            else:
                with open(path, "rb") as handle:
                    digest.update(b"file:" + hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def _refused(args, out, capsys, *needles) -> str:
    """Run ``args`` with ``--resume --out out``: exit 2, one error line holding ``needles``
    (after the preset line if training had started), ``out`` unchanged."""
    before = folder_hash(out)
    capsys.readouterr()
    assert main([*args, "--resume", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    if len(err) == 2 and err[0].startswith("latentgraph: preset "):
        err = err[1:]  # the preset line: the shapes are checked as training starts
    assert len(err) == 1 and "Traceback" not in err[0], err
    for needle in needles:
        assert needle in err[0], (needle, err[0])
    assert folder_hash(out) == before, "the refused resume changed the folder"
    return err[0]


@pytest.fixture(scope="module")
def ms_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ms") / "run"
    assert main([*MS_FIT, "--out", str(out)]) == 0
    return out


@pytest.fixture
def ms_copy(ms_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(ms_run, copy, symlinks=True)
    return copy


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_finished_run_resumes_and_its_stale_temporaries_go(ms_copy, capsys):
    stale = ms_copy / ".checkpoint.pt.q1w2e3r4.tmp"
    stale.write_bytes(b"left by a SIGKILL")
    (ms_copy / ".notes.tmp").write_text("the user's")
    metrics = json.loads((ms_copy / "metrics.json").read_text())
    assert main([*MS_FIT, "--resume", "--out", str(ms_copy)]) == 0
    assert not stale.exists() and (ms_copy / ".notes.tmp").read_text() == "the user's"
    again = json.loads((ms_copy / "metrics.json").read_text())
    assert again["mcc"] == metrics["mcc"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[1, 2, 3]", "must hold a JSON object"),
        ('{"family": "mechanism-sparsity", "train": {"st', "not valid JSON"),
        ("\udcff", "not valid JSON"),
        ('{"family": "mechanism-sparsity", "train": [1]}', "different settings"),
    ],
    ids=["a list", "truncated", "not utf-8", "wrong shape"],
)
def test_a_damaged_config_is_refused(ms_copy, capsys, content, needle):
    config = ms_copy / "config.json"
    config.write_bytes(content.encode("utf-8", "surrogateescape"))
    _refused(MS_FIT, ms_copy, capsys, str(config), needle)


def test_a_config_that_is_a_link_or_a_folder_is_refused(ms_copy, capsys):
    config = ms_copy / "config.json"
    config.unlink()
    config.symlink_to("/dev/zero")
    _refused(MS_FIT, ms_copy, capsys, str(config), "symbolic link")
    config.unlink()
    config.mkdir()
    _refused(MS_FIT, ms_copy, capsys, str(config), "folder")


def test_a_truncated_checkpoint_is_refused(ms_copy, capsys):
    _truncate(ms_copy / "checkpoint.pt")
    _refused(MS_FIT, ms_copy, capsys, str(ms_copy / "checkpoint.pt"), "cannot be read")


def test_a_checkpoint_that_is_a_folder_is_refused(ms_copy, capsys):
    (ms_copy / "checkpoint.pt").unlink()
    (ms_copy / "checkpoint.pt").mkdir()
    _refused(MS_FIT, ms_copy, capsys, str(ms_copy / "checkpoint.pt"), "folder")


@pytest.mark.parametrize(
    ("content", "needle"),
    [([1, 2, 3], "must hold a dict"), (torch.zeros(3), "must hold a dict"),
     ({"format": 2}, "entry 'step'")],
    ids=["a list", "a tensor", "a dict without the state"],
)  # fmt: skip
def test_a_checkpoint_of_something_else_is_refused(ms_copy, capsys, content, needle):
    torch.save(content, ms_copy / "checkpoint.pt")
    _refused(MS_FIT, ms_copy, capsys, str(ms_copy / "checkpoint.pt"), needle)


class _Payload:
    """Unpickling this creates the file ``marker`` (it calls ``open(marker, "w")``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch.save", "plain pickle"])
def test_a_checkpoint_crafted_to_run_code_never_runs_it(ms_copy, tmp_path, capsys, writer):
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(probe)))  # the payload works when unpickled...
    assert probe.exists()
    marker = tmp_path / "marker"
    state = {"format": 2, "step": 2, "module": {"w": _Payload(marker)}}
    path = ms_copy / "checkpoint.pt"
    if writer == "torch.save":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state))
    _refused(MS_FIT, ms_copy, capsys, str(path), "weights-only")
    assert not marker.exists(), "unpickling the checkpoint ran code"  # ...but never here


def test_a_checkpoint_of_a_run_with_other_dimensions_is_refused(ms_copy, tmp_path, capsys):
    other = tmp_path / "other"
    assert main([*MS_FIT, "--n-latents", "12", "--out", str(other)]) == 0
    shutil.copy(other / "checkpoint.pt", ms_copy / "checkpoint.pt")
    _refused(MS_FIT, ms_copy, capsys, str(ms_copy / "checkpoint.pt"), "does not fit this model")


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [("step", 10**6, "outside this run's 0..4 steps"), ("step", -1, "outside"),
     ("format", 1, "format"), ("lr_scale", float("nan"), "lr_scale")],
)  # fmt: skip
def test_a_checkpoint_with_impossible_values_is_refused(ms_copy, capsys, key, value, needle):
    path = ms_copy / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state[key] = value
    torch.save(state, path)
    _refused(MS_FIT, ms_copy, capsys, str(path), needle)


def test_an_optimiser_state_of_other_shapes_is_refused(ms_copy, capsys):
    path = ms_copy / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    moments = state["optimizer"]["state"][0]
    moments["exp_avg"] = torch.zeros(*moments["exp_avg"].shape, 2)
    torch.save(state, path)
    _refused(MS_FIT, ms_copy, capsys, str(path), "optimizer.state[0].exp_avg")


@pytest.fixture(scope="module", params=sorted(OTHER_FITS))
def other_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "run"
    assert main([*OTHER_FITS[request.param], "--out", str(out)]) == 0
    return request.param, out


def test_other_families_refuse_damaged_checkpoints(other_run, tmp_path, capsys):
    family, finished = other_run
    args = OTHER_FITS[family]
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    path = out / "checkpoint.pt"
    good = path.read_bytes()
    _truncate(path)
    _refused(args, out, capsys, str(path), "cannot be read")
    torch.save([1, 2], path)
    _refused(args, out, capsys, str(path), "must hold a dict")
    path.write_bytes(good)
    state = torch.load(path, weights_only=True)
    name, tensor = next(iter(state["module"].items()))
    state["module"][name] = torch.zeros(tensor.numel() + 1)
    torch.save(state, path)
    _refused(args, out, capsys, str(path), f"module.{name} has shape")
    path.write_bytes(good)
    (out / "config.json").write_text("[]")
    _refused(args, out, capsys, str(out / "config.json"), "JSON object")


def test_numpyro_checkpoints_are_checked_without_unpickling(tmp_path):
    import numpy as np

    from latentgraph.errors import RunFolderError
    from latentgraph.inference.checkpoint_jax import check_checkpoint, load_pytree, save_pytree

    good = save_pytree({"format": np.asarray("x"), "state": {"a": np.ones(3)}}, tmp_path / "c.npz")
    check_checkpoint(good)
    assert np.array_equal(load_pytree(good)["state"]["a"], np.ones(3))
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(good.read_bytes()[:100])
    plain = tmp_path / "p.npz"
    np.save(plain.with_suffix(".npy"), np.ones(2))
    plain.with_suffix(".npy").rename(plain)
    pickled = tmp_path / "o.npz"
    with open(pickled, "wb") as handle:
        np.savez(handle, x=np.array([{"a": 1}], dtype=object))
    folder = tmp_path / "d.npz"
    folder.mkdir()
    no_format = save_pytree({"a": np.ones(1)}, tmp_path / "n.npz")
    cases = [(truncated, "cannot be read"), (plain, "not an .npz"),
             (pickled, "cannot be read"), (folder, "folder"), (no_format, "no format")]  # fmt: skip
    for path, needle in cases:
        with pytest.raises(RunFolderError, match=needle) as caught:
            check_checkpoint(path)
        assert str(path) in str(caught.value)
    check_checkpoint(tmp_path / "absent.npz", missing_ok=True)
    with pytest.raises(RunFolderError, match="does not exist"):
        check_checkpoint(tmp_path / "absent.npz")
