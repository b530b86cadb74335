"""Recording benchmark results: JSON files plus a section of BENCHMARKS.md per benchmark."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA), {os.cpu_count()} CPU cores"
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"


def git_commit() -> str:
    try:
        sha = subprocess.check_output(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True
        ).strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "latentgraph"], cwd=ROOT
        ).returncode
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance() -> dict:
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git_commit(),
        "torch": torch.__version__,
    }


def run_fit(
    family: str, arguments: list[str], out: Path, *, threads: int, timeout: float | None = None
) -> dict:
    """Run ``latentgraph fit <family> <arguments> --out <out> --no-progress`` in a fresh process
    with ``threads`` BLAS/OpenMP threads; return its ``metrics.json`` plus ``process_wall_s`` and
    ``curve`` (the evaluations of its ``history.json``: the learning curve). After ``timeout``
    seconds the process is killed and :class:`subprocess.TimeoutExpired` raised."""
    cmd = [sys.executable, "-m", "latentgraph", "fit", family, *arguments]
    cmd += ["--out", str(out), "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"run failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    metrics = read_run(out)
    metrics["process_wall_s"] = time.perf_counter() - start
    return metrics


def read_run(out: Path) -> dict:
    """A finished run folder's ``metrics.json`` plus ``curve``, the evaluations of its
    ``history.json`` (the learning curve travels with the results; run folders are not kept)."""
    metrics = json.loads((out / "metrics.json").read_text())
    history = out / "history.json"
    if history.exists():
        metrics["curve"] = json.loads(history.read_text()).get("evaluations", [])
    return metrics


def summarise(values: list[float]) -> str:
    """``mean ± sd`` over seeds (the value alone for one seed)."""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def save_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    os.replace(tmp, path)
    return path


def update_benchmarks_md(section: str, body: str, path: Path | None = None) -> None:
    """Replace (or add) the section ``## <section>`` of ``path`` (BENCHMARKS.md) with ``body``."""
    path = ROOT / "BENCHMARKS.md" if path is None else Path(path)
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmarks\n\nMeasured results; each section says how, where and when.\n"
    )
    header = f"## {section}\n"
    block = header + "\n" + body.strip() + "\n"
    if header in text:
        start = text.index(header)
        end = text.find("\n## ", start + len(header))
        text = text[:start] + block + ("" if end == -1 else text[end:])
    else:
        text = text.rstrip() + "\n\n" + block
    path.write_text(text)
