"""One prepared GPU check: every GPU claim of the project measured in one short run (issue 19).

A device is lent to some tasks only, by chance, for 15 minutes (one command at most 10), so the
GPU work is packed into one command that any session lent a device runs first. Stages, in this
order, each in its own process under its own time cap; each result is written to one JSON file
(atomically) as soon as the stage ends, with whatever a stage had measured when it failed or ran
out of time, and the next stage runs regardless:

1. ``env``: GPU name, memory and driver; torch / JAX / NumPyro / Pyro versions; the TF32 and bf16
   flags; the two ceilings (device-to-device copy, bf16 and float32 matrix products).
2. ``tests``: the tests that touch a device (``benchmarks/device_tests.py``: the ``device``
   fixture or the ``gpu`` mark) with ``LATENTGRAPH_TEST_DEVICE=cuda -m "gpu or not slow"``.
3. ``mechanism``: mechanism sparsity at the official sizes (Lachapelle et al. 2024, arXiv
   2401.04890, Sec. 8.1): ms per SVI step of the Pyro program, of a plain PyTorch step of the
   same loss (eager), of that loss through ``torch.compile`` without and with CUDA graphs, and
   of the NumPyro jitted step, alternating in rounds.
4. ``sweep``: the NumPyro sweep of 8 runs (vmapped) against 8 single runs, run-steps per second.
5. ``interaction_speed``: interaction asymmetry at the official sizes (64x64, batch 64; Brady et
   al. 2024, arXiv 2411.07784, App. D): float32, TF32, bf16 and compiled Pyro steps against a
   plain PyTorch float32 step of the same architecture.
6. ``fit``: with the time left, an interaction-asymmetry fit on the GPU with its learning curve
   (periodic validation J-ARI against steps; ``--fit-preset``, its steps sized to the time).

``--dry-run`` runs every stage on the CPU at tiny sizes (a test runs it, so the script does not
rot between lendings); ``benchmarks/gpu_record.py`` turns the JSON into BENCHMARKS.md sections.

On a lent device (after ``bash benchmarks/gpu_wheels.sh`` here, which fills ``.whl/``), one call
of the device tool with ``carry: [".whl"]`` and ``timeout_s: 600``::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 || exit; python3 benchmarks/gpu_check.py --out $OUT --budget-s 540

then, here: ``python benchmarks/gpu_record.py <files_at>/gpu_check.json --write``.

    python benchmarks/gpu_check.py --dry-run --out /tmp/gpu_check_dry
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds latentgraph
    sys.path.insert(0, str(ROOT))

RESULTS_NAME = "gpu_check.json"
LOG_NAME = "gpu_check.log"
SCHEMA = 1

DEVICE_COMMAND = (
    "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade "
    "--target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD "
    "XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 || exit; "
    "python3 benchmarks/gpu_check.py --out $OUT --budget-s 540"
)
"""The device tool's ``command`` (with ``carry: [".whl"]``, ``timeout_s: 600``)."""


# ---- the stages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    name: str
    cap_s: float  # on a device
    dry_cap_s: float  # in the dry run (a loaded CPU)
    title: str


STAGES = (
    Stage("env", 25, 120, "environment"),
    Stage("tests", 110, 240, "tests on the device"),
    Stage("mechanism", 90, 240, "mechanism sparsity step"),
    Stage("sweep", 60, 240, "NumPyro sweep of 8 runs"),
    Stage("interaction_speed", 75, 240, "interaction-asymmetry step"),
    Stage("fit", 600, 300, "interaction-asymmetry fit"),
)
"""On a device the caps sum to 360 s before the fit, so a 540 s budget leaves the fit at least
3 minutes. The dry run's caps are loose: on a CPU shared with other work a stage can take
several times its idle time, and the dry run tests the script, not the speed."""
STAGE_NAMES = tuple(s.name for s in STAGES)
FIT_MIN_S = 180.0
"""The fit stage's reserve: earlier stages are cut short rather than eat into it."""

DRY_RUN_TESTS = ("tests/pyro/test_interaction_penalty.py",)
"""The dry run's test subset (two device tests, seconds on a CPU)."""


def _tiny_mechanism():
    from latentgraph.families.mechanism_sparsity.config import NetworkSizes

    return NetworkSizes(
        encoder_hidden=(32,), decoder_hidden=(32,), transition_hidden=16, transition_layers=1
    )


def _tiny_interaction_config():
    """The ``cpu`` network with one layer each and narrow widths: the dry run's model."""
    from latentgraph.families.interaction_asymmetry.config import (
        DecoderSizes,
        EncoderSizes,
        cpu_config,
    )

    decoder = DecoderSizes(slot_width=16, slot_hidden=32, query_width=16, query_hidden=32,
                           fourier_octaves=2, n_layers=1, n_heads=2, ff_hidden=32, out_hidden=16)  # fmt: skip
    return cpu_config(32, slot_dim=8, encoder=EncoderSizes(cnn_channels=8, n_layers=1, n_heads=2),
                      decoder=decoder)  # fmt: skip


