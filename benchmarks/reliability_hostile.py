"""The hostile-world classes of the reliability benchmark (issue 18).

Each case is one command line of ``latentgraph`` run in a forked child
(:func:`isolated_cli.run_isolated`: killed after a timeout, address space capped) in a fresh
folder holding a *sentinel* folder of precious files, the case's input files, and the ``--out``
folder. A case is *handled* when

* the exit code is one of the expected ones (2: the user's input; 1: the machine, e.g. a full
  disk; 0 where the command may legitimately succeed),
* there is no traceback and it did not time out,
* on a non-zero exit exactly one ``latentgraph:`` line is on stderr and it contains the case's
  needle (the option or file it is about),
* nothing outside ``--out`` changed (sentinel and input snapshots), and ``--out`` is unchanged
  on exit code 2,
* and the case's own extra check passes (a marker file a crafted pickle would create is absent,
  the last checkpoint of a full disk is intact, ...).

Classes (the issue's list): output side, tampered run folders under ``--resume``, files that are
not files, archives that lie, numbers at the edges, writes that leave ``--out``, work before
validation, nonsense accepted, device names (every family and ``sweep``).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from isolated_cli import Outcome, run_isolated, snapshot, warm_imports

MS = ["fit", "mechanism-sparsity"]
MS_DATA = ["--dataset", "action_sparsity_non_trivial"]
MS_TINY = [
    "--sizes", "small", "--batch-size", "64", "--lr", "5e-3", "--graph-lr", "5e-2",
    "--dual-lr", "5e-2", "--bound", "20", "--eval-every", "10", "--checkpoint-every", "10",
    "--seed", "7", "--no-progress", "--device", "cpu",
]  # fmt: skip
MS_FIT = [*MS, *MS_DATA, "--n-samples", "2000", *MS_TINY]
MS_STEPS = ["--steps", "20"]
LONG_STEPS = ["--steps", "5000"]
IA_FIT = [
    "fit", "interaction-asymmetry", "--image-size", "32", "--objects", "2", "--ood", "diagonal",
    "--n-images", "80", "--steps", "3", "--batch-size", "8", "--pixels-per-image", "64",
    "--jacobian-images", "2", "--readout-images", "30", "--eval-every", "100", "--seed", "1",
    "--device", "cpu", "--no-progress",
]  # fmt: skip
CM_FIT = [
    "fit", "context-module", "--dataset", "quad_causal", "--image-size", "32", "--sizes", "cpu",
    "--n-train", "24", "--n-valid", "8", "--n-test", "8", "--n-heldout", "8", "--steps", "4",
    "--batch-size", "16", "--n-eval", "8", "--device", "cpu", "--no-progress",
]  # fmt: skip
SWEEP = [
    "sweep", "mechanism-sparsity", *MS_DATA, "--n-samples", "2000", "--sizes", "small",
    "--bounds", "15,20", "--seeds", "2", "--steps", "5", "--batch-size", "64", "--no-progress",
    "--device", "cpu",
]  # fmt: skip
FAMILIES = {
    "mechanism-sparsity (pyro)": [*MS_FIT, *MS_STEPS],
    "mechanism-sparsity (numpyro)": [*MS_FIT, *MS_STEPS, "--backend", "numpyro"],
    "interaction-asymmetry": IA_FIT,
    "context-module": CM_FIT,
    "sweep mechanism-sparsity": SWEEP,
}
CLASSES = (
    "output side",
    "tampered run folders (--resume)",
    "files that are not files",
    "archives that lie",
    "numbers at the edges",
    "writes that leave --out",
    "work before validation",
    "nonsense accepted",
    "device names",
)


@dataclass
class Case:
    """One hostile command. ``argv`` may hold ``{out}``, ``{data}``, ``{root}`` and
    ``{sentinel}`` placeholders; ``setup(root, fixtures)`` prepares the case folder;
    ``check(root, outcome)`` returns an extra verdict (None: passed, else what failed)."""

    klass: str
    name: str
    argv: list[str]
    expect: tuple[int, ...] = (2,)
    needle: str = ""
    setup: Callable[[Path, Fixtures], None] | None = None
    check: Callable[[Path, Outcome], str | None] | None = None
    fsize: int | None = None
    timeout: float = 300.0
    mount: str | None = None  # "ro": --out on a read-only tmpfs, "full": on a tiny tmpfs
    out_may_change: bool = False  # another process writes --out meanwhile


@dataclass
class Fixtures:
    """Things several cases share, made once: a finished tiny mechanism-sparsity run."""

    root: Path
    run: Path = field(init=False)

    def __post_init__(self) -> None:
        self.run = self.root / "finished_run"

    def make(self) -> None:
        if (self.run / "metrics.json").is_file():
            return
        outcome = run_isolated([*MS_FIT, *MS_STEPS, "--out", str(self.run)], timeout=900)
        if outcome.code != 0:
            raise RuntimeError(f"the fixture run failed:\n{outcome.stderr[-3000:]}")

    def copy_run(self, target: Path) -> None:
        shutil.copytree(self.run, target, symlinks=True)


# ---------------------------------------------------------------------------- helpers
def _resolve(argv: list[str], root: Path) -> list[str]:
    names = {"out": root / "out", "data": root / "inputs" / "data.npz", "root": root,
             "sentinel": root / "sentinel"}  # fmt: skip
    return [part.format(**{k: str(v) for k, v in names.items()}) for part in argv]


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _lying_npy(shape: tuple[int, ...], dtype: str = "<f8", data: bytes = b"\0" * 64) -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def _zip(path: Path, members: dict[str, bytes], compress: bool = False) -> None:
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=mode) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)


def _saved_dataset(path: Path, *, poison: tuple[str, str, float] | None = None,
                   only_train: bool = False) -> None:  # fmt: skip
    from latentgraph.data import Dataset, make_mechanism_dataset

    dataset = make_mechanism_dataset("action_sparsity_non_trivial", n_samples=600)
    if poison is not None:
        split, key, value = poison
        dataset.splits[split][key].flat[11] = value
    if only_train:
        dataset = Dataset(dataset.name, {"train": dataset.splits["train"]},
                          graphs=dataset.graphs, info=dataset.info)  # fmt: skip
    dataset.save(path)


def _data(make: Callable[[Path], None]) -> Callable[[Path, Fixtures], None]:
    """A setup writing the case's ``{data}`` file (or link, FIFO, folder) with ``make``."""

    def setup(root: Path, fixtures: Fixtures) -> None:
        make(root / "inputs" / "data.npz")

    return setup


