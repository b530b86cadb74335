"""Presets of ``latentgraph fit interaction-asymmetry`` and the duration they take.

``paper``: Brady et al. (arXiv 2411.07784, App. D): 64x64 sprites with 2-4 objects (1e5
images) of the original sizes, the official network (logits scaled by the query width, as the
official code), 500k steps at batch 64, every pixel decoded; with the default
``--schedule scaled`` at 500k steps the schedule is the official one. ``cpu``: 32x32 sprites
(2e4 images) whose objects are 0.16-0.24 of the side (the original 0.10-0.15 are 3-5 pixels at
32x32), the ``cpu`` network with logits scaled by the head dimension, 16k steps at batch 32,
256 pixels per image and step drawn by the unbiased intensity-weighted sampler, the peak
learning rate held: the recipe of issue 16's diagnosis (``docs/interaction_asymmetry.md``,
"Why the attention stayed uniform"; ``BENCHMARKS.md``, "Interaction asymmetry: diagnosis of
the uniform attention"). Both run the official key-value LayerNorm (``--kv-norm on``).
"""

from __future__ import annotations

import argparse

from latentgraph.app.presets import Estimate, frozen_presets

RUN_PRESETS = frozen_presets(
    {
        "paper": {
            "image_size": 64,
            "n_images": 100_000,
            "sizes": None,  # official at 64x64
            "steps": 500_000,
            "batch_size": 64,
            "pixels_per_image": None,  # every pixel
            "schedule": "scaled",
            "jacobian_images": 64,
            "attention_scale": "width",  # the official code's
            "pixel_sampler": "uniform",
            "object_scale": None,  # the original's 0.1-0.15 of the side
        },
        "cpu": {
            "image_size": 32,
            "n_images": 20_000,
            "sizes": "cpu",
            "steps": 16_000,
            "batch_size": 32,
            "pixels_per_image": 256,
            "schedule": "hold",
            "jacobian_images": 200,
            "attention_scale": "head_dim",
            "pixel_sampler": "intensity",
            "object_scale": (0.16, 0.24),
        },
    }
)
SIZING = ("image_size", "n_images", "sizes", "steps", "batch_size", "pixels_per_image")
"""Options that size a run: typing one keeps ``--preset auto`` at ``paper`` (the old defaults)."""

STEP_SECONDS = {
    # (network sizes, image size, device type): (s/step at batch 32 and 256 pixels, fixed s)
    ("cpu", 32, "cpu"): (0.21, 50.0),
}
"""Measured on this project's 2-core x86_64 CPU, one torch thread, from two run lengths: the
16k-step hold runs of ``BENCHMARKS.md`` (0.176-0.245 s/step, 25 s of final evaluation with 200
Jacobian images) and a 150-step ``--preset cpu`` run (167 s of training at a CPU load of about
3 on 2 cores, so about 25 s of it the 10 periodic validation evaluations, whatever the
length). Fixed: final plus periodic evaluation. The official network at 64x64 has no CPU or
GPU measurement yet."""


def pixel_factor(pixels: int) -> float:
    """Step time relative to 256 decoded pixels per image: ``0.649 + 0.00137 * pixels``, the
    line through BENCHMARKS.md's "step time on the CPU" section (0.132 s at 256 pixels, 0.271
    s at all 1024)."""
    return 0.649 + 0.00137 * pixels


def estimate(args: argparse.Namespace, device: str) -> Estimate:
    """Seconds of training and evaluation for the resolved ``args`` on ``device`` (linear in
    steps and batch size, :func:`pixel_factor` in the decoded pixels)."""
    sizes = args.sizes or ("official" if args.image_size == 64 else "cpu")
    key = (sizes, args.image_size, device.split(":")[0])
    if key not in STEP_SECONDS:
        return Estimate(
            None,
            f"no step time measured for the {sizes} network at {args.image_size}px on {key[2]}",
        )
    per_step, fixed = STEP_SECONDS[key]
    pixels = args.pixels_per_image or args.image_size**2
    step = per_step * args.batch_size / 32 * pixel_factor(pixels)
    return Estimate(
        args.steps * step + fixed,
        f"{step:.3g} s/step from BENCHMARKS.md's 2-core CPU runs",
    )
