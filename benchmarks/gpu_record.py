"""Turn a GPU check's JSON (``benchmarks/gpu_check.py``) into a BENCHMARKS.md section.

One section per run: machine, date and commit; the targets of issue 19 with the anchors beside
each number and a pass or fail; then every stage's numbers (a failed or timed-out stage shows
its error and whatever it measured). A dry run renders the same tables with its verdicts marked
not applicable (tiny sizes on a CPU test the script, not the targets).

    python benchmarks/gpu_record.py OUT/gpu_check.json              # print the section
    python benchmarks/gpu_record.py OUT/gpu_check.json --write      # into BENCHMARKS.md
    python benchmarks/gpu_record.py OUT/gpu_check.json --md-out /tmp/section.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import update_benchmarks_md  # noqa: E402

MECHANISM_ANCHORS = {
    "pyro": "about 7 ms eager (one H100)",
    "plain": "about 7 ms eager (one H100)",
    "compiled": "-",
    "compiled_cudagraphs": "2.2 ms (one H100)",
    "numpyro": "-",
}
"""Issue 19's anchors per mechanism-sparsity step (official sizes); the official code's loop
takes 50.7 ms per iteration on one H100, of which about 0.2 ms is arithmetic."""
MECHANISM_NAMES = {
    "pyro": "Pyro program (AnalyticMeanFieldELBO), eager",
    "plain": "plain PyTorch, same loss, eager",
    "compiled": "plain loss through torch.compile",
    "compiled_cudagraphs": "torch.compile, CUDA graphs (reduce-overhead)",
    "numpyro": "NumPyro jitted step (constrained, in a lax.scan chunk)",
}
INTERACTION_ANCHORS = {
    "plain float32": "official code 0.080 s float32 (one H100)",
    "pyro tf32": "official code 0.051 s TF32 (one H100)",
}
RATIO_TARGET, COMPILED_ANCHOR_MS, SWEEP_TARGET = 1.3, 2.2, 10.0
STEP_TARGET_S, J_ARI_TARGET = 0.025, 0.8


def _stage(payload: dict, name: str) -> tuple[str, dict]:
    entry = payload.get("stages", {}).get(name)
    if entry is None:
        return "not run", {}
    return entry["status"], entry.get("result", {})


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _verdict(payload: dict, ok: bool | None, applicable: bool = True) -> str:
    if ok is None:
        return "not measured"
    if payload["meta"].get("dry_run") or not applicable:
        return "n/a (dry run)" if payload["meta"].get("dry_run") else "n/a (not official sizes)"
    return "**pass**" if ok else "**fail**"


def targets(payload: dict) -> list[dict]:
    """Issue 19's targets: ``{"target", "anchor", "measured", "verdict"}`` per row."""
    rows = []
    status, r = _stage(payload, "tests")
    if "passed" in r:
        bad = r.get("failed", 0) + r.get("errors", 0)
        ok = status == "ok" and bad == 0 and r["passed"] > 0
        measured = (
            f"{r['passed']} passed, {r.get('failed', 0)} failed, {r.get('errors', 0)} errors, "
            f"{r.get('skipped', 0)} skipped ({status})"
        )
    else:
        ok, measured = None, status
    rows.append({"target": "tests that touch a device pass on it", "anchor": "all pass",
                 "measured": measured, "verdict": _verdict(payload, ok)})  # fmt: skip

    status, r = _stage(payload, "mechanism")
    official = r.get("sizes") == "official"
    ratio = r.get("pyro_over_plain")
    rows.append({
        "target": f"mechanism sparsity: Pyro / plain step <= {RATIO_TARGET}",
        "anchor": "plain eager about 7 ms (one H100)",
        "measured": f"{ratio:.3f}" if _finite(ratio) else status,
        "verdict": _verdict(payload, ratio <= RATIO_TARGET if _finite(ratio) else None, official),
    })  # fmt: skip
    best = r.get("best_compiled_ms")
    rows.append({
        "target": f"mechanism sparsity: a compiled step <= 2 x {COMPILED_ANCHOR_MS} ms",
        "anchor": f"{COMPILED_ANCHOR_MS} ms with CUDA graphs (one H100)",
        "measured": f"{best:.2f} ms" if _finite(best) else status,
        "verdict": _verdict(
            payload, best <= 2 * COMPILED_ANCHOR_MS if _finite(best) else None, official
        ),
    })  # fmt: skip

    status, r = _stage(payload, "sweep")
    speedup = r.get("speedup_vmap")
    rows.append({
        "target": f"NumPyro sweep of 8 runs >= {SWEEP_TARGET:g} x 8 sequential run-steps/s",
        "anchor": f">= {SWEEP_TARGET:g}x",
        "measured": f"{speedup:.2f}x" if _finite(speedup) else status,
        "verdict": _verdict(payload, speedup >= SWEEP_TARGET if _finite(speedup) else None,
                            r.get("sizes") == "official"),
    })  # fmt: skip

    status, r = _stage(payload, "interaction_speed")
    step = r.get("best_s_per_step")
    rows.append({
        "target": f"interaction asymmetry 64x64, batch 64: a step <= {STEP_TARGET_S} s",
        "anchor": "official code 0.080 s float32, 0.051 s TF32 (one H100)",
        "measured": f"{step:.4f} s ({r.get('best_variant')})" if _finite(step) else status,
        "verdict": _verdict(payload, step <= STEP_TARGET_S if _finite(step) else None,
                            r.get("preset") == "official"),
    })  # fmt: skip

    status, r = _stage(payload, "fit")
    j_ari = r.get("j_ari")
    measured = status
    if _finite(j_ari):
        measured = f"{j_ari:.3f} after {r.get('steps')} steps ({r.get('preset')})"
    rows.append({
        "target": f"interaction asymmetry: J-ARI >= {J_ARI_TARGET}",
        "anchor": "J-ARI >= 0.8 after the paper's 500k steps; CPU, 16k steps: 0.61 / 0.39",
        "measured": measured,
        "verdict": _verdict(payload, j_ari >= J_ARI_TARGET if _finite(j_ari) else None),
    })  # fmt: skip
    return rows


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value, fmt: str, missing: str = "-") -> str:
    return format(value, fmt) if _finite(value) else missing


