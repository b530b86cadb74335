"""Configuration of the mechanism-sparsity model family (backend-neutral).

Defaults are the official sizes of Lachapelle et al. (2024, arXiv 2401.04890;
``docs/mechanism_sparsity.md#training-settings``). :func:`demo_sizes` gives the smaller network the CPU demo uses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

SparsityMode = Literal["constraint", "penalty", "none"]
SPARSITY_MODES: tuple[str, ...] = ("constraint", "penalty", "none")


@dataclass(frozen=True)
class NetworkSizes:
    """Widths and depths of the encoder, decoder and per-latent transition networks."""

    encoder_hidden: tuple[int, ...] = (512,) * 6
    decoder_hidden: tuple[int, ...] = (512,) * 6
    transition_hidden: int = 512
    transition_layers: int = 5


@dataclass(frozen=True)
class MechanismSparsityConfig:
    """Everything that defines one mechanism-sparsity VAE.

    Attributes:
        n_latents: latent dimension ``d_z`` (assumed known; 10 in the paper).
        n_obs: observed dimension ``d_x``.
        n_actions: action dimension ``d_a`` (0: no actions, so no action graph).
        n_steps: time steps per example ``T`` (1: action data; 2: one transition).
        sizes: network sizes.
        beta: weight of the KL terms (1 in the paper).
        temperature: Gumbel-sigmoid temperature ``tau``.
        straight_through: hard forward masks with soft gradients (off in the paper).
        init_logit: initial edge log-odds ``alpha_0`` (5, so ``sigma(alpha_0) = 0.9933``).
        include_edge_entropy: add the Bernoulli entropy of the edge posterior to the ELBO.
        decoder_logvar_init: initial decoder log-variance (-10, std ``e^-5 + 1e-4``).
        transition_var_init: initial transition variance (1e-4).
        learn_latent_graph: learn ``G^z`` (defaults to ``n_steps > 1``).
    """

    n_latents: int = 10
    n_obs: int = 20
    n_actions: int = 0
    n_steps: int = 1
    sizes: NetworkSizes = field(default_factory=NetworkSizes)
    beta: float = 1.0
    temperature: float = 1.0
    straight_through: bool = False
    init_logit: float = 5.0
    include_edge_entropy: bool = False
    decoder_logvar_init: float = -10.0
    transition_var_init: float = 1e-4
    learn_latent_graph: bool | None = None

    def __post_init__(self) -> None:
        for name in ("n_latents", "n_obs", "n_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.n_latents > self.n_obs:
            raise ValueError(
                f"n_latents must be <= n_obs = {self.n_obs} (the mixing x = f(z) must be "
                f"injective to identify z), got {self.n_latents}"
            )
        if not isinstance(self.n_actions, int) or self.n_actions < 0:
            raise ValueError(f"n_actions must be a non-negative int, got {self.n_actions!r}")
        if self.n_steps > 2:
            raise ValueError(f"n_steps must be 1 or 2 (one lag), got {self.n_steps}")
        if self.n_steps == 1 and self.n_actions == 0:
            raise ValueError("n_actions must be > 0 when n_steps == 1: nothing drives the latents")
        for name, low in (("temperature", "> 0"), ("beta", ">= 0")):
            value = getattr(self, name)
            if not (
                isinstance(value, float | int)
                and math.isfinite(value)
                and (value > 0 if low == "> 0" else value >= 0)
            ):
                raise ValueError(f"{name} must be a finite number {low}, got {value!r}")

    @property
    def has_latent_graph(self) -> bool:
        if self.learn_latent_graph is None:
            return self.n_steps > 1
        return self.learn_latent_graph and self.n_steps > 1

    @property
    def has_action_graph(self) -> bool:
        return self.n_actions > 0

    def graph_shapes(self) -> dict[str, tuple[int, int]]:
        """Shapes of the learnable graphs, keyed by site name."""
        shapes = {}
        if self.has_action_graph:
            shapes["action_graph"] = (self.n_latents, self.n_actions)
        if self.has_latent_graph:
            shapes["latent_graph"] = (self.n_latents, self.n_latents)
        return shapes

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MechanismSparsityConfig:
        data = dict(data)
        sizes = data.pop("sizes", {})
        sizes = NetworkSizes(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in sizes.items()}
        )
        return cls(sizes=sizes, **data)


def demo_sizes() -> NetworkSizes:
    """Networks small enough for a 2-core CPU: 3x128 encoder/decoder, 2x64 transitions."""
    return NetworkSizes(
        encoder_hidden=(128,) * 3,
        decoder_hidden=(128,) * 3,
        transition_hidden=64,
        transition_layers=2,
    )
