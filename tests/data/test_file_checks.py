"""Data files that are not files, archives that lie, and saved data sets with NaN inside.

Every check must refuse before anything is allocated or read from a file that would block
(a FIFO) or never end (``/dev/zero``), with a :class:`UserInputError` naming the path and what
it is. A FIFO case that regressed would block the test forever, so the hang-prone calls run
under :func:`no_hang` (SIGALRM interrupts a blocking ``open`` in the main thread).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from latentgraph.data import ArrayDataset, Dataset, load_npz
from latentgraph.data._files import (
    check_fits_in_memory,
    check_regular_file,
    count_non_finite,
    inspect_npz,
)
from latentgraph.errors import UserInputError

HANG_GUARD_S = 10


@contextlib.contextmanager
def no_hang(seconds: int = HANG_GUARD_S):
    """Fail (instead of hanging) when the block takes longer than ``seconds``."""

    def alarm(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s: the file check did not refuse")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def small_dataset(n: int = 40) -> Dataset:
    rng = np.random.default_rng(0)
    splits = {
        split: {
            "x": rng.normal(size=(n, 1, 3)).astype(np.float32),
            "actions": rng.normal(size=(n, 2)).astype(np.float32),
            "z": rng.normal(size=(n, 1, 2)).astype(np.float32),
        }
        for split in ("train", "valid", "test")
    }
    graphs = {"action_graph": np.ones((2, 2)), "latent_graph": np.eye(2)}
    return Dataset("small", splits, graphs=graphs, info={"kind": "action"})


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def lying_npy(shape: tuple[int, ...], dtype="<f8", data: bytes = b"\0" * 64) -> bytes:
    """An .npy header declaring ``shape`` followed by only ``data``."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def write_zip(path: Path, members: dict[str, bytes], *, compress: bool = False) -> Path:
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=mode) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


