"""``latentgraph sweep context-module``: seeds x variants (and any numeric option).

Markham et al. (arXiv 2507.04754, Sec. 5) compare the context module against pooled and
per-context baselines over seeds; a sweep runs every ``--variants`` x ``--vary`` combination
times ``--seeds``, each a normal fit (:mod:`latentgraph.app.sweeps`, ``docs/sweeps.md``). No
label-free selection: ``sweep.json`` reports the metrics per setting (the concept SWD drawn in
``sweep.png``; lower is better).
"""

from __future__ import annotations

import argparse

from latentgraph.app import sweeps


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    from latentgraph.app.context_module.cli import add_arguments
    from latentgraph.families.context_module.variants import VARIANTS

    add_arguments(parser, sweep=True)
    parser.add_argument_group("swept variants").add_argument(
        "--variants", type=sweeps.words, default=None, metavar="V1,V2,...",
        help=f"variants to sweep (instead of --variant): {', '.join(VARIANTS)}",
    )  # fmt: skip
    sweeps.add_sweep_options(parser)


def sweep(args: argparse.Namespace) -> dict:
    from latentgraph.app.context_module.cli import add_arguments
    from latentgraph.families.context_module.variants import VARIANTS

    axes = {}
    if args.variants:
        unknown = [v for v in args.variants if v not in VARIANTS]
        if unknown or len(set(args.variants)) != len(args.variants):
            raise sweeps.UserInputError(
                f"--variants must be distinct names among {', '.join(VARIANTS)}, got "
                f"{','.join(args.variants)}"
            )
        axes["variant"] = list(args.variants)
    return sweeps.sweep_command("context-module", args, add_arguments, axes, score="swd_concept")
