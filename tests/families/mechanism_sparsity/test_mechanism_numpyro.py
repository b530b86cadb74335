"""The NumPyro mechanism-sparsity model agrees with the Pyro one, and trains.

Issue 3, item 2: with the same weights and the same noise, the Pyro and NumPyro models give
the same ELBO terms (relative difference <= 1e-5 in float64), in every sparsity mode, for
action and temporal data; the gradients of the training objective agree too.
"""

import json
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pyro
import pytest
import torch
from jax import random
from numpyro import handlers
from numpyro.infer import TraceMeanField_ELBO
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import site_is_subsample
from torch.distributions import kl_divergence

from latentgraph.app.cli import main
from latentgraph.data import make_mechanism_dataset
from latentgraph.families.mechanism_sparsity import (
    MechanismSparsityConfig,
    MechanismSparsityVAE,
    NetworkSizes,
    SparsitySettings,
    evaluate,
    model_config_for,
)
from latentgraph.families.mechanism_sparsity.fit_numpyro import fit, untrained
from latentgraph.families.mechanism_sparsity.numpyro_model import NumPyroMechanismSparsityVAE
from latentgraph.families.mechanism_sparsity.objective_numpyro import MechanismSparsityObjective
from latentgraph.families.mechanism_sparsity.reference_torch import negative_elbo, relaxed_masks
from latentgraph.families.mechanism_sparsity.weights_torch_to_numpyro import (
    numpyro_params_from_torch,
)
from latentgraph.inference.checkpoint_jax import load_pytree
from latentgraph.inference.lagrangian_jax import dual_ascent, linear_schedule
from latentgraph.inference.lagrangian_torch import DualAscent, EdgeCountConstraint
from latentgraph.inference.schedules import LinearSchedule
from latentgraph.inference.svi_jax import RunHyper, SVISettings, init_state, run_chunk
from latentgraph.inference.svi_torch import TrainConfig
from latentgraph.models.edge_mask_numpyro import RelaxedEdgePosterior

TINY = NetworkSizes(
    encoder_hidden=(8, 8), decoder_hidden=(8,), transition_hidden=4, transition_layers=2
)
DATA_KINDS = {"action": (1, 3), "temporal": (2, 0), "temporal_with_actions": (2, 2)}
PENALTY, BOUND, ANNEAL, STEP, MULTIPLIER = 1.3, 2.0, 10, 4, 0.7
REL_TOL = 1e-5


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _relative_difference(a, b) -> float:
    a, b = float(a), float(b)
    return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))


def _shared_noise(noise: dict):
    """``substitute_fn`` drawing each named guide site from the given standard noise, through
    the site's own reparameterisation (so gradients flow as in a real draw)."""

    def value(msg):
        if msg["type"] != "sample" or msg["value"] is not None or msg["name"] not in noise:
            return None  # params, observations, and model sites replayed from the guide
        fn = msg["fn"]
        while isinstance(fn, dist.Independent):
            fn = fn.base_dist
        if isinstance(fn, RelaxedEdgePosterior):
            return fn.from_noise(noise[msg["name"]])
        return fn.loc + fn.scale * noise[msg["name"]]

    return value


def _pyro_terms(model, guide, x, actions, values) -> dict[str, torch.Tensor]:
    """Negative-ELBO contribution of every site of a Pyro program pair at given guide values."""
    guide_trace = pyro.poutine.trace(guide).get_trace(x, actions)
    for name, value in values.items():  # the guide's sites do not depend on each other's values
        guide_trace.nodes[name]["value"] = value
    model_trace = pyro.poutine.trace(pyro.poutine.replay(model, trace=guide_trace)).get_trace(
        x, actions
    )
    terms = {}
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        if site["is_observed"]:
            log_p = site["fn"].log_prob(site["value"])
            terms[name] = -scale_and_mask(log_p, site["scale"], site["mask"]).sum()
        else:
            g = guide_trace.nodes[name]
            terms[name] = scale_and_mask(
                kl_divergence(g["fn"], site["fn"]), g["scale"], g["mask"]
            ).sum()
    return terms


