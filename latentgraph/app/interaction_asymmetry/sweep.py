"""``latentgraph sweep interaction-asymmetry``: seeds x the loss weights alpha and beta.

Brady et al. (arXiv 2411.07784, Sec. 5) compare the interaction penalty's weight ``alpha`` and
the KL weight ``beta`` (their ablations set either to 0); a sweep runs every combination of
``--alphas`` x ``--betas`` (and any ``--vary``) times ``--seeds``, each a normal fit
(:mod:`latentgraph.app.sweeps`, ``docs/sweeps.md``). The family has no label-free selection,
so ``sweep.json`` reports the metrics per setting (J-ARI drawn in ``sweep.png``).
"""

from __future__ import annotations

import argparse

from latentgraph.app import sweeps


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    from latentgraph.app.interaction_asymmetry.cli import add_arguments

    add_arguments(parser, sweep=True)
    group = parser.add_argument_group("swept loss weights")
    group.add_argument("--alphas", type=sweeps.numbers, default=None, metavar="A1,A2,...",
                       help="L_int weights to sweep (instead of --alpha)")  # fmt: skip
    group.add_argument("--betas", type=sweeps.numbers, default=None, metavar="B1,B2,...",
                       help="KL weights to sweep (instead of --beta)")  # fmt: skip
    sweeps.add_sweep_options(parser)


def sweep(args: argparse.Namespace) -> dict:
    from latentgraph.app.interaction_asymmetry.cli import add_arguments

    axes = {name: values for name, values in (("alpha", args.alphas), ("beta", args.betas))
            if values}  # fmt: skip
    for name, values in axes.items():
        if len(set(values)) != len(values):
            raise sweeps.UserInputError(f"--{name}s must be distinct, got {values}")
    return sweeps.sweep_command("interaction-asymmetry", args, add_arguments, axes, score="j_ari")
