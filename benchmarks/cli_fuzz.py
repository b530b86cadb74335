"""A property-based fuzz of the command line (issue 18): hypothesis generates option values and
input files for every family's ``fit`` and for ``sweep``; each command runs in a forked child
(:func:`isolated_cli.run_isolated`) and must end with

* an exit code in {0, 1, 2} within the timeout,
* no traceback (a traceback is a bug: each one is a *finding*),
* no file outside ``--out`` touched (a sentinel folder and the input files are hashed before
  and after),
* ``--out`` unchanged when the exit code is 2.

Values are drawn at the edges: integers around 0, 2**31, 2**32, 2**63, 2**64 and 10**12, floats
including nan, inf, -0.0, 1e308 and subnormals, arbitrary text, and paths to odd files (a FIFO,
links to ``/dev/zero`` and ``/dev/urandom``, a directory, an empty file, random bytes, a
truncated ``.npz``, an ``.npz`` whose header lies). Most draws are refused before any work; a
valid draw runs a tiny fit (2 steps).

    tests/app/test_cli_fuzz.py            # ~30 examples per test run
    python benchmarks/reliability.py --hostile-only --fuzz 300 --classes none
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from isolated_cli import Outcome, run_isolated, snapshot, warm_imports

FUZZ_TIMEOUT_S = 240.0

_MS_BASE = [
    "--n-samples", "1000", "--sizes", "small", "--batch-size", "32", "--steps", "2",
    "--eval-every", "2", "--checkpoint-every", "2", "--no-progress", "--device", "cpu",
]  # fmt: skip
BASES: dict[str, list[str]] = {
    "mechanism-sparsity": ["fit", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial",
                           *_MS_BASE],
    "mechanism-sparsity numpyro": ["fit", "mechanism-sparsity", "--dataset",
                                   "action_sparsity_non_trivial", *_MS_BASE, "--backend",
                                   "numpyro"],
    "interaction-asymmetry": [
        "fit", "interaction-asymmetry", "--image-size", "32", "--objects", "2", "--ood",
        "diagonal", "--n-images", "40", "--steps", "2", "--batch-size", "8",
        "--pixels-per-image", "32", "--jacobian-images", "2", "--readout-images", "20",
        "--eval-every", "100", "--device", "cpu", "--no-progress",
    ],
    "context-module": [
        "fit", "context-module", "--dataset", "quad_causal", "--image-size", "32", "--sizes",
        "cpu", "--n-train", "16", "--n-valid", "8", "--n-test", "8", "--n-heldout", "8",
        "--steps", "2", "--batch-size", "8", "--n-eval", "8", "--device", "cpu",
        "--no-progress",
    ],
    "sweep": ["sweep", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial",
              "--n-samples", "1000", "--sizes", "small", "--bounds", "15", "--seeds", "2",
              "--steps", "2", "--batch-size", "32", "--no-progress", "--device", "cpu"],
}  # fmt: skip

SHARED = {"--steps": "int", "--seed": "int", "--eval-every": "int", "--checkpoint-every": "int",
          "--device": "device", "--preset": "text"}  # fmt: skip
OPTIONS: dict[str, dict[str, str]] = {
    "mechanism-sparsity": {
        **SHARED, "--data": "path", "--n-samples": "int", "--graph-density": "float",
        "--graph-seed": "int", "--data-seed": "int", "--mixing-seed": "int",
        "--n-latents": "int", "--bound": "float", "--penalty": "float", "--dual-lr": "float",
        "--anneal-fraction": "float", "--graph-lr": "float", "--batch-size": "int",
        "--lr": "float", "--sparsity": "text", "--sizes": "text",
    },
    "interaction-asymmetry": {
        **SHARED, "--data-dir": "path", "--image-size": "int", "--objects": "text",
        "--n-images": "int", "--batch-size": "int", "--pixels-per-image": "int",
        "--jacobian-images": "int", "--readout-images": "int", "--alpha": "float",
        "--beta": "float", "--lr": "float", "--sigma": "float", "--data-seed": "int",
    },
    "context-module": {
        **SHARED, "--data-dir": "path", "--image-size": "int", "--n-train": "int",
        "--n-valid": "int", "--batch-size": "int", "--lr": "float", "--beta": "float",
        "--group-lasso": "float", "--expressivity": "text", "--data-seed": "int",
        "--n-eval": "int",
    },
    "sweep": {
        "--steps": "int", "--seeds": "int", "--device": "device", "--bounds": "text",
        "--n-samples": "int", "--batch-size": "int", "--lr": "float", "--data": "path",
    },
}  # fmt: skip
OPTIONS["mechanism-sparsity numpyro"] = OPTIONS["mechanism-sparsity"]

ODD_FILES = ("fifo", "link to /dev/zero", "link to /dev/urandom", "directory", "empty file",
             "random bytes", "truncated npz", "lying npz", "missing", "good npz")  # fmt: skip
OUT_KINDS = ("absent", "empty folder", "regular file", "fifo", "folder with a user file")

INTS = st.one_of(
    st.sampled_from(
        [
            0,
            -1,
            1,
            2,
            3,
            2**31 - 1,
            2**31,
            2**32 - 1,
            2**32,
            2**53 + 1,
            2**63 - 1,
            2**63,
            2**64,
            -(2**63),
            10**12,
            10**18,
        ]
    ),  # fmt: skip
    st.integers(min_value=-(10**20), max_value=10**20),
).map(str)
FLOATS = st.one_of(
    st.sampled_from(
        [
            "nan",
            "inf",
            "-inf",
            "-0.0",
            "0",
            "1e308",
            "-1e308",
            "1e-320",
            "5e-324",
            "1e400",
            "-1",
            "1",
            "0.5",
            "1e-12",
            "NaN",
            "Infinity",
        ]
    ),  # fmt: skip
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=24)
DEVICES = st.one_of(
    st.sampled_from(
        [
            "cpu",
            "cuda",
            "cuda:0",
            "cuda:7",
            "mps",
            "xpu",
            "tpu",
            "gpu",
            "auto",
            "CPU",
            "cpu:0",
            "cuda:-1",
            "",
            "meta",
            "vulkan",
            "cuda:99999999999",
        ]
    ),  # fmt: skip
    TEXT,
)


@st.composite
def commands(draw) -> tuple[str, list[tuple[str, str]], str]:
    """(family, [(option, value or odd-file kind)], kind of --out)."""
    family = draw(st.sampled_from(sorted(BASES)))
    options = OPTIONS[family]
    chosen = draw(st.lists(st.sampled_from(sorted(options)), min_size=1, max_size=3, unique=True))
    pairs = []
    for option in chosen:
        kind = options[option]
        if draw(st.integers(0, 9)) == 0:  # any text where a number belongs
            kind = "text"
        value = draw({"int": INTS, "float": FLOATS, "text": TEXT, "device": DEVICES,
                      "path": st.sampled_from(ODD_FILES)}[kind])  # fmt: skip
        pairs.append((option, value))
    out_kind = draw(st.sampled_from(OUT_KINDS))
    return family, pairs, out_kind


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def make_odd_file(path: Path, kind: str, rng: np.random.Generator) -> None:
    """Create an input of ``kind`` (one of :data:`ODD_FILES`) at ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind.startswith("link to "):
        path.symlink_to(kind.removeprefix("link to "))
    elif kind == "directory":
        path.mkdir()
        (path / "inside.npy").write_bytes(_npy(np.zeros(3)))
    elif kind == "empty file":
        path.write_bytes(b"")
    elif kind == "random bytes":
        path.write_bytes(rng.bytes(int(rng.integers(1, 4096))))
    elif kind in ("truncated npz", "good npz"):
        buffer = io.BytesIO()
        np.savez(buffer, x=rng.normal(size=(200, 6)))
        data = buffer.getvalue()
        path.write_bytes(data if kind == "good npz" else data[: int(rng.integers(1, len(data)))])
    elif kind == "lying npz":
        header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }"
        header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
        npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 64
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("x.npy", npy)
    elif kind != "missing":
        raise ValueError(f"unknown odd-file kind {kind!r}")


