"""One mechanism-sparsity fit, from a dataset to a complete run folder.

Writes ``metrics.json``, ``config.json``, ``checkpoint.pt`` (``checkpoint_numpyro.npz`` with
the numpyro backend), ``learned_<graph>.gml`` and
``true_<graph>.gml``, ``z_test.npy`` (encoded test latents, ``(n, T, d_z)``), ``z_valid.npy``
(encoded first validation rows) and ``metrics["valid_elbo"]`` (validation ELBO per example):
the label-free inputs of a sweep's selection, ``posterior.nc``
(the ArviZ DataTree of the fit's posterior, :mod:`latentgraph.inference.posterior`), figures and
``report.md`` (ARCHITECTURE.md, contract 2).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from latentgraph.app.report import draw_training_curves, markdown_table, write_report
from latentgraph.app.run_folder import RunPieces, write_run
from latentgraph.app.runs import write_npy
from latentgraph.data import Dataset
from latentgraph.families.mechanism_sparsity.config import MechanismSparsityConfig
from latentgraph.families.mechanism_sparsity.evaluate import Evaluation, evaluate, validation_elbo
from latentgraph.families.mechanism_sparsity.fit_pyro import (
    FittedMechanismSparsity,
    SparsitySettings,
    check_fit_arguments,
    fit,
)
from latentgraph.graphs import (
    EdgeBeliefs,
    draw_correlation_matrix,
    draw_graph_comparison,
    entanglement_graph,
    guaranteed_disentangled,
)
from latentgraph.inference.checkpoint_jax import check_checkpoint as check_pytree_checkpoint
from latentgraph.inference.checkpoint_torch import check_checkpoint
from latentgraph.inference.posterior import save_posterior
from latentgraph.inference.svi_torch import TrainConfig

RESUME_MAY_CHANGE = ("train.progress", "train.device", "train.checkpoint_every")
"""Settings that do not change a run's numbers (on one device) and so may differ on resume."""

POSTERIOR_DRAWS, POSTERIOR_OBS = 100, 200
"""Guide draws and test samples kept in ``posterior.nc`` (a few MB at most)."""

VALID_ROWS = 10_000
"""Validation rows (samples x time steps) encoded into ``z_valid.npy`` for UDR selection."""

HEADLINE = ("mcc", "mcc_spearman", "linear_r", "consistency_r", "shd", "n_edges_learned")


def run_fit(
    dataset: Dataset,
    out: str | Path,
    *,
    model_config: MechanismSparsityConfig,
    sparsity: SparsitySettings,
    train_config: TrainConfig,
    overwrite: bool = False,
    resume: bool = False,
    dataset_args: dict | None = None,
    backend: str = "pyro",
    preset: dict | None = None,
    announce: str | None = None,
    fitted=None,
) -> dict:
    """Fit, evaluate on the test split and write the run folder
    (:func:`~latentgraph.app.run_folder.write_run`); returns ``metrics`` (flat numbers; the
    device is recorded in ``config.json``).

    ``config.json`` is written before training starts. With ``resume=True`` the folder must
    hold a run with the same settings (device, progress bar and checkpoint interval may differ);
    training continues from its ``checkpoint.pt`` (from step 0 if it was killed before the
    first checkpoint) and ends exactly as an uninterrupted run would.

    ``backend`` is ``"pyro"`` or ``"numpyro"`` (:mod:`.fit_numpyro`; its checkpoint, the full training
    state, is ``checkpoint_numpyro.npz``, and it resumes exactly too). ``preset`` (the resolved
    ``--preset``) is recorded in ``config.json``; ``announce`` is printed on stderr just before
    training starts.

    ``fitted``: a model trained elsewhere (a vmapped sweep,
    :mod:`latentgraph.app.mechanism_sparsity.sweep`) whose run folder is written as any other,
    without a checkpoint (it cannot be resumed).
    """
    if backend not in ("pyro", "numpyro"):
        raise ValueError(f"backend must be 'pyro' or 'numpyro', got {backend!r}")
    if backend == "numpyro":
        from latentgraph.families.mechanism_sparsity import fit_numpyro

        check, fit_backend = fit_numpyro.check_fit_arguments, fit_numpyro.fit
        checkpoint_name = "checkpoint_numpyro.npz"
    else:
        check, fit_backend, checkpoint_name = check_fit_arguments, fit, "checkpoint.pt"
    run_config = {
        "family": "mechanism-sparsity",
        "backend": backend,
        "dataset": {"name": dataset.name, **(dataset_args or {}), "info": dataset.info},
        "sparsity": asdict(sparsity),
        "train": asdict(train_config),
        "model": model_config.to_dict(),
        **({"preset": preset} if preset is not None else {}),
    }

    def periodic(fitted: FittedMechanismSparsity, step: int) -> dict:
        if "z" not in dataset.split("valid"):
            return {}
        result = evaluate(fitted, dataset, "valid", max_rows=20_000, encode_all=False)
        keep = ("mcc", "shd", "n_edges_learned")
        return {k: result.metrics[k] for k in keep if k in result.metrics}

    def fit_in(out: Path) -> FittedMechanismSparsity:
        if fitted is not None:
            return fitted
        return fit_backend(
            dataset,
            model_config=model_config,
            sparsity=sparsity,
            train_config=train_config,
            evaluate=periodic,
            checkpoint_path=out / checkpoint_name,
            resume=resume,
        )

    def write_outputs(out: Path, fitted, result: Evaluation, metrics: dict) -> None:
        write_npy(out / "z_test.npy", result.z_hat)
        write_npy(out / "z_valid.npy", encode_validation(fitted, dataset))
        _write_posterior(out, dataset, fitted, backend, seed=train_config.seed)
        _write_graphs_and_figures(out, result)
        _write_report(out, dataset, fitted, result, metrics)

    def check_resume(out: Path) -> None:  # the fit checks the shapes as it loads the state
        if backend == "pyro":
            check_checkpoint(out / checkpoint_name, steps=train_config.steps, missing_ok=True)
        else:
            check_pytree_checkpoint(out / checkpoint_name, missing_ok=True)

    pieces = RunPieces(
        check=lambda: check(dataset, model_config, sparsity, train_config),
        fit=fit_in,
        evaluate=lambda fitted: evaluate(fitted, dataset, "test"),
        write_outputs=write_outputs,
        final_config=lambda fitted: {"bounds": fitted.bounds},
        extra_metrics=lambda fitted: (
            {"valid_elbo": validation_elbo(fitted, dataset)} if "valid" in dataset.splits else {}
        ),
        check_resume=check_resume,
    )
    return write_run(
        out,
        config=run_config,
        pieces=pieces,
        steps=train_config.steps,
        overwrite=overwrite,
        resume=resume,
        resume_may_change=RESUME_MAY_CHANGE,
        announce=announce,
    )


