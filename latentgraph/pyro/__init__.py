"""latentgraph for Pyro programs: ``import latentgraph.pyro as lgp`` (imports no JAX).

Everything a researcher needs to write a latent-causal-graph model as a plain Pyro program and
train it, in one namespace:

* **graph sites**: :func:`edge_mask` (model side: a Bernoulli sparsity prior whose log-odds are
  the penalty) and :func:`relaxed_edge_posterior` (guide side: a Gumbel-sigmoid relaxation);
* **mechanisms**: :class:`MaskedMechanisms` (one network per child, parents masked by a graph
  sample), :func:`mlp`, :class:`ParallelLinear`;
* **interventions applied from outside**: :func:`fix`, :func:`perfect`, :func:`soft`,
  :func:`stochastic`, :func:`intervene` with a :class:`Context` of known targets;
* **objectives**: :class:`AnalyticMeanFieldELBO`, the edge-count constraint
  (:class:`EdgeCountConstraint`, :class:`DualAscent`, :class:`LinearSchedule`) and the
  interaction penalty (:func:`interaction_penalty`);
* **training**: :func:`fit` (any model/guide pair: minibatches, progress, checkpoints with
  exact resume, NaN rollback, ``edge_bounds``) and the lower-level loop :func:`train`.

Example (a model with one bounded graph site; see ``examples/your_own_model_pyro.ipynb``)::

    import latentgraph.pyro as lgp

    def model(x):
        graph = lgp.edge_mask("graph", torch.zeros(4, 4))
        ...

    result = lgp.fit(model, guide, {"x": x}, steps=2000, batch_size=128, lr=1e-2,
                     edge_bounds={"graph": 4})
    result.edges("graph").to_networkx()
"""

from latentgraph.inference.checkpoint_torch import load_checkpoint, save_checkpoint
from latentgraph.inference.devices_torch import resolve_device, seed_everything
from latentgraph.inference.elbo_pyro import AnalyticMeanFieldELBO
from latentgraph.inference.fit_pyro import (
    EdgeConstrainedELBO,
    ProgramParameters,
    PyroFit,
    annealed_edge_constraints,
    fit,
    fit_objective,
    inspect_programs,
)
from latentgraph.inference.lagrangian_torch import DualAscent, EdgeCountConstraint
from latentgraph.inference.schedules import LinearSchedule
from latentgraph.inference.settings import History, NonFiniteLossError, TrainConfig
from latentgraph.inference.svi_torch import Objective, train
from latentgraph.models.edge_mask_pyro import EdgeSparsityPrior, edge_mask, relaxed_edge_posterior
from latentgraph.models.handlers_pyro import FixMessenger, fix
from latentgraph.models.interaction_penalty_torch import (
    head_summed_attention,
    interaction_penalty,
    interaction_penalty_max,
    interaction_penalty_pairwise,
)
from latentgraph.models.interventions.contexts import (
    Context,
    Intervention,
    PerfectDraw,
    PerfectValue,
    Soft,
    Stochastic,
    target_mask,
)
from latentgraph.models.interventions.intervene_pyro import InterventionMessenger, intervene
from latentgraph.models.interventions.linear_gaussian import (
    linear_gaussian_moments,
    perfect_linear_gaussian,
    soft_linear_gaussian,
)
from latentgraph.models.interventions.masked_select_pyro import MaskedSelect
from latentgraph.models.interventions.perfect_pyro import PerfectMessenger, perfect
from latentgraph.models.interventions.replacement_pyro import (
    intervened_distribution,
    soft_shift_scale,
)
from latentgraph.models.interventions.scm_pyro import linear_gaussian_scm_pyro
from latentgraph.models.interventions.soft_pyro import SoftMessenger, soft
from latentgraph.models.interventions.stochastic_pyro import StochasticMessenger, stochastic
from latentgraph.models.jacobian_torch import (
    cross_hessian_mass_torch,
    numpy_decoder,
    slot_influence_pixels_torch,
    slot_influence_torch,
    slot_jacobian_torch,
)
from latentgraph.models.mechanisms_torch import MaskedMechanisms
from latentgraph.models.nn_torch import ParallelLinear, mlp

__all__ = [
    "AnalyticMeanFieldELBO",
    "Context",
    "DualAscent",
    "EdgeConstrainedELBO",
    "EdgeCountConstraint",
    "EdgeSparsityPrior",
    "FixMessenger",
    "History",
    "Intervention",
    "InterventionMessenger",
    "LinearSchedule",
    "MaskedMechanisms",
    "MaskedSelect",
    "NonFiniteLossError",
    "Objective",
    "ParallelLinear",
    "PerfectDraw",
    "PerfectMessenger",
    "PerfectValue",
    "ProgramParameters",
    "PyroFit",
    "Soft",
    "SoftMessenger",
    "Stochastic",
    "StochasticMessenger",
    "TrainConfig",
    "annealed_edge_constraints",
    "cross_hessian_mass_torch",
    "edge_mask",
    "fit",
    "fit_objective",
    "fix",
    "head_summed_attention",
    "inspect_programs",
    "interaction_penalty",
    "interaction_penalty_max",
    "interaction_penalty_pairwise",
    "intervene",
    "intervened_distribution",
    "linear_gaussian_moments",
    "linear_gaussian_scm_pyro",
    "load_checkpoint",
    "mlp",
    "numpy_decoder",
    "perfect",
    "perfect_linear_gaussian",
    "relaxed_edge_posterior",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
    "slot_influence_pixels_torch",
    "slot_influence_torch",
    "slot_jacobian_torch",
    "soft",
    "soft_linear_gaussian",
    "soft_shift_scale",
    "stochastic",
    "target_mask",
    "train",
]