def _make_out(out: Path, kind: str) -> None:
    if kind == "empty folder":
        out.mkdir()
    elif kind == "regular file":
        out.write_text("a user's file\n")
    elif kind == "fifo":
        os.mkfifo(out)
    elif kind == "folder with a user file":
        out.mkdir()
        (out / "notes.txt").write_text("a user's file\n")


def build_argv(family: str, pairs: list[tuple[str, str]], root: Path) -> list[str]:
    """The command: the family's tiny base with the generated options appended (argparse keeps
    the last value of a repeated option); ``--data`` replaces the base's ``--dataset``."""
    argv = list(BASES[family])
    rng = np.random.default_rng(len(pairs))
    for k, (option, value) in enumerate(pairs):
        if OPTIONS[family].get(option) == "path" and value in ODD_FILES:
            target = root / "inputs" / f"input{k}.npz"
            make_odd_file(target, value, rng)
            value = str(target)
            if option == "--data" and "--dataset" in argv:
                at = argv.index("--dataset")
                del argv[at : at + 2]
                if "--n-samples" in argv:
                    at = argv.index("--n-samples")
                    del argv[at : at + 2]
        argv += [option, value] if not value.startswith("-") else [f"{option}={value}"]
    return [*argv, "--out", str(root / "out")]


@dataclass
class Verdict:
    command: str
    code: int | None
    failure: str | None


