"""Learning curves of benchmark runs: one figure from one or more ``benchmarks/results`` files.

Every run a quality benchmark records carries ``curve``, the evaluations of its history (one
``{"step": ..., metric: value}`` per evaluation). This script draws each metric against the
step, one panel per metric and one line per run (colour: the variant, line style: the seed), and
writes a PNG beside the results (``benchmarks/results/<out>.png``)::

    python benchmarks/curves.py cpu_quad_causal_15k_groupnorm cpu_quad_causal_15k_batchnorm \
        --out cpu_quad_causal_15k_curves
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

try:
    from benchmarks._record import RESULTS
except ImportError:  # run as a script from benchmarks/
    from _record import RESULTS


def runs_with_curves(payload: dict, label: str) -> dict[str, list[dict]]:
    """``{run label: curve}`` of one results file, for both layouts the benchmarks write:
    ``runs`` as ``{variant: [record, ...]}`` or as ``{"<variant>-seed<s>": record}``."""
    runs = payload.get("runs", {})
    records: list[tuple[str, dict]] = []
    for key, value in runs.items():
        if isinstance(value, list):
            records += [(f"{key}-seed{r.get('seed', i)}", r) for i, r in enumerate(value)]
        else:
            records.append((key, value))
    prefix = f"{label}: " if label else ""
    return {f"{prefix}{name}": r["curve"] for name, r in records if r.get("curve")}


def plot_curves(curves: dict[str, list[dict]], title: str = ""):
    """One panel per metric found in ``curves``; returns the matplotlib figure."""
    if not curves:
        raise ValueError("curves: none of the runs carries a learning curve")
    metrics = sorted({k for curve in curves.values() for row in curve for k in row} - {"step"})
    columns = min(3, len(metrics))
    rows = -(-len(metrics) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    variants = sorted({re.sub(r"-seed\d+$", "", name) for name in curves})
    colours = {v: f"C{i % 10}" for i, v in enumerate(variants)}
    styles = ("-", "--", ":", "-.")
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for name, curve in curves.items():
            points = [(row["step"], row[metric]) for row in curve if row.get(metric) is not None]
            if not points:
                continue
            seed = re.search(r"-seed(\d+)$", name)
            style = styles[int(seed.group(1)) % len(styles)] if seed else "-"
            steps, values = zip(*points, strict=True)
            variant = re.sub(r"-seed\d+$", "", name)
            ax.plot(steps, values, style, color=colours[variant], marker=".", label=name)
        ax.set_title(metric)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    legend = {}
    for ax in axes.flat:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(name, handle)
    axes.flat[0].legend(legend.values(), legend.keys(), fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="results files (name without .json)")
    parser.add_argument("--out", required=True, help="figure name (benchmarks/results/OUT.png)")
    args = parser.parse_args()
    curves: dict[str, list[dict]] = {}
    # several files: the name they share is the title, the rest of each name its label
    shared = os.path.commonprefix(args.names) if len(args.names) > 1 else ""
    for name in args.names:
        path = RESULTS / f"{name}.json"
        if not path.is_file():
            parser.error(f"no results file {path}")
        label = (name[len(shared) :] or name) if len(args.names) > 1 else ""
        curves.update(runs_with_curves(json.loads(path.read_text()), label))
    out = RESULTS / f"{Path(args.out).name}.png"
    fig = plot_curves(curves, title=shared.rstrip("_-") or ", ".join(args.names))
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