def _grouped(terms: dict, graphs) -> dict[str, float]:
    return {
        "reconstruction": float(terms["x"]),
        "latent_kl": float(sum(v for k, v in terms.items() if k.startswith("z_"))),
        "edge": float(sum(terms[g] for g in graphs if g in terms)),
    }


def _case(kind, mode):
    n_steps, n_actions = DATA_KINDS[kind]
    config = MechanismSparsityConfig(
        n_latents=3, n_obs=5, n_actions=n_actions, n_steps=n_steps, sizes=TINY
    )
    torch.manual_seed(0)
    vae = MechanismSparsityVAE(config).double()
    with torch.no_grad():  # weights away from their symmetric start
        vae.decoder_logvar.fill_(-1.5)
        for logits in vae.edge_logits.values():
            logits.copy_(2 * torch.randn_like(logits))
    vae.set_edge_prior(-PENALTY if mode == "penalty" else 0.0)
    gen = np.random.default_rng(1)
    batch = 7
    arrays = {"x": gen.normal(size=(batch, n_steps, 5))}
    if n_actions:
        arrays["actions"] = gen.uniform(-2, 2, size=(batch, n_actions))
    eps = gen.normal(size=(batch, n_steps, 3))
    uniforms = {g: gen.uniform(size=s) for g, s in config.graph_shapes().items()}
    return config, vae, arrays, eps, uniforms


@pytest.mark.parametrize("mode", ["constraint", "penalty", "none"])
@pytest.mark.parametrize("kind", sorted(DATA_KINDS))
def test_pyro_and_numpyro_give_the_same_elbo_terms_and_gradients(x64, kind, mode):
    config, vae, arrays, eps, uniforms = _case(kind, mode)
    graphs = list(config.graph_shapes())
    x = torch.as_tensor(arrays["x"])
    actions = torch.as_tensor(arrays["actions"]) if "actions" in arrays else None

    # --- torch: Pyro's trace per site, and the plain formulation for the total and gradients
    if mode == "none":
        masks = {g: torch.ones(s, dtype=torch.float64) for g, s in config.graph_shapes().items()}
        model, guide = vae.frozen(vae.model), vae.frozen(vae.guide)
    else:
        masks = relaxed_masks(vae, {g: torch.as_tensor(u) for g, u in uniforms.items()})
        model, guide = vae.model, vae.guide
    with torch.no_grad():
        loc, var = vae.encode(x)
    z = loc + var.sqrt() * torch.as_tensor(eps)
    values = {f"z_{t}": z[:, t] for t in range(config.n_steps)}
    if mode != "none":
        values.update(masks)
    with torch.no_grad():
        pyro_terms = _grouped(_pyro_terms(model, guide, x, actions, values), graphs)
    torch_total = negative_elbo(vae, x, actions, latent_noise=torch.as_tensor(eps), masks=masks)
    if mode == "constraint":
        for g, shape in config.graph_shapes().items():
            constraint = EdgeCountConstraint(
                LinearSchedule(start=float(np.prod(shape)), end=BOUND, duration=ANNEAL),
                DualAscent(multiplier=torch.tensor(MULTIPLIER, dtype=torch.float64)),
            )
            torch_total = torch_total + constraint.lagrangian_term(vae.expected_edges()[g], STEP)[0]
    torch_total.backward()
    torch_grads = {
        k: (p.grad if p.grad is not None else torch.zeros_like(p))
        for k, p in vae.named_parameters()
    }

    # --- NumPyro, with the same weights and the same noise
    params = numpyro_params_from_torch(vae.state_dict(), config)
    jvae = NumPyroMechanismSparsityVAE(config)
    objective = MechanismSparsityObjective(
        jvae, mode, tuple(graphs) if mode == "constraint" else ()
    )
    hyper = objective.hyper(
        penalty=PENALTY,
        bounds=dict.fromkeys(objective.constrained, BOUND),
        anneal_steps=ANNEAL,
    )
    dual = {g: jnp.asarray(MULTIPLIER) for g in objective.constrained}
    noise = {f"z_{t}": jnp.asarray(eps[:, t]) for t in range(config.n_steps)}
    noise.update({g: jnp.log(u) - jnp.log1p(-u) for g, u in uniforms.items()})
    batch = {k: jnp.asarray(v) for k, v in arrays.items()}
    model, guide = objective.programs()
    with handlers.substitute(substitute_fn=_shared_noise(noise)):
        numpyro_sites = TraceMeanField_ELBO(sum_sites=False).loss(
            random.key(0), params, model, guide, batch["x"], batch.get("actions"),
            hyper["edge_log_odds"],
        )  # fmt: skip
        (numpyro_total, _), grads = jax.value_and_grad(objective.loss, has_aux=True)(
            params, random.key(0), batch, jnp.asarray(STEP), dual, hyper
        )
    numpyro_terms = _grouped(numpyro_sites, graphs)

    for term, expected in pyro_terms.items():
        assert _relative_difference(numpyro_terms[term], expected) <= REL_TOL, term
    assert _relative_difference(numpyro_total, torch_total.item()) <= REL_TOL
    expected_grads = numpyro_params_from_torch(torch_grads, config)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        ref = expected_grads
        for key in path:
            ref = ref[key.key]
        scale = max(float(np.abs(ref).max()), 1e-12)
        np.testing.assert_allclose(g, ref, rtol=1e-7, atol=1e-9 * scale, err_msg=str(path))


