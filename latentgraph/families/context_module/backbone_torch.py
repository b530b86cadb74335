"""The lightweight convolutional VAE backbone (``simple64bn``, ``docs/context_module.md#backbones``).

:class:`ConvEncoder` maps images ``(B, C, H, W)`` in ``[0, 1]`` to a feature ``h (B, hidden)``;
:class:`ConvDecoder` maps a decoder input ``d (B, decode_dim)`` to per-pixel Bernoulli logits
``(B, C, H, W)``. Convolutions have kernel 4, stride 2 and padding 1, so each halves (or doubles)
the spatial size; ``log2(image_size / 4)`` of them go between the image and a 4x4 map. Each
hidden convolution is followed by ReLU then the per-sample normalisation (GroupNorm; the
reference's BatchNorm, which would leak the context through batch statistics in mixed-context
batches, ``docs/context_module.md#batch-statistics-leak``, is the option ``norm="batch"`` for single-context batches).
"""

from __future__ import annotations

import torch
from torch import nn

from latentgraph.families.context_module.config import BackboneSizes


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class ConvEncoder(nn.Module):
    """``(B, C, H, W) -> h (B, hidden)``: convolutions down to 4x4, flatten, Linear, ReLU."""

    def __init__(self, sizes: BackboneSizes):
        super().__init__()
        layers: list[nn.Module] = []
        width = sizes.channels
        for out in sizes.conv_channels:
            layers += [nn.Conv2d(width, out, 4, 2, 1), nn.ReLU(), _norm(sizes.norm, out)]
            width = out
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Linear(width * 16, sizes.hidden)
        self.sizes = sizes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(self.convs(images).flatten(1)))


class ConvDecoder(nn.Module):
    """``d (B, decode_dim) -> logits (B, C, H, W)``: two linear layers, transposed convolutions
    from 4x4 up to ``image_size`` (the last one without activation)."""

    def __init__(self, sizes: BackboneSizes):
        super().__init__()
        last = sizes.conv_channels[-1]
        self.linears = nn.Sequential(
            nn.Linear(sizes.decode_dim, sizes.hidden),
            nn.ReLU(),
            nn.Linear(sizes.hidden, last * 16),
            nn.ReLU(),
        )
        widths = list(reversed(sizes.conv_channels)) + [sizes.channels]
        layers: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.ConvTranspose2d(w_in, w_out, 4, 2, 1))
            if i < len(widths) - 2:
                layers += [nn.ReLU(), _norm(sizes.norm, w_out)]
        self.convs = nn.Sequential(*layers)
        self.first = last

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return self.convs(self.linears(d).reshape(d.shape[0], self.first, 4, 4))
