"""Presets of ``latentgraph fit|sweep mechanism-sparsity`` and the duration they take.

``paper``: Lachapelle et al. (arXiv 2401.04890, App. D): official network sizes, 1e6 samples,
300k steps at batch 1024, Adam 5e-4 for everything (edge logits and dual ascent included).
``cpu``: the benchmark's 2-core set-up (``BENCHMARKS.md``, "Quality:
action_sparsity_non_trivial, cpu_action_sparsity_non_trivial_anneal05"): small networks, 2e5
samples, 40k steps at batch 256, rates 5e-3 / 5e-2 / 5e-2; it identifies the latents of
*action non-trivial* (MCC 0.995, SHD <= 2 over 3 seeds). The temporal setting's ``cpu`` preset
changes the edge-logit rate (:data:`CPU_BY_SETTING`, :func:`presets_for`); ``paper`` is one
preset for both settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from types import MappingProxyType

from latentgraph.app.presets import Estimate, frozen_presets

RUN_PRESETS = frozen_presets(
    {
        "paper": {
            "sizes": "official",
            "n_samples": 1_000_000,
            "steps": 300_000,
            "batch_size": 1024,
            "lr": 5e-4,
            "graph_lr": None,  # = lr
            "dual_lr": 5e-4,
        },
        "cpu": {
            "sizes": "small",
            "n_samples": 200_000,
            "steps": 40_000,
            "batch_size": 256,
            "lr": 5e-3,
            "graph_lr": 5e-2,
            "dual_lr": 5e-2,
        },
    }
)
CPU_BY_SETTING = MappingProxyType(
    {
        "temporal": MappingProxyType({"graph_lr": 5e-3}),
    }
)
"""Options of the ``cpu`` preset that differ by setting (the ``action`` setting uses
``RUN_PRESETS["cpu"]`` as it is). ``temporal``: edge logits at 5e-3 instead of 5e-2, the
paper's ratio of edge-logit rate to training length (5e-4 x 300k steps = 150; 5e-3 x 40k =
200) where the action preset prunes ten times faster. Found by the one-factor-at-a-time search
of ``BENCHMARKS.md``, "Search: temporal cpu preset (temporal_sparsity_non_trivial)", on the
search seeds 101 and 102 (not the study's): MCC 0.720 / SHD 34 against 0.699 / 45 with the
action preset on seed 101, short of the official code's 0.825 (300k GPU steps); no variant
within about 300 s of one core reached it."""
SIZING = ("sizes", "n_samples", "steps", "batch_size")
"""Options that size a run: typing one keeps ``--preset auto`` at ``paper`` (the old defaults)."""

STEP_SECONDS = {
    # (backend, sizes, device type): (seconds per step, at batch size, fixed seconds)
    ("pyro", "small", "cpu"): (0.014, 256, 10.0),
    ("numpyro", "small", "cpu"): (0.0038, 256, 10.0),
    ("pyro", "official", "cpu"): (0.77, 1024, 60.0),
    ("numpyro", "official", "cpu"): (0.76, 1024, 60.0),
}
"""Measured on this project's 2-core x86_64 CPU, one thread per run. small/pyro: the
cpu_action_sparsity_non_trivial section's 40k-step runs (429-748 s of training, 0.011-0.019
s/step with the other core busy) and a 3,000-step timing of the cpu preset (0.0167 s/step, 9 s
of evaluation, load 2.7 on 2 cores) when this table was written; small/numpyro: the
cpu_numpyro_action_sparsity_non_trivial section (134-163 s for 40k steps); official: the
"Speed: NumPyro (JAX) training step vs Pyro training step (cpu, 1 thread each)" section (771
and 756 ms per step). Fixed seconds: data split, JIT compilation, the final evaluation."""


def setting_of(dataset: str | None) -> str:
    """``"temporal"`` for a named temporal data set (``temporal_*``, ``graph_temporal_*``),
    else ``"action"`` (action data sets, and ``--data`` files, whose setting is only known
    once they are read)."""
    name = dataset or ""
    return "temporal" if name.startswith(("temporal_", "graph_temporal_")) else "action"


def presets_for(dataset: str | None) -> Mapping[str, Mapping[str, object]]:
    """:data:`RUN_PRESETS` with the ``cpu`` preset of ``dataset``'s setting
    (:data:`CPU_BY_SETTING`); ``paper`` is the same for every setting (the paper's App. D
    trains both settings alike)."""
    overrides = CPU_BY_SETTING.get(setting_of(dataset), {})
    if not overrides:
        return RUN_PRESETS
    return frozen_presets(
        {"paper": RUN_PRESETS["paper"], "cpu": {**RUN_PRESETS["cpu"], **overrides}}
    )


def estimate(args: argparse.Namespace, device: str, *, runs: int = 1) -> Estimate:
    """Seconds of training and evaluation for the resolved ``args`` on ``device``; the step time
    scales linearly with the batch size (an approximation) and with ``runs`` (a sweep)."""
    key = (args.backend, args.sizes, device.split(":")[0])
    if key not in STEP_SECONDS:
        return Estimate(None, f"no step time measured for {args.sizes} sizes on {key[2]}")
    per_step, batch, fixed = STEP_SECONDS[key]
    seconds = runs * (args.steps * per_step * args.batch_size / batch + fixed)
    return Estimate(
        seconds, f"{per_step:g} s/step at batch {batch} measured on 2 CPU cores, BENCHMARKS.md"
    )