@dataclass
class Context:
    """What a stage child knows: dry run or not, its deadline (``time.time()``), where its
    partial result goes, the torch device name, and the options of the command."""

    dry_run: bool
    deadline: float
    partial: Path
    device: str
    fit_preset: str
    result: dict

    def left(self) -> float:
        return self.deadline - time.time()

    def put(self, **values) -> None:
        """Add ``values`` to the stage's result and write it (a kill keeps what is written)."""
        self.result.update(values)
        write_json_atomic(self.partial, self.result)


def write_json_atomic(path: Path, payload) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=_jsonable, allow_nan=True) + "\n")
    os.replace(tmp, path)


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return float(value)


def _sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _median_ms(values: list[float]) -> float:
    return 1e3 * statistics.median(values)


# stage 1 -------------------------------------------------------------------------------------


def _versions(names: tuple[str, ...]) -> dict:
    from importlib import metadata

    found = {}
    for name in names:
        try:
            dist = metadata.distribution(name)
            found[name] = {"version": dist.version, "at": str(dist.locate_file(""))}
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _nvidia_smi() -> dict | None:
    fields = "name,memory.total,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw"
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"error": str(error)}
    values = (
        [v.strip() for v in out.stdout.strip().splitlines()[0].split(",")] if out.stdout else []
    )
    return (
        dict(zip(fields.split(","), values, strict=False))
        if values
        else {"error": out.stderr.strip()}
    )


