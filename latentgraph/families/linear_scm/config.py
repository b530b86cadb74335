"""Prior hyperparameters of the linear-Gaussian latent SCM (backend-neutral)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

__all__ = ["LinearSCMPrior"]


@dataclass(frozen=True)
class LinearSCMPrior:
    """Priors of :func:`~latentgraph.families.linear_scm.numpyro_model.linear_scm_model`.

    Attributes:
        edge_prob: prior probability ``pi`` of each off-diagonal edge (the sparsity prior).
        spike_scale: ``s_0``, scale of a weight that counts as "no edge".
        slab_scale: ``s_1``, scale of an edge weight.
        noise_scale: scale of the ``HalfNormal`` prior on the exogenous noise standard
            deviations ``omega_i``.
        obs_noise_scale: scale of the ``HalfNormal`` prior on the observation noise ``sigma_x``.
        mixing_scale: standard deviation of the ``Normal`` prior on the entries of ``A`` when
            the mixing is learned.

    The spike is the resolution of the edge question: with ``n`` rows per context the posterior
    standard deviation of a weight is about ``1 / sqrt(n)``, so ``spike_scale`` should sit
    above it (weights the data cannot tell from 0 are "no edge") and well below the smallest
    effect worth calling an edge.
    """

    edge_prob: float = 0.3
    spike_scale: float = 0.05
    slab_scale: float = 1.0
    noise_scale: float = 1.0
    obs_noise_scale: float = 0.5
    mixing_scale: float = 1.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"`{item.name}` must be a float, got {type(value).__name__}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"`{item.name}` must be a positive finite float, got {value!r}")
            object.__setattr__(self, item.name, float(value))
        if self.edge_prob >= 1.0:
            raise ValueError(f"`edge_prob` must lie in (0, 1), got {self.edge_prob!r}")
        if self.spike_scale >= self.slab_scale:
            raise ValueError(
                f"`spike_scale` must be < slab_scale={self.slab_scale!r}, got {self.spike_scale!r}"
            )