def _with_run(tamper: Callable[[Path], None] | None = None) -> Callable[[Path, Fixtures], None]:
    """A setup copying the finished fixture run to ``{out}`` and tampering with it."""

    def setup(root: Path, fixtures: Fixtures) -> None:
        fixtures.make()
        fixtures.copy_run(root / "out")
        if tamper is not None:
            tamper(root / "out")

    return setup


def _link_out(name: str) -> Callable[[Path], None]:
    """Replace ``{out}/name`` by a symlink to the sentinel's ``name`` (a file outside)."""

    def tamper(out: Path) -> None:
        target = out.parent / "sentinel" / name
        if (out / name).is_dir():
            shutil.rmtree(out / name)
        elif os.path.lexists(out / name):
            (out / name).unlink()
        target.write_text("precious: must not be replaced\n")
        (out / name).symlink_to(target)

    return tamper


def _torch_save(obj) -> Callable[[Path], None]:
    def tamper(out: Path) -> None:
        import torch

        (out / "checkpoint.pt").unlink()
        torch.save(obj, out / "checkpoint.pt")

    return tamper


def _reshaped_checkpoint(out: Path) -> None:
    import torch

    state = torch.load(out / "checkpoint.pt", weights_only=True)
    name, tensor = next((k, v) for k, v in state["module"].items() if v.ndim >= 1)
    state["module"][name] = torch.zeros((tensor.shape[0] + 3, *tensor.shape[1:]))
    torch.save(state, out / "checkpoint.pt")