def section_title(payload: dict) -> str:
    meta = payload["meta"]
    _, env = _stage(payload, "env")
    gpu = (env.get("gpu") or {}).get("name") or "no GPU"
    if meta.get("dry_run"):
        return f"GPU check: dry run on the CPU ({meta['date']})"
    return f"GPU check: {gpu} ({meta['date']})"


def render(payload: dict) -> str:
    """The section's body (Markdown) for one GPU check's JSON."""
    if payload.get("schema") != 1 or "meta" not in payload or "stages" not in payload:
        raise ValueError("payload must be a gpu_check.py JSON (schema 1 with meta and stages)")
    meta = payload["meta"]
    _, env = _stage(payload, "env")
    gpu = env.get("gpu") or {}
    smi = env.get("nvidia_smi") or {}
    packages = env.get("packages") or {}

    def version(name: str) -> str:
        found = packages.get(name)
        return found["version"] if found else "absent"

    machine = (
        f"{gpu['name']}, {gpu['memory_gib']:.0f} GiB, capability {gpu['capability']}, "
        f"{gpu['multiprocessors']} multiprocessors, driver {smi.get('driver_version', '?')}"
        if gpu
        else "no GPU (CPU only)"
    )
    parts = [
        f"Command: `{meta['command']}`; machine: {machine}, {env.get('cpu_count', '?')} CPU "
        f"cores; date: {meta['date']}; commit: `{meta['commit']}`. torch {version('torch')} "
        f"(CUDA {env.get('torch_cuda')}), jax {version('jax')} ({(env.get('jax') or {}).get('backend', '?')}), "
        f"numpyro {version('numpyro')}, pyro-ppl {version('pyro-ppl')}; flags "
        f"{json.dumps(env.get('flags', {}))}. Budget {meta['budget_s']:.0f} s, "
        f"{payload.get('total_wall_s', float('nan')):.0f} s used; stages in "
        f"{meta.get('stage_processes', '?')} processes.",
    ]
    if meta.get("dry_run"):
        parts.append(
            "**Dry run**: every stage on the CPU at tiny sizes, to show the script works; its "
            "numbers are not GPU measurements and its verdicts do not apply."
        )
    rows = targets(payload)
    parts.append("Targets (issue 19):\n\n" + _table(
        ["target", "anchor", "measured", "verdict"],
        [[r["target"], r["anchor"], r["measured"], r["verdict"]] for r in rows],
    ))  # fmt: skip
    parts.append("Stages:\n\n" + _table(
        ["stage", "status", "wall s", "CPU s", "cap s", "note"],
        [[name, e["status"], _num(e.get("wall_s"), ".1f"), _num(e.get("cpu_s"), ".1f"),
          _num(e.get("cap_s"), ".0f"), (e.get("error") or "").replace("|", "/")[:160]]
         for name, e in payload["stages"].items()],
    ))  # fmt: skip
    ceilings = env.get("ceilings") or {}
    if ceilings:
        parts.append(
            f"Ceilings measured in the env stage: copy {_num(ceilings.get('copy_gb_per_s'), '.0f')} "
            f"GB/s (read + written), matrix products {_num(ceilings.get('matmul_bf16_tflop_per_s'), '.1f')} "
            f"TFLOP/s bf16 and {_num(ceilings.get('matmul_float32_tflop_per_s'), '.1f')} TFLOP/s "
            f"float32 (n = {ceilings.get('matmul_n')})."
        )
    parts += [p for p in (_tests(payload), _mechanism(payload, ceilings), _sweep(payload),
                          _interaction(payload), _fit(payload)) if p]  # fmt: skip
    return "\n\n".join(parts) + "\n"


