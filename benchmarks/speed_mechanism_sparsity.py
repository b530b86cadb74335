"""Speed: time per SVI step of the Pyro program against a plain PyTorch step of the same loss.

Both steps use the same module, the same Adam optimiser and the same minibatch; the plain step
computes the identical negative ELBO (``reference_torch.negative_elbo``, checked equal to Pyro's
in the tests) without any Pyro machinery. Steps alternate in rounds to share machine noise; the
median of the rounds is reported.

    python benchmarks/speed_mechanism_sparsity.py [--device cpu|cuda] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyro
import torch

from latentgraph.families.mechanism_sparsity.config import (
    MechanismSparsityConfig,
    NetworkSizes,
    demo_sizes,
)
from latentgraph.families.mechanism_sparsity.pyro_model import MechanismSparsityVAE
from latentgraph.families.mechanism_sparsity.reference_torch import negative_elbo, relaxed_masks
from latentgraph.inference.elbo_pyro import AnalyticMeanFieldELBO

try:
    from benchmarks._record import provenance, save_json, update_benchmarks_md
except ImportError:  # run as a script from benchmarks/
    from _record import provenance, save_json, update_benchmarks_md

CASES = {
    "official (6x512 enc/dec, 10 x 5x512 transitions, batch 1024)": (NetworkSizes(), 1024),
    "demo (3x128 enc/dec, 10 x 2x64 transitions, batch 256)": (demo_sizes(), 256),
}


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (host clocks then measure finished work)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class MechanismCase:
    """One module, one Adam optimiser and one minibatch shared by every timed step.

    ``x`` is ``(batch, 1, 20)`` and ``actions`` ``(batch, 10)``: ``action_sparsity_non_trivial``'s
    shapes (d_z = d_a = 10, d_x = 20; Lachapelle et al. 2024, arXiv 2401.04890, Sec. 8.1).
    """

    vae: MechanismSparsityVAE
    optimizer: torch.optim.Optimizer
    x: torch.Tensor
    actions: torch.Tensor

    @property
    def device(self) -> torch.device:
        return self.x.device


def build_case(sizes: NetworkSizes, batch: int, device: torch.device) -> MechanismCase:
    """The module (seed 0), Adam at 5e-4 and a random minibatch of ``batch`` examples."""
    torch.manual_seed(0)
    config = MechanismSparsityConfig(n_latents=10, n_obs=20, n_actions=10, sizes=sizes)
    vae = MechanismSparsityVAE(config).to(device)
    opt = torch.optim.Adam(vae.parameters(), lr=5e-4)
    x = torch.randn(batch, 1, 20, device=device)
    a = torch.rand(batch, 10, device=device) * 4 - 2
    return MechanismCase(vae, opt, x, a)


def pyro_step(case: MechanismCase, elbo) -> Callable[[], None]:
    """One SVI step of the Pyro program with ``elbo`` (``AnalyticMeanFieldELBO`` in training)."""

    def step() -> None:
        case.optimizer.zero_grad(set_to_none=True)
        elbo.differentiable_loss(case.vae.model, case.vae.guide, case.x, case.actions).backward()
        case.optimizer.step()

    return step


def plain_loss(case: MechanismCase) -> Callable[..., torch.Tensor]:
    """``loss(x, actions, noise, uniforms)``: the negative ELBO as plain PyTorch, with the
    reparameterisation noise ``(batch, 1, 10)`` and the Gumbel uniforms ``(10, 10)`` as inputs
    (so that :func:`torch.compile` and CUDA graphs see fixed-shape tensors only)."""
    vae = case.vae

    def loss(x, actions, noise, uniforms):
        masks = relaxed_masks(vae, {"action_graph": uniforms})
        return negative_elbo(vae, x, actions, latent_noise=noise, masks=masks)

    return loss


def plain_step(case: MechanismCase, loss: Callable[..., torch.Tensor] | None = None):
    """One step of the plain loss (or of ``loss``, e.g. a compiled :func:`plain_loss`)."""
    loss = plain_loss(case) if loss is None else loss
    batch, device = case.x.shape[0], case.device

    def step() -> None:
        case.optimizer.zero_grad(set_to_none=True)
        uniforms = torch.rand(10, 10, device=device)
        noise = torch.randn(batch, 1, 10, device=device)
        loss(case.x, case.actions, noise, uniforms).backward()
        case.optimizer.step()

    return step


def repeat(step: Callable[[], None], steps: int) -> Callable[[], None]:
    """``steps`` calls of ``step``: one timed unit of :func:`alternate`."""

    def run() -> None:
        for _ in range(steps):
            step()

    return run


def alternate(
    units: dict[str, Callable[[], None]],
    *,
    rounds: int,
    steps: int,
    device: torch.device,
    warmup: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per step of each unit (one unit runs ``steps`` steps), ``rounds`` times, the
    units alternating within each round so that all share the machine's noise. ``warmup`` runs
    once first (compilation, allocator); each unit is then timed between two device syncs."""
    if warmup is not None:
        warmup()
    times: dict[str, list[float]] = {name: [] for name in units}
    for _ in range(rounds):
        for name, unit in units.items():
            sync(device)
            start = time.perf_counter()
            unit()
            sync(device)
            times[name].append((time.perf_counter() - start) / steps)
    return times


