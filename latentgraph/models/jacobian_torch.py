"""Slot-wise decoder Jacobians with ``torch.func``, returned as numpy for the numpy metrics.

Brady et al. (2024, arXiv 2411.07784); ``docs/interaction_asymmetry.md#slot-wise-jacobian-map``
and ``docs/interaction_asymmetry.md#derivative-checks``: the
J-ARI/JIS map reads the decoder Jacobian :math:`\\partial \\hat x / \\partial \\hat z` at the
sampled latents. A decoder here is a torch callable on a batch, ``(B, K, d) -> (B, *out)``
(e.g. ``(B, H, W, C)``); each example's Jacobian is ``torch.func.jacrev`` (reverse mode,
chunked over output coordinates, i.e. pixels x channels, by ``chunk_size``) or
``torch.func.jacfwd`` (forward mode, one pass per latent coordinate, cheaper when ``K d`` is
smaller than the number of outputs), vectorised over the batch with ``torch.func.vmap``.

The decoder must be a pure function of its input for ``vmap`` (evaluation mode: no dropout,
no batch statistics); pass ``vectorize=False`` to loop over examples instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch.func import jacfwd, jacrev, jvp, vmap

__all__ = [
    "cross_hessian_mass_torch",
    "numpy_decoder",
    "slot_influence_pixels_torch",
    "slot_influence_torch",
    "slot_jacobian_torch",
]

TorchDecoder = Callable[[torch.Tensor], torch.Tensor]


def _as_latents(latents, device, dtype) -> torch.Tensor:
    z = torch.as_tensor(latents)
    if z.ndim != 3 or min(z.shape) < 1:
        raise ValueError(
            f"latents must have shape (n, n_slots, slot_dim); received shape {tuple(z.shape)}"
        )
    if not (z.is_floating_point() or z.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"latents must hold real numbers; received dtype {z.dtype}")
    if device is not None:
        z = z.to(device)
    if dtype is None:
        dtype = z.dtype if z.is_floating_point() else torch.get_default_dtype()
    return z.to(dtype)


def _check_common(decoder, batch_size, chunk_size, mode):
    if not callable(decoder):
        raise TypeError(f"decoder must be callable; received {type(decoder).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; received {batch_size!r}")
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be None or an int >= 1; received {chunk_size!r}")
    if mode not in ("reverse", "forward"):
        raise ValueError(f"mode must be 'reverse' or 'forward'; received {mode!r}")


def _per_example_jacobian(decoder, mode, chunk_size, vectorize):
    def single(z_one: torch.Tensor) -> torch.Tensor:
        return decoder(z_one.unsqueeze(0)).squeeze(0)

    jac = jacrev(single, chunk_size=chunk_size) if mode == "reverse" else jacfwd(single)
    if vectorize:
        return vmap(jac)

    def looped(z: torch.Tensor) -> torch.Tensor:
        return torch.stack([jac(z_one) for z_one in z])

    return looped


def _batches(z: torch.Tensor, batch_size: int):
    for start in range(0, z.shape[0], batch_size):
        yield z[start : start + batch_size]


def slot_jacobian_torch(
    decoder: TorchDecoder,
    latents,
    *,
    mode: Literal["reverse", "forward"] = "reverse",
    chunk_size: int | None = None,
    batch_size: int = 16,
    vectorize: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Per-example decoder Jacobian, ``(n, *out, K, d)`` numpy (the input's float dtype).

    Args:
        decoder: torch callable ``(B, K, d) -> (B, *out)``.
        latents: ``(n, K, d)`` tensor or array (e.g. sampled slots ``z_hat``).
        mode: ``"reverse"`` (``jacrev``; ``chunk_size`` output coordinates per pass, bounding
            memory) or ``"forward"`` (``jacfwd``).
        chunk_size: output coordinates per reverse pass; ``None`` does all at once.
        batch_size: examples per ``vmap`` call.
        device, dtype: where and in which precision to evaluate; default: the input's.

    Example:
        >>> lin = torch.arange(6.0).reshape(3, 2)
        >>> jac = slot_jacobian_torch(lambda z: z.reshape(len(z), -1) @ lin[:2].T,
        ...                           torch.ones(1, 2, 1))
        >>> jac.shape, jac[0, 1].ravel().tolist()
        ((1, 2, 2, 1), [2.0, 3.0])
    """
    _check_common(decoder, batch_size, chunk_size, mode)
    z = _as_latents(latents, device, dtype)
    jac = _per_example_jacobian(decoder, mode, chunk_size, vectorize)
    parts = []
    for batch in _batches(z, batch_size):
        with torch.no_grad():
            parts.append(jac(batch).detach().cpu())
    return torch.cat(parts).numpy()