def _tests(payload: dict) -> str:
    status, r = _stage(payload, "tests")
    if not r:
        return ""
    text = (
        f"Tests ({status}): `{r.get('command', '?')}` with LATENTGRAPH_TEST_DEVICE="
        f"{r.get('test_device')}: {r.get('passed', 0)} passed, {r.get('failed', 0)} failed, "
        f"{r.get('errors', 0)} errors, {r.get('skipped', 0)} skipped of {r.get('collected', '?')} "
        f"selected, in {_num(r.get('wall_s'), '.1f')} s."
    )
    if r.get("failed_tests"):
        text += " Failed: " + ", ".join(f"`{t}`" for t in r["failed_tests"][:20]) + "."
    return text


def _mechanism(payload: dict, ceilings: dict) -> str:
    status, r = _stage(payload, "mechanism")
    times = dict(r.get("ms_per_step") or {})
    for name, value in (r.get("compiled_first_ms") or {}).items():  # stopped before the rounds
        times.setdefault(name, value)
    if not times:
        return f"Mechanism sparsity ({status}): no step timed." if status != "not run" else ""
    compile_s = r.get("compile_s", {})
    rows = [
        [MECHANISM_NAMES.get(k, k), _num(v, ".2f"), _num(compile_s.get(k), ".1f"),
         MECHANISM_ANCHORS.get(k, "-")]
        for k, v in times.items()
    ]  # fmt: skip
    text = (
        f"Mechanism sparsity ({status}; {r.get('sizes')} sizes, batch {r.get('batch')}, median "
        f"of {r.get('rounds')} alternating rounds of {r.get('steps_per_round')} steps; compile "
        f"backend {r.get('compile_backend', '?')}). Pyro / plain: "
        f"**{_num(r.get('pyro_over_plain'), '.3f')}**. The official code's loop: 50.7 ms per "
        "iteration on one H100, about 0.2 ms of it arithmetic.\n\n"
        + _table(["step", "ms / step", "compile + 3 steps (s)", "anchor"], rows)
    )
    flops, rate = r.get("flops_per_step"), ceilings.get("matmul_float32_tflop_per_s")
    if _finite(flops) and _finite(rate):
        text += (
            f"\n\nArithmetic per step (FlopCounterMode, matrix products): {flops / 1e9:.3f} "
            f"GFLOP, {flops / (rate * 1e12) * 1e3:.3f} ms at the measured float32 rate."
        )
    return text


