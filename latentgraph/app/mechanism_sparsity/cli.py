"""Command-line arguments of ``latentgraph fit mechanism-sparsity`` and its registration."""

from __future__ import annotations

import argparse
import zipfile

import numpy as np

from latentgraph.app.mechanism_sparsity.presets import (
    RUN_PRESETS,
    SIZING,
    estimate,
    presets_for,
)
from latentgraph.app.options import add_shared_options
from latentgraph.app.presets import (
    ResolvedPreset,
    jax_has_gpu,
    preset_line,
    resolve_preset,
    torch_has_gpu,
)
from latentgraph.app.registry import Family, register
from latentgraph.app.validation import (
    check_memory,
    check_real,
    check_shared_options,
    check_splits,
    user_input,
)
from latentgraph.errors import UserInputError
from latentgraph.families.mechanism_sparsity.config import SPARSITY_MODES, NetworkSizes, demo_sizes
from latentgraph.families.mechanism_sparsity.fit_pyro import SparsitySettings, model_config_for
from latentgraph.inference.svi_torch import TrainConfig

SIZES = {"official": NetworkSizes, "small": demo_sizes}
BACKENDS = ("pyro", "numpyro")


def add_arguments(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """Options of ``latentgraph fit mechanism-sparsity`` (``sweep=True``: of ``latentgraph
    sweep mechanism-sparsity``, with ``--bounds``/``--penalties`` and ``--seeds`` instead of
    ``--bound``/``--penalty`` and ``--seed``)."""
    data = parser.add_argument_group("data")
    source = data.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a synthetic dataset name (see `latentgraph datasets`)")
    source.add_argument(
        "--data",
        metavar="FILE.npz",
        help="your own data (x, optional actions, z, graphs) or a Dataset.save file (memory-mapped)",
    )
    data.add_argument(
        "--graph-density",
        type=float,
        default=None,
        metavar="P",
        help="random true graph of density P",
    )
    data.add_argument(
        "--graph-seed", type=int, default=0, metavar="G", help="seed of the random true graph"
    )
    data.add_argument(
        "--data-seed",
        type=int,
        default=0,
        metavar="D",
        help="seed of the samples (and user-data split)",
    )
    data.add_argument(
        "--mixing-seed", type=int, default=265542, help="seed of the mixing function f"
    )
    data.add_argument(
        "--n-samples",
        type=int,
        default=None,
        help="samples generated (split 0.8/0.1/0.1; preset paper 1e6, cpu 2e5)",
    )
    model = parser.add_argument_group("model and sparsity")
    model.add_argument(
        "--n-latents", type=int, default=None, help="latent dimension (default: from the data's z)"
    )
    model.add_argument(
        "--sizes",
        choices=sorted(SIZES),
        default=None,
        help="network sizes (preset paper: official, cpu: small)",
    )
    model.add_argument("--sparsity", choices=SPARSITY_MODES, default="constraint")
    if sweep:
        model.add_argument(
            "--bounds",
            type=_numbers,
            default=None,
            metavar="B1,B2,...",
            help="edge bounds to sweep",
        )
        model.add_argument(
            "--penalties",
            type=_numbers,
            default=None,
            metavar="L1,L2,...",
            help="penalties to sweep",
        )
    else:
        model.add_argument(
            "--bound",
            type=float,
            default=None,
            metavar="B",
            help="edge bound (default: true count)",
        )
        model.add_argument(
            "--penalty",
            type=float,
            default=1.0,
            metavar="L",
            help="penalty lambda (= -prior log-odds)",
        )
    model.add_argument(
        "--dual-lr",
        type=float,
        default=None,
        help="dual ascent rate of the constraint (preset paper 5e-4, cpu 5e-2)",
    )
    model.add_argument(
        "--anneal-fraction",
        type=float,
        default=0.5,
        help="share of the steps over which the bound falls to B (paper: 0.5)",
    )
    model.add_argument(
        "--graph-lr",
        type=float,
        default=None,
        help="learning rate of edge logits (preset paper: --lr, cpu: 5e-2)",
    )
    model.add_argument(
        "--straight-through", action="store_true", help="hard masks in the forward pass"
    )
    train = parser.add_argument_group("training")
    train.add_argument("--batch-size", type=int, default=None, help="preset paper 1024, cpu 256")
    train.add_argument("--lr", type=float, default=None, help="preset paper 5e-4, cpu 5e-3")
    train.add_argument("--lr-decay", choices=("none", "cosine"), default="none")
    train.add_argument(
        "--backend",
        choices=BACKENDS,
        default="numpyro" if sweep else "pyro",
        help="numpyro (JAX; a sweep trains all runs in one vmapped program) or pyro"
        if sweep
        else "pyro (PyTorch) or numpyro (JAX, many steps per dispatch)",
    )
    add_shared_options(parser, train, RUN_PRESETS, sweep=sweep)


def _numbers(text: str) -> list[float]:
    """``"10,15,20"`` -> ``[10.0, 15.0, 20.0]`` (an argparse type)."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None


def _is_saved_dataset(path: str) -> bool:
    """Whether ``path`` is a :meth:`Dataset.save` archive (anything else goes to ``load_npz``).

    The path must be a regular file before it is opened (a FIFO or ``/dev/zero`` would block
    the reader): :func:`latentgraph.data.check_regular_file` names ``--data`` otherwise."""
    from latentgraph.data import check_regular_file

    check_regular_file(path, "--data")
    try:
        with zipfile.ZipFile(path) as archive:
            return "format_version.npy" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def load_dataset(args: argparse.Namespace):
    """The dataset the arguments name (a generator name or a user ``.npz``)."""
    from latentgraph.data import Dataset, load_npz, make_mechanism_dataset

    if args.data is not None:
        if args.graph_density is not None:
            raise UserInputError(
                "--graph-density applies to synthetic datasets, not to --data files"
            )
        try:
            if _is_saved_dataset(args.data):  # written by Dataset.save: split, mapped lazily
                return Dataset.load(args.data, mmap=True)
            return load_npz(args.data, seed=args.data_seed)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as err:
            raise UserInputError(f"--data {args.data!r} cannot be read: {err}") from err
    return make_mechanism_dataset(
        args.dataset,
        n_samples=args.n_samples,
        mixing_seed=args.mixing_seed,
        graph_seed=args.graph_seed,
        data_seed=args.data_seed,
        graph_density=args.graph_density,
    )


def apply_preset(args: argparse.Namespace) -> ResolvedPreset:
    """Resolve ``--preset`` (a GPU is asked of the chosen backend: torch or JAX); the ``cpu``
    preset depends on the data set's setting (:func:`.presets.presets_for`)."""
    return resolve_preset(
        args,
        presets_for(getattr(args, "dataset", None)),
        sizing=SIZING,
        has_accelerator=jax_has_gpu if args.backend == "numpyro" else torch_has_gpu,
    )


GENERATION_PEAK = 4.1
"""Peak memory of :func:`~latentgraph.data.make_mechanism_dataset` over its final arrays
(``tracemalloc`` at 1e5 samples of action_sparsity_non_trivial: 65.7 MB for 16.0 MB)."""
PROBE_SAMPLES = 100
"""Samples generated to measure the bytes one sample of a synthetic dataset takes."""


def check_arguments(args: argparse.Namespace) -> str:
    """The checks of :mod:`latentgraph.app.validation` that the library's own checks of its
    settings leave out (seed range, device, upper limits, memory); returns the device's name.
    Lower limits (``--n-samples 0``, ``--n-latents 0``, a density outside [0, 1]) are the
    library's, whose messages name its arguments (``n_samples``...)."""
    device = check_shared_options(args, backend=args.backend)
    for name in ("bound", "penalty", "dual_lr", "graph_lr"):
        check_real(getattr(args, name, None), "--" + name.replace("_", "-"), allow_none=True)
    for name in ("bounds", "penalties"):
        for value in getattr(args, name, None) or ():
            check_real(value, "--" + name)
    if args.data is None:
        check_generated_memory(args)
    return device


def check_generated_memory(args: argparse.Namespace) -> None:
    """Refuse ``--n-samples`` whose generation needs more memory than is available: bytes per
    sample measured on :data:`PROBE_SAMPLES` generated samples, times the samples, times
    :data:`GENERATION_PEAK`."""
    from latentgraph.data import make_mechanism_dataset

    if not isinstance(args.n_samples, int) or args.n_samples <= PROBE_SAMPLES:
        return  # small or invalid (the generator's own check names n_samples)
    probe = make_mechanism_dataset(
        args.dataset,
        n_samples=PROBE_SAMPLES,
        mixing_seed=args.mixing_seed,
        graph_seed=args.graph_seed,
        data_seed=args.data_seed,
        graph_density=args.graph_density,
    )
    per_sample = (
        sum(
            np.asarray(array).nbytes
            for split in probe.splits
            for array in probe.split(split).values()
        )
        / PROBE_SAMPLES
    )
    check_memory(
        GENERATION_PEAK * per_sample * args.n_samples,
        what=f"the generated data ({per_sample:.0f} B per sample, {GENERATION_PEAK:g} x that "
        "while generating)",
        option=f"--n-samples {args.n_samples}",
        hint="lower --n-samples, or save the data with Dataset.save and pass the file with "
        "--data (memory-mapped)",
    )


def run(args: argparse.Namespace) -> dict:
    from latentgraph.app.mechanism_sparsity.run import run_fit
    from latentgraph.app.runs import check_run_dir

    with user_input():  # validate everything, then create anything
        preset = apply_preset(args)
        # Build (and so validate) every setting before any data is generated.
        sparsity = SparsitySettings(
            mode=args.sparsity,
            bound=args.bound,
            penalty=args.penalty,
            dual_lr=args.dual_lr,
            graph_lr=args.graph_lr,
            anneal_fraction=args.anneal_fraction,
        )
        eval_every = args.eval_every or max(args.steps // 20, 1)
        checkpoint_every = args.checkpoint_every or min(1000, max(args.steps // 10, 1))
        train_config = TrainConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            lr_decay=args.lr_decay,
            seed=args.seed,
            device=args.device,
            eval_every=eval_every,
            checkpoint_every=checkpoint_every,
            progress=not args.no_progress,
        )
        device = check_arguments(args)
        check_run_dir(args.out, overwrite=args.overwrite, resume=args.resume)
        dataset = load_dataset(args)
        check_splits(dataset, ("train", "valid", "test"), ("x",))
        model_config = model_config_for(
            dataset,
            SIZES[args.sizes](),
            n_latents=args.n_latents,
            straight_through=args.straight_through,
        )
    dataset_args = {
        k: getattr(args, k)
        for k in (
            "dataset",
            "data",
            "graph_density",
            "graph_seed",
            "data_seed",
            "mixing_seed",
            "n_samples",
        )
    }
    return run_fit(
        dataset,
        args.out,
        model_config=model_config,
        sparsity=sparsity,
        train_config=train_config,
        overwrite=args.overwrite,
        resume=args.resume,
        dataset_args=dataset_args,
        backend=args.backend,
        preset=preset.to_dict(),
        announce=preset_line(preset, device, args.steps, estimate(args, device)),
    )


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``latentgraph sweep mechanism-sparsity``: the fit's, with ``--bounds`` or
    ``--penalties`` and the sweep's own (:func:`latentgraph.app.sweeps.add_sweep_options`)."""
    add_arguments(parser, sweep=True)
    from latentgraph.app.mechanism_sparsity.sweep import SELECTION_RULES
    from latentgraph.app.sweeps import add_sweep_options

    add_sweep_options(parser)
    parser.add_argument(
        "--select",
        choices=SELECTION_RULES,
        default="udr",
        help="label-free selection of the setting: udr, the seeds' agreement; udr-elbo, "
        "the same among settings whose validation ELBO is within 2 standard errors of the "
        "best (docs/sweeps.md#selection)",
    )


def sweep(args: argparse.Namespace) -> dict:
    """``latentgraph sweep mechanism-sparsity``: seeds x bounds (or penalties), UDR selection.

    ``--executor local`` with the NumPyro backend trains every run in one vmapped program;
    otherwise each run is a normal fit (:func:`latentgraph.app.sweeps.sweep_command`).
    """
    from latentgraph.app import sweeps
    from latentgraph.app.mechanism_sparsity.sweep import (
        check_sweep_arguments,
        run_sweep,
        select_runs,
        sweep_axes,
        with_legacy_keys,
    )

    planned = argparse.Namespace(**vars(args))  # the runs resolve --preset themselves
    with user_input():  # the library's checks of the settings are verdicts on the input
        preset = apply_preset(args)
        name, values = sweep_axes(args)
        seeds = sweeps.check_seeds(args.seeds, minimum=2)
        check_sweep_arguments(seeds, values)
        base = SparsitySettings(
            mode=args.sparsity,
            dual_lr=args.dual_lr,
            graph_lr=args.graph_lr,
            anneal_fraction=args.anneal_fraction,
        )
        for value in values:  # validate every setting before any data is generated
            SparsitySettings(**{**base.__dict__, name: value})
        select = select_runs(args.select)
    if args.executor != "local" or args.backend != "numpyro":
        summary = sweeps.sweep_command(
            "mechanism-sparsity", planned, add_arguments, {name: values}, select=select,
            score="mcc", min_seeds=2,
            extra={"dataset": args.dataset or args.data, "backend": args.backend},
        )  # fmt: skip
        return with_legacy_keys(summary, name, values)
    with user_input():  # validate everything, then create anything
        if args.vary:
            raise UserInputError(
                "--vary needs runs of their own: use --backend pyro or --executor ray (the "
                "vmapped NumPyro sweep trains runs that share every other setting)"
            )
        sweeps.SweepOptions.from_args(args)  # checks the resources before any work
        train_config = TrainConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            lr_decay=args.lr_decay,
            device=args.device,
            progress=not args.no_progress,
        )
        device = check_arguments(args)
        dataset = load_dataset(args)
        check_splits(dataset, ("train", "valid", "test"), ("x",))
        model_config = model_config_for(
            dataset,
            SIZES[args.sizes](),
            n_latents=args.n_latents,
            straight_through=args.straight_through,
        )
    runs = len(seeds) * len(values)
    line = preset_line(preset, device, args.steps, estimate(args, device, runs=runs))
    return run_sweep(
        dataset,
        args.out,
        model_config=model_config,
        sparsity=base,
        values=values,
        seeds=seeds,
        train_config=train_config,
        backend=args.backend,
        overwrite=args.overwrite,
        preset=preset.to_dict(),
        announce=line.replace("):", f"): {runs} runs,", 1),
        dataset_args=_dataset_args(args),
        select=args.select,
    )


def _dataset_args(args: argparse.Namespace) -> dict:
    names = (
        "dataset",
        "data",
        "graph_density",
        "graph_seed",
        "data_seed",
        "mixing_seed",
        "n_samples",
    )
    return {k: getattr(args, k) for k in names}


FAMILY = register(
    Family(
        name="mechanism-sparsity",
        help="sparse action/temporal graphs identify latents (Lachapelle et al., 2024)",
        add_arguments=add_arguments,
        run=run,
        add_sweep_arguments=add_sweep_arguments,
        sweep=sweep,
        headline=("mcc", "shd", "n_edges_learned"),
        presets=RUN_PRESETS,
    )
)
