"""``latentgraph sweep <family>`` on a real local Ray cluster (2 CPUs) and in this process.

Each family's tiny sweep of 4 runs gives on Ray the metrics of the local executor, bit for bit
(Pyro on the CPU with one thread per run; the mechanism family's vmapped NumPyro path is not
compared: batched float arithmetic differs); a worker killed after its first checkpoint is
retried by Ray and the run resumes to the numbers of an uninterrupted one; a second invocation
skips every finished run; a failing run is recorded while the others finish.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from latentgraph.app.cli import main

ray = pytest.importorskip("ray")

TIMING = {"wall_s", "train_wall_s", "s_per_step"}
"""metrics.json keys that measure time, not the run."""

MECHANISM = [
    "sweep", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial", "--n-samples",
    "1000", "--sizes", "small", "--seeds", "2", "--bounds", "5,20", "--steps", "60",
    "--batch-size", "64", "--lr", "3e-3", "--graph-lr", "0.1", "--device", "cpu",
    "--backend", "pyro", "--no-progress",
]  # fmt: skip
INTERACTION = [
    "sweep", "interaction-asymmetry", "--image-size", "32", "--objects", "2", "--ood",
    "diagonal", "--n-images", "80", "--steps", "3", "--batch-size", "8", "--pixels-per-image",
    "64", "--jacobian-images", "2", "--readout-images", "30", "--eval-every", "100",
    "--alphas", "0,0.1", "--seeds", "2", "--device", "cpu", "--no-progress",
]  # fmt: skip
CONTEXT = [
    "sweep", "context-module", "--dataset", "quad_causal", "--image-size", "32", "--sizes",
    "cpu", "--n-train", "24", "--n-valid", "8", "--n-test", "8", "--n-heldout", "8", "--steps",
    "4", "--batch-size", "16", "--n-eval", "8", "--device", "cpu", "--no-progress",
    "--seeds", "2",
]  # fmt: skip
SWEEPS = {
    "mechanism-sparsity": MECHANISM,
    "interaction-asymmetry": INTERACTION,
    "context-module": [*CONTEXT, "--vary", "beta=0.5,1"],
}


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster for the module (Ray's local_mode is gone: a real one)."""
    from latentgraph.app.sweeps import start_ray

    started = start_ray(num_cpus=2, attempts=5)  # an overloaded machine can miss Ray's 30 s
    yield
    if started:
        ray.shutdown()


class _LocalSweeps(dict):
    """Each family's sweep on the local executor (the reference numbers), run on first use."""

    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def __missing__(self, family: str) -> Path:
        out = self.root / family
        assert main([*SWEEPS[family], "--out", str(out)]) == 0
        self[family] = out
        return out


@pytest.fixture(scope="module")
def local_sweeps(tmp_path_factory):
    return _LocalSweeps(tmp_path_factory.mktemp("local"))


def _metrics(out: Path) -> dict[str, dict]:
    summary = json.loads((out / "sweep.json").read_text())
    return {
        run["name"]: {
            k: v
            for k, v in json.loads((out / run["folder"] / "metrics.json").read_text()).items()
            if k not in TIMING
        }
        for run in summary["runs"]
    }


@pytest.mark.parametrize(
    "family",
    [  # -m slow: the mechanism (6.5 min) and context-module (2 min) sweeps, loaded 2 cores
        pytest.param("mechanism-sparsity", marks=pytest.mark.slow),
        "interaction-asymmetry",  # about 75 s at a load average of 15
        pytest.param("context-module", marks=pytest.mark.slow),
    ],
)
def test_ray_sweep_equals_the_local_one_and_reruns_skip(family, cluster, local_sweeps, tmp_path):
    out = tmp_path / "ray"
    argv = [*SWEEPS[family], "--executor", "ray", "--cpus-per-run", "1", "--out", str(out)]
    assert main(argv) == 0
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["n_runs"] == 4 and summary["n_done"] == 4 and summary["n_failed"] == 0
    assert summary["executor"] == "ray" and len(summary["settings"]) == 2
    for run in summary["runs"]:
        folder = out / run["folder"]
        assert folder.name == f"{run['setting']}-seed{run['seed']}"
        assert (folder / "config.json").is_file() and (folder / "checkpoint.pt").is_file()
        assert f"pid {os.getpid()}" not in (folder / "log.txt").read_text()  # a worker's
    ray_metrics, local_metrics = _metrics(out), _metrics(local_sweeps[family])
    assert ray_metrics.keys() == local_metrics.keys()
    for name, metrics in ray_metrics.items():
        assert metrics == local_metrics[name], name
    # The mean per setting is the mean of its seeds.
    setting = summary["settings"][0]
    seeds = [ray_metrics[f"{setting}-seed{k}"]["final_loss"] for k in (0, 1)]
    assert summary["metrics"][setting]["final_loss"] == pytest.approx(sum(seeds) / 2)
    # A second invocation trains nothing and leaves every run folder as it was.
    before = {p: p.stat().st_mtime_ns for p in out.rglob("metrics.json")}
    start = time.perf_counter()
    assert main(argv) == 0
    assert time.perf_counter() - start < 30
    again = json.loads((out / "sweep.json").read_text())
    assert again["n_skipped"] == 4 and again["n_done"] == 4
    assert {p: p.stat().st_mtime_ns for p in out.rglob("metrics.json")} == before


