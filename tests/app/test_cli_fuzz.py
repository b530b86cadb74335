"""A property-based fuzz of the command line (issue 18; ``benchmarks/cli_fuzz.py``).

Hypothesis generates option values at the edges (integers around 2**31, 2**32, 2**63, 2**64;
nan, inf, -0.0, 1e308; arbitrary text) and odd input files (a FIFO, links to ``/dev/zero`` and
``/dev/urandom``, a directory, an empty file, random bytes, a truncated or lying ``.npz``) for
every family's ``fit`` and for ``sweep``. Each command runs in a forked child with a timeout
(a FIFO that is opened would block it; the child is killed, the property fails). Properties:
exit code in {0, 1, 2}; no traceback; no file outside ``--out`` touched; ``--out`` unchanged on
exit code 2. The default run draws a few examples (most are refused before any work, a valid
draw runs a 2-step fit); the slow variant draws many more.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import cli_fuzz  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from isolated_cli import run_isolated, snapshot, warm_imports  # noqa: E402

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.fixture(scope="module", autouse=True)
def _warm():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    warm_imports()


def _check(command) -> None:
    family, pairs, out_kind = command
    with tempfile.TemporaryDirectory(prefix="latentgraph-fuzz-") as tmp:
        verdict = cli_fuzz.run_example(family, pairs, out_kind, Path(tmp))
    assert verdict.failure is None, f"{verdict.command}\n-> {verdict.failure}"


@settings(max_examples=30, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(cli_fuzz.commands())
def test_generated_command_lines_end_cleanly(command):
    _check(command)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(cli_fuzz.commands())
def test_generated_command_lines_end_cleanly_many(command):
    _check(command)


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "link to /dev/urandom"])
def test_the_hang_prone_files_end_within_the_timeout(tmp_path, kind):
    """The three inputs that hung or exhausted memory before issue 18, each as ``--data``."""
    verdict = cli_fuzz.run_example("mechanism-sparsity", [("--data", kind)], "absent", tmp_path,
                                   timeout=120)  # fmt: skip
    assert verdict.failure is None and verdict.code == 2, verdict


def test_the_judge_catches_each_broken_property(tmp_path):
    """The fuzz's verdicts fail on a traceback, a timeout, an odd exit code, a touched file
    outside --out and a changed --out on exit 2 (so the fuzz can find something)."""
    (tmp_path / "sentinel").mkdir()
    (tmp_path / "sentinel" / "a").write_text("1")
    names = ("sentinel", "inputs", "out")
    before = {name: snapshot(tmp_path / name) for name in names}
    crash = run_isolated(["datasets", "--no-such-option"], timeout=60)
    assert crash.code == 2 and cli_fuzz.judge(crash, before, before, 60) is None
    (tmp_path / "sentinel" / "a").write_text("2")
    after = {name: snapshot(tmp_path / name) for name in names}
    ok = run_isolated(["datasets"], timeout=60)
    assert ok.code == 0
    assert "outside --out" in cli_fuzz.judge(ok, before, after, 60)
    (tmp_path / "out").mkdir()
    changed = {**before, "out": snapshot(tmp_path / "out")}
    assert "--out changed" in cli_fuzz.judge(crash, before, changed, 60)
    traceback = type(crash)(1, "Traceback (most recent call last):\n  boom\nValueError: x\n", 0.1)
    assert "traceback" in cli_fuzz.judge(traceback, before, before, 60)
    odd = type(crash)(3, "", 0.1)
    assert "exit code 3" in cli_fuzz.judge(odd, before, before, 60)
    killed = type(crash)(None, "", 60.0)
    assert "no exit" in cli_fuzz.judge(killed, before, before, 60)
