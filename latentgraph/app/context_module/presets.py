"""Presets of ``latentgraph fit context-module`` and the duration they take.

``paper``: Markham et al. (arXiv 2507.04754) as the reference runs it: 64x64 quad data
(35k/15k/10k/10k images per context), the official network, 48k steps (about 100 epochs) at
batch 512, the library's per-sample norms with mixed-context batches. ``cpu``: the benchmark's
2-core set-up that beats base pooled (``BENCHMARKS.md``, "Context module: the CPU target with
the reference's BatchNorm, 2 seeds, 15,000 steps"): 32x32 quad data with 20k training images
per context, the ``cpu`` network, 15k steps at batch 64, the reference's BatchNorm with
single-context batches (composition SWD 0.114 vs 0.204 for base pooled).

Data-set sizes apply to quad data; for ``--dataset digits`` the preset's quad sizes are not
used.
"""

from __future__ import annotations

import argparse

from latentgraph.app.presets import Estimate, frozen_presets

RUN_PRESETS = frozen_presets(
    {
        "paper": {
            "image_size": None,  # 64 for quad data, 32 for digits
            "sizes": "official",
            "n_train": None,  # QUAD_DEFAULTS
            "n_valid": None,
            "n_test": None,
            "n_heldout": None,
            "steps": 48_000,
            "batch_size": 512,
            "backbone_norm": "group",
            "module_norm": "layer",
            "batching": "mixed",
        },
        "cpu": {
            "image_size": 32,
            "sizes": "cpu",
            "n_train": 20_000,
            "n_valid": 500,
            "n_test": 1_000,
            "n_heldout": 1_000,
            "steps": 15_000,
            "batch_size": 64,
            "backbone_norm": "batch",
            "module_norm": "batch",
            "batching": "single-context",
        },
    }
)
QUAD_SIZES = ("n_train", "n_valid", "n_test", "n_heldout")
SIZING = ("image_size", "sizes", *QUAD_SIZES, "steps", "batch_size")
"""Options that size a run: typing one keeps ``--preset auto`` at ``paper`` (the old defaults)."""

STEP_SECONDS = {
    # (network sizes, image size, device type):
    #   (s/step at batch 64, final evaluation s per 1000 n_eval, the 20 periodic evaluations s)
    ("cpu", 32, "cpu"): (0.027, 30.0, 60.0),
}
"""Measured on this project's 2-core x86_64 CPU, one torch thread, from two run lengths: the
15k-step cm and base pooled runs of BENCHMARKS.md's BatchNorm section (466-468 s of training
with the other core busy, 15-30 s of final evaluation at 1,000 images per context) and a
400-step ``--preset cpu`` run (206 s of training at a CPU load of about 3 on 2 cores, so about
60 s of it the 20 periodic validation evaluations, whatever the length). The official network
has no measurement yet."""


def estimate(args: argparse.Namespace, device: str) -> Estimate:
    """Seconds of training and evaluation for the resolved ``args`` on ``device`` (linear in
    steps, batch size and evaluation images)."""
    image_size = args.image_size or (32 if args.dataset == "digits" else 64)
    key = (args.sizes, image_size, device.split(":")[0])
    if key not in STEP_SECONDS:
        return Estimate(
            None,
            f"no step time measured for the {args.sizes} network at {image_size}px on {key[2]}",
        )
    per_step, final, periodic = STEP_SECONDS[key]
    step = per_step * args.batch_size / 64
    return Estimate(
        args.steps * step + final * args.n_eval / 1000 + periodic,
        f"{step:.3g} s/step from BENCHMARKS.md's 2-core CPU runs",
    )
