"""The write path of a run (issue 18): atomic writes, links, folders in the way, failed writes,
a full disk mid-run, the run-folder lock.

References: the file as it was before a failed write (bytes), files outside the run folder
(bytes), an uninterrupted run of the same seed (bit for bit), the pid of the process that holds
the lock.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from latentgraph._atomic import (
    TEMP_PATTERN,
    atomic_path,
    atomic_write,
    remove_stale_temps,
    save_figure,
)
from latentgraph.app.cli import main
from latentgraph.app.runs import check_run_dir, prepare_run_dir, run_dir_lock, run_subfolder
from latentgraph.errors import RunFolderError
from latentgraph.inference import checkpoint_torch
from latentgraph.inference.checkpoint_torch import load_checkpoint
from latentgraph.inference.posterior import save_posterior

FIT = [
    "fit", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial", "--n-samples", "1000",
    "--sizes", "small", "--batch-size", "32", "--seed", "3", "--no-progress", "--device", "cpu",
]  # fmt: skip
"""A tiny mechanism-sparsity fit (seconds); ``--steps`` and ``--out`` are added per test."""

TINY = {
    "mechanism-sparsity": [*FIT[1:], "--steps", "2"],
    "interaction-asymmetry": [
        "interaction-asymmetry", "--image-size", "32", "--objects", "2", "--n-images", "40",
        "--steps", "2", "--batch-size", "8", "--pixels-per-image", "32", "--jacobian-images", "2",
        "--readout-images", "20", "--no-progress", "--device", "cpu",
    ],
    "context-module": [
        "context-module", "--dataset", "quad_causal", "--image-size", "32", "--sizes", "cpu",
        "--n-train", "16", "--n-valid", "8", "--n-test", "8", "--n-heldout", "8", "--steps", "2",
        "--batch-size", "8", "--n-eval", "8", "--no-progress", "--device", "cpu",
    ],
}  # fmt: skip


def _temps(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if TEMP_PATTERN.match(n))


def _error_line(capsys) -> str:
    """The one error line on stderr (after the preset line, if training had started)."""
    err = capsys.readouterr().err.strip().splitlines()
    if len(err) == 2 and err[0].startswith("latentgraph: preset "):
        err = err[1:]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


# --- the atomic writer ---------------------------------------------------------------------


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(OSError) as caught, atomic_write(path) as handle:
        handle.write(b"new, half written")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_temporaries_are_unique_and_in_the_same_folder(tmp_path):
    path = tmp_path / "a.bin"
    with atomic_write(path) as first, atomic_write(path) as second:
        names = _temps(tmp_path)
        assert len(names) == 2 and all(n.startswith(".a.bin.") for n in names)
        first.write(b"1")
        second.write(b"2")
    assert path.read_bytes() == b"1" and _temps(tmp_path) == []  # the outer block moves last


def test_a_link_at_the_destination_is_replaced_never_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("a.json", "b.nc", "c.png"):
        (folder / name).symlink_to(outside)
    with atomic_write(folder / "a.json", text=True) as handle:
        handle.write("{}")

    class Tree:  # the one method save_posterior uses
        def to_netcdf(self, buffer, engine):
            assert engine == "h5netcdf"
            buffer.write(b"netcdf")

    save_posterior(Tree(), folder / "b.nc")
    save_figure(Figure(figsize=(1, 1)), folder / "c.png", dpi=20)
    assert outside.read_text() == "precious"
    for name in ("a.json", "b.nc", "c.png"):
        assert not (folder / name).is_symlink()
    assert (folder / "b.nc").read_bytes() == b"netcdf"
    assert (folder / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_at_the_destination_is_refused_and_left_alone(tmp_path):
    (tmp_path / "a.json").mkdir()
    (tmp_path / "a.json" / "inside").write_text("x")
    with pytest.raises(IsADirectoryError, match="a.json"), atomic_write(tmp_path / "a.json"):
        pytest.fail("the block must not run")
    with pytest.raises(IsADirectoryError), atomic_path(tmp_path / "a.json"):
        pytest.fail("the block must not run")
    assert (tmp_path / "a.json" / "inside").read_text() == "x" and _temps(tmp_path) == []


def test_a_full_disk_inside_torch_save_is_an_os_error_naming_the_checkpoint(tmp_path, monkeypatch):
    """torch's zip writer turns a failed ``write`` into ``RuntimeError("...file write failed")``;
    the checkpoint writer re-raises the disk's own ``OSError`` (so the CLI says "cannot write")."""
    import io
    from contextlib import contextmanager

    class FillsUp(io.BytesIO):
        def write(self, data):
            if self.tell() + len(memoryview(data).cast("B")) > 2048:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    @contextmanager
    def full_disk(path, **kwargs):
        yield FillsUp()

    monkeypatch.setattr(checkpoint_torch, "atomic_write", full_disk)
    with pytest.raises(OSError) as caught:
        checkpoint_torch.save_checkpoint({"w": torch.zeros(4096), "step": 3}, tmp_path / "c.pt")
    assert caught.value.errno == errno.ENOSPC and not isinstance(caught.value, RuntimeError)


