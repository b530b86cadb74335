"""The mechanism-sparsity VAE as a Pyro program (Lachapelle et al., 2024, arXiv 2401.04890).

Generative model (``docs/mechanism_sparsity.md#model``), for one example with ``T`` time steps:

.. math::
    M^a &\\sim \\prod_{i\\ell} \\mathrm{Bernoulli}(\\sigma(l^a_{i\\ell})), \\qquad
    M^z \\sim \\prod_{ij} \\mathrm{Bernoulli}(\\sigma(l^z_{ij})) \\\\
    z^0 &\\sim \\mathcal N(\\mu_0, \\sigma_0^2) \\quad (T = 2) \\\\
    z^t_i &\\sim \\mathcal N\\big(\\hat\\mu_i(M^z_{i,:} \\odot z^{t-1}, M^a_{i,:} \\odot a),\\;
            \\hat\\sigma_i^2\\big) \\\\
    x^t &\\sim \\mathcal N(f(z^t), \\sigma_x^2 I)

The guide is the amortised encoder :math:`q(z^t \\mid x^t)` (each step encoded on its own) and a
relaxed-Bernoulli posterior per graph. With :class:`pyro.infer.TraceMeanField_ELBO` every KL is
analytic, the transition prior being evaluated at the guide's sample of :math:`z^{t-1}`
(``docs/mechanism_sparsity.md#objective``). The ELBO is normalised per observed dimension: data terms are scaled by
``1 / (batch * T * d_x)`` and graph terms by ``1 / d_x``, so the loss is the paper's.
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from torch import nn
from torch.nn import functional as F

from latentgraph.families.mechanism_sparsity.config import MechanismSparsityConfig
from latentgraph.pyro import MaskedMechanisms, edge_mask, fix, mlp, relaxed_edge_posterior

ENCODER_VAR_FLOOR = 1e-4
TRANSITION_VAR_FLOOR = 1e-6
DECODER_STD_FLOOR = 1e-4


def _inverse_softplus(y: float) -> float:
    return math.log(math.expm1(y))


class MechanismSparsityVAE(nn.Module):
    """Networks, graph logits and the Pyro ``model``/``guide`` pair of the method.

    Args:
        config: a :class:`MechanismSparsityConfig`.

    Example:
        >>> cfg = MechanismSparsityConfig(n_latents=3, n_obs=5, n_actions=2)
        >>> vae = MechanismSparsityVAE(cfg)
        >>> x, a = torch.randn(8, 1, 5), torch.randn(8, 2)
        >>> loss = pyro.infer.TraceMeanField_ELBO().differentiable_loss(vae.model, vae.guide, x, a)
    """

    def __init__(self, config: MechanismSparsityConfig):
        super().__init__()
        self.config = c = config
        s = c.sizes
        self.encoder = mlp(c.n_obs, s.encoder_hidden, 2 * c.n_latents)
        self.decoder = mlp(c.n_latents, s.decoder_hidden, c.n_obs)
        self.decoder_logvar = nn.Parameter(torch.tensor(c.decoder_logvar_init))
        self.mechanisms = MaskedMechanisms(
            c.n_latents,
            n_latent_parents=c.n_latents if c.has_latent_graph else 0,
            n_action_parents=c.n_actions,
            hidden=s.transition_hidden,
            n_layers=s.transition_layers,
        )
        self.transition_raw_var = nn.Parameter(
            torch.full(
                (c.n_latents,), _inverse_softplus(c.transition_var_init - TRANSITION_VAR_FLOOR)
            )
        )
        if c.n_steps > 1:
            self.initial_loc = nn.Parameter(torch.zeros(c.n_latents))
            self.initial_raw_var = nn.Parameter(torch.full((c.n_latents,), _inverse_softplus(1.0)))
        # Variational edge log-odds (alpha) and prior edge log-odds (l), one pair per graph.
        self.edge_logits = nn.ParameterDict(
            {
                name: nn.Parameter(torch.full(shape, c.init_logit))
                for name, shape in c.graph_shapes().items()
            }
        )
        for name, shape in c.graph_shapes().items():
            self.register_buffer(f"{name}_prior_logits", torch.zeros(shape))

    # ---- graph bookkeeping -------------------------------------------------------------------

    @property
    def graph_names(self) -> tuple[str, ...]:
        return tuple(self.edge_logits.keys())

    def set_edge_prior(self, log_odds: float | dict[str, float]) -> None:
        """Set the prior log-odds of every edge (``-lambda`` for a penalty ``lambda``)."""
        for name in self.graph_names:
            value = log_odds[name] if isinstance(log_odds, dict) else log_odds
            getattr(self, f"{name}_prior_logits").fill_(float(value))

    def edge_probabilities(self) -> dict[str, torch.Tensor]:
        """Posterior edge probabilities ``sigma(alpha)`` per graph, ``(n_children, n_parents)``."""
        return {name: torch.sigmoid(logits) for name, logits in self.edge_logits.items()}

    def expected_edges(self) -> dict[str, torch.Tensor]:
        """``sum sigma(alpha)`` per graph (differentiable): the sparsity measure of
        ``docs/mechanism_sparsity.md#graph-masks``."""
        return {name: torch.sigmoid(logits).sum() for name, logits in self.edge_logits.items()}

    def all_ones_graphs(self) -> dict[str, torch.Tensor]:
        """Values that freeze every graph at all-ones (the no-sparsity control), for :func:`fix`."""
        return {name: torch.ones_like(logits) for name, logits in self.edge_logits.items()}

    # ---- deterministic pieces ----------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder mean and variance, ``(..., T, d_x) -> 2 x (..., T, d_z)``."""
        out = self.encoder(x)
        loc, raw_var = out.split(self.config.n_latents, dim=-1)
        return loc, F.softplus(raw_var) + ENCODER_VAR_FLOOR

    def transition_scale(self) -> torch.Tensor:
        return (F.softplus(self.transition_raw_var) + TRANSITION_VAR_FLOOR).sqrt()

    def decoder_std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.decoder_logvar) + DECODER_STD_FLOOR

    # ---- the probabilistic program -----------------------------------------------------------

    def model(self, x: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
        """Generative model. ``x``: ``(batch, T, d_x)``; ``actions``: ``(batch, d_a)`` or None."""
        c = self.config
        batch, n_steps, n_obs = x.shape
        graphs = {}
        with pyro.poutine.scale(scale=1.0 / n_obs):
            for name in self.graph_names:
                graphs[name] = edge_mask(
                    name,
                    getattr(self, f"{name}_prior_logits"),
                    include_entropy=c.include_edge_entropy,
                )
        action_graph = graphs.get("action_graph")
        latent_graph = graphs.get("latent_graph")
        with pyro.plate("data", batch), pyro.poutine.scale(scale=1.0 / (batch * n_steps * n_obs)):
            with pyro.poutine.scale(scale=c.beta):
                zs = []
                if n_steps == 1:
                    loc = self.mechanisms(actions=actions, action_mask=action_graph)
                    zs.append(
                        pyro.sample("z_0", dist.Normal(loc, self.transition_scale()).to_event(1))
                    )
                else:
                    init_scale = (F.softplus(self.initial_raw_var)).sqrt()
                    z = pyro.sample(
                        "z_0",
                        dist.Normal(self.initial_loc, init_scale)
                        .expand([batch, c.n_latents])
                        .to_event(1),
                    )
                    zs.append(z)
                    for t in range(1, n_steps):
                        loc = self.mechanisms(
                            latent_parents=z,
                            latent_mask=latent_graph,
                            actions=actions if c.n_actions else None,
                            action_mask=action_graph,
                        )
                        z = pyro.sample(
                            f"z_{t}", dist.Normal(loc, self.transition_scale()).to_event(1)
                        )
                        zs.append(z)
            z_all = torch.stack(zs, dim=-2)
            x_loc = self.decoder(z_all)
            pyro.sample("x", dist.Normal(x_loc, self.decoder_std()).to_event(2), obs=x)
        return z_all

    def guide(self, x: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
        """Amortised encoder plus relaxed edge posteriors. Same arguments as :meth:`model`."""
        c = self.config
        batch, n_steps, n_obs = x.shape
        with pyro.poutine.scale(scale=1.0 / n_obs):
            for name, logits in self.edge_logits.items():
                relaxed_edge_posterior(
                    name, logits, temperature=c.temperature, straight_through=c.straight_through
                )
        loc, var = self.encode(x)
        scale = var.sqrt()
        with pyro.plate("data", batch), pyro.poutine.scale(scale=1.0 / (batch * n_steps * n_obs)):
            with pyro.poutine.scale(scale=c.beta):
                for t in range(n_steps):
                    pyro.sample(f"z_{t}", dist.Normal(loc[:, t], scale[:, t]).to_event(1))
        return loc

    def frozen(self, program):
        """``program`` with every graph frozen at all-ones (the paper's no-sparsity control).

        The graph sites are fixed (:func:`fix`) and hidden from traces (``pyro.poutine.block``),
        so in model and guide alike a frozen graph is a constant, not a random variable.
        """
        graphs = self.all_ones_graphs()
        return pyro.poutine.block(fix(program, data=graphs), hide=list(graphs))