# ------------------------------------------------------------------- files that are not files
def not_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, words the error must contain)."""
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    cases = {"fifo": (fifo, "FIFO"), "directory": (tmp_path, "directory")}
    for device in ("zero", "urandom", "null"):
        link = tmp_path / f"{device}.npz"
        link.symlink_to(f"/dev/{device}")
        cases[f"link to /dev/{device}"] = (link, f"symlink to '/dev/{device}'")
    link_to_dir = tmp_path / "dir_link.npz"
    link_to_dir.symlink_to(tmp_path)
    cases["link to a directory"] = (link_to_dir, "directory")
    broken = tmp_path / "broken.npz"
    broken.symlink_to(tmp_path / "nowhere")
    cases["broken link"] = (broken, "broken symlink")
    return cases


@pytest.mark.parametrize(
    "case",
    [
        "fifo",
        "directory",
        "link to /dev/zero",
        "link to /dev/urandom",
        "link to /dev/null",
        "link to a directory",
        "broken link",
    ],
)
@pytest.mark.parametrize("loader", ["check_regular_file", "load_npz", "Dataset.load"])
def test_paths_that_are_not_regular_files_are_refused_without_opening(tmp_path, case, loader):
    path, words = not_files(tmp_path)[case]
    call = {
        "check_regular_file": lambda: check_regular_file(path, "--data"),
        "load_npz": lambda: load_npz(path),
        "Dataset.load": lambda: Dataset.load(path, mmap=True),
    }[loader]
    with no_hang(), pytest.raises(UserInputError) as caught:
        call()
    message = str(caught.value)
    assert words in message and str(path) in message
    if loader == "check_regular_file":
        assert "`--data`" in message


def test_array_dataset_refuses_a_fifo_manifest_and_a_device_array(tmp_path):
    folder = tmp_path / "ds"
    ArrayDataset("toy", {"train": {"images": np.zeros((4, 2, 2), np.uint8)}}).save(folder)
    images = folder / "train" / "images.npy"
    images.unlink()
    images.symlink_to("/dev/zero")
    with no_hang(), pytest.raises(UserInputError, match="character device"):
        ArrayDataset.load(folder, mmap=False)
    (folder / "manifest.json").unlink()
    os.mkfifo(folder / "manifest.json")
    with no_hang(), pytest.raises(UserInputError, match="FIFO"):
        ArrayDataset.load(folder)


def test_cli_data_option_names_the_fifo(tmp_path):
    from latentgraph.app.cli import main

    fifo = tmp_path / "data.npz"
    os.mkfifo(fifo)
    err = io.StringIO()
    with no_hang(120), contextlib.redirect_stderr(err):  # lazy imports take a while
        code = main(["fit", "mechanism-sparsity", "--data", str(fifo), "--steps", "1",
                     "--device", "cpu", "--out", str(tmp_path / "out")])  # fmt: skip
    lines = err.getvalue().strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "--data" in lines[0] and "FIFO" in lines[0]
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------- archives that lie
def test_a_header_declaring_1e12_elements_is_refused_before_allocation(tmp_path):
    path = write_zip(tmp_path / "liar.npz", {"x.npy": lying_npy((10**6, 10**6))})
    assert path.stat().st_size < 1000
    for call in (lambda: inspect_npz(path), lambda: load_npz(path)):
        with pytest.raises(UserInputError, match=r"declares shape \(1000000, 1000000\)") as err:
            call()
        assert "holds only 64 bytes" in str(err.value)


def test_a_compressed_member_declaring_more_than_it_holds_is_refused(tmp_path):
    path = write_zip(tmp_path / "liar.npz", {"x.npy": lying_npy((10**9,))}, compress=True)
    with pytest.raises(UserInputError, match="header lies"):
        load_npz(path)


def test_a_saved_dataset_with_a_lying_member_is_refused_mmap_or_not(tmp_path):
    path = small_dataset().save(tmp_path / "ds.npz")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["train/x.npy"] = lying_npy((10**7, 1, 3), "<f4", members["train/x.npy"][128:])
    liar = write_zip(tmp_path / "liar.npz", members)
    for mmap in (True, False):
        with pytest.raises(UserInputError, match="`train/x` declares shape"):
            Dataset.load(liar, mmap=mmap)


def test_a_stored_member_beyond_the_end_of_the_file_is_refused(tmp_path):
    path = write_zip(tmp_path / "ok.npz", {"x.npy": npy_bytes(np.zeros((100, 4)))})
    data = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    # keep the central directory (at the end) but drop half of the member's data
    cut = len(data) // 3
    truncated.write_bytes(data[:cut] + data[2 * cut :])
    with pytest.raises(UserInputError, match="truncated|valid .npz"):
        load_npz(truncated)


def test_memory_needed_beyond_available_is_refused_with_both_numbers(monkeypatch):
    import latentgraph.data._files as files

    monkeypatch.setattr(files, "available_memory_bytes", lambda: 2**30)
    with pytest.raises(UserInputError, match=r"needs 2,048.0 MB.*only 1,024.0 MB"):
        check_fits_in_memory(2**31, "--data", "loading it")
    check_fits_in_memory(2**29, "--data", "loading it")


def test_load_npz_refuses_a_file_larger_than_memory_before_reading(tmp_path, monkeypatch):
    import latentgraph.data._files as files

    path = tmp_path / "big.npz"
    np.savez(path, x=np.zeros((1000, 100)))
    monkeypatch.setattr(files, "available_memory_bytes", lambda: 10_000)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load must not be reached"))
    with pytest.raises(UserInputError, match="memory"):
        load_npz(path)


# ------------------------------------------------------------------- NaN inside saved data sets
@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize(
    ("split", "key", "value"),
    [("train", "x", np.nan), ("test", "actions", np.inf), ("valid", "z", -np.inf)],
)
def test_a_saved_dataset_with_non_finite_values_is_refused(tmp_path, mmap, split, key, value):
    dataset = small_dataset()
    dataset.splits[split][key].flat[7] = value
    dataset.splits[split][key].flat[-1] = value
    path = dataset.save(tmp_path / "ds.npz")
    with pytest.raises(UserInputError, match=f"'{split}/{key}' must be finite, got 2 NaN/inf"):
        Dataset.load(path, mmap=mmap)


def test_chunked_scan_counts_like_a_full_scan(tmp_path):
    rng = np.random.default_rng(1)
    array = rng.normal(size=(1001, 7)).astype(np.float32)
    array[rng.integers(0, 1001, 37), rng.integers(0, 7, 37)] = np.nan
    array[5, 5], array[1000, 6] = np.inf, -np.inf
    expected = int(array.size - np.count_nonzero(np.isfinite(array)))
    path = tmp_path / "a.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", npy_bytes(array))
    member = inspect_npz(path)["a"]
    for chunk in (4, 12, 100, 4096, 1 << 24):  # items of 4 bytes: chunks below, at, above rows
        assert count_non_finite(array, chunk_bytes=chunk) == expected
        assert count_non_finite(file=path, member=member, chunk_bytes=chunk) == expected
    assert count_non_finite(np.arange(10)) == 0


def test_the_file_scan_reads_bounded_chunks(tmp_path, monkeypatch):
    import latentgraph.data._files as files

    array = np.zeros((5000, 10), np.float64)  # 400,000 bytes
    path = tmp_path / "a.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", npy_bytes(array))
    member = inspect_npz(path)["a"]
    reads: list[int] = []
    real_open = open

    class Recording(io.FileIO):
        def readinto(self, buffer):
            reads.append(len(buffer))
            return super().readinto(buffer)

    def recording_open(file, mode="r", buffering=-1, **kwargs):
        if mode == "rb" and buffering == 0:
            return Recording(file, "rb")
        return real_open(file, mode, buffering, **kwargs)

    monkeypatch.setattr(files, "open", recording_open, raising=False)
    assert count_non_finite(file=path, member=member, chunk_bytes=4096) == 0
    assert max(reads) == 4096 and sum(reads) == array.nbytes and len(reads) == 98


def test_a_good_file_still_loads_byte_identical(tmp_path):
    dataset = small_dataset()
    path = dataset.save(tmp_path / "ds.npz")
    for mmap in (True, False):
        loaded = Dataset.load(path, mmap=mmap)
        for split, arrays in dataset.splits.items():
            for key, array in arrays.items():
                got = loaded.split(split)[key]
                assert got.dtype == array.dtype and got.tobytes() == array.tobytes()
        assert isinstance(loaded.split("train")["x"], np.memmap) == mmap
    user = tmp_path / "user.npz"
    x = np.random.default_rng(2).normal(size=(50, 4))
    np.savez(user, x=x)
    loaded = load_npz(user, standardize=False)
    rows = np.concatenate([loaded.split(s)["x"][:, 0] for s in ("train", "valid", "test")])
    order = np.random.default_rng(0).permutation(50)
    assert rows.tobytes() == x[order].astype(np.float32).tobytes()


def test_missing_and_occupied_paths_are_user_errors_and_os_errors(tmp_path):
    """The library's callers catch FileNotFoundError / FileExistsError; the command line
    reports UserInputError as the user's (exit 2): the two error types are both."""
    with pytest.raises(FileNotFoundError) as missing:
        Dataset.load(tmp_path / "missing.npz")
    assert isinstance(missing.value, UserInputError)
    path = small_dataset().save(tmp_path / "ds.npz")
    with pytest.raises(FileExistsError) as exists:
        small_dataset().save(path)
    assert isinstance(exists.value, UserInputError) and str(path) in str(exists.value)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError) as foreign:
        ArrayDataset("toy", {"train": {"a": np.zeros(3)}}).save(tmp_path / "foreign")
    assert isinstance(foreign.value, UserInputError)
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "mine"