def test_a_failed_netcdf_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "posterior.nc"
    path.write_bytes(b"old")

    class Tree:
        def to_netcdf(self, buffer, engine):
            buffer.write(b"netcdf" * 1000)

    def quota_exceeded(fd):  # the disk refuses the bytes when they are flushed, as NFS does
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(os, "fsync", quota_exceeded)
    with pytest.raises(OSError, match="quota") as caught:
        save_posterior(Tree(), path)
    monkeypatch.undo()
    assert caught.value.filename == str(path)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["posterior.nc"]


def test_a_figure_saved_atomically_equals_a_direct_savefig(tmp_path):
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1, 4])
    figure.savefig(tmp_path / "direct.png", dpi=40)
    save_figure(figure, tmp_path / "atomic.png", dpi=40)
    assert (tmp_path / "atomic.png").read_bytes() == (tmp_path / "direct.png").read_bytes()
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "atomic.png").stat().st_mode & 0o777 == 0o666 & ~mask


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    stale = tmp_path / ".checkpoint.pt.k2x9_a0b.tmp"
    stale.write_bytes(b"half")
    keep = [".notes.tmp", "checkpoint.pt", ".x.ABCDEFGH.tmp", "x.abcdefgh.tmp"]
    for name in keep:
        (tmp_path / name).write_text("user")
    (tmp_path / ".y.abcdefgh.tmp").mkdir()  # a folder is never removed
    (tmp_path / ".z.abcdefgh.tmp").symlink_to(tmp_path / "checkpoint.pt")  # nor a link
    assert remove_stale_temps(tmp_path) == [stale]
    assert sorted(os.listdir(tmp_path)) == sorted([*keep, ".y.abcdefgh.tmp", ".z.abcdefgh.tmp"])


# --- the run folder ------------------------------------------------------------------------