def judge(outcome: Outcome, before: dict, after: dict, timeout: float) -> str | None:
    """The fuzz properties (module docstring); None when all hold."""
    if outcome.timed_out:
        return f"no exit within {timeout:.0f} s"
    if outcome.traceback:
        tail = [line for line in outcome.lines if line.strip()][-3:]
        return f"traceback (exit {outcome.code}): {' | '.join(tail)[:400]}"
    if outcome.code not in (0, 1, 2):
        return f"exit code {outcome.code}"
    for name in ("sentinel", "inputs"):
        if before[name] != after[name]:
            return f"files outside --out changed ({name})"
    if outcome.code == 2 and before["out"] != after["out"]:
        return "--out changed on exit code 2"
    return None


def run_example(family: str, pairs, out_kind: str, root: Path,
                timeout: float = FUZZ_TIMEOUT_S) -> Verdict:  # fmt: skip
    """Build the case folder under ``root``, run the command, judge it."""
    (root / "sentinel").mkdir(parents=True)
    (root / "sentinel" / "precious.txt").write_text("a user's file\n")
    (root / "inputs").mkdir()
    argv = build_argv(family, pairs, root)
    _make_out(root / "out", out_kind)
    names = ("sentinel", "inputs", "out")
    before = {name: snapshot(root / name) for name in names}
    outcome = run_isolated(argv, timeout=timeout)
    after = {name: snapshot(root / name) for name in names}
    return Verdict(" ".join(["latentgraph", *argv]), outcome.code,
                   judge(outcome, before, after, timeout))  # fmt: skip


def fuzz_run(n_examples: int, *, random_seed: int = 2026, timeout: float = FUZZ_TIMEOUT_S) -> dict:
    """``n_examples`` generated commands; the exit-code counts and every finding."""
    warm_imports()
    verdicts: list[Verdict] = []
    start = time.perf_counter()

    @seed(random_seed)
    @settings(max_examples=n_examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(commands())
    def example(command):
        family, pairs, out_kind = command
        with tempfile.TemporaryDirectory(prefix="latentgraph-fuzz-") as tmp:
            verdicts.append(run_example(family, pairs, out_kind, Path(tmp), timeout))
        if verdicts[-1].failure or len(verdicts) % 25 == 0:
            print(f"  fuzz {len(verdicts)}: exit {verdicts[-1].code} "
                  f"{verdicts[-1].failure or ''}", flush=True)  # fmt: skip

    example()
    codes = Counter(str(v.code) for v in verdicts)
    return {
        "seed": random_seed,
        "cases": len(verdicts),
        "wall_s": time.perf_counter() - start,
        "codes": dict(sorted(codes.items())),
        "findings": [{"command": v.command, "failure": v.failure} for v in verdicts if v.failure],
    }
