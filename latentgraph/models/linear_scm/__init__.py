"""Linear-Gaussian latent causal model with known-target perfect interventions (NumPyro).

A sparse DAG among a handful of latents, a linear mixing to observations and one perfect
intervention per latent plus the observational context: the small model of latentgraph where
exact Bayesian inference (NUTS) is feasible, to check identifiability claims and the SVI
approximation against it.

- :mod:`~latentgraph.models.linear_scm.numpyro_model`: the program (spike-and-slab edges,
  latents marginalised, sufficient statistics observed per context).
- :mod:`~latentgraph.models.linear_scm.intervention_numpyro`: the perfect-intervention handler.
- :mod:`~latentgraph.models.linear_scm.fit_numpyro`: :func:`fit_nuts`, :func:`fit_svi`.
- :mod:`~latentgraph.models.linear_scm.posterior`: the ArviZ DataTree, edge beliefs, R-hat/ESS.

Known or learned mixing (the ``mixing`` argument of the fits). With ``A`` known the posterior
over ``(W, omega, sigma_x)`` is unimodal in practice and NUTS mixes (the benchmark target).
With ``A`` learned the model is still identifiable in theory (Squires et al. 2023; the scale
and sign of every latent are pinned by its known intervention distribution), but the
likelihood surface has many local optima (numerically: random restarts of a full-batch optimiser
on the population likelihood end in distinct non-global optima), so independent chains need not
meet: R-hat then flags the multimodality rather than certifying a posterior.

Data: :func:`latentgraph.data.make_linear_scm_dataset`.
"""

from latentgraph.models.linear_scm.config import LinearSCMPrior
from latentgraph.models.linear_scm.fit_numpyro import fit_nuts, fit_svi, intervened_model
from latentgraph.models.linear_scm.inputs import (
    LinearSCMInputs,
    context_statistics,
    linear_scm_inputs,
)
from latentgraph.models.linear_scm.intervention_numpyro import (
    PerfectIntervention,
    perfect_intervention,
)
from latentgraph.models.linear_scm.numpyro_model import linear_scm_model
from latentgraph.models.linear_scm.posterior import (
    convergence_summary,
    edge_diagnostics,
    edge_posterior,
)

__all__ = [
    "LinearSCMInputs",
    "LinearSCMPrior",
    "PerfectIntervention",
    "context_statistics",
    "convergence_summary",
    "edge_diagnostics",
    "edge_posterior",
    "fit_nuts",
    "fit_svi",
    "intervened_model",
    "linear_scm_inputs",
    "linear_scm_model",
    "perfect_intervention",
]