def test_out_below_a_regular_file_is_a_run_folder_error(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        prepare_run_dir(tmp_path / "file" / "run")
    assert main([*FIT, "--steps", "2", "--out", str(tmp_path / "file" / "run")]) == 2
    assert "file" in _error_line(capsys)


def test_a_read_only_out_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr("pathlib.Path.mkdir", read_only)
    assert main([*FIT, "--steps", "2", "--out", str(tmp_path / "run")]) == 1
    assert "Read-only file system" in _error_line(capsys)


@pytest.mark.parametrize("family", sorted(TINY))
@pytest.mark.parametrize("kind", ["folder", "link to a file outside", "link to a folder outside"])
def test_overwrite_refuses_a_run_file_name_that_is_not_a_file(tmp_path, capsys, family, kind):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("precious")
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    odd = out / "metrics.json"
    if kind == "folder":
        odd.mkdir()
    elif kind == "link to a file outside":
        odd.symlink_to(outside / "precious.txt")
    else:
        odd.symlink_to(outside)
    assert main(["fit", *TINY[family], "--overwrite", "--out", str(out)]) == 2
    line = _error_line(capsys)
    assert str(odd) in line and ("folder" in line or "symbolic link" in line)
    assert sorted(os.listdir(out)) == ["metrics.json", "notes.txt"]  # nothing was trained
    assert os.listdir(outside) == ["precious.txt"]
    assert (outside / "precious.txt").read_text() == "precious"


def test_overwrite_replaces_run_files_and_leaves_the_rest(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("old")
    (out / "notes.txt").write_text("mine")
    assert main([*FIT, "--steps", "2", "--overwrite", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2
    assert (out / "notes.txt").read_text() == "mine" and _temps(out) == []


def test_a_subfolder_that_links_out_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "runs").symlink_to(outside)
    with pytest.raises(RunFolderError, match="symbolic link"):
        run_subfolder(tmp_path / "sweep", "runs", "a-seed0")
    assert os.listdir(outside) == []
    assert run_subfolder(tmp_path / "sweep", "other", "a-seed0").is_dir()


def test_check_run_dir_creates_nothing(tmp_path):
    assert check_run_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert os.listdir(tmp_path) == []


# --- a full disk mid-run -------------------------------------------------------------------


def _same_run(a, b) -> None:
    state_a, state_b = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    assert state_a["step"] == state_b["step"]
    for name, tensor in state_a["module"].items():
        assert torch.equal(tensor, state_b["module"][name]), name
    for key, moments in state_a["optimizer"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(moments[name], state_b["optimizer"]["state"][key][name])
    assert torch.equal(state_a["torch_rng"], state_b["torch_rng"])
    timing = ("wall_s", "train_wall_s")
    metrics_a = json.loads((a / "metrics.json").read_text())
    metrics_b = json.loads((b / "metrics.json").read_text())
    assert {k: v for k, v in metrics_a.items() if k not in timing} == {
        k: v for k, v in metrics_b.items() if k not in timing
    }
    rows_a = json.loads((a / "history.json").read_text())["rows"]
    rows_b = json.loads((b / "history.json").read_text())["rows"]
    assert [{k: v for k, v in r.items() if k != "wall_s"} for r in rows_a] == [
        {k: v for k, v in r.items() if k != "wall_s"} for r in rows_b
    ]
    assert np.array_equal(np.load(a / "z_test.npy"), np.load(b / "z_test.npy"))


def test_a_full_disk_mid_run_keeps_the_last_checkpoint_and_resumes_bit_identically(
    tmp_path, capsys, monkeypatch
):
    args = [*FIT, "--steps", "8", "--checkpoint-every", "2"]
    reference = tmp_path / "reference"
    assert main([*args, "--out", str(reference)]) == 0
    capsys.readouterr()

    real_save, calls = torch.save, []

    def disk_fills_at_the_third_checkpoint(state, handle):
        calls.append(state["step"])
        if len(calls) == 3:  # some bytes reach the disk, then there is no space left
            handle.write(b"\0" * 4096)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(state, handle)

    monkeypatch.setattr(checkpoint_torch.torch, "save", disk_fills_at_the_third_checkpoint)
    out = tmp_path / "run"
    assert main([*args, "--out", str(out)]) == 1
    line = _error_line(capsys)
    assert "No space left on device" in line and str(out / "checkpoint.pt") in line
    assert calls == [2, 4, 6]
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4  # the last good one, intact
    assert _temps(out) == [] and not (out / "metrics.json").exists()

    monkeypatch.setattr(checkpoint_torch.torch, "save", real_save)  # space freed
    assert main([*args, "--resume", "--out", str(out)]) == 0
    _same_run(out, reference)


# --- the lock ------------------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from latentgraph.app.runs import run_dir_lock
    with run_dir_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def test_a_second_process_on_a_run_folder_is_refused_until_the_first_dies(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*FIT, "--steps", "2", "--checkpoint-every", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    before = sorted(os.listdir(out))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            RunFolderError, match=f"in use by another process \\(pid {holder.pid}\\)"
        ):
            with run_dir_lock(out):
                pass
        assert main([*FIT, "--steps", "2", "--checkpoint-every", "1", "--resume",
                     "--out", str(out)]) == 2  # fmt: skip
        assert f"pid {holder.pid}" in _error_line(capsys)
        assert sorted(os.listdir(out)) == before  # no lock file, nothing written
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock
        holder.wait()
    with run_dir_lock(out):
        pass
    assert main([*FIT, "--steps", "2", "--checkpoint-every", "1", "--resume",
                 "--out", str(out)]) == 0  # fmt: skip


def test_the_lock_is_held_for_the_whole_run(tmp_path, monkeypatch):
    import latentgraph.app.run_folder as run_folder

    seen = []
    real = run_folder._fit_and_write

    def probe(out, *args):
        with pytest.raises(RunFolderError, match="in use"), run_dir_lock(out):
            pass
        seen.append(True)
        return real(out, *args)

    monkeypatch.setattr(run_folder, "_fit_and_write", probe)
    assert main([*FIT, "--steps", "2", "--out", str(tmp_path / "run")]) == 0
    assert seen == [True]
    with run_dir_lock(tmp_path / "run"):  # released at the end
        pass


def test_a_failed_write_names_the_destination(tmp_path, monkeypatch):
    def no_room(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".a.json.abcd1234.tmp"))

    monkeypatch.setattr("tempfile.mkstemp", no_room)
    with pytest.raises(OSError, match="Read-only") as caught, atomic_write(tmp_path / "a.json"):
        pass
    assert caught.value.filename == str(tmp_path / "a.json") and os.listdir(tmp_path) == []
