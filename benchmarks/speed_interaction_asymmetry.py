"""Speed: time per training step of the interaction-asymmetry VAE, Pyro program vs plain torch.

All variants share one module, one Adam optimiser and one random batch, in one process:

* ``plain float32``: the paper's loss written out in torch (textbook projected attention, no
  Pyro), the reference the tests compare the Pyro ELBO against;
* ``pyro float32``: what ``latentgraph fit`` runs (folded attention);
* ``pyro bf16``: bf16 autocast of the networks (distributions and sums in float32);
* ``pyro bf16 + compile`` (``--compile``): the networks through ``torch.compile``;
* ``pyro float32, M pixels``: a random subset of M pixels per image (the CPU setting).

Steps alternate in rounds to share machine noise; the median is reported, with peak GPU memory.
Results go to ``benchmarks/results/speed_interaction_asymmetry_<preset>_<device>.json``.

    python benchmarks/speed_interaction_asymmetry.py --preset official --device cuda --compile
    python benchmarks/speed_interaction_asymmetry.py --preset cpu --device cpu --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import pyro
import torch

from latentgraph.families.interaction_asymmetry.config import PRESETS
from latentgraph.families.interaction_asymmetry.fit_pyro import InteractionAsymmetryObjective
from latentgraph.families.interaction_asymmetry.pyro_model import InteractionAsymmetryVAE
from latentgraph.models.interaction_penalty_torch import interaction_penalty

try:
    from benchmarks._record import provenance, save_json
except ImportError:  # run as a script from benchmarks/
    from _record import provenance, save_json

PRESET_SHAPES = {"official": (64, 64), "cpu": (32, 32)}  # image size, batch


def plain_loss(vae: InteractionAsymmetryVAE, x: torch.Tensor, alpha: float) -> torch.Tensor:
    """sigma SSE + beta KL + alpha L_int per image, averaged: the paper's loss in plain torch."""
    c = vae.config
    loc, s = vae.encoder(x)
    std = c.posterior_scale_factor * torch.exp(s)
    z = loc + std * torch.randn_like(std)
    rgb, attention = vae.decoder(z, attention="projected")
    sse = (rgb - x.flatten(1, 2)).square().sum(dim=(1, 2))
    kl = 0.5 * (std**2 + loc**2 - 1 - torch.log(std**2)).sum(dim=(1, 2))
    return (
        c.reconstruction_weight * sse + c.beta * kl + alpha * interaction_penalty(attention)
    ).mean()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESET_SHAPES), default="cpu")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant per round")
    parser.add_argument("--pixels", type=int, default=256, help="pixel-subset variant size")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()
    meta = provenance()  # the commit and date the runs start from
    device = torch.device(args.device)
    size, batch = PRESET_SHAPES[args.preset]
    batch = args.batch_size or batch
    torch.manual_seed(0)
    config = PRESETS[args.preset](image_size=size)
    vae = InteractionAsymmetryVAE(config).to(device)
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-4)
    x = torch.rand(batch, size, size, 3, device=device)
    alpha = config.alpha

    def objective_step(precision: str, compile: bool, pixels: int | None):
        vae.set_speed(precision=precision, compile=compile)
        objective = InteractionAsymmetryObjective(
            vae, alpha=lambda step: alpha, pixels_per_image=pixels
        )
        batch_dict = {"images": x * 255.0}

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss, _ = objective.loss(batch_dict, 10**9)
            loss.backward()
            optimizer.step()

        return step

    def plain_step():
        vae.set_speed()
        optimizer.zero_grad(set_to_none=True)
        plain_loss(vae, x, alpha).backward()
        optimizer.step()

    variants = {
        "plain float32": plain_step,
        "pyro float32": objective_step("float32", False, None),
        "pyro bf16": objective_step("bf16", False, None),
        f"pyro float32, {args.pixels} pixels": objective_step("float32", False, args.pixels),
    }
    if args.compile:
        variants["pyro bf16 + compile"] = objective_step("bf16", True, None)
    times: dict[str, list[float]] = {name: [] for name in variants}
    memory: dict[str, float] = {}
    with pyro.validation_enabled(False):
        for name, step in variants.items():  # warm-up (and compilation)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            step()
            step()
            _sync(device)
            if device.type == "cuda":
                memory[name] = torch.cuda.max_memory_allocated(device) / 2**30
        for _ in range(args.rounds):
            for name, step in variants.items():
                _sync(device)
                start = time.perf_counter()
                for _ in range(args.steps):
                    step()
                _sync(device)
                times[name].append((time.perf_counter() - start) / args.steps)
    reference = statistics.median(times["plain float32"])
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        rows.append(
            {
                "variant": name,
                "s_per_step": median,
                "vs_plain_float32": median / reference,
                "peak_gib": memory.get(name),
            }
        )
        print(f"{name:<32} {median:8.4f} s/step  x{median / reference:5.2f}", flush=True)
    payload = {
        **meta,
        "preset": args.preset,
        "image_size": size,
        "batch_size": batch,
        "n_parameters": sum(p.numel() for p in vae.parameters()),
        "rows": rows,
        "spec_anchor": "official code, H100, fp32: 0.080 s/step, 8.1 GiB (TF32: 0.051 s)",
    }
    path = save_json(f"speed_interaction_asymmetry_{args.preset}_{device.type}", payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