def _ceilings(device: str, dry_run: bool) -> dict:
    """Device-to-device copy (bytes read + written per second) and matrix products (bf16, and
    float32 with TF32 off), medians of timed repeats after warm-ups, on random data."""
    import torch

    dev = torch.device(device)
    copy_bytes = 2**23 if dry_run else 2**31
    n = 256 if dry_run else 8192
    repeats = 3 if dry_run else 10

    def timed(fn, *args) -> float:
        fn(*args)
        fn(*args)
        _sync(dev)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(*args)
            _sync(dev)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    src = torch.rand(copy_bytes // 4, device=dev)
    copy_s = timed(torch.Tensor.copy_, torch.empty_like(src), src)
    out = {"copy_gb_per_s": 2 * copy_bytes / copy_s / 1e9, "copy_bytes": copy_bytes}
    del src
    for name, dtype in (("bf16", torch.bfloat16), ("float32", torch.float32)):
        a, b = (torch.randn(n, n, device=dev, dtype=dtype) for _ in range(2))
        with _matmul_precision("highest"):  # float32 without TF32
            seconds = timed(torch.matmul, a, b)
        out[f"matmul_{name}_tflop_per_s"] = 2 * n**3 / seconds / 1e12
    out["matmul_n"] = n
    return out


@contextlib.contextmanager
def _matmul_precision(precision: str):
    import torch

    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def _read(getter):
    """A flag's value, or the error reading it raised (some torch versions refuse to mix the
    legacy TF32 flags with the newer ``fp32_precision`` settings)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return getter()
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def stage_env(ctx: Context) -> None:
    import torch

    ctx.put(
        python=sys.version.split()[0],
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        nvidia_smi=_nvidia_smi(),
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        cuda_available=torch.cuda.is_available(),
    )
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        ctx.put(
            gpu={
                "name": props.name,
                "memory_gib": props.total_memory / 2**30,
                "capability": f"{props.major}.{props.minor}",
                "multiprocessors": props.multi_processor_count,
            }
        )
        matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
        ctx.put(
            flags={
                "float32_matmul_precision": _read(torch.get_float32_matmul_precision),
                "cuda_matmul_allow_tf32": _read(lambda: matmul.allow_tf32),
                "cudnn_allow_tf32": _read(lambda: cudnn.allow_tf32),
                "bf16_supported": _read(torch.cuda.is_bf16_supported),
                "bf16_reduced_precision_reduction": _read(
                    lambda: matmul.allow_bf16_reduced_precision_reduction
                ),
            }
        )
    else:
        ctx.put(gpu=None, flags={"float32_matmul_precision": torch.get_float32_matmul_precision()})
    ctx.put(
        packages=_versions(
            (
                "torch",
                "jax",
                "jaxlib",
                "numpyro",
                "pyro-ppl",
                "pyro-api",
                "flax",
                "optax",
                "numpy",
                "scipy",
                "xarray",
                "arviz",
                "arviz-base",
                "arviz-stats",
                "arviz-plots",
                "xarray-einstats",
                "h5netcdf",
                "h5py",
                "pot",
                "networkx",
                "scikit-learn",
                "pytest",
            )
        )  # fmt: skip
    )
    import jax

    ctx.put(
        jax={
            "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "default_matmul_precision": str(
                getattr(jax.config, "jax_default_matmul_precision", "?")
            ),
        }
    )
    ctx.put(ceilings=_ceilings(ctx.device, ctx.dry_run))


# stage 2 -------------------------------------------------------------------------------------


class _TestRecorder:
    """A pytest plugin that adds each test's outcome to the stage's result as it finishes (a
    stage stopped at its cap keeps the counts so far)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.outcome != "passed":
            if report.outcome == "passed":
                self.counts["passed"] += 1
            elif report.outcome == "skipped":
                self.counts["skipped"] += 1
            else:
                key = "failed" if report.when == "call" else "errors"
                self.counts[key] += 1
                self.failed.append(f"{report.nodeid} ({report.when})")
            self.ctx.put(**self.counts, failed_tests=self.failed)

    def pytest_collection_finish(self, session) -> None:
        self.ctx.put(collected=len(session.items))


def stage_tests(ctx: Context) -> None:
    """pytest in this (forked) process: the heavy imports are already done."""
    import pytest

    from benchmarks.device_tests import device_test_files

    files = list(DRY_RUN_TESTS) if ctx.dry_run else device_test_files(ROOT / "tests")
    files = [str(Path(f).relative_to(ROOT)) if Path(f).is_absolute() else f for f in files]
    args = ["-q", "-p", "no:cacheprovider", "-p", "benchmarks.device_tests",
            "-m", "gpu or not slow", "-rfE", *files]  # fmt: skip
    os.environ["LATENTGRAPH_TEST_DEVICE"] = ctx.device
    os.chdir(ROOT)
    ctx.put(command=shlex.join(["pytest", *args]), test_device=ctx.device, files=files)
    start = time.perf_counter()
    recorder = _TestRecorder(ctx)
    rc = pytest.main(args, plugins=[recorder])
    ctx.put(rc=int(rc), wall_s=time.perf_counter() - start, **recorder.counts)
    if int(rc) not in (0, 5):  # 5: nothing collected, recorded as 0 tests
        raise RuntimeError(f"pytest exited with {int(rc)}")


# stage 3 -------------------------------------------------------------------------------------


DRY_RUN_COMPILE_BACKEND = "eager"
"""The dry run's ``torch.compile`` backend: dynamo traces the same graphs (and must accept the
code) without inductor's C++ build, minutes on a loaded CPU."""


def _compile_for(ctx: Context) -> Callable:
    """``torch.compile`` (inductor) on a device; :data:`DRY_RUN_COMPILE_BACKEND` in the dry
    run."""
    import functools

    import torch

    if ctx.dry_run:
        return functools.partial(torch.compile, backend=DRY_RUN_COMPILE_BACKEND)
    return torch.compile


def _flops_per_step(step: Callable[[], None]) -> float | None:
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:  # older torch
        return None
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return float(counter.get_total_flops())


def stage_mechanism(ctx: Context) -> None:
    import pyro
    import torch

    import benchmarks.speed_mechanism_numpyro as mnp
    import benchmarks.speed_mechanism_sparsity as ms
    from latentgraph.data import make_mechanism_dataset
    from latentgraph.families.mechanism_sparsity import model_config_for
    from latentgraph.families.mechanism_sparsity.config import NetworkSizes
    from latentgraph.inference.elbo_pyro import AnalyticMeanFieldELBO

    pyro.enable_validation(False)
    device = torch.device(ctx.device)
    if ctx.dry_run:
        sizes, batch, label, steps, rounds = _tiny_mechanism(), 16, "tiny", 3, 2
    else:
        sizes, batch, label, steps, rounds = NetworkSizes(), 1024, "official", 50, 5
    ctx.put(sizes=label, batch=batch, steps_per_round=steps, rounds=rounds, device=str(device))
    case = ms.build_case(sizes, batch, device)
    eager = {"pyro": ms.pyro_step(case, AnalyticMeanFieldELBO()), "plain": ms.plain_step(case)}
    ctx.put(flops_per_step=_flops_per_step(eager["plain"]))
    units = {name: ms.repeat(fn, steps) for name, fn in eager.items()}
    times = ms.alternate(
        units, rounds=rounds, steps=steps, device=device,
        warmup=lambda: [ms.repeat(fn, 3)() for fn in eager.values()],
    )  # fmt: skip
    eager_ms = {k: _median_ms(v) for k, v in times.items()}
    # the ratio now, in case a compilation below runs past the cap; the final rounds redo it
    ctx.put(eager_only_ms=eager_ms, ms_per_step=eager_ms,
            pyro_over_plain=eager_ms["pyro"] / eager_ms["plain"])  # fmt: skip

    compile_fn = _compile_for(ctx)
    compiled = {"compiled": compile_fn(ms.plain_loss(case))}
    if device.type == "cuda":  # CUDA graphs replay the captured kernels
        compiled["compiled_cudagraphs"] = compile_fn(ms.plain_loss(case), mode="reduce-overhead")
    compile_s = {}
    for name, loss in compiled.items():
        step = ms.plain_step(case, _marked(loss) if name.endswith("cudagraphs") else loss)
        start = time.perf_counter()
        ms.repeat(step, 3)()
        _sync(device)
        compile_s[name] = time.perf_counter() - start
        units[name] = ms.repeat(step, steps)
        quick = ms.alternate({name: units[name]}, rounds=1, steps=steps, device=device)
        quick_ms = {**ctx.result.get("compiled_first_ms", {}), name: _median_ms(quick[name])}
        ctx.put(compile_s=compile_s, compiled_first_ms=quick_ms,
                best_compiled_ms=min(quick_ms.values()))  # fmt: skip

    dataset = make_mechanism_dataset(mnp.DATASET, n_samples=2_000 if ctx.dry_run else 20_000)
    train = dataset.split("train")
    arrays = {"x": train["x"], "actions": train["actions"]}
    numpyro_run = mnp.numpyro_chunk_run(model_config_for(dataset, sizes), arrays, batch, steps)
    start = time.perf_counter()
    numpyro_run(1)  # compiles
    compile_s["numpyro"] = time.perf_counter() - start
    units["numpyro"] = lambda: numpyro_run(1)
    ctx.put(compile_s=compile_s)

    times = ms.alternate(units, rounds=rounds, steps=steps, device=device)
    ms_per_step = {k: _median_ms(v) for k, v in times.items()}
    ctx.put(
        ms_per_step=ms_per_step,
        ms_rounds={k: [1e3 * t for t in v] for k, v in times.items()},
        pyro_over_plain=ms_per_step["pyro"] / ms_per_step["plain"],
        best_compiled_ms=min(v for k, v in ms_per_step.items() if k.startswith("compiled")),
        compile_backend=f"{DRY_RUN_COMPILE_BACKEND} (dry run)" if ctx.dry_run else "inductor",
    )


def _marked(loss: Callable) -> Callable:
    """``loss`` with ``torch.compiler.cudagraph_mark_step_begin()`` first: each call is a new
    step, so CUDA-graph outputs of the last one may be overwritten."""
    import torch

    def call(*args):
        torch.compiler.cudagraph_mark_step_begin()
        return loss(*args)

    return call


# stage 4 -------------------------------------------------------------------------------------


def stage_sweep(ctx: Context) -> None:
    import benchmarks.sweep_throughput as sweep

    if ctx.dry_run:
        kwargs = dict(sizes="demo", steps=10, chunk=5, batch_size=16, n_samples=2_000)
        kwargs["network"] = _tiny_mechanism()
    else:
        kwargs = dict(sizes="official", steps=400, chunk=200)
    ctx.put(settings={k: str(v) if k == "network" else v for k, v in kwargs.items()})
    row = sweep.measure(device=ctx.device, strategies=("vmap",), **kwargs)
    ctx.put(
        **row,
        speedup_vmap=row["speedup"]["vmap"],
        sweep_run_steps_per_s_vmap=row["sweep_run_steps_per_s"]["vmap"],
    )


# stage 5 -------------------------------------------------------------------------------------


def stage_interaction_speed(ctx: Context) -> None:
    import torch

    import benchmarks.speed_interaction_asymmetry as ia

    device = torch.device(ctx.device)
    preset, batch, rounds, steps = ("cpu", 4, 2, 2) if ctx.dry_run else ("official", 64, 3, 5)
    config = _tiny_interaction_config() if ctx.dry_run else None
    vae, optimizer, x = ia.build_case(preset, batch, device, config=config)
    ctx.put(
        preset="tiny" if ctx.dry_run else preset,
        image_size=vae.config.image_size,
        batch=batch,
        rounds=rounds,
        steps_per_round=steps,
        n_parameters=sum(p.numel() for p in vae.parameters()),
    )
    variants = {
        "plain float32": ia.plain_step(vae, optimizer, x),
        "pyro float32": ia.objective_step(vae, optimizer, x),
        "pyro tf32": ia.objective_step(vae, optimizer, x, matmul="high"),
        "pyro bf16": ia.objective_step(vae, optimizer, x, precision="bf16"),
    }
    rows = ia.time_variants(variants, rounds=rounds, steps=steps, device=device)
    best = min(rows, key=lambda r: r["s_per_step"])  # redone below with the compiled variant
    ctx.put(eager_rows=rows, best_variant=best["variant"], best_s_per_step=best["s_per_step"])
    compile_fn = _compile_for(ctx)
    compile_s = {}
    original = torch.compile
    torch.compile = compile_fn  # set_speed(compile=True) calls torch.compile
    try:
        for name, kwargs in (("pyro bf16 + compile", {"precision": "bf16"}),):
            start = time.perf_counter()
            step = ia.objective_step(vae, optimizer, x, compile=True, **kwargs)
            step()
            step()
            _sync(device)
            compile_s[name] = time.perf_counter() - start
            variants[name] = step
            ctx.put(compile_s=compile_s)
    finally:
        torch.compile = original
    rows = ia.time_variants(variants, rounds=rounds, steps=steps, device=device)
    best = min(rows, key=lambda r: r["s_per_step"])
    ctx.put(
        rows=rows,
        best_variant=best["variant"],
        best_s_per_step=best["s_per_step"],
        compile_backend=f"{DRY_RUN_COMPILE_BACKEND} (dry run)" if ctx.dry_run else "inductor",
    )


# stage 6 -------------------------------------------------------------------------------------

FIT_PRESETS = {
    # the cpu network at 32x32, all pixels, the paper's batch of 64: its curve compares with
    # BENCHMARKS.md's 16k-step CPU runs (J-ARI 0.61 and 0.39 for seeds 0 and 1) step for step;
    # a launch-bound GPU step costs about the same at batch 32 or 64, so 64 sees twice the data
    "cpu32": {
        "image_size": 32, "n_images": 20_000, "sizes": "cpu", "batch_size": 64,
        "schedule": "hold", "jacobian_images": 200, "readout_images": 2000,
    },
    # the paper's network and data; minutes reach a few thousand of its 500k steps
    "official64": {
        "image_size": 64, "n_images": 100_000, "sizes": "official", "batch_size": 64,
        "schedule": "hold", "jacobian_images": 64, "readout_images": 2000,
    },
    "dry": {
        "image_size": 32, "n_images": 200, "sizes": "cpu", "batch_size": 4, "schedule": "hold",
        "jacobian_images": 2, "readout_images": 20,
    },
}  # fmt: skip
FIT_OVERHEAD_S = {"cpu32": 60.0, "official64": 150.0, "dry": 45.0}
"""Seconds of a fit that are not training steps: the command's start (about 10 s), the sprites
(20k at 32x32: 7 CPU s here; 100k at 64x64: about 70 s), the evaluation (about 25 s with 200
Jacobian images on this CPU) and the figures. A guess until a device measures it (``fixed_s`` in
the fit stage's result); a fit that still runs past its cap leaves its checkpoint's curve."""


def _calibrate(settings: dict, device: str, n: int) -> float:
    """Seconds per training step of the preset's network on ``device`` (median of ``n``)."""
    import torch

    import benchmarks.speed_interaction_asymmetry as ia
    from latentgraph.families.interaction_asymmetry.config import PRESETS

    dev = torch.device(device)
    size, batch = settings["image_size"], settings["batch_size"]
    torch.manual_seed(0)
    vae = ia.InteractionAsymmetryVAE(PRESETS[settings["sizes"]](image_size=size)).to(dev)
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-4)
    x = torch.rand(batch, size, size, 3, device=dev)
    step = ia.objective_step(vae, optimizer, x)
    step()
    step()
    times = []
    for _ in range(n):
        _sync(dev)
        start = time.perf_counter()
        step()
        _sync(dev)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fit_arguments(settings: dict, steps: int, device: str) -> list[str]:
    return [
        "--image-size", str(settings["image_size"]), "--objects", "2-4",
        "--n-images", str(settings["n_images"]), "--sizes", settings["sizes"],
        "--steps", str(steps), "--batch-size", str(settings["batch_size"]),
        "--schedule", settings["schedule"], "--eval-every", str(max(steps // 20, 4)),
        "--jacobian-images", str(settings["jacobian_images"]),
        "--readout-images", str(settings["readout_images"]),
        "--alpha", "0.05", "--beta", "0.05", "--seed", "0", "--data-seed", "0",
        "--device", device, "--overwrite",
    ]  # fmt: skip


def stage_fit(ctx: Context) -> None:
    import subprocess as sp

    from benchmarks._record import run_fit

    name = "dry" if ctx.dry_run else ctx.fit_preset
    settings = FIT_PRESETS[name]
    s_per_step = _calibrate(settings, ctx.device, 3 if ctx.dry_run else 20)
    fixed = FIT_OVERHEAD_S[name]
    budget = ctx.left() - 10  # the run's own deadline, inside the stage's cap
    if ctx.dry_run:
        steps = 8
    else:  # 1.25: the CLI's periodic evaluations, logging and checkpoints
        steps = int((budget - fixed) / (1.25 * s_per_step)) // 100 * 100
    ctx.put(preset=name, settings=settings, calibrated_s_per_step=s_per_step, planned_steps=steps,
            assumed_fixed_s=fixed, budget_s=budget)  # fmt: skip
    if steps < 100 and not ctx.dry_run:
        ctx.put(error=f"too little time left for a fit ({budget:.0f} s)")
        raise RuntimeError(f"too little time left for a fit ({budget:.0f} s)")
    arguments = _fit_arguments(settings, steps, ctx.device)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        ctx.put(command=shlex.join(["latentgraph", "fit", "interaction-asymmetry", *arguments]))
        start = time.perf_counter()
        try:
            metrics = run_fit(
                "interaction-asymmetry", arguments, out,
                threads=1 if ctx.dry_run else 4, timeout=max(budget, 1),
            )  # fmt: skip
        except sp.TimeoutExpired:
            ctx.put(timed_out=True, wall_s=time.perf_counter() - start, **_checkpoint_curve(out))
            raise
        keys = ("j_ari", "jis", "slot_r2", "recon_id", "l_int", "l_int_max", "kl", "steps",
                "s_per_step", "train_wall_s", "wall_s", "process_wall_s", "n_parameters")  # fmt: skip
        ctx.put(
            **{k: metrics[k] for k in keys if k in metrics},
            fixed_s=metrics["process_wall_s"] - metrics.get("train_wall_s", 0.0),
            curve=_curve(metrics.get("curve", [])),
        )


def _curve(evaluations: list[dict]) -> list[dict]:
    keep = ("step", "valid_j_ari", "valid_jis")
    return [{k: e[k] for k in keep if k in e} for e in evaluations]


def _checkpoint_curve(out: Path) -> dict:
    """The learning curve so far from the run's last checkpoint (a fit stopped at its cap)."""
    path = out / "checkpoint.pt"
    if not path.exists():
        return {}
    from latentgraph.inference.checkpoint_torch import load_checkpoint

    state = load_checkpoint(path)
    return {"checkpoint_step": state["step"], "curve": _curve(state.get("evaluations", []))}


STAGE_FUNCTIONS = {
    "env": stage_env,
    "tests": stage_tests,
    "mechanism": stage_mechanism,
    "sweep": stage_sweep,
    "interaction_speed": stage_interaction_speed,
    "fit": stage_fit,
}


# ---- the parent: caps, processes, the JSON and the log ---------------------------------------


def plan_cap(stage: Stage, *, dry_run: bool, left: float, later: list[str]) -> float:
    """The seconds ``stage`` may take: its own cap, cut so that the fit (if still to come)
    keeps :data:`FIT_MIN_S` of the ``left`` budget; the fit itself takes what is left."""
    cap = stage.dry_cap_s if dry_run else stage.cap_s
    if stage.name == "fit":
        return max(min(cap, left - 2), 0.0)
    reserve = FIT_MIN_S if ("fit" in later and not dry_run) else 0.0
    return max(min(cap, left - reserve), 0.0)


PRELOAD = (
    "torch", "pyro", "jax", "numpyro", "pytest", "latentgraph.data",
    "latentgraph.families.mechanism_sparsity.fit_numpyro",
    "latentgraph.families.mechanism_sparsity.sweep_numpyro",
    "latentgraph.families.interaction_asymmetry.fit_pyro",
    "benchmarks.speed_mechanism_sparsity", "benchmarks.speed_mechanism_numpyro",
    "benchmarks.sweep_throughput", "benchmarks.speed_interaction_asymmetry",
)  # fmt: skip
"""Imported once by the parent, before any stage, so that each forked stage starts with them
(none of them starts a thread, initialises CUDA or a JAX backend at import)."""


def _preload(log) -> tuple[bool, float]:
    """Import :data:`PRELOAD`; returns whether the process is still single-threaded (safe to
    fork) and the seconds it took."""
    import importlib

    start = time.perf_counter()
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as error:  # the stage that needs it reports the failure
            log.write(f"preload: {name} failed: {type(error).__name__}: {error}\n")
    threads = len(os.listdir("/proc/self/task")) if Path("/proc/self/task").is_dir() else 1
    devices = _devices_started()
    seconds = time.perf_counter() - start
    log.write(f"preload: {seconds:.1f} s, {threads} thread(s), devices started: {devices}\n")
    return threads == 1 and not devices, seconds


def _devices_started() -> list[str]:
    """Runtimes that already hold a device in this process (a forked child cannot use them)."""
    started = []
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        started.append("torch.cuda")
    with contextlib.suppress(Exception):  # a private table; absent in other JAX versions
        from jax._src import xla_bridge

        if xla_bridge._backends:
            started.append("jax")
    return started


def _run_child(name: str, cap: float, args, log, partial: Path, *, fork: bool) -> dict:
    """Run stage ``name`` in a child process (forked from this preloaded one, or a fresh
    interpreter) in a session of its own, ended with its children at ``cap`` seconds."""
    child_args = argparse.Namespace(
        child=name, partial=str(partial), deadline=time.time() + cap,
        fit_preset=args.fit_preset, dry_run=args.dry_run,
    )  # fmt: skip
    start = time.perf_counter()
    cpu_before = _children_cpu_s()
    log.flush()
    if fork:
        pid = os.fork()
        if pid == 0:  # the child: its own session, output to the log, never returns
            rc = 1
            try:
                os.setsid()
                os.dup2(log.fileno(), 1)
                os.dup2(log.fileno(), 2)
                rc = _child_main(child_args)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(rc)
        proc = _Forked(pid)
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name,
               "--partial", str(partial), "--deadline", str(child_args.deadline),
               "--fit-preset", args.fit_preset] + (["--dry-run"] if args.dry_run else [])  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    status = "ok"
    try:
        rc = proc.wait(timeout=cap + 5)  # the child watches its own deadline too
    except subprocess.TimeoutExpired:
        status = "timeout"
        _kill_group(proc)
        rc = proc.returncode
    wall = time.perf_counter() - start
    result = json.loads(partial.read_text()) if partial.exists() else {}
    error = result.pop("_error", None)
    timed_out = result.pop("_timeout", False)
    if status == "ok" and rc != 0:
        status = "timeout" if timed_out else "failed"
    entry = {"status": status, "rc": rc, "cap_s": cap, "wall_s": wall,
             "cpu_s": _children_cpu_s() - cpu_before, "result": result}  # fmt: skip
    if error:
        entry["error"] = error
    return entry


def _children_cpu_s() -> float:
    """User + system CPU seconds of the finished (waited-for) children of this process."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _Forked:
    """The few :class:`subprocess.Popen` methods :func:`_run_child` uses, for a forked pid."""

    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, 0 if end is None else os.WNOHANG)
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                return self.returncode
            if time.monotonic() >= end:
                raise subprocess.TimeoutExpired(f"stage {self.pid}", timeout)
            time.sleep(0.1)


def _kill_group(proc) -> None:
    """End the stage's process group (the child and what it started): TERM, then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=5)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # what the stage started, if still there
        os.killpg(proc.pid, signal.SIGKILL)


def _child_main(args) -> int:
    """Run one stage in this process; its result goes to ``--partial`` as it grows."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    partial = Path(args.partial)
    device = "cpu" if args.dry_run else "cuda"
    ctx = Context(args.dry_run, args.deadline, partial, device, args.fit_preset, {})
    ctx.put()

    def on_term(signum, frame):  # the parent's cap: record and leave
        raise TimeoutError(f"stopped at the stage's cap (signal {signum})")

    signal.signal(signal.SIGTERM, on_term)
    try:
        STAGE_FUNCTIONS[args.child](ctx)
    except BaseException as error:  # record any failure, then exit non-zero
        import traceback

        message = str(error)  # its end says most (a subprocess's traceback ends there)
        message = message if len(message) <= 2000 else "..." + message[-2000:]
        ctx.result["_error"] = f"{type(error).__name__}: {message}"
        ctx.result["_timeout"] = isinstance(error, TimeoutError | subprocess.TimeoutExpired)
        write_json_atomic(partial, ctx.result)
        traceback.print_exc()
        return 1
    return 0


def _summary_line(name: str, entry: dict) -> str:
    r = entry.get("result", {})
    shown = {
        "env": lambda: (r.get("gpu") or {}).get("name", "no GPU"),
        "tests": lambda: (
            f"{r.get('passed', '?')} passed, {r.get('failed', '?')} failed, "
            f"{r.get('errors', '?')} errors, {r.get('skipped', '?')} skipped"
        ),
        "mechanism": lambda: ", ".join(
            f"{k} {v:.2f} ms" for k, v in r.get("ms_per_step", {}).items()
        ),
        "sweep": lambda: f"sweep x{r['speedup_vmap']:.2f} over sequential",
        "interaction_speed": lambda: f"best {r['best_variant']} {r['best_s_per_step']:.4f} s/step",
        "fit": lambda: f"{r['steps']} steps, J-ARI {r['j_ari']:.3f}",
    }[name]
    try:
        detail = shown()
    except (KeyError, TypeError, ValueError):
        detail = entry.get("error", "")
    cpu = entry.get("cpu_s", 0.0)
    return f"{name:<18} {entry['status']:<8} {entry['wall_s']:6.1f} s ({cpu:5.1f} s CPU)  {detail}"


def _print_targets(payload: dict) -> None:
    """Issue 19's targets, last in the output (the device tool returns the output's end)."""
    try:
        from benchmarks.gpu_record import targets

        for row in targets(payload):
            print(f"{row['verdict']:<16} {row['target']}: {row['measured']}")
    except Exception as error:  # the JSON is written; the table is a convenience
        print(f"(targets not rendered: {type(error).__name__}: {error})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for gpu_check.json and gpu_check.log")
    parser.add_argument("--dry-run", action="store_true", help="every stage on the CPU, tiny")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="total seconds (default 540 on a device, 1500 in the dry run)")  # fmt: skip
    parser.add_argument("--cap", action="append", default=[], metavar="STAGE=SECONDS",
                        help="override a stage's cap (repeatable)")  # fmt: skip
    parser.add_argument("--stages", default=",".join(STAGE_NAMES),
                        help=f"comma-separated subset of {','.join(STAGE_NAMES)}")  # fmt: skip
    parser.add_argument("--fit-preset", choices=("cpu32", "official64"), default="cpu32")
    parser.add_argument("--no-fork", action="store_true",
                        help="start each stage in a fresh interpreter (default: fork from a "
                        "parent that imported torch, JAX and Pyro once)")  # fmt: skip
    parser.add_argument("--child", choices=STAGE_NAMES, help=argparse.SUPPRESS)
    parser.add_argument("--partial", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child_main(args)
    if args.out is None:
        parser.error("--out is required")
    stages = [s for s in args.stages.split(",") if s]
    unknown = sorted(set(stages) - set(STAGE_NAMES))
    if unknown or not stages:
        parser.error(f"--stages must name some of {list(STAGE_NAMES)}, got {args.stages!r}")
    caps = {}
    for text in args.cap:
        name, _, seconds = text.partition("=")
        if name not in STAGE_NAMES or not seconds.replace(".", "", 1).isdigit():
            parser.error(f"--cap must be STAGE=SECONDS with STAGE in {list(STAGE_NAMES)}, "
                         f"got {text!r}")  # fmt: skip
        caps[name] = float(seconds)
    budget = args.budget_s if args.budget_s is not None else (1500.0 if args.dry_run else 540.0)
    if not (math.isfinite(budget) and budget > 0):
        parser.error(f"--budget-s must be a positive number of seconds, got {args.budget_s}")
    return run_check(args, stages, caps, budget)


def run_check(args, stages: list[str], caps: dict, budget: float) -> int:
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.environ.get("PYTHONPATH"), str(ROOT)) if p
    )
    if args.dry_run:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    results_path, log_path = out / RESULTS_NAME, out / LOG_NAME
    from benchmarks._record import git_commit

    started = time.time()
    payload = {
        "schema": SCHEMA,
        "meta": {
            "command": shlex.join(["python", *sys.argv]),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "commit": git_commit(),
            "host": platform.node(),
            "dry_run": args.dry_run,
            "budget_s": budget,
            "fit_preset": args.fit_preset,
            "load_average_before": list(os.getloadavg()),
        },
        "order": stages,
        "stages": {},
    }
    write_json_atomic(results_path, payload)
    with open(log_path, "a", buffering=1) as log, tempfile.TemporaryDirectory() as tmp:
        single_threaded, payload["meta"]["preload_s"] = _preload(log)
        fork = single_threaded and not args.no_fork
        payload["meta"]["stage_processes"] = "forked" if fork else "fresh interpreters"
        for i, name in enumerate(stages):
            stage = next(s for s in STAGES if s.name == name)
            if name in caps:
                stage = Stage(name, caps[name], caps[name], stage.title)
            left = budget - (time.time() - started)
            cap = plan_cap(stage, dry_run=args.dry_run, left=left, later=stages[i + 1 :])
            log.write(f"\n==== {name} (cap {cap:.0f} s, {left:.0f} s of the budget left) ====\n")
            if cap < 1:
                entry = {"status": "skipped", "rc": None, "cap_s": cap, "wall_s": 0.0,
                         "result": {}, "error": "no time left in the budget"}  # fmt: skip
            else:
                entry = _run_child(name, cap, args, log, Path(tmp) / f"{name}.json", fork=fork)
            payload["stages"][name] = entry
            payload["total_wall_s"] = time.time() - started
            write_json_atomic(results_path, payload)
            line = _summary_line(name, entry)
            log.write(line + "\n")
            print(line, flush=True)
        payload["meta"]["load_average_after"] = list(os.getloadavg())
        write_json_atomic(results_path, payload)
    print(f"total {payload['total_wall_s']:.1f} s; wrote {results_path} and {log_path}")
    _print_targets(payload)
    return 0 if all(e["status"] == "ok" for e in payload["stages"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
