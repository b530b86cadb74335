"""The four layers of the context module as torch modules (Markham et al., arXiv 2507.04754).

``docs/context_module.md#model`` and its per-sample vectorised form,
``docs/context_module.md#per-sample-form``. Every layer takes the latent (or the
previous layer's output) and a per-sample *target mask* ``targets`` of shape ``(batch, K)``
(``targets[i, k]`` true iff concept ``k`` is intervened on in sample ``i``'s context), so one
batch may mix contexts. No layer uses batch statistics: a sample's output depends on that sample
alone (``docs/context_module.md#batch-statistics-leak``).

Notation: ``K`` concepts, ``a`` latent width per concept, ``b`` concept width; ``t_bar_n`` is the
target mask expanded to ``K * n`` entries (each ``t_k`` repeated ``n`` times); ``D_n`` is the
block-diagonal all-ones mask with ``n x n`` blocks.

1. :class:`NoiseLayer`: ``u = GELU((t_bar_a * blockdiag(P^ivn) + (1 - t_bar_a) *
   blockdiag(P^obs)) z + bias)``; the reference's dense ``P^obs`` for ``T = {}`` is an option.
2. :class:`ExpressiveLayer`: one MLP per concept (block-diagonal maps), GELU.
3. :class:`CausalLayer`: ``c = E_T eps + bias`` with ``E^x = I + Q^x * (1 - D_b)`` and the
   context's wiring (rows of targets cut, columns of targets swapped to ``E^ivn``).
4. :class:`Unpool`: a dense ``Linear(K b -> decode_dim)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from latentgraph.families.context_module.config import (
    COMPOSE_MODES,
    EFFECT_SIGNS,
    MODULE_NORMS,
    OBS_NOISE_MASKS,
    ModuleSizes,
)
from latentgraph.pyro import ParallelLinear


def block_diagonal_mask(n_blocks: int, block: int) -> torch.Tensor:
    """``D_n``: ones on the ``n_blocks`` diagonal ``block x block`` blocks, zeros elsewhere.

    >>> block_diagonal_mask(2, 2).int().tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
    """
    return torch.kron(torch.eye(n_blocks), torch.ones(block, block))


def expand_targets(targets: torch.Tensor, block: int, dtype: torch.dtype) -> torch.Tensor:
    """``t_bar``: a ``(batch, K)`` target mask repeated blockwise to ``(batch, K * block)``."""
    return targets.to(dtype).repeat_interleave(block, dim=-1)


def check_targets(targets: torch.Tensor, batch: int, n_concepts: int) -> None:
    if not torch.is_tensor(targets) or targets.shape != (batch, n_concepts):
        shape = tuple(targets.shape) if torch.is_tensor(targets) else type(targets).__name__
        raise ValueError(
            f"targets must be a (batch, n_concepts) = ({batch}, {n_concepts}) tensor, got {shape}"
        )


class NoiseLayer(nn.Module):
    """Layer 1: the intervenable noise layer, ``z (B, K a) -> u (B, K a)``
    (``docs/context_module.md#intervenable-noise-layer``).

    .. math::
        u_k = \\mathrm{GELU}\\big((t_k P^{ivn}[k,k] + (1 - t_k) P^{obs}[k,k])\\, z_k
              + \\mathrm{bias}_k\\big)

    With ``obs_mask="dense"`` (the reference,
    ``docs/context_module.md#obs-noise-layer-mixes-blocks``) samples with no target use the full ``P^obs``
    instead, mixing concept blocks: ``u = GELU(P^obs z + bias)``. Weights are initialised
    ``U(+-1/sqrt(a))``; only their diagonal blocks are used in the block form.
    """

    def __init__(self, n_concepts: int, block: int, *, obs_mask: str = "block"):
        super().__init__()
        if obs_mask not in OBS_NOISE_MASKS:
            raise ValueError(f"obs_mask must be one of {OBS_NOISE_MASKS}, got {obs_mask!r}")
        self.n_concepts, self.block, self.obs_mask = n_concepts, block, obs_mask
        width = n_concepts * block
        bound = 1.0 / math.sqrt(block)
        self.weight_obs = nn.Parameter(torch.empty(width, width).uniform_(-bound, bound))
        self.weight_ivn = nn.Parameter(torch.empty(width, width).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(width).uniform_(-bound, bound))
        self.register_buffer("mask", block_diagonal_mask(n_concepts, block))

    def forward(self, z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        check_targets(targets, z.shape[0], self.n_concepts)
        t = expand_targets(targets, self.block, z.dtype)
        obs = z @ (self.weight_obs * self.mask).T
        ivn = z @ (self.weight_ivn * self.mask).T
        u = t * ivn + (1 - t) * obs
        if self.obs_mask == "dense":
            observational = ~targets.bool().any(dim=-1, keepdim=True)
            u = torch.where(observational, z @ self.weight_obs.T, u)
        return F.gelu(u + self.bias)

    def extra_repr(self) -> str:
        return f"n_concepts={self.n_concepts}, block={self.block}, obs_mask={self.obs_mask!r}"


class BlockLayerNorm(nn.Module):
    """LayerNorm over each concept block of one sample, ``(B, K, w) -> (B, K, w)``, with a
    per-block, per-feature affine map. Uses no statistics of other samples
    (``docs/context_module.md#batch-statistics-leak``)."""

    def __init__(self, n_concepts: int, width: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_concepts, width))
        self.bias = nn.Parameter(torch.zeros(n_concepts, width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], eps=self.eps) * self.weight + self.bias


class FlatBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the ``K w`` features of ``(B, K, w)`` blocks (the reference's layer)."""

    def __init__(self, n_blocks: int, width: int):
        super().__init__(n_blocks * width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(1)).view_as(x)


def _block_norm(kind: str, n_blocks: int, width: int) -> nn.Module:
    if kind == "layer":
        return BlockLayerNorm(n_blocks, width)
    if kind == "batch":
        return FlatBatchNorm(n_blocks, width)
    return nn.Identity()


class ExpressiveLayer(nn.Module):
    """Layer 2: one MLP per concept, ``u (B, K a) -> eps (B, K b)``
    (``docs/context_module.md#expressive-layer``).

    For the widths ``w = int(linspace(a, b, L))`` each step is a block-diagonal map
    ``w_l -> w_{l+1}`` per concept (``U(+-1/sqrt(w_l))``), an optional normalisation and GELU.
    No weight connects two concepts. ``norm``: ``"layer"`` (per-block LayerNorm), ``"none"`` or
    ``"batch"`` (the reference's BatchNorm1d over the ``K w`` features; batch statistics, so
    only for single-context batches, ``docs/context_module.md#batch-statistics-leak``).
    """

    def __init__(self, n_concepts: int, widths: tuple[int, ...], *, norm: str = "layer"):
        super().__init__()
        if norm not in MODULE_NORMS:
            raise ValueError(f"norm must be one of {MODULE_NORMS}, got {norm!r}")
        self.n_concepts, self.widths = n_concepts, tuple(widths)
        self.linears = nn.ModuleList(
            ParallelLinear(n_concepts, w_in, w_out)
            for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.norms = nn.ModuleList(_block_norm(norm, n_concepts, w) for w in widths[1:])

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        x = u.reshape(u.shape[0], self.n_concepts, self.widths[0])
        for linear, norm in zip(self.linears, self.norms, strict=True):
            x = F.gelu(norm(linear(x)))
        return x.reshape(u.shape[0], self.n_concepts * self.widths[-1])


class CausalLayer(nn.Module):
    """Layer 3: the causal layer, ``eps (B, K b) -> c (B, K b)``
    (``docs/context_module.md#causal-layer``,
    ``docs/context_module.md#approximate-intervention-semantics``).

    Effective total-effect matrices ``E^x = I + Q^x * (1 - D_b)`` for ``x in {obs, ivn}``: every
    diagonal block is ``I_b``. For a context ``T`` the block ``E_T[r, s]`` is ``E^ivn[r, s]``
    if ``s in T``; else 0 if ``r in T``; else ``E^obs[r, s]`` (``compose="reference"``). With
    ``compose="joint_perfect"`` every row of a target is cut (``E_T[r, s] = delta_rs I`` for
    ``r in T``); the two agree when ``|T| <= 1``. Vectorised per sample:

    .. math::
        c^{ref} &= E^{ivn}(\\bar t \\odot \\varepsilon)
                  + (1 - \\bar t) \\odot E^{obs}((1 - \\bar t) \\odot \\varepsilon) + \\mathrm{bias} \\\\
        c^{jp} &= \\bar t \\odot \\varepsilon + (1 - \\bar t) \\odot
                 [E^{ivn}(\\bar t \\odot \\varepsilon) + E^{obs}((1 - \\bar t) \\odot \\varepsilon)]
                 + \\mathrm{bias}

    With ``effect_sign="clamp01"`` the raw ``Q`` start inside ``[0, 1]``
    (``U(0, 1/sqrt((K-1) b))``, ``docs/context_module.md#negative-initial-causal-weights``) and :meth:`project_` clamps them after every optimiser step.
    """

    def __init__(
        self,
        n_concepts: int,
        block: int,
        *,
        compose: str = "reference",
        effect_sign: str = "clamp01",
    ):
        super().__init__()
        if compose not in COMPOSE_MODES:
            raise ValueError(f"compose must be one of {COMPOSE_MODES}, got {compose!r}")
        if effect_sign not in EFFECT_SIGNS:
            raise ValueError(f"effect_sign must be one of {EFFECT_SIGNS}, got {effect_sign!r}")
        self.n_concepts, self.block = n_concepts, block
        self.compose, self.effect_sign = compose, effect_sign
        width = n_concepts * block
        bound = 1.0 / math.sqrt(max(n_concepts - 1, 1) * block)
        low = 0.0 if effect_sign == "clamp01" else -bound
        off = 1.0 - block_diagonal_mask(n_concepts, block)
        self.register_buffer("off_diagonal", off)
        self.register_buffer("identity", torch.eye(width))
        self.weight_obs = nn.Parameter(torch.empty(width, width).uniform_(low, bound) * off)
        self.weight_ivn = nn.Parameter(torch.empty(width, width).uniform_(low, bound) * off)
        self.bias = nn.Parameter(torch.empty(width).uniform_(-bound, bound))

    def effects(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E^obs, E^ivn)``, each ``(K b, K b)`` with identity diagonal blocks."""
        return (
            self.identity + self.weight_obs * self.off_diagonal,
            self.identity + self.weight_ivn * self.off_diagonal,
        )

    def _compose(self, compose: str | None) -> str:
        compose = self.compose if compose is None else compose
        if compose not in COMPOSE_MODES:
            raise ValueError(f"compose must be one of {COMPOSE_MODES}, got {compose!r}")
        return compose

    def forward(
        self, eps: torch.Tensor, targets: torch.Tensor, compose: str | None = None
    ) -> torch.Tensor:
        check_targets(targets, eps.shape[0], self.n_concepts)
        compose = self._compose(compose)
        t = expand_targets(targets, self.block, eps.dtype)
        effect_obs, effect_ivn = self.effects()
        from_targets = (t * eps) @ effect_ivn.T
        from_others = ((1 - t) * eps) @ effect_obs.T
        if compose == "reference":
            c = from_targets + (1 - t) * from_others
        else:
            c = t * eps + (1 - t) * (from_targets + from_others)
        return c + self.bias

    def context_effects(self, targets: torch.Tensor, compose: str | None = None) -> torch.Tensor:
        """``E_T`` of every sample, ``(B, K b, K b)``: ``c_i = E_T[i] eps_i + bias``.

        The same map as :meth:`forward`, written as an explicit matrix (used for the penalties
        and as a second formulation in the tests).
        """
        compose = self._compose(compose)
        t = expand_targets(targets, self.block, self.weight_obs.dtype)
        rows, cols = t[:, :, None], t[:, None, :]
        effect_obs, effect_ivn = self.effects()
        mixed = cols * effect_ivn + (1 - cols) * effect_obs
        if compose == "reference":
            return cols * effect_ivn + (1 - rows) * (1 - cols) * effect_obs
        return rows * self.identity + (1 - rows) * mixed

    def penalty(
        self, targets: torch.Tensor, *, group_lasso: float = 0.0, l2: float = 0.0
    ) -> torch.Tensor:
        """Per-sample ``lambda_g sum_rs ||E_T[r, s]||_F + lambda_2 ||E_T||_F``, ``(B,)``
        (``docs/context_module.md#objective``; the identity diagonal blocks add the constant ``sqrt(b)`` each)."""
        if group_lasso == 0 and l2 == 0:
            return targets.new_zeros(targets.shape[0], dtype=self.weight_obs.dtype)
        effects = self.context_effects(targets)
        n, k, b = effects.shape[0], self.n_concepts, self.block
        blocks = effects.reshape(n, k, b, k, b).pow(2).sum(dim=(2, 4)).sqrt()
        return group_lasso * blocks.sum(dim=(1, 2)) + l2 * effects.pow(2).sum(dim=(1, 2)).sqrt()

    @torch.no_grad()
    def project_(self) -> None:
        """Clamp ``Q^obs, Q^ivn`` to ``[0, 1]`` in place (``clamp01``; nothing for ``free``)."""
        if self.effect_sign == "clamp01":
            self.weight_obs.clamp_(0.0, 1.0)
            self.weight_ivn.clamp_(0.0, 1.0)

    @torch.no_grad()
    def concept_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Block means of ``Q^obs`` and ``Q^ivn`` off the diagonal, two ``(K, K)`` matrices
        (``[r, s]``: effect of concept ``s`` on concept ``r``; ``docs/context_module.md#graph-read-out``, step 1)."""
        k, b = self.n_concepts, self.block
        out = []
        for weight in (self.weight_obs, self.weight_ivn):
            means = (weight * self.off_diagonal).reshape(k, b, k, b).mean(dim=(1, 3))
            out.append(means * (1 - torch.eye(k, device=means.device)))
        return out[0], out[1]

    def extra_repr(self) -> str:
        return (
            f"n_concepts={self.n_concepts}, block={self.block}, compose={self.compose!r}, "
            f"effect_sign={self.effect_sign!r}"
        )


class Unpool(nn.Linear):
    """Layer 4: a dense affine map ``c (B, K b) -> d (B, decode_dim)`` into the decoder."""


class ContextModule(nn.Module):
    """The four layers in sequence: ``(z (B, K a), targets (B, K)) -> d (B, decode_dim)``.

    Example:
        >>> module = ContextModule(3, ModuleSizes(block_in=4, block_out=2), decode_dim=5)
        >>> z, targets = torch.randn(8, 12), torch.zeros(8, 3, dtype=torch.bool)
        >>> targets[4:, 1] = True  # samples 4..7 from the context do(concept 1)
        >>> module(z, targets).shape
        torch.Size([8, 5])
    """

    def __init__(self, n_concepts: int, sizes: ModuleSizes, decode_dim: int):
        super().__init__()
        self.n_concepts, self.sizes = n_concepts, sizes
        self.noise = NoiseLayer(n_concepts, sizes.block_in, obs_mask=sizes.obs_noise_mask)
        self.expressive = ExpressiveLayer(n_concepts, sizes.widths(), norm=sizes.norm)
        self.causal = CausalLayer(
            n_concepts, sizes.block_out, compose=sizes.compose, effect_sign=sizes.effect_sign
        )
        self.unpool = Unpool(n_concepts * sizes.block_out, decode_dim)

    def concepts(
        self, z: torch.Tensor, targets: torch.Tensor, compose: str | None = None
    ) -> torch.Tensor:
        """The concept blocks ``c (B, K b)`` (layers 1-3)."""
        targets = targets.bool()
        return self.causal(self.expressive(self.noise(z, targets)), targets, compose)

    def forward(
        self, z: torch.Tensor, targets: torch.Tensor, compose: str | None = None
    ) -> torch.Tensor:
        return self.unpool(self.concepts(z, targets, compose))

    def project_(self) -> None:
        self.causal.project_()

    def penalty(self, targets: torch.Tensor, *, group_lasso: float, l2: float) -> torch.Tensor:
        return self.causal.penalty(targets.bool(), group_lasso=group_lasso, l2=l2)
