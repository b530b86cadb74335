"""Diagnosis: why the interaction-asymmetry decoder's attention stays uniform (issue 16).

One factor at a time against a base recipe, same seed, same steps, one torch thread: each
variant trains the regularised Transformer VAE (Brady et al., arXiv 2411.07784) on 32x32
sprites with 2-3 objects through the library's own :func:`fit` and logs J-ARI, JIS and L_int
on a fixed small validation set every ``--eval-every`` steps (a learning curve). Each variant's
curve goes to ``benchmarks/results/ia_diagnosis/<variant>.json``; a variant whose file exists
is read back, not rerun (resumable). The table is printed as Markdown (``--record`` writes it
into BENCHMARKS.md through ``benchmarks/_record.py``).

The base recipe is the ``cpu`` preset before this diagnosis (the 16k-step hold recipe of
BENCHMARKS.md): the original 64x64 object sizes (``scale`` 0.10-0.15 of the side: 3-5 pixels at
32x32), no LayerNorm on the cross-attention keys/values (the library before this diagnosis;
the official layer has one), attention logits scaled by the model width, 256 pixels per image drawn uniformly,
Adam 5e-4 after a 320-step warm-up, alpha 0.05 warmed up over 800 steps, beta 0.05, K = 5,
batch 32. Each variant changes the factors named in :data:`VARIANTS`.

    python benchmarks/interaction_asymmetry_diagnosis.py --list
    python benchmarks/interaction_asymmetry_diagnosis.py --only base,big --steps 1500
    python benchmarks/interaction_asymmetry_diagnosis.py --steps 1500 --record
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

try:
    from benchmarks._record import RESULTS, provenance, save_json, update_benchmarks_md
except ImportError:  # run as a script from benchmarks/
    from _record import RESULTS, provenance, save_json, update_benchmarks_md

from latentgraph.data.sprites import make_sprites  # noqa: E402
from latentgraph.families.interaction_asymmetry import (  # noqa: E402
    LearningRateSchedule,
    ScheduledTrainConfig,
    SpeedSettings,
    cpu_config,
    fit,
)
from latentgraph.families.interaction_asymmetry.evaluate import (  # noqa: E402
    _loss_terms,
    jacobian_scores,
)

OUT = RESULTS / "ia_diagnosis"
KV = {"kv_norm": True}
BIG = {"scale_range": (0.16, 0.24)}
HEAD = {"attention_scale": "head_dim"}
INTENSITY = {"pixel_sampler": "intensity"}
COMBO = {**BIG, **HEAD, **INTENSITY}
FULL = {**KV, **COMBO}
VARIANTS: dict[str, tuple[str, dict]] = {
    "full": ("kv LayerNorm + big objects + head-dim scale + intensity sampler", FULL),
    "combo": ("full without the kv LayerNorm (the issue's probe recipe)", COMBO),
    "kv-norm": ("base + the official kv LayerNorm (the bug fix alone)", KV),
    "base": ("the cpu preset before the diagnosis", {}),
    "full-small": (
        "full with the original object sizes (0.10-0.15)",
        {**FULL, "scale_range": None},
    ),
    "full-width": ("full with width scaling", {**FULL, "attention_scale": "width"}),
    "full-uniform": ("full with uniform pixels", {**FULL, "pixel_sampler": "uniform"}),
    "big": ("base + big objects (scale 0.16-0.24)", BIG),
    "head-dim": ("base + head-dim logit scale", HEAD),
    "intensity": ("base + intensity sampler", INTENSITY),
    "full-lr1e-3": ("full, Adam 1e-3", {**FULL, "lr": 1e-3}),
    "full-alpha0.45": ("full, alpha 0.45 (head-count matched)", {**FULL, "alpha": 0.45}),
    "full-neither": ("full, alpha = beta = 0", {**FULL, "alpha": 0.0, "beta": 0.0}),
    "full-k4": ("full, K = 4 slots", {**FULL, "n_slots": 4}),
    "full-beta0": ("full, beta = 0", {**FULL, "beta": 0.0}),
    "full-batch64": ("full, batch 64", {**FULL, "batch_size": 64}),
    "full-all-pixels": ("full, all 1,024 pixels", {**FULL, "pixels_per_image": None}),
}
BASE = {
    "kv_norm": False,
    "scale_range": None,
    "attention_scale": "width",
    "pixel_sampler": "uniform",
    "pixels_per_image": 256,
    "lr": 5e-4,
    "lr_warmup": 320,
    "alpha": 0.05,
    "alpha_warmup": 800,
    "beta": 0.05,
    "n_slots": 5,
    "batch_size": 32,
}


def data(scale_range, n_images: int, seed: int = 0):
    ds = make_sprites(n_images, 32, n_objects=(2, 3), seed=seed, scale_range=scale_range)
    return ds.split("train")["images"], ds.split("valid")


def run_variant(name: str, steps: int, eval_every: int, eval_images: int, n_images: int) -> dict:
    description, changes = VARIANTS[name]
    s = {**BASE, **changes}
    images, valid = data(s["scale_range"], n_images)
    v_images, v_masks = valid["images"][:eval_images], valid["masks"][:eval_images]
    config = cpu_config(
        n_slots=s["n_slots"],
        alpha=s["alpha"],
        beta=s["beta"],
        attention_scale=s["attention_scale"],
        kv_norm=s["kv_norm"],
        alpha_warmup_steps=s["alpha_warmup"],
    )
    schedule = LearningRateSchedule(
        peak=s["lr"], warmup_steps=s["lr_warmup"], drop_to=None, decay_factor=1.0
    )
    train_config = ScheduledTrainConfig(
        steps=steps,
        batch_size=s["batch_size"],
        seed=0,
        device="cpu",
        eval_every=eval_every,
        log_every=50,
        progress=False,
        schedule=schedule,
    )
    speed = SpeedSettings(pixels_per_image=s["pixels_per_image"], pixel_sampler=s["pixel_sampler"])
    curve: list[dict] = []
    start = time.perf_counter()
    eval_seconds = 0.0

    def evaluate(fitted, step: int) -> dict:
        nonlocal eval_seconds
        t0 = time.perf_counter()
        scores, _ = jacobian_scores(fitted, v_images, v_masks)
        loc, scale = fitted.encode(v_images)
        terms = _loss_terms(fitted, loc, scale)
        eval_seconds += time.perf_counter() - t0
        row = {"step": step, **scores, "l_int": terms["l_int"], "kl": terms["kl"],
               "train_wall_s": time.perf_counter() - start - eval_seconds}  # fmt: skip
        curve.append(row)
        print(f"  {name} step {step}: " + " ".join(f"{k}={v:.4g}" for k, v in row.items()
              if k != "step"), flush=True)  # fmt: skip
        return {k: row[k] for k in ("j_ari", "jis", "l_int")}

    fitted = fit(images, config=config, train_config=train_config, speed=speed, evaluate=evaluate)
    wall = time.perf_counter() - start
    last = fitted.history.rows[-1] if fitted.history.rows else {}
    return {
        **provenance(),
        "variant": name,
        "description": description,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()},
        "steps": steps,
        "eval_images": eval_images,
        "n_train_images": len(images),
        "l_int_max": config.decoder.n_heads**2 * (config.n_slots - 1) / (2 * config.n_slots),
        "curve": curve,
        "wall_s": wall,
        "train_wall_s": wall - eval_seconds,
        "s_per_step": (wall - eval_seconds) / steps,
        "last_logs": {k: float(v) for k, v in (last or {}).items() if np.isscalar(v)},
    }


def init_stats(name: str, n_images: int = 600, batch: int = 32) -> dict:
    """What each factor does to the decoder's attention at initialisation (seconds, no
    training): the spread of the slot logits, the largest attention weight, L_int / max, the
    gradient reaching the decoder's key projections (how fast the attention can move), and the
    foreground pixels among those decoded per image."""
    from latentgraph.families.interaction_asymmetry import InteractionAsymmetryObjective
    from latentgraph.families.interaction_asymmetry.pyro_model import InteractionAsymmetryVAE

    s = {**BASE, **VARIANTS[name][1]}
    ds = make_sprites(n_images, 32, n_objects=(2, 3), seed=0, scale_range=s["scale_range"])
    train = ds.split("train")
    torch.manual_seed(0)
    config = cpu_config(
        n_slots=s["n_slots"], alpha=s["alpha"], beta=s["beta"],
        attention_scale=s["attention_scale"], kv_norm=s["kv_norm"],
    )  # fmt: skip
    vae = InteractionAsymmetryVAE(config)
    objective = InteractionAsymmetryObjective(
        vae, alpha=lambda step: s["alpha"], pixels_per_image=s["pixels_per_image"],
        pixel_sampler=s["pixel_sampler"],
    )  # fmt: skip
    images = torch.as_tensor(train["images"][:batch]).float()
    masks = torch.as_tensor(train["masks"][:batch]).flatten(1)
    loss, logs = objective.loss({"images": images}, step=1)
    loss.backward()
    key_grad = sum(float(layer.k.weight.grad.norm()) for layer in vae.decoder.layers)
    with torch.no_grad():
        loc, _ = vae.encode(images / 255.0)
        _, attention = vae.decoder(loc)
        log_a = attention.clamp_min(1e-30).log()
        logit_sd = float(log_a.std(dim=-1).mean())
        max_weight = float(attention.amax(-1).mean())
        if s["pixel_sampler"] == "intensity":
            from latentgraph.families.interaction_asymmetry.fit_pyro import intensity_pixels

            pixels, _ = intensity_pixels(images / 255.0, s["pixels_per_image"])
        else:
            pixels = torch.rand(batch, 1024).argsort(1)[:, : s["pixels_per_image"]]
        fg = float((torch.gather(masks, 1, pixels) > 0).sum(1).float().mean())
    return {
        "variant": name,
        "logit_sd_over_slots": logit_sd,
        "mean_max_attention": max_weight,
        "uniform_attention": 1 / config.n_slots,
        "l_int_fraction_of_max": float(logs["l_int"])
        / (config.decoder.n_heads**2 * (config.n_slots - 1) / (2 * config.n_slots)),
        "key_grad_norm": key_grad,
        "foreground_pixels_decoded": fg,
        "foreground_share_of_image": float((masks > 0).float().mean()),
    }


def load(name: str) -> dict | None:
    path = OUT / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def table(names: list[str]) -> str:
    """Markdown: each variant's curve and its J-ARI, JIS and L_int at the last step every
    listed variant reached (the runs share seed, data order and schedule, so a longer run's
    curve at step N is what a run of N steps gives)."""
    results = {name: load(name) for name in names}
    results = {name: r for name, r in results.items() if r is not None}
    if not results:
        return "(no finished variants)"
    common = min(r["curve"][-1]["step"] for r in results.values())
    rows = [
        f"| variant | what changes | J-ARI every {results[next(iter(results))]['curve'][0]['step']}"
        f" steps | J-ARI at {common} | JIS at {common} | L_int at {common} (max) | s / step "
        "| wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        curve = result["curve"]
        at = next(row for row in curve if row["step"] == common)
        path = " ".join(f"{row['j_ari']:.2f}" for row in curve)
        rows.append(
            f"| {name} | {result['description']} | {path} | {at['j_ari']:.3f} | "
            f"{at['jis']:.3f} | {at['l_int']:.2f} ({result['l_int_max']:.1f}) | "
            f"{result['s_per_step']:.2f} | {result['wall_s']:.0f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated variants (default: all)")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--eval-images", type=int, default=48)
    parser.add_argument("--n-images", type=int, default=8000)
    parser.add_argument("--record", action="store_true", help="write the table to BENCHMARKS.md")
    parser.add_argument(
        "--init-stats", action="store_true", help="only the at-initialisation statistics"
    )
    args = parser.parse_args()
    if args.init_stats:
        torch.set_num_threads(1)
        names = list(VARIANTS) if args.only is None else args.only.split(",")
        rows = [init_stats(name) for name in names]
        save_json("ia_diagnosis/init_stats", {**provenance(), "rows": rows})
        for row in rows:
            print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else str(v)
                            for k, v in row.items()))  # fmt: skip
        return
    if args.list:
        for name, (description, changes) in VARIANTS.items():
            done = "done" if load(name) else "    "
            print(f"{done} {name:18s} {description}  {changes}")
        return
    torch.set_num_threads(1)
    names = list(VARIANTS) if args.only is None else [v for v in args.only.split(",") if v]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        if load(name) is not None:
            print(f"{name}: read back", flush=True)
            continue
        print(f"{name}: {VARIANTS[name][0]}", flush=True)
        result = run_variant(name, args.steps, args.eval_every, args.eval_images, args.n_images)
        save_json(f"ia_diagnosis/{name}", result)
    print(table(names))
    if args.record:
        body = table(names)
        update_benchmarks_md("Interaction asymmetry: diagnosis of the uniform attention", body)


if __name__ == "__main__":
    main()
