"""The cross-attention decoder of the regularised Transformer VAE (PyTorch).

Brady et al. (2024, arXiv 2411.07784); ``docs/interaction_asymmetry.md#decoder``. Slots ``z`` (``B x K x d``) are projected
by an MLP ``d -> 4 w -> w`` (``w = slot_width``, 516). Every pixel ``p`` has a query from
Fourier features of its normalised ``(row, col)`` through an MLP (``-> q = query_width``, 180),
the same for every image. ``n_layers`` pre-LN layers follow, each

.. math::
    A^{(l,h)}_{p,k} &= \\mathrm{softmax}_k\\big(s\\, (W^Q_h \\bar h_p + b^Q_h)^\\top
                        (W^K_h \\bar z_k + b^K_h)\\big), \\quad \\bar h_p = \\mathrm{LN}(h_p),
                        \\; \\bar z_k = \\mathrm{LN}_l(z_k) \\\\
    h_p &\\leftarrow h_p + W^O \\big[\\textstyle\\sum_k A^{(l,h)}_{p,k} (W^V_h \\bar z_k + b^V_h)
          \\big]_h + b^O, \\qquad h_p \\leftarrow h_p + \\mathrm{FF}(\\mathrm{LN}(h_p))

(``LN_l``: the layer's LayerNorm of the projected slots, present with ``config.kv_norm`` as in
the official layer, ``docs/interaction_asymmetry.md#key-value-layernorm``) with the softmax
over the ``K`` slots and no attention among pixels, so each pixel is decoded
on its own given the slots; a final LayerNorm and an MLP ``q -> q -> q -> 3`` give RGB (no
squashing). ``s`` is ``q**-0.5`` (official, ``docs/interaction_asymmetry.md#attention-logit-scale``) or
the head dimension to the -1/2.

The decoder returns its attention weights ``A``, shape ``(B, L, H, P, K)``, for the
interaction penalty (:mod:`latentgraph.models.interaction_penalty_torch`), functionally (never
stored on the module). Three exact formulations of the attention (``attention=``):

* ``"projected"``: the textbook one above (query projection of every pixel to width ``w``).
* ``"folded"`` (default): the same numbers re-associated around the few slots. With
  :math:`M_{hk} = W^{Q\\top}_h k_{hk}` and :math:`U_{hk} = W^O_h v_{hk}` (``q``-vectors, one per
  head and slot, per image), the logits are :math:`s(\\bar h_p^\\top M_{hk} + b^{Q\\top}_h
  k_{hk})` and the output :math:`\\sum_{h,k} A_{hk} U_{hk} + b^O`: per pixel ``2 q H K``
  multiply-adds instead of ``2 q w`` (about 8x fewer at the official sizes), weights returned.
* ``"fused"``: the projected form through :func:`torch.nn.functional.scaled_dot_product_attention`;
  no weights (``None``), for fits without the interaction penalty.

``pixels`` selects the pixels to decode (indices into the row-major ``H W`` grid), either one
index set for the batch ``(m,)`` or one per image ``(B, m)``: the decoder is per-pixel, so a
random subset gives an unbiased estimate of any per-pixel mean.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from latentgraph.families.interaction_asymmetry.config import InteractionAsymmetryConfig
from latentgraph.families.interaction_asymmetry.layers_torch import (
    fourier_features,
    logit_scale,
    pixel_grid,
    xavier_linear,
)

ATTENTION_MODES = ("folded", "projected", "fused")


class DecoderLayer(nn.Module):
    """Pre-LN cross-attention from pixel queries to slots (softmax over slots), then FF."""

    def __init__(
        self,
        query_width: int,
        slot_width: int,
        n_heads: int,
        ff_hidden: int,
        *,
        scale: float,
        kv_norm: bool = True,
    ):
        super().__init__()
        self.n_heads, self.head_dim, self.scale = n_heads, slot_width // n_heads, scale
        self.norm_attention = nn.LayerNorm(query_width)
        self.norm_slots = nn.LayerNorm(slot_width) if kv_norm else nn.Identity()
        self.q = xavier_linear(query_width, slot_width)
        self.k = xavier_linear(slot_width, slot_width)
        self.v = xavier_linear(slot_width, slot_width)
        self.out = xavier_linear(slot_width, query_width)
        self.norm_ff = nn.LayerNorm(query_width)
        self.ff = nn.Sequential(
            nn.Linear(query_width, ff_hidden), nn.GELU(), nn.Linear(ff_hidden, query_width)
        )

    def _slot_heads(self, slots: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
        batch, n_slots, _ = slots.shape
        return layer(slots).view(batch, n_slots, self.n_heads, self.head_dim)  # (B, K, H, e)

    def attend(
        self, h: torch.Tensor, slots: torch.Tensor, mode: str
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``h``: ``(B or 1, P, q)``; ``slots``: ``(B, K, w)`` -> update ``(B, P, q)`` and
        weights ``(B, H, P, K)`` (``None`` for ``"fused"``)."""
        normed = self.norm_attention(h)
        slots = self.norm_slots(slots)
        keys, values = self._slot_heads(slots, self.k), self._slot_heads(slots, self.v)
        batch, n_slots = slots.shape[:2]
        heads, e = self.n_heads, self.head_dim
        if mode == "folded":
            w_q = self.q.weight.view(heads, e, -1)  # (H, e, q)
            folded_q = torch.einsum("bkhe,heq->bqhk", keys, w_q).flatten(2)  # (B, q, H K)
            bias = torch.einsum("bkhe,he->bhk", keys, self.q.bias.view(heads, e)).flatten(1)
            logits = torch.matmul(normed, folded_q) + bias[:, None, :]  # (B, P, H K)
            logits = logits.unflatten(-1, (heads, n_slots)) * self.scale
            weights = torch.softmax(logits, dim=-1)  # (B, P, H, K)
            w_o = self.out.weight.view(-1, heads, e)  # (q, H, e)
            folded_v = torch.einsum("bkhe,qhe->bhkq", values, w_o).flatten(1, 2)  # (B, H K, q)
            update = torch.matmul(weights.flatten(2).to(folded_v.dtype), folded_v) + self.out.bias
            return update, weights.transpose(1, 2)
        queries = self.q(normed)
        queries = queries.unflatten(-1, (heads, e)).transpose(1, 2)  # (B|1, H, P, e)
        keys, values = keys.transpose(1, 2), values.transpose(1, 2)  # (B, H, K, e)
        if mode == "fused":
            queries = queries.expand(batch, -1, -1, -1)
            mixed = F.scaled_dot_product_attention(queries, keys, values, scale=self.scale)
            weights = None
        elif mode == "projected":
            logits = torch.matmul(queries, keys.transpose(-1, -2)) * self.scale
            weights = torch.softmax(logits, dim=-1)  # (B, H, P, K)
            mixed = torch.matmul(weights.to(values.dtype), values)
        else:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {mode!r}")
        return self.out(mixed.transpose(1, 2).flatten(2)), weights

    def forward(
        self, h: torch.Tensor, slots: torch.Tensor, mode: str
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        update, weights = self.attend(h, slots, mode)
        h = h + update
        return h + self.ff(self.norm_ff(h)), weights


class CrossAttentionDecoder(nn.Module):
    """Slots ``(B, K, d)`` -> RGB ``(B, P, 3)`` and attention weights ``(B, L, H, P, K)``.

    Any number of slots may be passed (the softmax runs over those given), so decoding one slot
    alone, ``decoder(z[:, k:k+1])``, shows what that slot draws by itself.

    Example:
        >>> from latentgraph.families.interaction_asymmetry.config import cpu_config
        >>> decoder = CrossAttentionDecoder(cpu_config())
        >>> rgb, attention = decoder(torch.randn(2, 5, 16))
        >>> rgb.shape, attention.shape
        (torch.Size([2, 1024, 3]), torch.Size([2, 2, 4, 1024, 5]))
    """

    def __init__(self, config: InteractionAsymmetryConfig):
        super().__init__()
        self.config = config
        s = config.decoder
        self.slot_mlp = nn.Sequential(
            nn.Linear(config.slot_dim, s.slot_hidden),
            nn.GELU(),
            nn.Linear(s.slot_hidden, s.slot_width),
        )
        self.register_buffer(
            "features",
            fourier_features(pixel_grid(config.image_size), s.fourier_octaves),
            persistent=False,
        )
        self.query_mlp = nn.Sequential(
            nn.Linear(self.features.shape[-1], s.query_hidden),
            nn.GELU(),
            nn.Linear(s.query_hidden, s.query_width),
        )
        scale = logit_scale(config.attention_scale, s.query_width, s.slot_width // s.n_heads)
        self.layers = nn.ModuleList(
            DecoderLayer(
                s.query_width,
                s.slot_width,
                s.n_heads,
                s.ff_hidden,
                scale=scale,
                kv_norm=config.kv_norm,
            )
            for _ in range(s.n_layers)
        )
        self.final_norm = nn.LayerNorm(s.query_width)
        self.out_mlp = nn.Sequential(
            nn.Linear(s.query_width, s.out_hidden),
            nn.GELU(),
            nn.Linear(s.out_hidden, s.out_hidden),
            nn.GELU(),
            nn.Linear(s.out_hidden, 3),
        )

    def pixel_queries(self, pixels: torch.Tensor | None) -> torch.Tensor:
        """Queries ``(1, P, q)`` for all pixels, ``(1, m, q)`` or ``(B, m, q)`` for a subset."""
        features = self.features if pixels is None else self.features[pixels]
        if features.dim() == 2:
            features = features[None]
        return self.query_mlp(features)

    def forward(
        self,
        slots: torch.Tensor,
        pixels: torch.Tensor | None = None,
        *,
        attention: str = "folded",
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decode ``slots`` ``(B, K, d)`` at ``pixels`` (``None``: all, ``(m,)`` or ``(B, m)``).

        Returns RGB ``(B, P', 3)`` and the attention weights ``(B, L, H, P', K)`` (``None`` with
        ``attention="fused"``).
        """
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
        if slots.dim() != 3 or slots.shape[-1] != self.config.slot_dim:
            raise ValueError(
                f"slots must have shape (batch, n_slots, {self.config.slot_dim}), "
                f"got {tuple(slots.shape)}"
            )
        if pixels is not None and not (
            pixels.dim() == 1 or (pixels.dim() == 2 and pixels.shape[0] == slots.shape[0])
        ):
            raise ValueError(
                f"pixels must have shape (m,) or (batch, m), got {tuple(pixels.shape)}"
            )
        projected = self.slot_mlp(slots)
        h = self.pixel_queries(pixels)
        all_weights = []
        for layer in self.layers:
            h, weights = layer(h, projected, attention)
            all_weights.append(weights)
        rgb = self.out_mlp(self.final_norm(h))
        if rgb.shape[0] != slots.shape[0]:  # no layer (never: n_layers >= 1) broadcast the batch
            rgb = rgb.expand(slots.shape[0], -1, -1)
        if attention == "fused":
            return rgb, None
        return rgb, torch.stack(all_weights, dim=1)
