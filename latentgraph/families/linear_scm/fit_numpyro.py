"""Fitting the linear SCM with NUTS and with SVI (NumPyro); both return an ArviZ DataTree.

* :func:`fit_nuts`: several NUTS chains on the exact posterior. On a CPU the default
  ``chain_method="vectorized"`` runs the chains in one process, in lock step (the model is
  tiny, so this beats ``"sequential"``; ``"parallel"`` needs
  ``numpyro.set_host_device_count(num_chains)`` before JAX starts). Every chain starts at its
  own random point near ``W = 0``, ``omega = 1`` (uniform in ``(-init_radius, init_radius)`` in
  the unconstrained space, as ``init_to_uniform``) and first climbs the log density with
  ``init_steps`` Adam steps, independently of the other chains, before NUTS warmup begins.
  Why: the random start lies far out (log density about ``-7e4`` against ``-450`` in the
  typical set, 4 latents, 1000 rows per context), where gradients are of order ``1e5``; one
  of the first leapfrog steps once threw a chain into a near-singular corner
  (``det(I - W) = 0.017``) where its adapted step size collapsed to ``1e-9`` and it never
  moved again (R-hat 1.5). Adam's steps are bounded by its learning rate, so the climb follows
  the slope instead of jumping; chains that climb to different local modes still disagree, so
  R-hat keeps its meaning.
* :func:`fit_svi`: a Gaussian variational posterior over the same unconstrained
  parameters (``AutoMultivariateNormal`` by default, ``AutoNormal`` for mean field), Adam with
  a cosine-decayed learning rate, then ``num_samples`` draws from the guide.

The posterior of both carries the edge probabilities as the slab responsibilities of every draw
(:mod:`latentgraph.models.spike_slab_numpyro`), so
:func:`~latentgraph.families.linear_scm.posterior.edge_posterior` reads either the same way.

Example (about half a minute on 2 CPU cores, a third of it compiling)::

    from latentgraph.data import make_linear_scm_dataset
    from latentgraph.families.linear_scm import edge_diagnostics, edge_posterior

    dataset = make_linear_scm_dataset(n_latents=4, graph_seed=0)
    tree = fit_nuts(dataset, num_chains=4)
    edge_posterior(tree).probs        # P(z_j -> z_i | data), rows are children
    edge_diagnostics(tree)            # worst R-hat and ESS over the edge weights
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer import MCMC, NUTS, SVI, Trace_ELBO, init_to_uniform
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal
from numpyro.infer.util import log_density, potential_energy

from latentgraph.data import Dataset, check_int, check_seed, describe
from latentgraph.families.linear_scm.config import LinearSCMPrior
from latentgraph.families.linear_scm.inputs import LinearSCMInputs, MixingChoice, linear_scm_inputs
from latentgraph.families.linear_scm.intervention_numpyro import perfect_intervention
from latentgraph.families.linear_scm.numpyro_model import (
    edge_weight_prior,
    linear_scm_model,
    weight_matrix,
)
from latentgraph.families.linear_scm.posterior import to_datatree

__all__ = ["climbed_starts", "fit_nuts", "fit_svi", "intervened_model"]

CHAIN_METHODS = ("vectorized", "sequential", "parallel")
GUIDES = {"multivariate": AutoMultivariateNormal, "normal": AutoNormal}
_NUTS_STATS = {
    "diverging": "diverging",
    "energy": "energy",
    "num_steps": "n_steps",
    "accept_prob": "acceptance_rate",
}


def intervened_model(
    inputs: LinearSCMInputs, prior: LinearSCMPrior
) -> tuple[Callable, tuple, dict]:
    """``(model, args, kwargs)``: :func:`linear_scm_model` wrapped in the known-target
    perfect interventions of ``inputs``, with its data arguments (float32 JAX arrays)."""
    model = perfect_intervention(
        linear_scm_model,
        targets=inputs.targets,
        loc=jnp.asarray(inputs.intervention_loc, jnp.float32),
        scale=jnp.asarray(inputs.intervention_scale, jnp.float32),
    )
    args = tuple(jnp.asarray(a, jnp.float32) for a in (inputs.counts, inputs.mean, inputs.scatter))
    kwargs = {
        "n_latents": inputs.n_latents,
        "n_obs": inputs.n_obs,
        "prior": prior,
        "mixing": None if inputs.mixing is None else jnp.asarray(inputs.mixing, jnp.float32),
    }
    return model, args, kwargs


def fit_nuts(
    dataset: Dataset,
    *,
    num_chains: int = 4,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    seed: int = 0,
    prior: LinearSCMPrior = LinearSCMPrior(),
    mixing: MixingChoice | np.ndarray = "known",
    split: str = "train",
    chain_method: str = "vectorized",
    target_accept_prob: float = 0.8,
    dense_mass: bool = True,
    init_radius: float = 0.1,
    init_steps: int = 500,
    progress_bar: bool = False,
) -> xr.DataTree:
    """NUTS on the exact posterior of the linear SCM; returns an ArviZ DataTree.

    Args:
        dataset: a data set as made by :func:`latentgraph.data.make_linear_scm_dataset`
            (see :func:`~latentgraph.families.linear_scm.inputs.linear_scm_inputs`).
        num_chains, num_warmup, num_samples: NUTS chains, adaptation steps and kept draws per
            chain.
        seed: PRNG seed.
        prior: prior hyperparameters.
        mixing: ``"known"`` (``A`` from the data set), ``"learned"`` or a known ``A`` array.
        split: the split to fit.
        chain_method: ``"vectorized"``, ``"sequential"`` or ``"parallel"``.
        target_accept_prob: NUTS target acceptance probability during adaptation.
        dense_mass: adapt a dense mass matrix rather than a diagonal one. Cheap at these
            sizes and decisive with a learned mixing, whose posterior couples ``A`` with ``W``
            and the noise scales: measured on one graph, the diagonal one needed ~1000
            leapfrog steps per draw and left a chain in a poor local mode, the dense one ~31
            and all chains met.
        init_radius: chains start uniformly in ``(-r, r)`` in the unconstrained space.
        init_steps: Adam steps (learning rate 0.02) each chain takes uphill from its start
            before warmup; 0 starts warmup at the random point (module docstring).
        progress_bar: show NumPyro's progress bar.

    Returns:
        The DataTree of :mod:`latentgraph.families.linear_scm.posterior`; root attributes hold
        the settings and ``wall_time_s``.
    """
    num_chains = check_int(num_chains, "num_chains", minimum=1)
    num_warmup = check_int(num_warmup, "num_warmup", minimum=1)
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    seed = check_seed(seed, "seed")
    _check_prior(prior)
    if chain_method not in CHAIN_METHODS:
        raise ValueError(f"`chain_method` must be one of {CHAIN_METHODS}, got {chain_method!r}")
    target_accept_prob = _check_open_unit(target_accept_prob, "target_accept_prob")
    if not isinstance(dense_mass, bool):
        raise TypeError(f"`dense_mass` must be a bool, got {describe(dense_mass)}")
    init_radius = _check_positive(init_radius, "init_radius")
    init_steps = check_int(init_steps, "init_steps", minimum=0)
    inputs = linear_scm_inputs(dataset, split=split, mixing=mixing)

    model, args, kwargs = intervened_model(inputs, prior)
    key_init, key_run = jax.random.split(jax.random.key(seed))
    start = time.perf_counter()
    init_params = None
    if init_steps:
        init_params = climbed_starts(
            model, args, kwargs, key_init, num_chains, radius=init_radius, steps=init_steps
        )
        if num_chains == 1:
            init_params = {name: value[0] for name, value in init_params.items()}
    kernel = NUTS(
        model,
        init_strategy=init_to_uniform(radius=init_radius),
        target_accept_prob=target_accept_prob,
        dense_mass=dense_mass,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method=chain_method,
        progress_bar=progress_bar,
    )
    mcmc.run(
        key_run,
        *args,
        extra_fields=(*_NUTS_STATS, "potential_energy"),
        init_params=init_params,
        **kwargs,
    )
    samples = jax.device_get(mcmc.get_samples(group_by_chain=True))
    wall = time.perf_counter() - start
    extra = jax.device_get(mcmc.get_extra_fields(group_by_chain=True))
    stats = {name: np.asarray(extra[key]) for key, name in _NUTS_STATS.items()}
    stats["lp"] = -np.asarray(extra["potential_energy"])
    attrs = {
        "inference": "nuts",
        "num_chains": num_chains,
        "num_warmup": num_warmup,
        "num_samples": num_samples,
        "chain_method": chain_method,
        "target_accept_prob": target_accept_prob,
        "dense_mass": int(dense_mass),
        "init_radius": init_radius,
        "init_steps": init_steps,
        "wall_time_s": wall,
    }
    return _tree(samples, stats, inputs, prior, seed, split, attrs)


def climbed_starts(
    model: Callable,
    args: tuple,
    kwargs: dict,
    key: jax.Array,
    num_chains: int,
    *,
    radius: float,
    steps: int,
    learning_rate: float = 0.02,
) -> dict[str, jax.Array]:
    """Independent chain starts: uniform in ``(-radius, radius)`` in the unconstrained space,
    each moved uphill by ``steps`` Adam steps on the log density (all chains at once, vmapped).

    A step that leaves the support (log density ``-inf``) is refused. Returns unconstrained
    values with a leading ``num_chains`` axis, the ``init_params`` of :class:`numpyro.infer.MCMC`.
    """

    def unconstrained_sites(site_key):
        trace = handlers.trace(handlers.seed(model, site_key)).get_trace(*args, **kwargs)
        return {
            name: biject_to(site["fn"].support).inv(site["value"])
            for name, site in trace.items()
            if site["type"] == "sample" and not site["is_observed"]
        }

    # traced abstractly: the program is never run op by op (each op would compile on its own)
    shapes = {name: s.shape for name, s in jax.eval_shape(unconstrained_sites, key).items()}
    names = sorted(shapes)
    optimizer = optax.adam(learning_rate)

    def potential_fn(position):
        return potential_energy(model, args, kwargs, position)

    def start(chain_key):
        keys = jax.random.split(chain_key, len(names))
        return {
            name: jax.random.uniform(k, shapes[name], minval=-radius, maxval=radius)
            for k, name in zip(keys, names, strict=True)
        }

    def climb(position):
        def step(carry, _):
            position, last_inside, state = carry
            energy, grad = jax.value_and_grad(potential_fn)(position)
            # a step that left the support (energy +inf) is undone
            inside = jnp.isfinite(energy)
            position = jax.tree.map(partial(jnp.where, inside), position, last_inside)
            grad = jax.tree.map(lambda g: jnp.where(inside, g, 0.0), grad)
            updates, state = optimizer.update(grad, state, position)
            return (optax.apply_updates(position, updates), position, state), None

        carry = (position, position, optimizer.init(position))
        (last, last_inside, _), _ = jax.lax.scan(step, carry, None, length=steps)
        inside = jnp.isfinite(potential_fn(last))
        return jax.tree.map(partial(jnp.where, inside), last, last_inside)

    chain_keys = jax.random.split(jax.random.fold_in(key, 1), num_chains)
    return jax.jit(jax.vmap(lambda chain_key: climb(start(chain_key))))(chain_keys)


def fit_svi(
    dataset: Dataset,
    *,
    steps: int = 5000,
    seed: int = 0,
    prior: LinearSCMPrior = LinearSCMPrior(),
    mixing: MixingChoice | np.ndarray = "known",
    split: str = "train",
    guide: str = "multivariate",
    learning_rate: float = 0.02,
    num_particles: int = 4,
    num_samples: int = 2000,
    init_radius: float = 0.1,
) -> xr.DataTree:
    """SVI with a Gaussian guide in the unconstrained space; returns an ArviZ DataTree.

    Args:
        dataset, prior, mixing, split, init_radius: as for :func:`fit_nuts`.
        steps: optimisation steps (full batch: the model sees sufficient statistics).
        seed: PRNG seed (initialisation, ELBO noise and the posterior draws).
        guide: ``"multivariate"`` (``AutoMultivariateNormal``) or ``"normal"``
            (``AutoNormal``, mean field).
        learning_rate: initial Adam learning rate, cosine-decayed to 1% over ``steps``.
        num_particles: ELBO particles per step.
        num_samples: draws from the fitted guide (one chain).

    Returns:
        The DataTree of :mod:`latentgraph.families.linear_scm.posterior` with one chain;
        ``sample_stats`` holds ``lp`` (log joint) and ``log_q`` (guide log density) of every
        draw, so ``lp - log_q`` are importance log weights; the group ``svi`` holds the loss
        per step.
    """
    steps = check_int(steps, "steps", minimum=1)
    seed = check_seed(seed, "seed")
    _check_prior(prior)
    if guide not in GUIDES:
        raise ValueError(f"`guide` must be one of {sorted(GUIDES)}, got {guide!r}")
    learning_rate = _check_positive(learning_rate, "learning_rate")
    num_particles = check_int(num_particles, "num_particles", minimum=1)
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    init_radius = _check_positive(init_radius, "init_radius")
    inputs = linear_scm_inputs(dataset, split=split, mixing=mixing)

    model, args, kwargs = intervened_model(inputs, prior)
    auto_guide = GUIDES[guide](model, init_loc_fn=init_to_uniform(radius=init_radius))
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.01)
    svi = SVI(model, auto_guide, optax.adam(schedule), Trace_ELBO(num_particles=num_particles))
    key_fit, key_draw = jax.random.split(jax.random.key(seed))
    start = time.perf_counter()
    result = svi.run(key_fit, steps, *args, progress_bar=False, stable_update=True, **kwargs)
    params = result.params

    def draw(key):
        # one draw from the guide, with its log density and the model's log joint there
        seeded = handlers.seed(auto_guide, key)
        log_q, trace = log_density(seeded, args, kwargs, params)
        values = {
            name: site["value"]
            for name, site in trace.items()
            if site["type"] == "sample" and not site["infer"].get("is_auxiliary", False)
        }
        log_p, _ = log_density(model, args, kwargs, values)
        return values, log_p, log_q

    values, log_p, log_q = jax.device_get(
        jax.jit(jax.vmap(draw))(jax.random.split(key_draw, num_samples))
    )
    wall = time.perf_counter() - start
    samples = {name: np.asarray(value)[None] for name, value in values.items()}
    stats = {"lp": np.asarray(log_p)[None], "log_q": np.asarray(log_q)[None]}
    losses = np.asarray(jax.device_get(result.losses))
    finite_losses = losses[np.isfinite(losses)]  # a skipped (non-finite) step is recorded too
    attrs = {
        "inference": "svi",
        "guide": GUIDES[guide].__name__,
        "steps": steps,
        "learning_rate": learning_rate,
        "num_particles": num_particles,
        "num_samples": num_samples,
        "init_radius": init_radius,
        "final_loss": float(finite_losses[-1]) if finite_losses.size else float("nan"),
        "wall_time_s": wall,
    }
    loss = xr.Dataset({"loss": ("step", losses)}, coords={"step": np.arange(steps)})
    return _tree(samples, stats, inputs, prior, seed, split, attrs, {"svi": loss})


def _tree(
    samples: dict[str, np.ndarray],
    stats: dict[str, np.ndarray],
    inputs: LinearSCMInputs,
    prior: LinearSCMPrior,
    seed: int,
    split: str,
    attrs: dict,
    extra_groups: dict[str, xr.Dataset] | None = None,
) -> xr.DataTree:
    """Posterior variables from raw site draws ``(chain, draw, ...)``."""
    d = inputs.n_latents
    edge_weights = jnp.asarray(samples["edge_weights"])
    posterior = {
        "weights": np.asarray(weight_matrix(edge_weights, d)),
        "edge_probability": np.asarray(
            weight_matrix(edge_weight_prior(prior).inclusion_probability(edge_weights), d)
        ),
        "noise_scale": samples["noise_scale"],
        "obs_noise_scale": samples["obs_noise_scale"],
    }
    if "mixing" in samples:
        posterior["mixing"] = samples["mixing"]
    attrs = {
        "model": "latentgraph.families.linear_scm",
        "mixing": "learned" if inputs.mixing is None else "known",
        "split": split,
        "seed": seed,
        "prior": asdict(prior),
        **attrs,
    }
    return to_datatree(posterior, stats, inputs, attrs, extra_groups)


def _check_prior(prior: object) -> None:
    if not isinstance(prior, LinearSCMPrior):
        raise TypeError(f"`prior` must be a LinearSCMPrior, got {describe(prior)}")


def _check_positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"`{name}` must be a positive float, got {describe(value)}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive finite float, got {value!r}")
    return float(value)


def _check_open_unit(value: object, name: str) -> float:
    value = _check_positive(value, name)
    if value >= 1:
        raise ValueError(f"`{name}` must lie in (0, 1), got {value!r}")
    return value
