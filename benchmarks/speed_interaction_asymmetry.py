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
import contextlib
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
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def float32_matmul(precision: str):
    """``torch.set_float32_matmul_precision(precision)`` inside the block only (``"high"``: TF32
    matrix units for float32 products on the GPU; ``"highest"``: true float32)."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def build_case(preset: str, batch: int, device: torch.device, config=None):
    """The module (seed 0) of ``preset``'s network at its image size (or of ``config``), Adam at
    1e-4 and one random batch ``(batch, size, size, 3)`` in [0, 1]; returns
    ``(vae, optimizer, x)``."""
    size = PRESET_SHAPES[preset][0] if config is None else config.image_size
    torch.manual_seed(0)
    config = PRESETS[preset](image_size=size) if config is None else config
    vae = InteractionAsymmetryVAE(config).to(device)
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-4)
    x = torch.rand(batch, size, size, 3, device=device)
    return vae, optimizer, x


def objective_step(vae, optimizer, x, *, precision="float32", compile=False, pixels=None,
                   matmul="highest"):  # fmt: skip
    """One training step of the Pyro objective (what ``latentgraph fit`` runs) on ``x``, with the
    speed settings applied on every call (the variants share one module)."""
    alpha = vae.config.alpha
    vae.set_speed(precision=precision, compile=compile)
    compiled = vae._compiled  # keep this variant's compiled networks across calls
    objective = InteractionAsymmetryObjective(
        vae, alpha=lambda step: alpha, pixels_per_image=pixels
    )
    batch_dict = {"images": x * 255.0}

    def step():
        vae.precision, vae._compiled = precision, compiled
        with float32_matmul(matmul):
            optimizer.zero_grad(set_to_none=True)
            loss, _ = objective.loss(batch_dict, 10**9)
            loss.backward()
            optimizer.step()

    return step


def plain_step(vae, optimizer, x):
    """One step of :func:`plain_loss` in float32 (the reference of the ratios)."""
    alpha = vae.config.alpha

    def step():
        vae.set_speed()
        with float32_matmul("highest"):
            optimizer.zero_grad(set_to_none=True)
            plain_loss(vae, x, alpha).backward()
            optimizer.step()

    return step


def time_variants(variants: dict, *, rounds: int, steps: int, device: torch.device) -> list[dict]:
    """Median seconds per step of each variant (two warm-up steps each, which also compile),
    alternating in ``rounds`` rounds of ``steps`` steps, with the peak GPU memory of the
    warm-up; ratios against the first variant."""
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
        for _ in range(rounds):
            for name, step in variants.items():
                _sync(device)
                start = time.perf_counter()
                for _ in range(steps):
                    step()
                _sync(device)
                times[name].append((time.perf_counter() - start) / steps)
    reference = statistics.median(next(iter(times.values())))
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
    return rows


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
    vae, optimizer, x = build_case(args.preset, batch, device)
    variants = {
        "plain float32": plain_step(vae, optimizer, x),
        "pyro float32": objective_step(vae, optimizer, x),
        "pyro bf16": objective_step(vae, optimizer, x, precision="bf16"),
        f"pyro float32, {args.pixels} pixels": objective_step(
            vae, optimizer, x, pixels=args.pixels
        ),
    }
    if args.compile:
        variants["pyro bf16 + compile"] = objective_step(
            vae, optimizer, x, precision="bf16", compile=True
        )
    rows = time_variants(variants, rounds=args.rounds, steps=args.steps, device=device)
    for row in rows:
        print(
            f"{row['variant']:<32} {row['s_per_step']:8.4f} s/step  x{row['vs_plain_float32']:5.2f}",
            flush=True,
        )
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
