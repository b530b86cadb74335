"""The ``latentgraph`` command line (ARCHITECTURE.md, contract 1).

``latentgraph demo [--out DIR]``, ``latentgraph fit <family> ... --out DIR``,
``latentgraph sweep <family> ... --out DIR`` and ``latentgraph datasets``. Errors in user input print one line on stderr and exit with code 2;
a run whose loss becomes NaN stops with one line and exit code 1; set ``LATENTGRAPH_DEBUG=1``
to see the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys

from latentgraph import __version__

EXIT_USAGE = 2


def _build_parser() -> argparse.ArgumentParser:
    from latentgraph.app.registry import families

    parser = argparse.ArgumentParser(
        prog="latentgraph",
        description="Identifiable causal representation learning as probabilistic programs.",
    )
    parser.add_argument("--version", action="version", version=f"latentgraph {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="fit action non-trivial with and without sparsity (CPU, minutes)"
    )
    demo.add_argument(
        "--out", default=None, metavar="DIR", help="report folder (default: runs/demo-<time>)"
    )
    demo.add_argument(
        "--overwrite", action="store_true", help="write into an existing, non-empty DIR"
    )
    demo.add_argument("--steps", type=int, default=None, help="override the demo's steps per fit")
    demo.add_argument("--device", default="cpu", help="cpu (default), auto, cuda")
    demo.add_argument("--no-progress", action="store_true")
    fit = commands.add_parser("fit", help="fit one model family and write a run folder")
    fit_families = fit.add_subparsers(dest="family", required=True, metavar="FAMILY")
    for family in families().values():
        family.add_arguments(fit_families.add_parser(family.name, help=family.help))
    sweep = commands.add_parser(
        "sweep", help="train seeds x sparsity settings together and select one by UDR"
    )
    sweep_families = sweep.add_subparsers(dest="family", required=True, metavar="FAMILY")
    for family in families().values():
        if family.sweep is not None:
            family.add_sweep_arguments(sweep_families.add_parser(family.name, help=family.help))
    commands.add_parser("datasets", help="list the synthetic datasets")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from latentgraph.app.demo import run_demo

        run_demo(
            out=args.out,
            overwrite=args.overwrite,
            steps=args.steps,
            device=args.device,
            progress=not args.no_progress,
        )
    elif args.command == "fit":
        from latentgraph.app.registry import families

        family = families()[args.family]
        metrics = family.run(args)
        shown = {k: metrics[k] for k in (*family.headline, "wall_s") if k in metrics}
        print("  ".join(f"{k}={v:.4g}" for k, v in shown.items()))
        print(f"run folder: {args.out}")
    elif args.command == "sweep":
        from latentgraph.app.registry import families

        summary = families()[args.family].sweep(args)
        print(
            f"selected {summary['setting_name']}={summary['selected']:g} by UDR; "
            + "  ".join(f"{k}: UDR {v:.3f}" for k, v in summary["udr"].items())
        )
        print(f"sweep folder: {args.out}")
    elif args.command == "datasets":
        from latentgraph.data import MECHANISM_DATASETS

        width = max(map(len, MECHANISM_DATASETS))
        for name, text in MECHANISM_DATASETS.items():
            print(f"{name:<{width}}  {text}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if os.environ.get("LATENTGRAPH_DEBUG"):
        return _run(args)
    try:
        return _run(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as err:
        message = " ".join(str(err).split())
        print(f"latentgraph: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except FloatingPointError as err:  # training diverged (NonFiniteLossError)
        print(f"latentgraph: training failed: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("latentgraph: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