def test_transferred_weights_fill_every_numpyro_param():
    for kind in DATA_KINDS:
        config, vae, arrays, *_ = _case(kind, "constraint")
        jvae = NumPyroMechanismSparsityVAE(config)
        x = jnp.asarray(arrays["x"], jnp.float32)
        actions = jnp.asarray(arrays["actions"], jnp.float32) if "actions" in arrays else None
        initial = jax.eval_shape(jvae.init_params, random.key(0), x, actions)
        transferred = numpyro_params_from_torch(vae.state_dict(), config)
        assert jax.tree.structure(initial) == jax.tree.structure(transferred), kind
        shapes = jax.tree.map(lambda a: a.shape, (initial, transferred))
        assert shapes[0] == shapes[1], kind
    with pytest.raises(ValueError, match="edge_logits.action_graph"):
        state = {k: v for k, v in vae.state_dict().items() if k != "edge_logits.action_graph"}
        numpyro_params_from_torch(state, config)


@pytest.mark.parametrize("start,end,duration,delay", [(100, 20, 50, 0), (9, 6, 0, 3), (9, 6, 5, 2)])
def test_jax_bound_schedule_and_dual_ascent_match_the_torch_ones(start, end, duration, delay):
    schedule = LinearSchedule(start=start, end=end, duration=duration, delay=delay)
    steps = jnp.arange(0, 70)
    values = linear_schedule(steps, start, end, duration, delay)
    np.testing.assert_allclose(values, [schedule(int(s)) for s in steps], rtol=1e-6)
    for multiplier, defect in [(0.0, 2.0), (0.3, -1.0), (0.3, -0.1), (1.0, 0.5)]:
        for restarts in (True, False):
            torch_dual = DualAscent(lr=0.2, restarts=restarts, multiplier=multiplier)
            expected = float(torch_dual.update(torch.tensor(defect)))
            got = dual_ascent(jnp.asarray(multiplier), jnp.asarray(defect), 0.2, restarts=restarts)
            assert float(got) == pytest.approx(expected, abs=1e-7)


# ---- training -----------------------------------------------------------------------------

FIT_SIZES = NetworkSizes(
    encoder_hidden=(32, 32), decoder_hidden=(32, 32), transition_hidden=16, transition_layers=2
)


@pytest.fixture(scope="module")
def toy():
    return make_mechanism_dataset(
        "action_sparsity_non_trivial", n_samples=6000, n_latents=3, n_obs=6
    )


def _settings(toy, steps, seed=0, **sparsity):
    return {
        "model_config": model_config_for(toy, FIT_SIZES),
        "sparsity": SparsitySettings(graph_lr=0.05, anneal_fraction=0.25, dual_lr=0.05, **sparsity),
        "train_config": TrainConfig(
            steps=steps, batch_size=128, lr=3e-3, seed=seed, device="cpu", progress=False
        ),
    }