def slot_influence_torch(
    decoder: TorchDecoder,
    latents,
    *,
    ord: int = 1,
    channel_axis: int | None = -1,
    mode: Literal["reverse", "forward"] = "reverse",
    chunk_size: int | None = None,
    batch_size: int = 16,
    vectorize: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Slot-wise Jacobian norms reduced on the device: ``(n, P, K)`` numpy.

    ``G[i, p, k] = sum_c sum_{j in B_k} |d x_hat_{c,p} / d z_j|`` for ``ord=1`` (the J-ARI/JIS
    map, before normalisation over slots) or the Euclidean norm for ``ord=2``
    (compositional contrast). ``channel_axis`` is the channel axis of one example's
    output (``-1`` for ``(H, W, C)``, ``0`` for ``(C, H, W)``, ``None``: no channels); the
    remaining output axes are flattened to ``P`` pixels in C order. Only ``G`` leaves the
    device, never the full Jacobian.
    """
    if ord not in (1, 2) or isinstance(ord, bool):
        raise ValueError(f"ord must be 1 or 2; received {ord!r}")
    _check_common(decoder, batch_size, chunk_size, mode)
    z = _as_latents(latents, device, dtype)
    jac = _per_example_jacobian(decoder, mode, chunk_size, vectorize)
    n_slots, dim = z.shape[1], z.shape[2]
    parts = []
    for batch in _batches(z, batch_size):
        with torch.no_grad():
            j = jac(batch)  # (b, *out, K, d)
        out_ndim = j.ndim - 3
        if channel_axis is not None:
            if not -out_ndim <= channel_axis < out_ndim:
                raise ValueError(
                    f"channel_axis must index one example's output axes ({out_ndim}); "
                    f"received {channel_axis}"
                )
            j = torch.movedim(j, 1 + channel_axis % out_ndim, -3)  # (b, *pixels, C, K, d)
            j = j.reshape(j.shape[0], -1, j.shape[-3], n_slots, dim)
            reduce_dims = (2, 4)
        else:
            j = j.reshape(j.shape[0], -1, n_slots, dim)
            reduce_dims = (3,)
        if ord == 1:
            g = j.abs().sum(dim=reduce_dims)
        else:
            g = j.square().sum(dim=reduce_dims).sqrt()
        parts.append(g.detach().cpu())
    return torch.cat(parts).numpy()


def slot_influence_pixels_torch(
    decoder: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    latents,
    *,
    n_pixels: int,
    pixel_chunk: int = 500,
    ord: int = 1,
    mode: Literal["reverse", "forward"] = "forward",
    batch_size: int = 16,
    vectorize: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> np.ndarray:
    """:func:`slot_influence_torch` for per-pixel decoders, ``pixel_chunk`` pixels per pass.

    For decoders that can decode any subset of pixels (the cross-attention decoder of
    ``docs/interaction_asymmetry.md#decoder`` decodes each pixel on its own), ``decoder(z, pixels)`` with ``z`` ``(B, K, d)`` and
    ``pixels`` a LongTensor of row-major pixel indices ``(m,)`` returns ``(B, m, C)`` (or
    ``(B, m)``). The Jacobian of each chunk is taken in forward mode by default, one pass per
    latent coordinate, as the official evaluation does with 500-pixel chunks
    (``docs/interaction_asymmetry.md#full-resolution-cost``), so memory is bounded by ``pixel_chunk x C x K d`` per example. Returns ``(n,
    n_pixels, K)`` numpy.
    """
    if isinstance(n_pixels, bool) or not isinstance(n_pixels, int) or n_pixels < 1:
        raise ValueError(f"n_pixels must be an int >= 1; received {n_pixels!r}")
    if isinstance(pixel_chunk, bool) or not isinstance(pixel_chunk, int) or pixel_chunk < 1:
        raise ValueError(f"pixel_chunk must be an int >= 1; received {pixel_chunk!r}")
    _check_common(decoder, batch_size, None, mode)
    z = _as_latents(latents, device, dtype)
    chunks = []
    for start in range(0, n_pixels, pixel_chunk):
        pixels = torch.arange(start, min(start + pixel_chunk, n_pixels), device=z.device)

        def on_chunk(batch: torch.Tensor, pixels: torch.Tensor = pixels) -> torch.Tensor:
            return decoder(batch, pixels)

        with torch.no_grad():
            channel_axis = None if on_chunk(z[:1]).ndim == 2 else -1
        chunks.append(
            slot_influence_torch(
                on_chunk,
                z,
                ord=ord,
                channel_axis=channel_axis,
                mode=mode,
                batch_size=batch_size,
                vectorize=vectorize,
            )
        )
    return np.concatenate(chunks, axis=1)


def numpy_decoder(
    decoder: TorchDecoder,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    batch_size: int = 256,
) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a torch decoder as a numpy callable ``(n, K, d) -> (n, *out)`` (no gradients),
    for :mod:`latentgraph.metrics.interaction`'s double-difference checks.

    Outputs come back as float64 numpy; ``dtype`` sets the evaluation precision.
    """
    if not callable(decoder):
        raise TypeError(f"decoder must be callable; received {type(decoder).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; received {batch_size!r}")

    def call(latents: np.ndarray) -> np.ndarray:
        z = torch.as_tensor(np.asarray(latents), dtype=dtype, device=device)
        with torch.no_grad():
            outs = [decoder(batch).detach().cpu() for batch in _batches(z, batch_size)]
        return torch.cat(outs).to(torch.float64).numpy()

    return call


def _rademacher(rows: int, cols: int, generator: torch.Generator) -> torch.Tensor:
    return 2.0 * torch.randint(0, 2, (rows, cols), generator=generator) - 1.0


def cross_hessian_mass_torch(
    decoder: TorchDecoder,
    latents,
    *,
    n_probes: int = 8,
    seed: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> float:
    """Monte-Carlo cross-Hessian mass (``docs/interaction_asymmetry.md#derivative-checks``): share of :math:`\\|H_p\\|_F^2` across slots.

    For slots ``k, l`` and independent probes ``u`` (on slot ``k``) and ``v`` (on slot ``l``)
    with identity second moments, :math:`E[(u^T H_p v)^2] = \\|H_p[B_k, B_l]\\|_F^2`. The
    probes are Rademacher (random signs): the same expectation as standard-normal
    probes with a smaller variance (Hutchinson's argument). Nested forward mode
    (``jvp`` of ``jvp``) gives :math:`u^T H_p v` for every output ``p`` in one pass. The
    estimate is :math:`\\sum_{k \\ne l} \\hat E_{kl} / \\sum_{k,l} \\hat E_{kl}`, pooled over
    outputs and examples (``K^2 n_probes`` passes); 0 iff the decoder is additive.
    """
    if not callable(decoder):
        raise TypeError(f"decoder must be callable; received {type(decoder).__name__}")
    if isinstance(n_probes, bool) or not isinstance(n_probes, int) or n_probes < 1:
        raise ValueError(f"n_probes must be an int >= 1; received {n_probes!r}")
    z = _as_latents(latents, device, dtype)
    n, n_slots, dim = z.shape
    generator = torch.Generator(device="cpu").manual_seed(seed)
    blocks = torch.zeros(n_slots, n_slots, dtype=torch.float64)
    # all probes of one block in one pass: the batch repeated n_probes times
    points = z.repeat(n_probes, 1, 1)

    def directional(point, direction):
        return jvp(decoder, (point,), (direction,))[1]

    for k in range(n_slots):
        for l in range(n_slots):
            u = torch.zeros_like(points)
            v = torch.zeros_like(points)
            u[:, k] = _rademacher(n * n_probes, dim, generator).to(u)
            v[:, l] = _rademacher(n * n_probes, dim, generator).to(v)
            with torch.no_grad():
                second = jvp(lambda point: directional(point, v), (points,), (u,))[1]  # noqa: B023
            blocks[k, l] = second.to(torch.float64).square().sum().cpu() / n_probes
    total = float(blocks.sum())
    if total == 0 or not math.isfinite(total):
        return 0.0 if total == 0 else math.nan
    return float((total - blocks.trace()) / total)