def encode_validation(fitted, dataset: Dataset, rows: int = VALID_ROWS) -> np.ndarray:
    """Encoder means ``(n, T, d_z)`` of the first validation samples (``rows`` samples x time
    steps): what UDR compares between seeds (no labels; Duan et al., arXiv 1905.12614)."""
    if "valid" not in dataset.splits:
        return np.zeros((0, 1, 0), dtype=np.float32)
    return fitted.encode(dataset.split("valid")["x"][: -(-rows // dataset.n_steps)])


def _write_posterior(out: Path, dataset: Dataset, fitted, backend: str, *, seed: int) -> None:
    """``posterior.nc``: the ArviZ DataTree of guide draws on the first test samples."""
    if backend == "numpyro":
        from latentgraph.families.mechanism_sparsity.posterior_numpyro import posterior_tree
    else:
        from latentgraph.families.mechanism_sparsity.posterior_pyro import posterior_tree
    tree = posterior_tree(
        fitted, dataset, "test", num_samples=POSTERIOR_DRAWS, max_obs=POSTERIOR_OBS, seed=seed
    )
    save_posterior(tree, out / "posterior.nc")


def _write_graphs_and_figures(out: Path, result: Evaluation) -> None:
    perm = result.matching.permutation if result.matching is not None else None
    for name, beliefs in result.learned.items():
        beliefs.write_gml(out / f"learned_{name}.gml", threshold=None, overwrite=True)
        true = result.true_graphs.get(name)
        if true is not None:
            EdgeBeliefs.from_adjacency(true, kind=beliefs.kind).write_gml(
                out / f"true_{name}.gml", threshold=0.5, overwrite=True
            )
            draw_graph_comparison(beliefs, true, permutation=perm, path=out / f"graph_{name}.png")
    if result.matching is not None:
        draw_correlation_matrix(
            result.matching.correlation, permutation=perm, path=out / "correlation.png"
        )


def _write_report(out: Path, dataset: Dataset, fitted, result: Evaluation, metrics: dict) -> None:
    history = fitted.history
    draw_training_curves(
        history.rows, history.evaluations, path=out / "training.png", title="training"
    )
    figures = [
        (f"Learned vs. true {n.replace('_', ' ')}", f"graph_{n}.png")
        for n in result.learned
        if n in result.true_graphs
    ]
    if result.matching is not None:
        figures.append(
            ("Correlation of true and learned latents (after matching)", "correlation.png")
        )
    figures.append(("Training curves", "training.png"))
    headline = {k: metrics[k] for k in HEADLINE if k in metrics}
    notes = []
    if result.true_graphs:
        ent = entanglement_graph(
            action_graph=result.true_graphs.get("action_graph"),
            latent_graph=result.true_graphs.get("latent_graph"),
        )
        disentangled = guaranteed_disentangled(ent)
        notes.append(
            f"Theory: {len(disentangled)} of {ent.shape[0]} latents are guaranteed disentangled by the "
            f"true graph(s) (entanglement graph has {int(ent.sum())} non-zeros; identity means complete)."
        )
    if fitted.bounds:
        notes.append(
            "Constraint bounds: " + ", ".join(f"{k} <= {v:g}" for k, v in fitted.bounds.items())
        )
    notes.append(
        f"Device: {fitted.device}; {metrics['steps']} steps in {metrics['train_wall_s']:.1f} s."
    )
    write_report(
        out / "report.md",
        title=f"mechanism-sparsity on {dataset.name} ({fitted.sparsity.mode})",
        summary=", ".join(f"**{k}** {v:.4g}" for k, v in headline.items()),
        tables=[
            (
                "Metrics (test split)",
                markdown_table(
                    [
                        {"metric": k, "value": v}
                        for k, v in metrics.items()
                        if not isinstance(v, str)
                    ]
                ),
            )
        ],
        figures=figures,
        notes=notes,
    )
