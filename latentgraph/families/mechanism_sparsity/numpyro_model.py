"""The mechanism-sparsity VAE as a NumPyro program (Lachapelle et al., 2024, arXiv 2401.04890).

The twin of :mod:`.pyro_model` (same generative model, guide, scales and parameterisations;
the two give the same ELBO terms for the same weights and noise, tested in float64). For one
example with ``T`` time steps (``docs/mechanism_sparsity.md#model``):

.. math::
    M^a &\\sim \\prod_{i\\ell} \\mathrm{Bernoulli}(\\sigma(l^a_{i\\ell})), \\qquad
    M^z \\sim \\prod_{ij} \\mathrm{Bernoulli}(\\sigma(l^z_{ij})) \\\\
    z^0 &\\sim \\mathcal N(\\mu_0, \\sigma_0^2) \\quad (T = 2) \\\\
    z^t_i &\\sim \\mathcal N\\big(\\hat\\mu_i(M^z_{i,:} \\odot z^{t-1}, M^a_{i,:} \\odot a),\\;
            \\hat\\sigma_i^2\\big) \\\\
    x^t &\\sim \\mathcal N(f(z^t), \\sigma_x^2 I)

The guide is the amortised encoder :math:`q(z^t \\mid x^t)` and a relaxed-Bernoulli posterior
per graph. Under :class:`numpyro.infer.TraceMeanField_ELBO` every KL is analytic and the loss is
the paper's per-dimension negative ELBO: data terms scaled by ``1 / (batch * T * d_x)``, graph
terms by ``1 / d_x``.

Differences from the Pyro class, all JAX idiom: the object holds no state (parameters live in
a pytree, keyed by site name: ``"encoder$params"``, ``"decoder$params"``, ``"mechanisms$params"``
for the Flax networks, plus ``decoder_logvar``, ``transition_raw_var``, ``initial_loc``,
``initial_raw_var`` and ``<graph>_logits``), and the edge prior's log-odds are an argument of
the programs (``edge_log_odds``), so a penalty can be traced and vmapped.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from latentgraph.families.mechanism_sparsity.config import NetworkSizes
    >>> tiny = NetworkSizes((8,), (8,), 4, 1)
    >>> vae = NumPyroMechanismSparsityVAE(
    ...     MechanismSparsityConfig(n_latents=3, n_obs=5, n_actions=2, sizes=tiny))
    >>> x, a = jnp.zeros((8, 1, 5)), jnp.zeros((8, 2))
    >>> shapes = jax.eval_shape(vae.init_params, jax.random.key(0), x, a)  # traced, not run
    >>> sorted(shapes)  # doctest: +NORMALIZE_WHITESPACE
    ['action_graph_logits', 'decoder$params', 'decoder_logvar', 'encoder$params',
     'mechanisms$params', 'transition_raw_var']
    >>> shapes["action_graph_logits"].shape
    (3, 2)

Training evaluates ``TraceMeanField_ELBO().loss(key, params, vae.model, vae.guide, x, a)`` with
``params = vae.init_params(key, x, a)`` (see :mod:`.objective_numpyro`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax import random
from numpyro import handlers
from numpyro.contrib.module import flax_module

from latentgraph.families.mechanism_sparsity.config import MechanismSparsityConfig
from latentgraph.numpyro import MLP, MaskedMechanisms, edge_mask, relaxed_edge_posterior

ENCODER_VAR_FLOOR = 1e-4
TRANSITION_VAR_FLOOR = 1e-6
DECODER_STD_FLOOR = 1e-4


def _inverse_softplus(y: float) -> float:
    return math.log(math.expm1(y))


EdgeLogOdds = float | jax.Array | Mapping[str, float | jax.Array]


@dataclass(frozen=True)
class NumPyroMechanismSparsityVAE:
    """Model and guide of the method as NumPyro programs, plus pure helpers on a params pytree.

    Hashable (a frozen dataclass of a frozen config), so its bound methods can be static
    arguments of :func:`jax.jit`.

    Args:
        config: a :class:`MechanismSparsityConfig`.
    """

    config: MechanismSparsityConfig

    # ---- networks ----------------------------------------------------------------------------

    def encoder_net(self) -> MLP:
        c = self.config
        return MLP(tuple(c.sizes.encoder_hidden), 2 * c.n_latents)

    def decoder_net(self) -> MLP:
        c = self.config
        return MLP(tuple(c.sizes.decoder_hidden), c.n_obs)

    def mechanisms_net(self) -> MaskedMechanisms:
        c = self.config
        return MaskedMechanisms(
            c.n_latents,
            n_latent_parents=c.n_latents if c.has_latent_graph else 0,
            n_action_parents=c.n_actions,
            hidden=c.sizes.transition_hidden,
            n_layers=c.sizes.transition_layers,
        )

    def _mechanisms(self):
        c = self.config
        net = self.mechanisms_net()
        example = {}  # inputs that shape the parameters at initialisation
        if net.n_latent_parents:
            example["latent_parents"] = jnp.ones((1, c.n_latents))
            example["latent_mask"] = jnp.ones((c.n_latents, c.n_latents))
        if net.n_action_parents:
            example["actions"] = jnp.ones((1, c.n_actions))
            example["action_mask"] = jnp.ones((c.n_latents, c.n_actions))
        return flax_module("mechanisms", net, **example)

    # ---- graph bookkeeping -------------------------------------------------------------------

    @property
    def graph_names(self) -> tuple[str, ...]:
        return tuple(self.config.graph_shapes())

    @staticmethod
    def logits_site(graph: str) -> str:
        """Name of the parameter holding ``graph``'s variational log-odds ``alpha``."""
        return f"{graph}_logits"

    def edge_probabilities(self, params: Mapping) -> dict[str, jax.Array]:
        """Posterior edge probabilities ``sigma(alpha)`` per graph, ``(n_children, n_parents)``."""
        return {g: jax.nn.sigmoid(params[self.logits_site(g)]) for g in self.graph_names}

    def expected_edges(self, params: Mapping) -> dict[str, jax.Array]:
        """``sum sigma(alpha)`` per graph: the sparsity measure of
        ``docs/mechanism_sparsity.md#graph-masks``."""
        return {g: p.sum() for g, p in self.edge_probabilities(params).items()}

    def prior_logits(self, edge_log_odds: EdgeLogOdds = 0.0) -> dict[str, jax.Array]:
        """Prior log-odds per graph from a scalar (every graph) or a mapping graph -> value."""
        out = {}
        for name, shape in self.config.graph_shapes().items():
            value = edge_log_odds[name] if isinstance(edge_log_odds, Mapping) else edge_log_odds
            out[name] = jnp.broadcast_to(jnp.asarray(value), shape)
        return out

    def frozen(self, program):
        """``program`` with every graph held at all-ones (the paper's no-sparsity control).

        The graph sites get their value from :func:`numpyro.handlers.substitute` and are hidden
        from every outer handler by :func:`numpyro.handlers.block`, so in model and guide alike
        a frozen graph is a constant, not a random variable (no sample, no ELBO term).
        """
        ones = {name: jnp.ones(shape) for name, shape in self.config.graph_shapes().items()}
        return handlers.block(handlers.substitute(program, data=ones), hide=list(ones))

    # ---- deterministic pieces ----------------------------------------------------------------

    def _encoder_stats(self, out: jax.Array) -> tuple[jax.Array, jax.Array]:
        loc, raw_var = jnp.split(out, 2, axis=-1)
        return loc, jax.nn.softplus(raw_var) + ENCODER_VAR_FLOOR

    def encode(self, params: Mapping, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Encoder mean and variance, ``(..., T, d_x) -> 2 x (..., T, d_z)`` (pure)."""
        out = self.encoder_net().apply({"params": params["encoder$params"]}, x)
        return self._encoder_stats(out)

    def init_params(self, rng_key: jax.Array, x: jax.Array, actions=None) -> dict:
        """Initial parameters of model and guide (a pure function of ``rng_key``; vmappable).

        ``x`` and ``actions`` only fix shapes: a couple of rows suffice.
        """
        guide_key, model_key = random.split(rng_key)
        guide_trace = handlers.trace(handlers.seed(self.guide, guide_key)).get_trace(x, actions)
        model_trace = handlers.trace(handlers.seed(self.model, model_key)).get_trace(x, actions)
        return {
            name: site["value"]
            for trace in (guide_trace, model_trace)
            for name, site in trace.items()
            if site["type"] == "param"
        }

    # ---- the probabilistic program -----------------------------------------------------------

    def model(self, x: jax.Array, actions=None, edge_log_odds: EdgeLogOdds = 0.0) -> jax.Array:
        """Generative model. ``x``: ``(batch, T, d_x)``; ``actions``: ``(batch, d_a)`` or None;
        ``edge_log_odds``: prior log-odds of every edge (``-lambda`` for a penalty ``lambda``)."""
        c = self.config
        batch, n_steps, n_obs = x.shape
        decoder = flax_module("decoder", self.decoder_net(), input_shape=(1, c.n_latents))
        mechanisms = self._mechanisms()
        decoder_logvar = numpyro.param("decoder_logvar", jnp.asarray(c.decoder_logvar_init))
        transition_raw_var = numpyro.param(
            "transition_raw_var",
            jnp.full(
                (c.n_latents,), _inverse_softplus(c.transition_var_init - TRANSITION_VAR_FLOOR)
            ),
        )
        transition_scale = jnp.sqrt(jax.nn.softplus(transition_raw_var) + TRANSITION_VAR_FLOOR)
        graphs = {}
        with handlers.scale(scale=1.0 / n_obs):
            for name, logits in self.prior_logits(edge_log_odds).items():
                graphs[name] = edge_mask(name, logits, include_entropy=c.include_edge_entropy)
        action_graph = graphs.get("action_graph")
        latent_graph = graphs.get("latent_graph")
        if n_steps > 1:
            initial_loc = numpyro.param("initial_loc", jnp.zeros(c.n_latents))
            initial_raw_var = numpyro.param(
                "initial_raw_var", jnp.full((c.n_latents,), _inverse_softplus(1.0))
            )
        with (
            numpyro.plate("data", batch),
            handlers.scale(scale=1.0 / (batch * n_steps * n_obs)),
        ):
            with handlers.scale(scale=c.beta):
                zs = []
                if n_steps == 1:
                    loc = mechanisms(actions=actions, action_mask=action_graph)
                    zs.append(numpyro.sample("z_0", dist.Normal(loc, transition_scale).to_event(1)))
                else:
                    init_loc = jnp.broadcast_to(initial_loc, (batch, c.n_latents))
                    init_scale = jnp.sqrt(jax.nn.softplus(initial_raw_var))
                    z = numpyro.sample("z_0", dist.Normal(init_loc, init_scale).to_event(1))
                    zs.append(z)
                    for t in range(1, n_steps):
                        inputs = {}
                        if c.has_latent_graph:
                            inputs.update(latent_parents=z, latent_mask=latent_graph)
                        if c.n_actions:
                            inputs.update(actions=actions, action_mask=action_graph)
                        loc = mechanisms(**inputs)
                        z = numpyro.sample(f"z_{t}", dist.Normal(loc, transition_scale).to_event(1))
                        zs.append(z)
            z_all = jnp.stack(zs, axis=-2)
            x_std = jnp.exp(0.5 * decoder_logvar) + DECODER_STD_FLOOR
            numpyro.sample("x", dist.Normal(decoder(z_all), x_std).to_event(2), obs=x)
        return z_all

    def guide(self, x: jax.Array, actions=None, edge_log_odds: EdgeLogOdds = 0.0) -> jax.Array:
        """Amortised encoder plus relaxed edge posteriors. Same arguments as :meth:`model`
        (``edge_log_odds`` is unused: the prior is the model's)."""
        c = self.config
        batch, n_steps, n_obs = x.shape
        encoder = flax_module("encoder", self.encoder_net(), input_shape=(1, c.n_obs))
        with handlers.scale(scale=1.0 / n_obs):
            for name, shape in c.graph_shapes().items():
                logits = numpyro.param(self.logits_site(name), jnp.full(shape, c.init_logit))
                relaxed_edge_posterior(
                    name, logits, temperature=c.temperature, straight_through=c.straight_through
                )
        loc, var = self._encoder_stats(encoder(x))
        scale = jnp.sqrt(var)
        with (
            numpyro.plate("data", batch),
            handlers.scale(scale=1.0 / (batch * n_steps * n_obs)),
        ):
            with handlers.scale(scale=c.beta):
                for t in range(n_steps):
                    numpyro.sample(f"z_{t}", dist.Normal(loc[:, t], scale[:, t]).to_event(1))
        return loc
