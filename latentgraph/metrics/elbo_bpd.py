"""The context module's reconstruction score "ELBO BPD" from per-sample negative ELBOs.

Spec ``context_module.md`` 6.4 (Markham et al., arXiv 2507.04754):

.. math::

    \\mathrm{BPD}_\\mathrm{ref} = \\frac{1}{H W \\ln 2}\\, \\frac1n \\sum_i
        \\Bigl[\\sum_{\\text{pixels, channels}} \\mathrm{BCE}(\\hat x_i, x_i)
        + \\beta\\, \\mathrm{KL}_i\\Bigr],

i.e. the mean per-image negative ELBO in nats (``beta``-weighted, BCE on continuous targets)
converted to bits and divided by the number of *pixels* ``H W``: the channel count is left
out (4,096 for 64x64x3 quad, 784 for MNIST). It is not a true bits/dim
(``docs/context_module.md#reconstruction-metric``);
``channels=C`` gives the per-dimension figure ``/ (H W C ln 2)`` as well.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike

from latentgraph.graphs._validation import as_real_array

__all__ = ["elbo_bpd"]


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; received {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1; received {value}")
    return int(value)


def elbo_bpd(
    negative_elbo: ArrayLike, *, height: int, width: int, channels: int | None = None
) -> float:
    """Mean negative ELBO (nats per image) in bits per pixel (``docs/context_module.md#elbo-bpd``) or per dimension.

    Args:
        negative_elbo: ``(n,)`` per-image negative ELBO in nats, ``BCE sum + beta KL``.
        height, width: image size ``H, W``.
        channels: ``None`` for the reference's ``H W`` denominator; an int ``C`` to divide
            by ``H W C`` (``docs/context_module.md#reconstruction-metric``).

    Example:
        >>> round(elbo_bpd([4096 * math.log(2)] * 3, height=64, width=64), 12)
        1.0
        >>> round(elbo_bpd([4096 * math.log(2)], height=64, width=64, channels=3), 6)
        0.333333
    """
    values = as_real_array(negative_elbo, "negative_elbo")
    if values.ndim != 1 or values.size < 1:
        raise ValueError(
            f"negative_elbo must be a non-empty 1-D array (one value per image); "
            f"received shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("negative_elbo must be finite; found NaN or infinite values")
    dims = _check_count(height, "height") * _check_count(width, "width")
    if channels is not None:
        dims *= _check_count(channels, "channels")
    return float(values.mean() / (dims * math.log(2.0)))
