"""The slot encoder of the regularised Transformer VAE: the amortised guide's network (PyTorch).

Brady et al. (2024, arXiv 2411.07784); ``docs/interaction_asymmetry.md#encoder``. For an image ``x`` (``H x W`` RGB in
[0, 1]) and encoder width ``D = 2 d``:

1. four 5x5 stride-1 convolutions at full resolution, ``3 -> C -> C -> C -> D``, GELU after each;
2. plus a linear map of the grid ``[y, x, 1 - y, 1 - x]`` (soft position embedding), flattened
   to ``H W`` tokens;
3. per-image standardisation over the whole ``(H W, D)`` token matrix, no learned affine
   (the official LayerNorm re-created in every call, made explicit:
   ``docs/interaction_asymmetry.md#per-image-standardisation``);
4. an MLP ``D -> D -> D`` (GELU);
5. ``K`` learned queries (uniform in [0, 1)) through ``n_layers`` pre-LN layers: cross-attention
   to the tokens (softmax over tokens, so slots do not compete,
   ``docs/interaction_asymmetry.md#no-slot-competition``), self-attention among
   the slots, feed-forward ``D -> 2D -> D``; a final LayerNorm;
6. the ``K x D`` output split into ``mu`` (first ``d``) and ``s`` (last ``d``); the posterior std
   is ``0.5 exp(s)`` (applied by the Pyro guide).

With ``config.kv_norm`` (default, as the official layer) every cross-attention layer normalises
the tokens with its own LayerNorm before the key/value projections
(``docs/interaction_asymmetry.md#key-value-layernorm``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from latentgraph.families.interaction_asymmetry.config import InteractionAsymmetryConfig
from latentgraph.families.interaction_asymmetry.layers_torch import (
    MultiHeadAttention,
    logit_scale,
    pixel_grid,
)


class EncoderLayer(nn.Module):
    """Pre-LN: cross-attention to tokens, self-attention among slots, feed-forward."""

    def __init__(
        self, width: int, n_heads: int, ff_multiplier: int, *, scale: float, kv_norm: bool = True
    ):
        super().__init__()
        self.norm_cross = nn.LayerNorm(width)
        self.norm_tokens = nn.LayerNorm(width) if kv_norm else nn.Identity()
        self.cross = MultiHeadAttention(width, width, n_heads, scale=scale)
        self.norm_self = nn.LayerNorm(width)
        self.self_attention = MultiHeadAttention(width, width, n_heads, scale=scale)
        self.norm_ff = nn.LayerNorm(width)
        self.ff = nn.Sequential(
            nn.Linear(width, ff_multiplier * width),
            nn.GELU(),
            nn.Linear(ff_multiplier * width, width),
        )

    def forward(self, slots: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        slots = slots + self.cross(self.norm_cross(slots), self.norm_tokens(tokens))
        normed = self.norm_self(slots)
        slots = slots + self.self_attention(normed, normed)
        return slots + self.ff(self.norm_ff(slots))


class SlotEncoder(nn.Module):
    """Images ``(B, H, W, 3)`` in [0, 1] -> slot posterior parameters ``mu, s``: ``(B, K, d)``.

    Example:
        >>> from latentgraph.families.interaction_asymmetry.config import cpu_config
        >>> encoder = SlotEncoder(cpu_config())
        >>> loc, log_scale = encoder(torch.rand(2, 32, 32, 3))
        >>> loc.shape
        torch.Size([2, 5, 16])
    """

    def __init__(self, config: InteractionAsymmetryConfig):
        super().__init__()
        self.config = config
        sizes, width, channels = config.encoder, config.encoder_width, config.encoder.cnn_channels
        widths = [3, channels, channels, channels, width]
        convs: list[nn.Module] = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
            convs += [nn.Conv2d(n_in, n_out, kernel_size=5, padding=2), nn.GELU()]
        self.cnn = nn.Sequential(*convs)
        self.position = nn.Linear(4, width)
        grid = pixel_grid(config.image_size)
        self.register_buffer("grid", torch.cat([grid, 1.0 - grid], dim=-1), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        self.queries = nn.Parameter(torch.rand(config.n_slots, width))
        scale = logit_scale(config.attention_scale, width, width // sizes.n_heads)
        self.layers = nn.ModuleList(
            EncoderLayer(
                width, sizes.n_heads, sizes.ff_multiplier, scale=scale, kv_norm=config.kv_norm
            )
            for _ in range(sizes.n_layers)
        )
        self.final_norm = nn.LayerNorm(width)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Standardised image tokens ``(B, H W, D)`` (steps 1-4)."""
        features = self.cnn(images.permute(0, 3, 1, 2))  # (B, D, H, W)
        tokens = features.flatten(2).transpose(1, 2) + self.position(self.grid)
        tokens = F.layer_norm(tokens, tokens.shape[-2:])  # per image, no affine (step 3 above)
        return self.mlp(tokens)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.config.image_size
        if images.dim() != 4 or tuple(images.shape[1:]) != (size, size, 3):
            raise ValueError(
                f"images must have shape (batch, {size}, {size}, 3), got {tuple(images.shape)}"
            )
        tokens = self.tokens(images)
        slots = self.queries.expand(images.shape[0], -1, -1)
        for layer in self.layers:
            slots = layer(slots, tokens)
        out = self.final_norm(slots)
        return out.split(self.config.slot_dim, dim=-1)
