"""Reliability benchmark (issue 6): bad inputs, injected faults, killed runs, peak memory.

Every number in the BENCHMARKS.md table this writes is counted or measured by this script:

* **bad inputs**: a catalogue of wrong command lines and Python calls; each must end in exit
  code 2 with one line naming the argument (CLI) or a ``ValueError``/``TypeError`` naming it
  (API), and must leave the output folder untouched;
* **divergence**: fits whose loss is made NaN at random steps (each must finish, with one
  recovery per fault), fits made to diverge for good (each must stop with
  ``NonFiniteLossError`` and a finite checkpoint of the last good step) and a command line with
  an absurd learning rate (exit code 1);
* **kills**: training processes killed with SIGKILL at a random moment, resumed with
  ``--resume`` and compared bit for bit (weights, optimiser moments, metrics, history) with an
  uninterrupted run;
* **memory**: peak resident memory of a fit on 1e6 mechanism-sparsity samples at the official
  network sizes, with the data generated in memory and read memory-mapped from a saved file.

* **a hostile world** (issue 18, ``benchmarks/reliability_hostile.py``): the output side,
  tampered run folders under ``--resume``, files that are not files, archives that lie,
  numbers at the edges, writes that leave ``--out``, work before validation, nonsense
  accepted, device names of every family; each command in a forked child with a timeout, judged
  on its exit code, one stderr line naming the thing, no traceback, files outside ``--out``
  untouched and ``--out`` unchanged on exit 2; plus a hypothesis fuzz of the command line
  (``benchmarks/cli_fuzz.py``).

    python benchmarks/reliability.py                 # everything, records BENCHMARKS.md
    python benchmarks/reliability.py --kills 2 --no-memory --no-record   # quick look
    python benchmarks/reliability.py --hostile-only --fuzz 300   # issue 18's classes only
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import provenance, save_json, update_benchmarks_md  # noqa: E402

from latentgraph.app.cli import main  # noqa: E402

DATASET = ["--dataset", "action_sparsity_non_trivial"]
TINY_OPTIONS = [
    "--n-samples", "2000", "--sizes", "small", "--batch-size", "64", "--lr", "5e-3", "--graph-lr", "5e-2",
    "--dual-lr", "5e-2", "--bound", "20", "--eval-every", "100", "--checkpoint-every", "10",
    "--seed", "7", "--no-progress", "--device", "cpu",
]  # fmt: skip
TINY = ["fit", "mechanism-sparsity", *DATASET, *TINY_OPTIONS]
TIMING = {"wall_s", "train_wall_s"}
SECTION = "Reliability: bad inputs, faults, kills, memory (issue 6)"
HOSTILE_SECTION = "Reliability: a hostile world (issue 18)"
MEMORY_BOUND_MB = 2048
"""The stated bound: peak RSS of a fit on 1e6 samples at the official sizes, CPU."""


# ---------------------------------------------------------------------------- bad inputs
def _cli_cases(tmp: Path) -> list[tuple[str, list[str], str]]:
    """(kind, extra arguments, text the error must contain)."""
    not_npz = tmp / "not_npz.npz"
    not_npz.write_bytes(b"definitely not a zip file")
    no_x = tmp / "no_x.npz"
    np.savez(no_x, actions=np.zeros((100, 2)))
    nan_x = tmp / "nan_x.npz"
    np.savez(nan_x, x=np.full((100, 4), np.nan))
    ragged = tmp / "graph_shape.npz"
    np.savez(ragged, x=np.zeros((100, 4)), z=np.zeros((100, 2)), action_graph=np.ones((3, 3)))
    a_file = tmp / "a_file"
    a_file.write_text("mine")
    cases = [
        ("unknown dataset", ["--dataset", "nope"], "nope"),
        ("range", ["--n-samples", "0"], "n_samples"),
        ("range", ["--n-samples", "-5"], "n_samples"),
        ("range", ["--batch-size", "0"], "batch_size"),
        ("range", ["--batch-size", "100000"], "batch_size"),
        ("range", ["--steps", "0"], "steps"),
        ("range", ["--steps", "-1"], "steps"),
        ("non-finite", ["--lr", "nan"], "lr"),
        ("non-finite", ["--lr", "inf"], "lr"),
        ("range", ["--lr", "-1"], "lr"),
        ("range", ["--penalty", "-1"], "penalty"),
        ("non-finite", ["--sparsity", "penalty", "--penalty", "nan"], "penalty"),
        ("range", ["--anneal-fraction", "2"], "anneal_fraction"),
        ("range", ["--dual-lr", "0"], "dual_lr"),
        ("non-finite", ["--dual-lr", "nan"], "dual_lr"),
        ("range", ["--graph-lr", "-1"], "graph_lr"),
        ("range", ["--n-latents", "0"], "n_latents"),
        ("range", ["--n-latents", "-3"], "n_latents"),
        ("range", ["--n-latents", "21"], "n_latents"),
        ("range", ["--eval-every", "-1"], "eval_every"),
        ("range", ["--checkpoint-every", "-1"], "checkpoint_every"),
        ("range", ["--seed", "-1"], "seed"),
        ("range", ["--graph-seed", "-1"], "graph_seed"),
        ("range", ["--data-seed", "-1"], "data_seed"),
        ("range", ["--mixing-seed", "-1"], "mixing_seed"),
        ("range", ["--bound", "1e9"], "bound"),
        ("non-finite", ["--bound", "nan"], "bound"),
        ("range", ["--bound", "-3"], "bound"),
        ("range", ["--graph-density", "-0.1"], "graph_density"),
        ("range", ["--graph-density", "1.5"], "graph_density"),
        ("non-finite", ["--graph-density", "nan"], "graph_density"),
        ("device", ["--device", "tpu"], "device"),
        ("device", ["--device", "cuda:7"], "device"),
        ("folder", ["--out", str(a_file)], "not a folder"),
        ("folder", ["--out", str(tmp)], "not empty"),
        ("folder", ["--resume", "--out", str(tmp / "never_ran")], "no run to resume"),
        ("bad file", ["--data", str(tmp / "missing.npz")], "missing.npz"),
        ("bad file", ["--data", str(not_npz)], "not_npz.npz"),
        ("bad file", ["--data", str(no_x)], "x"),
        ("bad file", ["--data", str(nan_x)], "finite"),
        ("bad file", ["--data", str(ragged)], "action_graph"),
    ]
    return cases


def _api_cases() -> list[tuple[str, object, str]]:
    """(kind, zero-argument call, argument name the error must contain)."""
    from latentgraph.data import Dataset, load_npz, make_mechanism_dataset, random_graph
    from latentgraph.families.mechanism_sparsity import SparsitySettings, fit
    from latentgraph.graphs import EdgeBeliefs, entanglement_graph
    from latentgraph.inference.svi_torch import TrainConfig
    from latentgraph.metrics import (
        linear_r,
        mean_correlation,
        structural_hamming_distance,
        udr,
    )

    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 3))
    nan_z = z.copy()
    nan_z[3, 1] = np.nan
    return [
        ("shape", lambda: mean_correlation(z, z[:, :2].T), "z"),
        ("shape", lambda: mean_correlation(z[:, 0], z), "z"),
        ("rows", lambda: mean_correlation(z, z[:10]), "rows"),
        ("non-finite", lambda: mean_correlation(nan_z, z), "finite"),
        ("dtype", lambda: mean_correlation(z.astype(str), z), "z"),
        ("choice", lambda: mean_correlation(z, z, method="kendall"), "method"),
        ("non-finite", lambda: linear_r(z, nan_z), "finite"),
        (
            "shape",
            lambda: structural_hamming_distance(np.ones((3, 3)), np.ones((3, 2)), None),
            "learned_graph",
        ),
        (
            "binary",
            lambda: structural_hamming_distance(np.full((2, 2), 0.5), np.eye(2), None),
            "true_graph",
        ),
        ("shape", lambda: udr([z]), "encodings"),
        ("range", lambda: EdgeBeliefs(np.full((2, 2), 1.5), "latent_to_latent"), "probs"),
        ("non-finite", lambda: EdgeBeliefs(np.full((2, 2), np.nan), "latent_to_latent"), "probs"),
        ("shape", lambda: EdgeBeliefs(np.ones((2, 3)), "latent_to_latent"), "square"),
        (
            "type",
            lambda: EdgeBeliefs(np.ones((2, 2)), "latent_to_latent", child_names="ab"),
            "child_names",
        ),
        ("shape", lambda: entanglement_graph(action_graph=np.ones(3)), "action_graph"),
        ("choice", lambda: make_mechanism_dataset("nope"), "nope"),
        (
            "range",
            lambda: make_mechanism_dataset("action_sparsity_trivial", n_samples=3),
            "n_samples",
        ),
        ("range", lambda: random_graph("action", 3, 3, 1.5, 0), "density"),
        ("type", lambda: Dataset.load(3), "path"),
        ("bad file", lambda: load_npz("/nonexistent/file.npz"), "file.npz"),
        ("range", lambda: TrainConfig(steps=0), "steps"),
        ("range", lambda: TrainConfig(recovery_lr_factor=1.0), "recovery_lr_factor"),
        ("type", lambda: TrainConfig(batch_size=True), "batch_size"),
        ("choice", lambda: SparsitySettings(mode="lasso"), "mode"),
        ("type", lambda: fit("not a dataset"), "dataset"),
    ]


def bad_inputs() -> dict:
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "occupied.txt").write_text("user file")
        for kind, extra, needle in _cli_cases(tmp):
            out = ["--out", str(tmp / "out")] if "--out" not in extra else []
            err = io.StringIO()
            before = sorted(p.name for p in tmp.iterdir())
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    source = [] if {"--data", "--dataset"} & set(extra) else DATASET
                    # --n-samples applies to generated data only
                    options = TINY_OPTIONS[2:] if "--data" in extra else TINY_OPTIONS
                    code = main(["fit", "mechanism-sparsity", *source, *options, "--steps", "5",
                                 *extra, *out])  # fmt: skip
                except SystemExit as exit_:
                    code = exit_.code
            lines = err.getvalue().strip().splitlines()
            ok = (
                code == 2
                and len(lines) == 1
                and needle in lines[0]
                and sorted(p.name for p in tmp.iterdir()) == before
                and (tmp / "occupied.txt").read_text() == "user file"
            )
            results.append({"where": "cli", "kind": kind, "input": " ".join(extra), "ok": ok,
                            "message": lines[-1] if lines else ""})  # fmt: skip
    for kind, call, needle in _api_cases():
        try:
            call()
            ok, message = False, "no error"
        except (ValueError, TypeError) as err:
            message = str(err)
            ok = needle in message
        except Exception as err:  # noqa: BLE001 - any other exception type is a finding
            ok, message = False, f"{type(err).__name__}: {err}"
        results.append({"where": "api", "kind": kind, "input": getattr(call, "__name__", ""),
                        "ok": ok, "message": message})  # fmt: skip
    return {
        "cases": results,
        "count": len(results),
        "passed": sum(r["ok"] for r in results),
        "kinds": sorted({r["kind"] for r in results}),
    }


# ---------------------------------------------------------------------------- divergence
def divergence(n_runs: int, seed: int) -> dict:
    from latentgraph.data import make_mechanism_dataset
    from latentgraph.families.mechanism_sparsity import SparsitySettings, fit, model_config_for
    from latentgraph.families.mechanism_sparsity.config import demo_sizes
    from latentgraph.families.mechanism_sparsity.objective_pyro import MechanismSparsityObjective
    from latentgraph.inference.checkpoint_torch import load_checkpoint
    from latentgraph.inference.svi_torch import NonFiniteLossError, TrainConfig

    rng = random.Random(seed)
    dataset = make_mechanism_dataset("action_sparsity_non_trivial", n_samples=2000)
    original = MechanismSparsityObjective.loss
    runs = []
    for run in range(n_runs + 2):
        persistent = run >= n_runs
        faults = sorted(rng.sample(range(5, 300), rng.randint(1, 3))) if not persistent else []
        first_bad = rng.randint(20, 250) if persistent else None
        pending = set(faults)

        def loss(self, batch, step, pending=pending, first_bad=first_bad):
            value, logs = original(self, batch, step)
            if step in pending or (first_bad is not None and step >= first_bad):
                pending.discard(step)
                value = value * float("nan")
            return value, logs

        MechanismSparsityObjective.loss = loss
        with tempfile.TemporaryDirectory() as tmp:
            try:
                fitted = fit(
                    dataset,
                    model_config=model_config_for(dataset, demo_sizes()),
                    sparsity=SparsitySettings(bound=20, graph_lr=5e-2, dual_lr=5e-2),
                    train_config=TrainConfig(
                        steps=300,
                        batch_size=64,
                        lr=5e-3,
                        seed=run,
                        progress=False,
                        device="cpu",
                        log_every=10,
                        checkpoint_every=50,
                    ),  # fmt: skip
                    checkpoint_path=Path(tmp) / "checkpoint.pt",
                )
                outcome = {"finished": True, "recoveries": len(fitted.history.events)}
                ok = not persistent and len(fitted.history.events) == len(faults)
            except NonFiniteLossError as err:
                state = load_checkpoint(Path(tmp) / "checkpoint.pt")
                finite = all(bool(torch.isfinite(v).all()) for v in state["module"].values())
                outcome = {"finished": False, "message": str(err), "checkpoint_step": state["step"]}
                ok = persistent and finite and state["step"] < first_bad
            finally:
                MechanismSparsityObjective.loss = original
        runs.append({"faults": faults, "first_bad_step": first_bad, "ok": ok, **outcome})
    with tempfile.TemporaryDirectory() as tmp:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main([*TINY, "--steps", "40", "--lr", "1e6", "--out", f"{tmp}/run"])
        cli_ok = code == 1 and "checkpoint.pt" in err.getvalue().strip().splitlines()[-1]
    return {
        "runs": runs,
        "faults_injected": sum(len(r["faults"]) for r in runs) + 2,
        "finished_after_recovery": sum(r["ok"] and r["finished"] for r in runs),
        "clear_stops": sum(r["ok"] and not r["finished"] for r in runs) + int(cli_ok),
        "all_ok": all(r["ok"] for r in runs) and cli_ok,
    }


# ---------------------------------------------------------------------------- kills
def _load_run(folder: Path) -> tuple[dict, dict, dict]:
    from latentgraph.inference.checkpoint_torch import load_checkpoint

    def untimed(value):
        if isinstance(value, dict):
            return {k: untimed(v) for k, v in value.items() if k not in TIMING}
        if isinstance(value, list):
            return [untimed(v) for v in value]
        return value

    state = load_checkpoint(folder / "checkpoint.pt")
    metrics = untimed(json.loads((folder / "metrics.json").read_text()))
    history = untimed(json.loads((folder / "history.json").read_text()))
    return state, metrics, history


def _identical(a: Path, b: Path) -> bool:
    (sa, ma, ha), (sb, mb, hb) = _load_run(a), _load_run(b)
    same_weights = all(torch.equal(v, sb["module"][k]) for k, v in sa["module"].items())
    same_moments = all(
        torch.equal(sa["optimizer"]["state"][i][m], sb["optimizer"]["state"][i][m])
        for i in sa["optimizer"]["state"]
        for m in ("exp_avg", "exp_avg_sq")
    )
    return same_weights and same_moments and ma == mb and ha == hb


def kills(n_kills: int, seed: int, steps: int = 600) -> dict:
    rng = random.Random(seed)
    command = [sys.executable, "-m", "latentgraph.app.cli", *TINY, "--steps", str(steps)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference"
        subprocess.run([*command, "--out", str(reference)], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        for k in range(n_kills):
            out = Path(tmp) / f"killed{k}"
            process = subprocess.Popen([*command, "--out", str(out)], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            while not (out / "checkpoint.pt").exists() and process.poll() is None:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 2.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed = process.returncode == -signal.SIGKILL and not (out / "metrics.json").exists()
            from latentgraph.inference.checkpoint_torch import load_checkpoint

            at = load_checkpoint(out / "checkpoint.pt")["step"]
            resumed = subprocess.run([*command, "--out", str(out), "--resume"], env=env,
                                     stdout=subprocess.DEVNULL)  # fmt: skip
            same = resumed.returncode == 0 and _identical(out, reference)
            results.append({"killed": killed, "checkpoint_step": at, "identical": same})
    return {
        "steps": steps,
        "runs": results,
        "resumed_identical": sum(r["killed"] and r["identical"] for r in results),
    }


# ---------------------------------------------------------------------------- memory
_MEASURE = r"""
import json, sys, threading, time
peak = {}
def sample():
    while True:
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssFile", "VmHWM"):
                    peak[key] = max(peak.get(key, 0), int(value.split()[0]))
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
from latentgraph.app.cli import main
code = main(json.loads(sys.argv[1]))
time.sleep(0.1)
print("PEAK " + json.dumps({"code": code, **{k: v / 1024 for k, v in peak.items()}}))
"""


def _peak_memory(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", _MEASURE, json.dumps(args)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith("PEAK "))
    return json.loads(line[5:])


def memory(steps: int, n_samples: int) -> dict:
    from latentgraph.data import make_mechanism_dataset

    common = ["--steps", str(steps), "--eval-every", str(steps), "--no-progress",
              "--device", "cpu", "--bound", "20"]  # fmt: skip
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        generated = ["fit", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial",
                     "--n-samples", str(n_samples)]  # fmt: skip
        cases["generated in memory"] = _peak_memory([*generated, *common, "--out", f"{tmp}/a"])
        saved = Path(tmp) / "data.npz"
        make_mechanism_dataset("action_sparsity_non_trivial", n_samples=n_samples).save(saved)
        cases["memory-mapped file"] = {
            **_peak_memory(
                ["fit", "mechanism-sparsity", "--data", str(saved), *common, "--out", f"{tmp}/b"]
            ),  # fmt: skip
            "file_mb": saved.stat().st_size / 2**20,
        }
    return {"steps": steps, "n_samples": n_samples, "cases": cases}


# ---------------------------------------------------------------------------- report
def render(result: dict) -> str:
    prov = result["provenance"]
    bad, div, kill = result["bad_inputs"], result["divergence"], result["kills"]
    lines = [
        f"Command: `python benchmarks/reliability.py {result['argv']}`; machine: {prov['machine']}; "
        f"date: {prov['date']}; commit: `{prov['commit']}`.",
        "",
        "| check | tried | passed | what counts as passing |",
        "|---|---|---|---|",
        f"| bad inputs (CLI and API; kinds: {', '.join(bad['kinds'])}) | {bad['count']} | "
        f"{bad['passed']} | exit 2 with one line naming the argument / ValueError or TypeError "
        "naming it; output folder and user files untouched |",
        f"| NaN faults injected at random steps ({len(div['runs']) - 2} runs, 1-3 faults each) | "
        f"{div['faults_injected'] - 2} | {div['finished_after_recovery']} runs finished | one "
        "recovery per fault, finite weights |",
        f"| persistent divergence (2 fits + 1 CLI run at lr 1e6) | 3 | {div['clear_stops']} | "
        "NonFiniteLossError / exit 1, finite checkpoint of the last good step |",
        f"| SIGKILL at a random moment, then `--resume` ({kill['steps']} steps) | "
        f"{len(kill['runs'])} | {kill['resumed_identical']} | weights, Adam moments, metrics and "
        "history bit-identical to an uninterrupted run |",
        "",
        "Kill points (checkpoint step at the kill): "
        + ", ".join(str(r["checkpoint_step"]) for r in kill["runs"])
        + ". Property-based tests (`tests/test_properties.py`) add about 1,000 generated inputs "
        "per test run.",
    ]
    failed = [c for c in bad["cases"] if not c["ok"]]
    if failed:
        lines += ["", "Bad inputs not handled as expected:"]
        lines += [f"- {c['where']} `{c['input']}`: {c['message']}" for c in failed]
    if "memory" in result:
        mem = result["memory"]
        lines += [
            "",
            f"Peak memory of `latentgraph fit mechanism-sparsity` on {mem['n_samples']:,} samples "
            f"(official network sizes, batch 1024, {mem['steps']} steps, CPU), sampled every "
            "50 ms from /proc/self/status (RssAnon: the process's own memory; RssFile: mapped "
            "files and libraries, which the kernel can drop and re-read):",
            "",
            "| data | peak RSS (MB) | peak anonymous (MB) | peak file-backed (MB) |",
            "|---|---|---|---|",
        ]
        for name, case in mem["cases"].items():
            extra = f" ({case['file_mb']:.0f} MB file)" if "file_mb" in case else ""
            lines.append(
                f"| {name}{extra} | {case['VmHWM']:.0f} | {case['RssAnon']:.0f} | "
                f"{case['RssFile']:.0f} |"
            )
        within = all(case["VmHWM"] <= MEMORY_BOUND_MB for case in mem["cases"].values())
        lines += [
            "",
            f"Stated bound: peak RSS <= {MEMORY_BOUND_MB} MB for this fit "
            f"({'met' if within else 'NOT met'}). The data themselves are about 160 MB per "
            "million samples of this set; the rest is the networks' activations, the test-split "
            "evaluation and the libraries. Memory-mapped data are read batch by batch, so a set "
            "larger than memory adds file-backed pages the kernel can evict, not anonymous memory.",
        ]
    return "\n".join(lines)


def render_hostile(result: dict) -> str:
    prov = result["provenance"]
    hostile = result["hostile"]
    lines = [
        f"Command: `python benchmarks/reliability.py {result['argv']}`; machine: {prov['machine']}; "
        f"load average at the start: {result.get('load', '?')}; date: {prov['date']}; commit: "
        f"`{prov['commit']}`.",
        "",
        "Each case is one command line run in a forked child (timeout, 16 GiB address-space "
        "cap). Handled = the expected exit code (2: the user's input; 1: the machine, e.g. a "
        "full disk; 0 where success is legitimate), no traceback and no timeout, on a non-zero "
        "exit exactly one `latentgraph:` line naming the option or file, nothing outside `--out` "
        "changed (a sentinel folder and the input files hashed before and after), `--out` "
        "unchanged on exit 2, plus the case's own check (no marker file from a crafted pickle; "
        "after a full disk the last checkpoint loads and no temporary file is left).",
        "",
        "| class | tried | handled |",
        "|---|---|---|",
    ]
    for klass, counts in hostile["per_class"].items():
        lines.append(f"| {klass} | {counts['tried']} | {counts['handled']} |")
    tried = sum(c["tried"] for c in hostile["per_class"].values())
    handled = sum(c["handled"] for c in hostile["per_class"].values())
    lines.append(f"| **all** | **{tried}** | **{handled}** |")
    skipped = [c for c in hostile["cases"] if c["skipped"]]
    if skipped:
        lines += ["", "Skipped (not possible on this machine): "
                  + "; ".join(f"{c['case']} ({c['failure']})" for c in skipped)]  # fmt: skip
    failed = [c for c in hostile["cases"] if not c["handled"] and not c["skipped"]]
    if failed:
        lines += ["", "Not handled:"]
        lines += [f"- [{c['class']}] {c['case']}: {c['failure']}; last line: "
                  f"`{c['message'][:160]}`" for c in failed]  # fmt: skip
    if "fuzz" in result:
        fuzz = result["fuzz"]
        lines += [
            "",
            f"Fuzz (hypothesis, `benchmarks/cli_fuzz.py`, seed {fuzz['seed']}): {fuzz['cases']} "
            f"generated command lines over every family's `fit` and `sweep` in {fuzz['wall_s']:.0f} s; "
            f"exit codes {fuzz['codes']}; {len(fuzz['findings'])} findings (a traceback, an exit "
            "code outside {0, 1, 2}, a timeout, a file outside `--out` touched, or `--out` changed "
            "on exit 2).",
        ]
        lines += [f"- `{f['command'][:300]}`: {f['failure']}" for f in fuzz["findings"][:20]]
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--nan-runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--memory-steps", type=int, default=30)
    parser.add_argument("--memory-samples", type=int, default=1_000_000)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--render", action="store_true", help="re-render the recorded JSON only")
    parser.add_argument(
        "--hostile-only",
        action="store_true",
        help="run only issue 18's classes (and --fuzz), record their section only",
    )
    parser.add_argument("--no-hostile", action="store_true", help="skip issue 18's classes")
    parser.add_argument(
        "--classes", default=None, help="comma-separated hostile classes to run (default: all)"
    )
    parser.add_argument("--fuzz", type=int, default=100, help="fuzz examples (0: none)")
    args = parser.parse_args(argv)
    if args.hostile_only:
        return run_hostile(args, argv)
    if args.render:
        result = json.loads((Path(__file__).parent / "results" / "reliability.json").read_text())
        update_benchmarks_md(SECTION, render(result))
        return result
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    result = {"provenance": provenance(), "argv": " ".join(argv or sys.argv[1:])}
    print("bad inputs ...", flush=True)
    result["bad_inputs"] = bad_inputs()
    print(f"  {result['bad_inputs']['passed']}/{result['bad_inputs']['count']}", flush=True)
    print("divergence ...", flush=True)
    result["divergence"] = divergence(args.nan_runs, args.seed)
    print(f"  all ok: {result['divergence']['all_ok']}", flush=True)
    print("kills ...", flush=True)
    result["kills"] = kills(args.kills, args.seed)
    print(f"  identical: {result['kills']['resumed_identical']}/{args.kills}", flush=True)
    if not args.no_memory:
        print("memory ...", flush=True)
        result["memory"] = memory(args.memory_steps, args.memory_samples)
    text = render(result)
    print(text)
    if not args.no_record:
        save_json("reliability", result)
        update_benchmarks_md(SECTION, text)
    if not args.no_hostile:
        run_hostile(args, argv)
    return result


def run_hostile(args: argparse.Namespace, argv: list[str] | None) -> dict:
    """Issue 18's classes and the fuzz; recorded in their own section (``--render`` of the
    issue-6 section is unaffected)."""
    from reliability_hostile import hostile

    result = {
        "provenance": provenance(),
        "argv": " ".join(argv or sys.argv[1:]),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    only = None if args.classes is None else {c.strip() for c in args.classes.split(",")}
    with tempfile.TemporaryDirectory(prefix="latentgraph-hostile-") as tmp:
        print("hostile world ...", flush=True)
        result["hostile"] = hostile(Path(tmp), only=only)
    if args.fuzz:
        from cli_fuzz import fuzz_run

        print(f"fuzz ({args.fuzz} examples) ...", flush=True)
        result["fuzz"] = fuzz_run(args.fuzz, random_seed=args.seed)
    text = render_hostile(result)
    print(text)
    if not args.no_record:
        save_json("reliability_hostile", result)
        update_benchmarks_md(HOSTILE_SECTION, text)
    return result


if __name__ == "__main__":
    run()