def _sweep(payload: dict) -> str:
    status, r = _stage(payload, "sweep")
    if "sequential_run_steps_per_s" not in r:
        return f"Sweep ({status}): not measured." if status != "not run" else ""
    return (
        f"NumPyro sweep ({status}; {r.get('sizes')} sizes, batch {r.get('batch_size')}, "
        f"{r.get('runs')} runs x {r.get('steps')} steps): vmapped "
        f"{r['sweep_run_steps_per_s_vmap']:.1f} run-steps/s against "
        f"{r['sequential_run_steps_per_s']:.1f} for the runs one after another: "
        f"**{r['speedup_vmap']:.2f}x** (target >= {SWEEP_TARGET:g}x)."
    )


def _interaction(payload: dict) -> str:
    status, r = _stage(payload, "interaction_speed")
    rows = r.get("rows") or r.get("eager_rows") or []
    if not rows:
        return (
            f"Interaction asymmetry step ({status}): not measured." if status != "not run" else ""
        )
    compile_s = r.get("compile_s", {})
    table = _table(
        ["variant", "s / step", "vs plain float32", "peak GiB", "compile + 2 steps (s)", "anchor"],
        [[row["variant"], _num(row["s_per_step"], ".4f"), _num(row["vs_plain_float32"], ".2f"),
          _num(row.get("peak_gib"), ".2f"), _num(compile_s.get(row["variant"]), ".1f"),
          INTERACTION_ANCHORS.get(row["variant"], "-")] for row in rows],
    )  # fmt: skip
    return (
        f"Interaction asymmetry step ({status}; {r.get('preset')} network, "
        f"{r.get('image_size')}x{r.get('image_size')}, batch {r.get('batch')}, "
        f"{r.get('n_parameters')} parameters; median of {r.get('rounds')} rounds of "
        f"{r.get('steps_per_round')} steps; target <= {STEP_TARGET_S} s):\n\n{table}"
    )


def _fit(payload: dict) -> str:
    status, r = _stage(payload, "fit")
    if not r:
        return ""
    head = (
        f"Interaction-asymmetry fit ({status}; preset {r.get('preset')}: "
        f"{json.dumps(r.get('settings', {}))}; calibrated "
        f"{_num(r.get('calibrated_s_per_step'), '.4f')} s/step, {r.get('planned_steps')} steps "
        f"planned). Command: `{r.get('command', '?')}`."
    )
    if _finite(r.get("j_ari")):
        head += (
            f" Final: J-ARI **{r['j_ari']:.3f}**, JIS {_num(r.get('jis'), '.3f')}, slot R2 "
            f"{_num(r.get('slot_r2'), '.3f')}, recon MSE {_num(r.get('recon_id'), '.4f')}, "
            f"L_int {_num(r.get('l_int'), '.2f')} (max {_num(r.get('l_int_max'), '.1f')}); "
            f"{_num(r.get('s_per_step'), '.4f')} s/step, {_num(r.get('train_wall_s'), '.0f')} s "
            f"training, {_num(r.get('fixed_s'), '.0f')} s besides."
        )
    elif "checkpoint_step" in r:
        head += f" Stopped at its cap; the last checkpoint was at step {r['checkpoint_step']}."
    curve = r.get("curve") or []
    if not curve:
        return head
    table = _table(
        ["step", "validation J-ARI (4 images)", "validation JIS"],
        [[c.get("step"), _num(c.get("valid_j_ari"), ".3f"), _num(c.get("valid_jis"), ".3f")]
         for c in curve],
    )  # fmt: skip
    return head + "\n\nLearning curve:\n\n" + table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="gpu_check.json of a run")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    where.add_argument("--md-out", type=Path, help="update this Markdown file instead")
    args = parser.parse_args(argv)
    payload = json.loads(args.json.read_text())
    title, body = section_title(payload), render(payload)
    if args.write or args.md_out:
        update_benchmarks_md(title, body, path=args.md_out)
        print(f"wrote section '{title}' to {args.md_out or 'BENCHMARKS.md'}")
    else:
        print(f"## {title}\n\n{body}")


if __name__ == "__main__":
    main()