def test_initial_values_match_the_spec(toy):
    """sigma(alpha_0) = 0.9933, decoder std ~ 0.00684, transition variance 1e-4 (docs/mechanism_sparsity.md#model)."""
    start = untrained(toy, **_settings(toy, 1))
    params = start.params
    np.testing.assert_allclose(start.edge_beliefs()["action_graph"].probs, 0.9933, atol=1e-4)
    np.testing.assert_allclose(jnp.exp(0.5 * params["decoder_logvar"]) + 1e-4, 0.00684, atol=1e-5)
    variance = jax.nn.softplus(params["transition_raw_var"]) + 1e-6
    np.testing.assert_allclose(variance, 1e-4, rtol=1e-4)
    kernel = np.asarray(params["encoder$params"]["layers_0"]["kernel"])  # torch's nn.Linear init
    assert np.abs(kernel).max() <= 6**-0.5 and kernel.std() > 0.5 * 6**-0.5 / np.sqrt(3)


def test_a_numpyro_fit_beats_the_untrained_model_and_finds_the_graph(toy):
    before = evaluate(untrained(toy, **_settings(toy, 1)), toy, "test").metrics
    fitted = fit(toy, **_settings(toy, 1500))
    after = evaluate(fitted, toy, "test").metrics
    assert after["mcc"] > before["mcc"] + 0.1
    assert after["mcc"] > 0.85
    assert after["shd"] <= 1
    rows = fitted.history.rows
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert rows[-1]["edges_action_graph"] <= 6.5  # the constraint holds at the end
    assert fitted.summary()["backend"] == "numpyro"
    assert fitted.encode(toy.split("test")["x"][:5]).shape == (5, 1, 3)


def test_seeded_numpyro_fits_repeat_exactly(toy):
    a, b = fit(toy, **_settings(toy, 250)), fit(toy, **_settings(toy, 250))
    for leaf_a, leaf_b in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(leaf_a, leaf_b)
    untimed = [[{k: v for k, v in row.items() if k != "wall_s"} for row in f.history.rows]
               for f in (a, b)]  # fmt: skip
    assert untimed[0] == untimed[1]
    c = fit(toy, **_settings(toy, 250, seed=1))
    kernel = ("encoder$params", "layers_0", "kernel")
    assert not np.array_equal(
        a.params[kernel[0]][kernel[1]][kernel[2]], c.params[kernel[0]][kernel[1]][kernel[2]]
    )


