"""latentgraph for NumPyro programs: ``import latentgraph.numpyro as lgn`` (imports no torch).

The NumPyro twin of :mod:`latentgraph.pyro`, with the same names and meaning where both
backends have a piece:

* **graph sites**: :func:`edge_mask` and :func:`relaxed_edge_posterior` (the same numbers as
  the Pyro sites for the same logits and noise);
* **mechanisms** (flax, used through ``numpyro.contrib.module.flax_module``):
  :class:`MaskedMechanisms`, :class:`MLP`, :class:`ParallelDense`;
* **interventions applied from outside**: the backend-neutral descriptions
  (:class:`Context`, :class:`PerfectValue`, :class:`PerfectDraw`, :class:`Stochastic`,
  :class:`Soft`) and the NumPyro handlers;
* **objectives**: the edge-count constraint as pure functions (:func:`linear_schedule`,
  :func:`lagrangian_term`, :func:`dual_ascent`);
* **training**: :func:`fit` (any model/guide pair, jitted ``lax.scan`` chunks, optax) and the
  lower-level pure pieces :func:`svi_step`, :func:`run_chunk` (vmap it to train many runs at
  once) and the host loop :func:`train`, with exact checkpoints of it
  (:func:`save_training_state`, :func:`load_training_state`).
"""

from latentgraph.inference.checkpoint_jax import load_pytree, save_pytree
from latentgraph.inference.devices_jax import device_name, resolve_jax_device
from latentgraph.inference.edge_elbo_numpyro import EdgeConstrainedELBO
from latentgraph.inference.fit_numpyro import NumPyroFit, fit
from latentgraph.inference.lagrangian_jax import dual_ascent, lagrangian_term, linear_schedule
from latentgraph.inference.settings import History, NonFiniteLossError, TrainConfig
from latentgraph.inference.svi_jax import (
    Objective,
    RunHyper,
    SVISettings,
    SVIState,
    chunk_length,
    init_state,
    make_optimizer,
    run_chunk,
    svi_step,
    train,
    train_chunk,
)
from latentgraph.inference.training_state_jax import load_training_state, save_training_state
from latentgraph.models.edge_mask_numpyro import (
    EdgeSparsityPrior,
    RelaxedEdgePosterior,
    edge_kl,
    edge_mask,
    relaxed_edge_posterior,
)
from latentgraph.models.handlers_numpyro import FixMessenger, fix
from latentgraph.models.interventions.contexts import (
    Context,
    Intervention,
    PerfectDraw,
    PerfectValue,
    Soft,
    Stochastic,
    target_mask,
)
from latentgraph.models.interventions.intervene_numpyro import InterventionMessenger, intervene
from latentgraph.models.interventions.linear_gaussian import (
    linear_gaussian_moments,
    perfect_linear_gaussian,
    soft_linear_gaussian,
)
from latentgraph.models.interventions.masked_select_numpyro import MaskedSelect
from latentgraph.models.interventions.perfect_numpyro import PerfectMessenger, perfect
from latentgraph.models.interventions.replacement_numpyro import (
    intervened_distribution,
    soft_shift_scale,
)
from latentgraph.models.interventions.scm_numpyro import linear_gaussian_scm_numpyro
from latentgraph.models.interventions.soft_numpyro import SoftMessenger, soft
from latentgraph.models.interventions.stochastic_numpyro import StochasticMessenger, stochastic
from latentgraph.models.mechanisms_flax import MaskedMechanisms
from latentgraph.models.nn_flax import MLP, ParallelDense
from latentgraph.models.spike_slab_numpyro import SpikeAndSlabNormal

resolve_device = resolve_jax_device
"""The JAX device for ``"auto"``, ``"cpu"``, ``"cuda"``/``"gpu"`` (the Pyro namespace's name)."""

__all__ = [
    "Context",
    "EdgeConstrainedELBO",
    "EdgeSparsityPrior",
    "FixMessenger",
    "History",
    "Intervention",
    "InterventionMessenger",
    "MLP",
    "MaskedMechanisms",
    "MaskedSelect",
    "NonFiniteLossError",
    "NumPyroFit",
    "Objective",
    "ParallelDense",
    "PerfectDraw",
    "PerfectMessenger",
    "PerfectValue",
    "RelaxedEdgePosterior",
    "RunHyper",
    "SVISettings",
    "SVIState",
    "Soft",
    "SoftMessenger",
    "SpikeAndSlabNormal",
    "Stochastic",
    "StochasticMessenger",
    "TrainConfig",
    "chunk_length",
    "device_name",
    "dual_ascent",
    "edge_kl",
    "edge_mask",
    "fit",
    "fix",
    "init_state",
    "intervene",
    "intervened_distribution",
    "lagrangian_term",
    "linear_gaussian_moments",
    "linear_gaussian_scm_numpyro",
    "linear_schedule",
    "load_pytree",
    "load_training_state",
    "make_optimizer",
    "perfect",
    "perfect_linear_gaussian",
    "relaxed_edge_posterior",
    "resolve_device",
    "resolve_jax_device",
    "run_chunk",
    "save_pytree",
    "save_training_state",
    "soft",
    "soft_linear_gaussian",
    "soft_shift_scale",
    "stochastic",
    "svi_step",
    "target_mask",
    "train",
    "train_chunk",
]
