"""Attention and position-feature layers shared by the slot encoder and the decoder (PyTorch).

Reference: Brady et al. (2024, arXiv 2411.07784); ``docs/interaction_asymmetry.md#encoder`` and
``docs/interaction_asymmetry.md#decoder``. Attention logits are scaled by ``scale`` (the model
width to the -1/2 in the official code, ``docs/interaction_asymmetry.md#attention-logit-scale``), not
necessarily by the head dimension.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def xavier_linear(n_in: int, n_out: int) -> nn.Linear:
    """``nn.Linear`` with Xavier-uniform weights and zero bias (the Transformer layers' init)."""
    layer = nn.Linear(n_in, n_out)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def logit_scale(mode: str, width: int, head_dim: int) -> float:
    """``width**-0.5`` (``mode="width"``, official) or ``head_dim**-0.5`` (``"head_dim"``)."""
    if mode == "width":
        return width**-0.5
    if mode == "head_dim":
        return head_dim**-0.5
    raise ValueError(f"attention scale mode must be 'width' or 'head_dim', got {mode!r}")


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate query/key/value/output projections, no weights out.

    ``forward(queries (B, Q, d_q), keys_values (B, T, d_kv)) -> (B, Q, d_q)``; the softmax is
    over the ``T`` keys and runs in :func:`torch.nn.functional.scaled_dot_product_attention`
    (fused kernels where the device has them). Used by the slot encoder, whose attention
    weights nothing reads.
    """

    def __init__(self, query_width: int, kv_width: int, n_heads: int, *, scale: float):
        super().__init__()
        if query_width % n_heads:
            raise ValueError(f"n_heads = {n_heads} must divide query_width = {query_width}")
        self.n_heads, self.scale = n_heads, scale
        self.q = xavier_linear(query_width, query_width)
        self.k = xavier_linear(kv_width, query_width)
        self.v = xavier_linear(kv_width, query_width)
        self.out = xavier_linear(query_width, query_width)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.n_heads, width // self.n_heads).transpose(1, 2)

    def forward(self, queries: torch.Tensor, keys_values: torch.Tensor) -> torch.Tensor:
        q, k, v = (
            self._heads(self.q(queries)),
            self._heads(self.k(keys_values)),
            self._heads(self.v(keys_values)),
        )
        y = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        batch, _, length, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(batch, length, -1))


def fourier_features(coords: torch.Tensor, n_octaves: int) -> torch.Tensor:
    """``[sin(2^o pi c), cos(2^o pi c)]`` for ``o = 0..n_octaves-1`` and each coordinate.

    Shapes: ``(..., n_coords) -> (..., 2 * n_coords * n_octaves)`` (32 for 2 coordinates and
    8 octaves, ``docs/interaction_asymmetry.md#decoder``).
    """
    freqs = math.pi * 2.0 ** torch.arange(n_octaves, dtype=coords.dtype, device=coords.device)
    angles = (coords[..., :, None] * freqs).flatten(-2)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def pixel_grid(image_size: int) -> torch.Tensor:
    """Normalised ``(row, col)`` in ``[0, 1]^2`` of every pixel in row-major order, ``(P, 2)``."""
    axis = torch.linspace(0.0, 1.0, image_size)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=-1)