def test_run_chunk_vmaps_over_runs_with_different_seeds_and_bounds(toy):
    """The sweep contract: ``run_chunk`` vmaps over runs (seeds x bounds) without cross-talk."""
    starts = [untrained(toy, **_settings(toy, 100, seed=seed)) for seed in (0, 1)]
    objective = starts[0].objective
    settings = SVISettings(
        batch_size=64, lr=3e-3, graph_lr=0.05, graph_params=("action_graph_logits",)
    )
    states = [
        init_state(f.params, objective.initial_dual(), random.key(10 + i), settings)
        for i, f in enumerate(starts)
    ]
    hypers = [
        RunHyper(1.0, 0.05, 100, objective.hyper(bounds={"action_graph": b}, anneal_steps=2))
        for b in (2.0, 5.0)
    ]
    stack = partial(jax.tree.map, lambda *leaves: jnp.stack([jnp.asarray(x) for x in leaves]))
    states, hypers = stack(*states), stack(*hypers)
    data = {k: jnp.asarray(v) for k, v in toy.split("train").items() if k in ("x", "actions")}
    chunk = partial(run_chunk, objective=objective, settings=settings, n_steps=3)
    sweep = jax.jit(jax.vmap(chunk, in_axes=(0, None, 0)))
    swept, logs = sweep(states, data, hypers)
    # No cross-talk: with the runs swapped, each run's result is unchanged (same compiled sweep).
    swap = partial(jax.tree.map, lambda leaf: leaf[::-1])
    swapped, _ = sweep(swap(states), data, swap(hypers))
    swapped = swap(swapped)
    np.testing.assert_array_equal(random.key_data(swept.rng_key), random.key_data(swapped.rng_key))
    for a, b in zip(
        jax.tree.leaves(swept._replace(rng_key=None)),
        jax.tree.leaves(swapped._replace(rng_key=None)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert (np.asarray(swept.step) == 3).all() and np.isfinite(logs["loss"]).all()
    assert not np.allclose(logs["bound_action_graph"][0], logs["bound_action_graph"][1])
    assert not np.allclose(logs["loss"][0], logs["loss"][1])  # seeds differ


def test_run_fit_with_the_numpyro_backend_writes_the_run_folder(toy, tmp_path, monkeypatch):
    """Figures and report are backend-neutral (test_cli.py) and skipped here for speed."""
    from latentgraph.app.mechanism_sparsity import run

    monkeypatch.setattr(run, "_write_graphs_and_figures", lambda *args: None)
    monkeypatch.setattr(run, "_write_report", lambda *args: None)
    out = tmp_path / "run"
    metrics = run.run_fit(toy, out, backend="numpyro", **_settings(toy, 250))
    assert json.loads((out / "config.json").read_text())["backend"] == "numpyro"
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["steps"] == 250
    assert json.loads((out / "config.json").read_text())["device"] == "cpu"
    checkpoint = load_pytree(out / "checkpoint_numpyro.npz")  # the full training state
    assert str(checkpoint["format"]) == "latentgraph.svi_jax.training_state/1"
    assert json.loads(str(checkpoint["meta"]))["train"]["steps"] == 250
    assert np.load(out / "z_test.npy").shape == (len(toy.split("test")["x"]), 1, 3)
    assert not (out / "checkpoint.pt").exists()
    # Resuming the finished run trains nothing more and ends where it was.
    again = run.run_fit(toy, out, backend="numpyro", resume=True, **_settings(toy, 250))
    assert {k: v for k, v in again.items() if "wall" not in k} == {
        k: v for k, v in metrics.items() if "wall" not in k
    }
    with pytest.raises(ValueError, match="backend"):
        run.run_fit(toy, tmp_path / "other", backend="jax", **_settings(toy, 250))


def test_the_frozen_control_reads_out_all_ones(toy):
    frozen = untrained(toy, **_settings(toy, 1, mode="none"))
    metrics = evaluate(frozen, toy, "test").metrics
    # no-sparsity SHD = B_max - #edges (docs/mechanism_sparsity.md#shd)
    assert metrics["n_edges_learned"] == 9 and metrics["shd"] == 9 - 6


class _Stop(Exception):
    pass


def test_an_interrupted_numpyro_fit_resumes_bit_identically(toy, tmp_path):
    settings = _settings(toy, 60)
    config = replace(settings["train_config"], eval_every=20, checkpoint_every=20)
    settings = {**settings, "train_config": config}
    whole = fit(toy, **settings, checkpoint_path=tmp_path / "whole.npz", chunk_steps=10)

    def stop_at_40(fitted, step):
        if step == 40:
            raise _Stop  # after the checkpoint of step 20, before the one of step 40
        return {}

    path = tmp_path / "cut.npz"
    with pytest.raises(_Stop):
        fit(toy, **settings, evaluate=stop_at_40, checkpoint_path=path, chunk_steps=10)
    assert json.loads(str(load_pytree(path)["pending"]))[1] == 20  # steps in the open log window
    resumed = fit(toy, **settings, checkpoint_path=path, resume=True, chunk_steps=10)
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(resumed.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    def without_clock(rows):
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]

    assert without_clock(resumed.history.rows) == without_clock(whole.history.rows)
    other = {**settings, "train_config": replace(config, lr=1e-3)}
    with pytest.raises(ValueError, match="same settings"):
        fit(toy, **other, checkpoint_path=path, resume=True, chunk_steps=10)


def test_cli_forwards_the_backend_and_resume(tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "latentgraph.app.mechanism_sparsity.run.run_fit",
        lambda *args, **kwargs: calls.append(kwargs) or {},
    )
    args = [
        "fit", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial",
        "--n-samples", "500", "--sizes", "small", "--steps", "12", "--batch-size", "64",
        "--no-progress", "--device", "cpu", "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    assert main(args) == 0 and calls[-1]["backend"] == "pyro"  # the default
    assert main([*args, "--backend", "numpyro"]) == 0 and calls[-1]["backend"] == "numpyro"
    (tmp_path / "run").mkdir(exist_ok=True)
    (tmp_path / "run" / "config.json").write_text("{}")
    assert main([*args, "--backend", "numpyro", "--resume"]) == 0 and calls[-1]["resume"]
