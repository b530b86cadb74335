"""The ``latentgraph`` command line (ARCHITECTURE.md, contract 1).

``latentgraph demo [--out DIR]``, ``latentgraph fit <family> ... --out DIR``,
``latentgraph sweep <family> ... --out DIR`` and ``latentgraph datasets``.

Exit codes (:func:`main`; the error types are :mod:`latentgraph.errors`):

- 0: done.
- 2: bad input: a :class:`~latentgraph.errors.UserInputError` (an option, a file, a run folder;
  one line on stderr, ``--out`` left as it was) or an argparse error (its usage lines).
- 1: the run could not finish: training diverged (``NonFiniteLossError``, one line), an
  ``OSError`` (no space, read-only file system, permission while writing; one line
  ``latentgraph: cannot write: ...``) or a ``MemoryError`` (one line ``latentgraph: out of
  memory: ...``; generated data are sized against the available memory before any work).
- 1: a bug: any other exception prints its traceback and a line asking to report it.
- 130: interrupted (Ctrl-C).

Set ``LATENTGRAPH_DEBUG=1`` to see the traceback of every error instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from latentgraph import __version__
from latentgraph.errors import UserInputError

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
BUG_LINE = (
    "latentgraph: this is a bug, please report it on the latentgraph issue tracker with the "
    "command line and the traceback above"
)


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
    demo.add_argument("--seed", type=int, default=0, help="training seed of both fits")
    demo.add_argument("--no-progress", action="store_true")
    fit = commands.add_parser("fit", help="fit one model family and write a run folder")
    fit_families = fit.add_subparsers(dest="family", required=True, metavar="FAMILY")
    for family in families().values():
        family.add_arguments(fit_families.add_parser(family.name, help=family.help))
    sweep = commands.add_parser(
        "sweep",
        help="fit seeds x settings of a family (here or on Ray), resumable; aggregate and select",
        description="Every (setting, seed) is a normal fit writing OUT/runs/<setting>-seed<k>/; "
        "OUT/sweep.json and sweep.png aggregate them (docs/sweeps.md). Exit code 1 if a run "
        "failed, 2 for bad input.",
    )
    sweep_families = sweep.add_subparsers(dest="family", required=True, metavar="FAMILY")
    for family in families().values():
        if family.sweep is not None:
            family.add_sweep_arguments(sweep_families.add_parser(family.name, help=family.help))
    commands.add_parser("datasets", help="list the synthetic datasets")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from latentgraph.app.demo import DEMO_BACKEND, run_demo
        from latentgraph.app.validation import check_count, check_device, check_seed, user_input

        with user_input():  # validate everything, then create anything
            check_seed(args.seed, DEMO_BACKEND)
            check_count(args.steps, "--steps", allow_none=True)
            check_device(args.device, DEMO_BACKEND)
        run_demo(
            out=args.out,
            overwrite=args.overwrite,
            steps=args.steps,
            device=args.device,
            progress=not args.no_progress,
            seed=args.seed,
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

        family = families()[args.family]
        summary = family.sweep(args)
        selection = summary.get("selection")
        if selection:
            rule = selection["rule"]
            print(f"selected {selection['selected']} by {rule.upper()}; " + "  ".join(
                f"{k}: {v:.3f}" for k, v in next(iter(selection["scores"].values())).items()
            ))  # fmt: skip
        for setting, metrics in summary.get("metrics", {}).items():
            shown = {k: metrics[k] for k in family.headline if k in metrics}
            print(f"{setting}: " + "  ".join(f"{k}={v:.4g}" for k, v in shown.items()))
        print(
            f"{summary['n_done']} of {summary['n_runs']} runs done ({summary['n_skipped']} "
            f"skipped as finished), {summary['n_failed']} failed; sweep folder: {args.out}"
        )
        if summary["n_failed"]:
            for run in summary["runs"]:
                if run["status"] == "failed":
                    print(f"failed: {run['name']}: {run.get('error', '')}", file=sys.stderr)
            return 1
    elif args.command == "datasets":
        from latentgraph.data import MECHANISM_DATASETS

        width = max(map(len, MECHANISM_DATASETS))
        for name, text in MECHANISM_DATASETS.items():
            print(f"{name:<{width}}  {text}")
    return 0


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def _say(text: str) -> None:
    print(f"latentgraph: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` and return its exit code (module docstring)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if os.environ.get("LATENTGRAPH_DEBUG"):
        return _run(args)
    try:
        return _run(args)
    except UserInputError as err:
        _say(f"error: {_one_line(err)}")
        return EXIT_USAGE
    except FloatingPointError as err:  # training diverged (NonFiniteLossError)
        _say(f"training failed: {_one_line(err)}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except OSError as err:  # input paths were checked (UserInputError); this is the output side
        _say(f"cannot write: {_one_line(err)}")
        return EXIT_FAILURE
    except MemoryError as err:  # the machine, not the code: data sizes were checked before
        _say(f"out of memory: {_one_line(err) or 'an allocation failed'}")
        return EXIT_FAILURE
    except Exception:  # noqa: BLE001 - anything else is a bug, not the user's input
        traceback.print_exc()
        print(BUG_LINE, file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
