"""The interaction regulariser of Brady et al. (2024, arXiv 2411.07784), PyTorch.

``docs/interaction_asymmetry.md#interaction-regulariser``.

A decoder whose pixel queries cross-attend to ``K`` slots (softmax over slots) exposes its
attention weights :math:`A^{(l,h)}_{p,k}` (layer ``l``, head ``h``, pixel ``p``, slot ``k``,
:math:`\\sum_k A^{(l,h)}_{p,k} = 1`). With the head-summed, layer-averaged attention

.. math:: S_{p,k} = \\sum_{h=1}^{H} \\frac1L \\sum_{l=1}^{L} A^{(l,h)}_{p,k},
          \\qquad \\sum_k S_{p,k} = H,

the penalty of one image is the mean over its pixels of the pairwise products across slots,

.. math:: L_{\\text{int}} = \\frac1P \\sum_p \\sum_{k<j} S_{p,k} S_{p,j}
          = \\frac1P \\sum_p \\frac{H^2 - \\sum_k S_{p,k}^2}{2},

(the second form, a Gini impurity, follows from :math:`(\\sum_k S_{p,k})^2 = H^2`).

Range (derived in :func:`interaction_penalty_max`): 0 iff for every pixel all heads of all
layers put their whole weight on the *same* slot; the maximum :math:`H^2 (K-1) / (2K)` iff the
attention of every pixel is uniform over slots (57.6 for ``H = 12``, ``K = 5``).

Behaviours of the official code (``docs/interaction_asymmetry.md``, "Where we differ from the
original code and why") and what this module does about them:

* #15, heads are summed before the products are taken, so heads that disagree about the slot
  a pixel reads are penalised: reproduced, it is part of the definition.
* #16, the penalty is only a proxy for the no-interaction (``n = 0``) structure of the decoder's
  Jacobian; with softmax leakage it is never exactly 0: documented here; measure JIS and the
  Jacobian checks of :mod:`latentgraph.metrics` independently.
* The official code computes the penalty in the precision of the forward pass; here it is always
  computed in at least float32, so a bf16-autocast decoder gives the float32 penalty of its
  (bf16) attention weights: the cancellation in :math:`H^2 - \\sum_k S^2` near zero would
  otherwise lose every significant digit.

Evaluating the decoder on a random subset of pixels (uniform, without replacement) and averaging
over that subset gives an unbiased estimate of the full-image penalty.
"""

from __future__ import annotations

import torch


def _check_attention(attention: torch.Tensor) -> None:
    if not isinstance(attention, torch.Tensor):
        raise TypeError(f"attention must be a torch.Tensor, got {type(attention).__name__}")
    if attention.dim() != 5:
        raise ValueError(
            "attention must have shape (batch, layers, heads, pixels, slots), got shape "
            f"{tuple(attention.shape)}"
        )
    if not attention.is_floating_point():
        raise TypeError(f"attention must be a floating-point tensor, got {attention.dtype}")
    if 0 in attention.shape[1:]:
        raise ValueError(
            f"attention must have at least one layer, head, pixel and slot, got shape "
            f"{tuple(attention.shape)}"
        )


def head_summed_attention(attention: torch.Tensor) -> torch.Tensor:
    """:math:`S_{b,p,k} = \\sum_h \\frac1L \\sum_l A_{b,l,h,p,k}`, shape ``(B, P, K)``.

    Args:
        attention: ``(B, L, H, P, K)``, each row over ``K`` summing to 1.

    Computed in float32 at least (float64 inputs stay float64).
    """
    _check_attention(attention)
    if attention.dtype not in (torch.float32, torch.float64):
        attention = attention.float()
    return attention.mean(dim=1).sum(dim=1)


def interaction_penalty(attention: torch.Tensor, *, reduction: str = "image") -> torch.Tensor:
    """The interaction regulariser :math:`L_{\\text{int}}` (Gini form, ``docs/interaction_asymmetry.md#interaction-regulariser``).

    Args:
        attention: decoder cross-attention weights ``(B, L, H, P, K)`` (softmax over ``K``);
            gradients flow through them.
        reduction: ``"image"``: one value per image, the mean over its pixels, shape ``(B,)``
            (for a ``pyro.factor`` inside the image plate); ``"mean"``: the mean over images
            and pixels, a 0-d tensor (the official logged value); ``"none"``: per pixel,
            ``(B, P)``.

    Returns the penalty in float32 (float64 for float64 input).

    Example:
        >>> A = torch.full((2, 2, 12, 16, 5), 1 / 5)       # uniform attention
        >>> round(float(interaction_penalty(A, reduction="mean")), 4)  # = 12**2 * 4 / 10
        57.6
    """
    if reduction not in ("image", "mean", "none"):
        raise ValueError(f"reduction must be 'image', 'mean' or 'none', got {reduction!r}")
    summed = head_summed_attention(attention)
    n_heads = attention.shape[2]
    per_pixel = 0.5 * (n_heads**2 - summed.square().sum(dim=-1))
    if reduction == "none":
        return per_pixel
    if reduction == "image":
        return per_pixel.mean(dim=-1)
    return per_pixel.mean()


def interaction_penalty_pairwise(attention: torch.Tensor) -> torch.Tensor:
    """The direct form :math:`\\mathrm{mean}_p \\sum_{k<j} S_{p,k} S_{p,j}`, shape ``(B,)``.

    A second formulation of :func:`interaction_penalty` (``reduction="image"``) for checks; it
    does not use :math:`\\sum_k S_{p,k} = H`, so it also differs from it when rows of ``A`` do
    not sum to 1.
    """
    summed = head_summed_attention(attention)
    n_slots = summed.shape[-1]
    rows, cols = torch.triu_indices(n_slots, n_slots, offset=1, device=summed.device)
    return (summed[..., rows] * summed[..., cols]).sum(dim=-1).mean(dim=-1)


def interaction_penalty_max(n_heads: int, n_slots: int) -> float:
    """The largest value of :math:`L_{\\text{int}}`: :math:`H^2 (K - 1) / (2K)`.

    Derivation: per pixel the penalty is :math:`(H^2 - \\sum_k S_k^2)/2` with
    :math:`S_k \\ge 0, \\sum_k S_k = H`. By Cauchy-Schwarz :math:`\\sum_k S_k^2 \\ge H^2/K`, with
    equality iff :math:`S_k = H/K` for all ``k`` (uniform attention), so the penalty is at most
    :math:`(H^2 - H^2/K)/2 = H^2 (K-1)/(2K)`: 57.6 for ``(12, 5)``, 61.7 for ``(12, 7)``,
    65.5 for ``(12, 11)`` (``docs/interaction_asymmetry.md#interaction-regulariser``).
    """
    for name, value in (("n_heads", n_heads), ("n_slots", n_slots)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    return n_heads**2 * (n_slots - 1) / (2 * n_slots)