@pytest.mark.slow
def test_mechanism_selection_by_udr(local_sweeps):
    summary = json.loads((local_sweeps["mechanism-sparsity"] / "sweep.json").read_text())
    udr = summary["selection"]["scores"]["udr"]
    assert set(udr) == {"bound=5", "bound=20"} and all(0 <= u <= 1 for u in udr.values())
    assert udr[summary["selection"]["selected"]] == max(udr.values())
    assert summary["selected"] in (5.0, 20.0) and set(summary["udr"]) == {"5", "20"}


def _kill_after_first_checkpoint(out: Path, killed: list, stop: threading.Event) -> None:
    """Kill (SIGKILL) the worker of the first run seen with a checkpoint and no metrics."""
    while not stop.is_set() and not killed:
        for folder in (out / "runs").glob("*") if (out / "runs").is_dir() else ():
            log = folder / "log.txt"
            if (folder / "checkpoint.pt").is_file() and not (folder / "metrics.json").is_file():
                text = log.read_text() if log.is_file() else ""
                pids = [int(w.split()[0]) for w in text.split(" pid ")[1:]]
                if pids:
                    os.kill(pids[-1], signal.SIGKILL)
                    killed.append(folder.name)
                    return
        time.sleep(0.02)


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_resumes_exactly(cluster, local_sweeps, tmp_path):
    out = tmp_path / "killed"
    killed: list[str] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_after_first_checkpoint, args=(out, killed, stop))
    killer.start()
    try:
        code = main([*MECHANISM, "--executor", "ray", "--out", str(out)])
    finally:
        stop.set()
        killer.join()
    assert code == 0 and killed, "no worker was killed mid-run"
    log = (out / "runs" / killed[0] / "log.txt").read_text()
    assert log.count("sweep invocation") == 2 and ": resume " in log
    assert _metrics(out) == _metrics(local_sweeps["mechanism-sparsity"])


def test_a_failing_run_is_recorded_and_the_others_finish(tmp_path, capsys):
    out = tmp_path / "failing"
    assert main([*CONTEXT, "--variants", "cm,cm-finetune", "--out", str(out)]) == 1
    summary = json.loads((out / "sweep.json").read_text())
    status = {run["name"]: run["status"] for run in summary["runs"]}
    assert status == {"variant=cm-seed0": "done", "variant=cm-seed1": "done",
                      "variant=cm-finetune-seed0": "failed", "variant=cm-finetune-seed1": "failed"}  # fmt: skip
    errors = [run["error"] for run in summary["runs"] if run["status"] == "failed"]
    assert all("--pretrained" in e for e in errors)
    assert summary["n_failed"] == 2 and "variant=cm" in summary["metrics"]
    assert "failed: variant=cm-finetune-seed0" in capsys.readouterr().err
    # Other settings than the finished runs had: refused before any work, naming the folder.
    assert main([*CONTEXT, "--variants", "cm", "--beta", "2", "--out", str(out)]) == 2
    assert "variant=cm-seed0" in capsys.readouterr().err


def test_bad_sweep_options_exit_2_before_any_work(tmp_path, capsys):
    for extra, needle in (
        (["--vary", "seed=1,2"], "--vary"),
        (["--vary", "lr=abc"], "bad value"),
        (["--cpus-per-run", "0"], "--cpus-per-run"),
        (["--ray-address", "auto"], "--ray-address"),
    ):
        out = tmp_path / "bad"
        assert main([*CONTEXT, *extra, "--out", str(out)]) == 2, extra
        assert needle in capsys.readouterr().err
        assert not out.exists()
