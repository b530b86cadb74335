"""The linear-Gaussian latent causal model as a NumPyro program.

.. math::

    W_{ij} &\\sim (1 - \\pi)\\,\\mathcal N(0, s_0^2) + \\pi\\,\\mathcal N(0, s_1^2)
        \\quad (i \\ne j), \\qquad W_{ii} = 0, \\\\
    \\omega_i &\\sim \\mathrm{HalfNormal}, \\qquad \\sigma_x \\sim \\mathrm{HalfNormal}, \\qquad
    A_{ab} \\sim \\mathcal N(0, s_A^2) \\text{ (when learned)}, \\\\
    x_r \\mid c_r &\\sim \\mathcal N\\bigl(A B_{c} \\mu_{c},\\;
        A B_{c} \\operatorname{diag}(\\omega_{c}^2) B_{c}^\\top A^\\top + \\sigma_x^2 I\\bigr),
        \\qquad B_c = (I - W_c)^{-1}.

Sites: ``edge_weights`` (the ``d (d - 1)`` off-diagonal entries of ``W`` in row-major order,
see :func:`off_diagonal_indices`), ``noise_scale`` ``(d,)``, ``mixing`` ``(p, d)`` (only when
no known ``mixing`` is passed), ``obs_noise_scale``, and, in the plate ``contexts``, the
observed per-context mean ``x_mean`` ``(C, p)`` and scatter ``x_scatter`` ``(C, p, p)`` of the
rows (sufficient statistics: the same posterior as observing every row, see
:func:`linear_scm_model`).

Design:

* **Edges for NUTS.** The edge indicators are summed out of the spike-and-slab prior
  (:class:`~latentgraph.models.spike_slab_numpyro.SpikeAndSlabNormal`), so every site is
  continuous and NUTS runs on ``W`` directly; posterior edge probabilities are the
  Rao-Blackwellised slab responsibilities averaged over draws. This needs neither
  ``DiscreteHMCGibbs`` (Gibbs updates of each indicator given its weight, the pattern whose
  mixing suffers when indicator and weight are tightly coupled) nor enumeration over the
  ``2^{d(d-1)}`` graphs.
* **No causal order.** Every off-diagonal weight is free; acyclicity is not imposed. With one
  perfect intervention per latent, every ordered pair ``(j, i)`` has a context where ``z_j``
  is intervened and ``z_i`` is not, which identifies all of ``W`` (cycles included) from the
  distributions of the latents (Hyttinen et al. 2012, "pair condition"), so with a known
  mixing the reverse edges of a DAG are put in the spike by the data. With a learned mixing
  the latents are identifiable only through the DAG result of Squires et al. (2023), and the
  posterior is multimodal in practice (see :mod:`~latentgraph.families.linear_scm`).
* **The cell of the DAGs.** The likelihood is zero on the surfaces ``det(I - W_c) = 0``, which
  cut the weight space into cells; every DAG has ``det(I - W_c) = 1``. A leapfrog step can jump
  over such a surface, or over a thin slab where ``det < 0``, and leave a chain in a cell with
  no DAG and a far worse fit, which it never leaves (seen during development, before any
  restriction: one chain of four at ``det(I - W) = -6.3`` and log density -3410 against -438,
  R-hat 1.53). The prior is therefore restricted to the star-shaped region around ``W = 0``
  where ``det(I - t W_c) > 0`` along the whole segment ``t in [0, 1]``, for every context (the
  factor ``weights_support``, ``0`` or ``-inf``; :func:`in_star_shaped_cell`). Since
  ``det(I - t W) = prod_k (1 - t lambda_k)`` this is: no ``W_c`` has a real eigenvalue
  ``>= 1``. The region is connected, holds every DAG (nilpotent ``W``) and every stable cyclic
  model (spectral radius ``< 1``); chains start near ``W = 0``. The restriction depends on
  ``W`` alone, so the Rao-Blackwellised edge probabilities stay exact.
* **Latents marginalised.** ``z`` is integrated out in closed form
  (:func:`~latentgraph.families.linear_scm.mechanisms_numpyro.observation_moments`), so the
  sampler sees ``d (d - 1) + d + 1`` (+ ``p d``) parameters whatever the number of rows.
* **Interventions from outside.** The program declares the observational mechanisms of every
  context at the site ``mechanisms``; the known-target interventions are applied by wrapping
  it in :func:`~latentgraph.families.linear_scm.intervention_numpyro.perfect_intervention`.
  Unwrapped, every context is observational.

References: Squires et al., "Linear Causal Disentanglement via Interventions", ICML 2023;
A. Hyttinen, F. Eberhardt, P. O. Hoyer, "Learning Linear Cyclic Causal Models with Latent
Variables", JMLR 13 (2012) (the pair condition); George & McCulloch, JASA 88 (1993).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from latentgraph.families.linear_scm.config import LinearSCMPrior
from latentgraph.families.linear_scm.mechanisms_numpyro import (
    LinearMechanisms,
    linear_mechanisms,
    observation_moments,
)
from latentgraph.numpyro import SpikeAndSlabNormal

__all__ = [
    "edge_weight_prior",
    "in_star_shaped_cell",
    "linear_scm_model",
    "off_diagonal_indices",
    "weight_matrix",
]


def off_diagonal_indices(n_latents: int) -> tuple[np.ndarray, np.ndarray]:
    """``(children, parents)`` of the ``d (d - 1)`` possible edges, row-major.

    Example:
        >>> [list(map(int, a)) for a in off_diagonal_indices(3)]
        [[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]]
    """
    children, parents = np.nonzero(~np.eye(n_latents, dtype=bool))
    return children, parents


def weight_matrix(edge_weights: jax.Array, n_latents: int) -> jax.Array:
    """Scatter ``(..., d (d - 1))`` edge weights into ``(..., d, d)`` matrices, zero diagonal."""
    children, parents = off_diagonal_indices(n_latents)
    batch = edge_weights.shape[:-1]
    return (
        jnp.zeros(batch + (n_latents, n_latents), edge_weights.dtype)
        .at[..., children, parents]
        .set(edge_weights)
    )


def in_star_shaped_cell(weights: jax.Array) -> jax.Array:
    """Whether ``det(I - t W) > 0`` for every ``t in [0, 1]`` and every matrix of the batch
    ``weights`` ``(..., d, d)``: no real eigenvalue ``>= 1`` (a scalar bool).

    Example:
        >>> dag = jnp.array([[0.0, 0.0], [5.0, 0.0]])
        >>> cycle = jnp.array([[0.0, 2.0], [2.0, 0.0]])  # eigenvalues +-2
        >>> bool(in_star_shaped_cell(dag)), bool(in_star_shaped_cell(cycle))
        (True, False)
    """
    # the indicator carries no gradient; stop it so JAX does not differentiate eig
    eigenvalues = jnp.linalg.eigvals(jax.lax.stop_gradient(weights))
    # a real eigenvalue of a real matrix comes out with an imaginary part at rounding level
    real = jnp.abs(eigenvalues.imag) <= 1e-5 * (1.0 + jnp.abs(eigenvalues))
    return ~jnp.any(real & (eigenvalues.real >= 1.0))


def edge_weight_prior(prior: LinearSCMPrior) -> SpikeAndSlabNormal:
    """The spike-and-slab prior of one edge weight."""
    return SpikeAndSlabNormal(prior.edge_prob, prior.spike_scale, prior.slab_scale)


def linear_scm_model(
    counts: jax.Array,
    mean: jax.Array | None = None,
    scatter: jax.Array | None = None,
    *,
    n_latents: int,
    n_obs: int,
    prior: LinearSCMPrior = LinearSCMPrior(),
    mixing: jax.Array | None = None,
) -> None:
    """Linear-Gaussian latent SCM, latents marginalised (see the module docstring).

    The data enter through their per-context sufficient statistics (see
    :func:`~latentgraph.families.linear_scm.inputs.context_statistics`): the mean ``m_c`` and scatter ``S_c`` of the ``n_c`` rows of
    context ``c``. For Gaussian rows they are independent with

    .. math:: m_c \\sim \\mathcal N(\\mu_c, \\Sigma_c / n_c), \\qquad
              S_c \\sim \\mathrm{Wishart}(n_c - 1, \\Sigma_c),

    and their likelihood equals the likelihood of the rows up to a factor free of the
    parameters (T. W. Anderson, "An Introduction to Multivariate Statistical Analysis", 3rd
    ed. 2003, ch. 3 and 7), so posteriors are exact while a gradient costs ``O(C p^3)`` instead of
    ``O(n p^2)``.

    Args:
        counts: ``(C,)`` rows per context (each ``> n_obs``); ``C`` is the number of contexts
            and the leading axis of the mechanism site.
        mean: ``(C, n_obs)`` context means ``m_c`` (observed site ``x_mean``), or None to
            sample them.
        scatter: ``(C, n_obs, n_obs)`` scatter matrices ``S_c`` (observed site
            ``x_scatter``), or None to sample them.
        n_latents: ``d``.
        n_obs: ``p``.
        prior: prior hyperparameters.
        mixing: a known ``A`` ``(n_obs, n_latents)``; None samples it as the site ``mixing``.
    """
    d, p = n_latents, n_obs
    n_contexts = counts.shape[0]
    edge_weights = numpyro.sample(
        "edge_weights", edge_weight_prior(prior).expand([d * (d - 1)]).to_event(1)
    )
    noise_scale = numpyro.sample(
        "noise_scale", dist.HalfNormal(prior.noise_scale).expand([d]).to_event(1)
    )
    if mixing is None:
        mixing = numpyro.sample(
            "mixing", dist.Normal(0.0, prior.mixing_scale).expand([p, d]).to_event(2)
        )
    obs_noise_scale = numpyro.sample("obs_noise_scale", dist.HalfNormal(prior.obs_noise_scale))

    weights = weight_matrix(edge_weights, d)
    observational = LinearMechanisms(
        weights=jnp.broadcast_to(weights, (n_contexts, d, d)),
        loc=jnp.zeros((n_contexts, d), weights.dtype),
        scale=jnp.broadcast_to(noise_scale, (n_contexts, d)),
    )
    mechanisms = linear_mechanisms("mechanisms", observational)
    numpyro.factor(
        "weights_support", jnp.where(in_star_shaped_cell(mechanisms.weights), 0.0, -jnp.inf)
    )
    loc, scale_tril = observation_moments(mechanisms, mixing, obs_noise_scale)
    counts = jnp.asarray(counts, loc.dtype)
    with numpyro.plate("contexts", n_contexts):
        numpyro.sample(
            "x_mean",
            dist.MultivariateNormal(loc, scale_tril=scale_tril / jnp.sqrt(counts)[:, None, None]),
            obs=mean,
        )
        numpyro.sample("x_scatter", dist.Wishart(counts - 1.0, scale_tril=scale_tril), obs=scatter)