def _far_step_checkpoint(out: Path) -> None:
    import torch

    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["step"] = 10**6
    torch.save(state, out / "checkpoint.pt")


class _Evil:
    """Unpickling this creates the marker file ``path`` (code run by a crafted checkpoint)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _crafted_pickle(out: Path) -> None:
    import torch

    (out / "checkpoint.pt").unlink()
    torch.save({"step": 5, "module": _Evil(str(out.parent / "PWNED"))}, out / "checkpoint.pt")


def _no_marker(root: Path, outcome: Outcome) -> str | None:
    return "the crafted pickle ran code (marker file exists)" if (root / "PWNED").exists() else None


def _truncate(name: str, keep: float = 0.5) -> Callable[[Path], None]:
    def tamper(out: Path) -> None:
        data = (out / name).read_bytes()
        (out / name).write_bytes(data[: int(len(data) * keep)])

    return tamper


def _make_dir_at(name: str) -> Callable[[Path], None]:
    def tamper(out: Path) -> None:
        (out / name).unlink()
        (out / name).mkdir()
        (out / name / "inside.txt").write_text("a user's file\n")

    return tamper


def _full_disk_intact(root: Path, outcome: Outcome) -> str | None:
    """After a full disk: the checkpoint present (if any) loads and holds a finished step."""
    from latentgraph.inference.checkpoint_torch import load_checkpoint

    checkpoint = root / "out" / "checkpoint.pt"
    if not checkpoint.exists():
        return None  # failed before the first checkpoint: nothing to keep intact
    try:
        load_checkpoint(checkpoint)
    except Exception as err:  # noqa: BLE001 - a damaged last checkpoint is the finding
        return f"the last checkpoint is damaged: {err}"
    leftovers = [p.name for p in (root / "out").iterdir() if ".tmp" in p.name]
    return f"temporary files left: {leftovers}" if leftovers else None


def _fill_disk(root: Path, fixtures: Fixtures) -> None:
    """Leave about a third of the tiny run folder's size free on the tmpfs under ``{root}``."""
    fixtures.make()
    run_size = sum(p.stat().st_size for p in fixtures.run.rglob("*") if p.is_file())
    stats = os.statvfs(root / "disk")
    free = stats.f_bavail * stats.f_frsize
    filler = max(0, free - run_size // 3)
    with open(root / "disk" / "filler", "wb") as handle:
        handle.write(b"\0" * filler)


def _second_resume(root: Path, fixtures: Fixtures) -> None:
    """Start a long run into ``{out}`` in a background process and wait for its first
    checkpoint; the case's command is a ``--resume`` of the same run while it trains."""
    import sys

    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "latentgraph.app.cli",
            *MS_FIT,
            *LONG_STEPS,
            "--out",
            str(root / "out"),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (root / "first.pid").write_text(str(first.pid))
    deadline = time.time() + 400
    while time.time() < deadline and first.poll() is None:
        if (root / "out" / "checkpoint.pt").exists():
            return
        time.sleep(0.2)
    raise RuntimeError(f"the first run did not write a checkpoint (exit {first.poll()})")


def _stop_first(root: Path, outcome: Outcome) -> str | None:
    pid = int((root / "first.pid").read_text())
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    return None


# ---------------------------------------------------------------------------- the cases
def cases() -> list[Case]:
    out = ["--out", "{out}"]
    data_fit = [*MS, "--data", "{data}", *MS_TINY, *MS_STEPS, *out]
    c: list[Case] = []

    # output side
    c += [
        Case("output side", "--out on a read-only file system", [*MS_FIT, *MS_STEPS, "--out",
             "{root}/disk/run"], (1, 2), "disk/run", mount="ro"),  # fmt: skip
        Case("output side", "--out under /sys (not permitted)",
             [*MS_FIT, *MS_STEPS, "--out", "/sys/latentgraph_run"], (1, 2), "/sys/latentgraph_run"),
        Case("output side", "--out under /proc (no such directory)",
             [*MS_FIT, *MS_STEPS, "--out", "/proc/latentgraph_run/run"], (1, 2), "/proc"),
        Case("output side", "--out whose parent is a regular file",
             [*MS_FIT, *MS_STEPS, "--out", "{sentinel}/precious.txt/run"], (1, 2), "precious.txt"),
        Case("output side", "--overwrite into a folder with a directory named metrics.json",
             [*MS_FIT, *MS_STEPS, "--overwrite", *out], (2,), "metrics.json",
             setup=_with_run(_make_dir_at("metrics.json"))),
        Case("output side", "--overwrite into a folder with a directory named checkpoint.pt",
             [*MS_FIT, *MS_STEPS, "--overwrite", *out], (2,), "checkpoint.pt",
             setup=_with_run(_make_dir_at("checkpoint.pt"))),
        Case("output side", "disk fills up mid-run (tmpfs)",
             [*MS_FIT, *MS_STEPS, "--out", "{root}/disk/run"], (1,), "",
             setup=_fill_disk, check=lambda root, o: _full_disk_intact(root / "disk", o),
             mount="full"),
        Case("output side", "file-size limit reached mid-run (EFBIG)",
             [*MS_FIT, *MS_STEPS, *out], (1,), "", fsize=150_000,
             check=_full_disk_intact),
    ]  # fmt: skip

    # tampered run folders under --resume
    resume = [*MS_FIT, *MS_STEPS, "--resume", *out]
    c += [
        Case("tampered run folders (--resume)", "truncated checkpoint.pt", resume, (2,),
             "checkpoint.pt", setup=_with_run(_truncate("checkpoint.pt"))),
        Case("tampered run folders (--resume)", "checkpoint.pt is a directory", resume, (2,),
             "checkpoint.pt", setup=_with_run(_make_dir_at("checkpoint.pt"))),
        Case("tampered run folders (--resume)", "checkpoint.pt holds a list", resume, (2,),
             "checkpoint.pt", setup=_with_run(_torch_save([1, 2, 3]))),
        Case("tampered run folders (--resume)", "checkpoint of other dimensions", resume, (2,),
             "checkpoint.pt", setup=_with_run(_reshaped_checkpoint)),
        Case("tampered run folders (--resume)", "checkpoint step beyond --steps", resume, (2,),
             "checkpoint.pt", setup=_with_run(_far_step_checkpoint)),
        Case("tampered run folders (--resume)", "crafted pickle that runs code", resume, (2,),
             "checkpoint.pt", setup=_with_run(_crafted_pickle), check=_no_marker),
        Case("tampered run folders (--resume)", "config.json is a JSON list", resume, (2,),
             "config.json",
             setup=_with_run(lambda o: (o / "config.json").write_text("[1, 2, 3]"))),
        Case("tampered run folders (--resume)", "truncated config.json", resume, (2,),
             "config.json", setup=_with_run(_truncate("config.json"))),
    ]  # fmt: skip

    # files that are not files
    def link(target: str) -> Callable[[Path], None]:
        return lambda p: p.symlink_to(target)

    c += [
        Case("files that are not files", "--data is a FIFO", data_fit, (2,), "FIFO",
             setup=_data(os.mkfifo), timeout=120),
        Case("files that are not files", "--data links to /dev/zero", data_fit, (2,),
             "/dev/zero", setup=_data(link("/dev/zero")), timeout=120),
        Case("files that are not files", "--data links to /dev/urandom", data_fit, (2,),
             "/dev/urandom", setup=_data(link("/dev/urandom")), timeout=120),
        Case("files that are not files", "--data is /dev/null", [*MS, "--data", "/dev/null",
             *MS_TINY, *MS_STEPS, *out], (2,), "/dev/null", timeout=120),
        Case("files that are not files", "--data is a directory", data_fit, (2,), "directory",
             setup=_data(lambda p: p.mkdir()), timeout=120),
        Case("files that are not files", "--data links to a directory", data_fit, (2,),
             "directory", setup=_data(link("/tmp")), timeout=120),
        Case("files that are not files", "--data is a broken symlink", data_fit, (2,),
             "data.npz", setup=_data(link("/nonexistent/latentgraph.npz")), timeout=120),
        Case("files that are not files", "context-module --data-dir manifest.json is a FIFO",
             [*CM_FIT, "--data-dir", "{root}/inputs/quad", *out], (2,), "inputs/quad",
             setup=lambda root, f: (os.makedirs(root / "inputs" / "quad"),
                                    os.mkfifo(root / "inputs" / "quad" / "manifest.json")),
             timeout=120),
    ]  # fmt: skip

    # archives that lie
    c += [
        Case("archives that lie", ".npz header declares 10^12 elements", data_fit, (2,),
             "declares shape",
             setup=_data(lambda p: _zip(p, {"x.npy": _lying_npy((10**6, 10**6))}))),
        Case("archives that lie", "compressed member declares 10^9 elements", data_fit, (2,),
             "declares shape",
             setup=_data(lambda p: _zip(p, {"x.npy": _lying_npy((10**9,))}, compress=True))),
        Case("archives that lie", "Dataset.save file: NaN in train/x", data_fit, (2,),
             "finite", setup=_data(lambda p: _saved_dataset(p, poison=("train", "x", np.nan)))),
        Case("archives that lie", "Dataset.save file: inf in valid/actions", data_fit, (2,),
             "finite",
             setup=_data(lambda p: _saved_dataset(p, poison=("valid", "actions", np.inf)))),
        Case("archives that lie", "Dataset.save file: -inf in test/z", data_fit, (2,),
             "finite",
             setup=_data(lambda p: _saved_dataset(p, poison=("test", "z", -np.inf)))),
        Case("archives that lie", "Dataset.save file with a lying train/x header", data_fit,
             (2,), "declares shape", setup=_data(_lying_saved_dataset)),
        Case("archives that lie", "truncated .npz", data_fit, (2,), "data.npz",
             setup=_data(_truncated_npz)),
        Case("archives that lie", ".npz holding a pickled object array", data_fit, (2,),
             "pickle", setup=_data(_pickled_npz)),
    ]  # fmt: skip

    # numbers at the edges
    c += [
        Case("numbers at the edges", "--penalty 1e308",
             [*MS_FIT, *MS_STEPS, "--sparsity", "penalty", "--penalty", "1e308", *out], (2,),
             "penalty"),
        Case("numbers at the edges", "--n-samples 10^12",
             [*MS, *MS_DATA, "--n-samples", str(10**12), *MS_TINY, *MS_STEPS, *out], (2,),
             "n-samples"),
        Case("numbers at the edges", "sweep --seeds 1000000000",
             [*SWEEP, "--seeds", "1000000000", *out], (2,), "seeds"),
        Case("numbers at the edges", "numpyro --seed 2**64",
             [*MS_FIT, *MS_STEPS, "--backend", "numpyro", "--seed", str(2**64), *out], (2,),
             "seed"),
        Case("numbers at the edges", "--lr 1e308", [*MS_FIT, *MS_STEPS, "--lr", "1e308", *out],
             (2,), "lr"),
        Case("numbers at the edges", "--dual-lr 1e308",
             [*MS_FIT, *MS_STEPS, "--dual-lr", "1e308", *out], (2,), "dual"),
        Case("numbers at the edges", "--steps 2**63",
             [*MS_FIT, "--steps", str(2**63), *out], (2,), "steps"),
        Case("numbers at the edges", "interaction-asymmetry --n-images 10^12",
             [*IA_FIT, "--n-images", str(10**12), *out], (2,), "n-images"),
    ]  # fmt: skip

    # writes that leave --out (with --overwrite, links inside the folder point outside)
    overwrite = [*MS_FIT, *MS_STEPS, "--overwrite", *out]
    for name in ("metrics.json", "config.json", "history.json", "checkpoint.pt", "report.md"):
        c.append(Case("writes that leave --out", f"--overwrite with {name} a link outside",
                      overwrite, (0, 2), name, setup=_with_run(_link_out(name))))  # fmt: skip
    c.append(Case("writes that leave --out", "--overwrite with every run file a link outside",
                  overwrite, (0, 2), "", setup=_with_run(_link_all)))  # fmt: skip

    # work before validation: the folder must not exist after exit 2
    c += [
        Case("work before validation", "mechanism-sparsity --seed 2**64",
             [*MS_FIT, *MS_STEPS, "--seed", str(2**64), *out], (2,), "seed"),
        Case("work before validation", "numpyro --device cuda:7",
             [*MS_FIT, *MS_STEPS, "--backend", "numpyro", "--device", "cuda:7", *out], (2,),
             "device"),
        Case("work before validation", "interaction-asymmetry --seed 2**64",
             [*IA_FIT, "--seed", str(2**64), *out], (2,), "seed"),
        Case("work before validation", "context-module --seed 2**64",
             [*CM_FIT, "--seed", str(2**64), *out], (2,), "seed"),
        Case("work before validation", "a data file with only a training split", data_fit,
             (2,), "valid", setup=_data(lambda p: _saved_dataset(p, only_train=True))),
        Case("work before validation", "sweep --device xpu",
             [*SWEEP, "--device", "xpu", *out], (2,), "device"),
    ]  # fmt: skip

    # nonsense accepted
    c += [
        Case("nonsense accepted", "--seed 2**63 (would repeat seed 0)",
             [*MS_FIT, *MS_STEPS, "--seed", str(2**63), *out], (2,), "seed"),
        Case("nonsense accepted", "--seed 2**32 (would repeat seed 0)",
             [*MS_FIT, *MS_STEPS, "--seed", str(2**32), *out], (2,), "seed"),
        Case("nonsense accepted", "interaction-asymmetry --objects 1-100",
             [*IA_FIT[:4], "--objects", "1-100", "--ood", "none", *IA_FIT[8:], *out], (2,),
             "objects"),
        Case("nonsense accepted", "interaction-asymmetry --objects 3-1",
             [*IA_FIT[:4], "--objects", "3-1", "--ood", "none", *IA_FIT[8:], *out], (2,),
             "objects"),
        Case("nonsense accepted", "two --resume on one folder",
             [*MS_FIT, *LONG_STEPS, "--resume", *out], (2,), "in use",
             setup=_second_resume, check=_stop_first, timeout=300, out_may_change=True),
        Case("nonsense accepted", "--resume of a run with other settings",
             [*MS_FIT, "--steps", "20", "--lr", "1e-3", "--resume", *out], (2,), "lr",
             setup=_with_run()),
    ]  # fmt: skip

    # device names, every family and sweep
    for family, argv in FAMILIES.items():
        for device in ("mps", "xpu", "cuda:7", "tpu", "cuda", "gpu", "CUDA", "cuda:0x"):
            c.append(Case("device names", f"{family} --device {device}",
                          [*argv, "--device", device, *out], (2,), "device"))  # fmt: skip
    return c


def _link_all(out: Path) -> None:
    for path in list(out.iterdir()):
        if path.is_file():
            _link_out(path.name)(out)


def _lying_saved_dataset(path: Path) -> None:
    _saved_dataset(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["train/x.npy"] = _lying_npy((10**9, 1, 20), "<f4", members["train/x.npy"][128:])
    path.unlink()
    _zip(path, members)


def _truncated_npz(path: Path) -> None:
    np.savez(path, x=np.random.default_rng(0).normal(size=(500, 8)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _pickled_npz(path: Path) -> None:
    objects = np.empty(3, dtype=object)
    objects[:] = [1, "a", None]
    np.savez(path, x=objects)


# ---------------------------------------------------------------------------- running
def _mount(root: Path, mode: str) -> Callable[[], None]:
    disk = root / "disk"
    disk.mkdir()
    options = "ro,size=1m" if mode == "ro" else "size=2m"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(disk)], check=True)
    return lambda: subprocess.run(["umount", "-l", str(disk)], check=False)


def run_case(case: Case, root: Path, fixtures: Fixtures) -> dict:
    root.mkdir(parents=True)
    (root / "sentinel").mkdir()
    (root / "sentinel" / "precious.txt").write_text("a user's file\n")
    (root / "inputs").mkdir()
    unmount = None
    failure = None
    try:
        if case.mount is not None:
            try:
                unmount = _mount(root, case.mount)
            except (OSError, subprocess.CalledProcessError) as err:
                return _result(case, None, f"cannot mount a tmpfs here: {err}", skipped=True)
        if case.setup is not None:
            case.setup(root, fixtures)
        argv = _resolve(case.argv, root)
        before = {name: snapshot(root / name) for name in ("sentinel", "inputs", "out")}
        outcome = run_isolated(argv, timeout=case.timeout, fsize=case.fsize)
        after = {name: snapshot(root / name) for name in ("sentinel", "inputs", "out")}
        failure = _verdict(case, outcome, before, after)
        if case.check is not None:
            extra = case.check(root, outcome)
            failure = failure or extra
        return _result(case, outcome, failure, argv=argv)
    finally:
        if unmount is not None:
            unmount()


def _verdict(case: Case, outcome: Outcome, before: dict, after: dict) -> str | None:
    if outcome.timed_out:
        return f"no exit within {case.timeout:.0f} s (killed)"
    if outcome.traceback:
        return f"traceback (exit {outcome.code})"
    if outcome.code not in case.expect:
        return f"exit code {outcome.code}, expected {' or '.join(map(str, case.expect))}"
    if outcome.code != 0:
        errors = outcome.error_lines
        if len(errors) != 1:
            return f"{len(errors)} error lines on stderr, expected 1"
        if case.needle.lower() not in errors[0].lower():
            return f"the error line does not name {case.needle!r}"
    for name in ("sentinel", "inputs"):
        if before[name] != after[name]:
            return f"files outside --out changed ({name})"
    if outcome.code == 2 and before["out"] != after["out"] and not case.out_may_change:
        return "--out changed on exit code 2"
    return None


def _result(case: Case, outcome: Outcome | None, failure: str | None, *, argv=None,
            skipped: bool = False) -> dict:  # fmt: skip
    lines = outcome.error_lines if outcome is not None else []
    return {
        "class": case.klass,
        "case": case.name,
        "command": " ".join(["latentgraph", *(argv or case.argv)]),
        "expected": list(case.expect),
        "code": None if outcome is None else outcome.code,
        "wall_s": None if outcome is None else round(outcome.wall_s, 2),
        "message": lines[-1] if lines else "",
        "handled": failure is None and not skipped,
        "failure": failure,
        "skipped": skipped,
        "stderr_tail": "" if outcome is None or failure is None else outcome.stderr[-1500:],
    }


def hostile(tmp: Path, *, only: set[str] | None = None, progress: bool = True) -> dict:
    """Run every case (or those of the classes in ``only``); per-class counts and each case."""
    warm_imports()
    fixtures = Fixtures(tmp / "fixtures")
    fixtures.root.mkdir(parents=True, exist_ok=True)
    results = []
    for k, case in enumerate(cases()):
        if only is not None and case.klass not in only:
            continue
        try:
            result = run_case(case, tmp / f"case{k:03d}", fixtures)
        except Exception as err:  # noqa: BLE001 - a case whose set-up fails is reported as such
            result = _result(case, None, f"set-up failed: {type(err).__name__}: {err}")
        results.append(result)
        if progress:
            mark = "ok " if result["handled"] else "FAIL"
            print(f"  {mark} [{case.klass}] {case.name}: exit {result['code']} "
                  f"{result['failure'] or ''}", flush=True)  # fmt: skip
            if not result["handled"]:
                tail = result["stderr_tail"].strip().splitlines()[-4:]
                print("\n".join(f"        | {line[:300]}" for line in tail), flush=True)
    per_class = {
        klass: {
            "tried": sum(r["class"] == klass and not r["skipped"] for r in results),
            "handled": sum(r["class"] == klass and r["handled"] for r in results),
        }
        for klass in CLASSES
        if any(r["class"] == klass for r in results)
    }
    return {"cases": results, "per_class": per_class}