def time_case(
    sizes: NetworkSizes, batch: int, device: torch.device, rounds: int, steps: int
) -> dict:
    case = build_case(sizes, batch, device)
    step_fns = {
        "pyro": pyro_step(case, AnalyticMeanFieldELBO()),  # what training uses
        "pyro_tmf": pyro_step(case, pyro.infer.TraceMeanField_ELBO()),  # stock, same value
        "plain": plain_step(case),
    }

    def warmup() -> None:
        for fn in step_fns.values():
            repeat(fn, 3)()

    units = {name: repeat(fn, steps) for name, fn in step_fns.items()}
    times = alternate(units, rounds=rounds, steps=steps, device=device, warmup=warmup)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "pyro_ms": 1e3 * med["pyro"],
        "pyro_trace_mean_field_ms": 1e3 * med["pyro_tmf"],
        "plain_ms": 1e3 * med["plain"],
        "ratio": med["pyro"] / med["plain"],
        "ratio_trace_mean_field": med["pyro_tmf"] / med["plain"],
        "batch": batch,
        "steps_per_round": steps,
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    pyro.enable_validation(False)
    results = {}
    for label, (sizes, batch) in CASES.items():
        steps = 3 if sizes.transition_hidden >= 512 and device.type == "cpu" else 50
        results[label] = time_case(sizes, batch, device, args.rounds, steps)
        r = results[label]
        print(
            f"{label}: pyro {r['pyro_ms']:.2f} ms, plain {r['plain_ms']:.2f} ms, ratio {r['ratio']:.3f};"
            f" stock TraceMeanField {r['pyro_trace_mean_field_ms']:.2f} ms ({r['ratio_trace_mean_field']:.3f})"
        )
    meta = provenance()
    save_json(f"speed_mechanism_sparsity_{device.type}", {"meta": meta, "results": results})
    rows = "\n".join(
        f"| {label} | {r['pyro_ms']:.2f} | {r['plain_ms']:.2f} | **{r['ratio']:.3f}** |"
        f" {r['pyro_trace_mean_field_ms']:.2f} ({r['ratio_trace_mean_field']:.3f}) |"
        for label, r in results.items()
    )
    update_benchmarks_md(
        f"Speed: Pyro SVI step vs plain PyTorch step ({device.type})",
        f"""Command: `{meta["command"]}`; machine: {meta["machine"]}; date: {meta["date"]};
commit: `{meta["commit"]}`; torch {meta["torch"]}. Median over {args.rounds} alternating rounds.

| case | Pyro step (ms) | plain PyTorch step (ms) | ratio | Pyro with stock TraceMeanField_ELBO (ms, ratio) |
|---|---|---|---|---|
{rows}
""",
    )


if __name__ == "__main__":
    main()
