"""The random injective mixing function f of the synthetic data (``nn`` manifold).

Lachapelle et al. (2024, arXiv 2401.04890), Sec. 8; ``docs/mechanism_sparsity.md#mixing-function``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentgraph.data._checks import check_int, check_real_array, check_seed

__all__ = ["MixingMLP", "mixing_function"]

LEAKY_SLOPE = 0.2


def _leaky_relu(h: np.ndarray) -> np.ndarray:
    return np.where(h > 0, h, LEAKY_SLOPE * h)


def _orthonormal_columns(matrix: np.ndarray) -> np.ndarray:
    """Q of the QR decomposition, with column signs fixed so that diag(R) > 0.

    Fixing the signs makes Q unique (hence independent of the LAPACK build) and
    Haar-distributed when ``matrix`` is Gaussian.
    """
    q, r = np.linalg.qr(matrix)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


@dataclass(frozen=True, eq=False)
class MixingMLP:
    """f(z) = LReLU(LReLU(LReLU(z W1) W2) W3) W4, slope 0.2, no biases (row-vector chain).

    ``weights`` holds W1 ``(n_latents, h)`` with orthonormal rows, W2 and W3 ``(h, h)``
    orthogonal, W4 ``(h, n_obs)`` orthogonal, with h = n_obs, each scaled by
    ``sqrt(2 / (1 + 0.2**2)) * sqrt(2 / (fan_in + fan_out))``. Since n_latents <= h = n_obs,
    f is injective.
    """

    weights: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    @property
    def n_latents(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def n_obs(self) -> int:
        return int(self.weights[-1].shape[1])

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Apply f to ``z`` of shape ``(..., n_latents)``; returns float64 ``(..., n_obs)``."""
        z = check_real_array(z, "z", ndims=None, layout=f"(..., n_latents={self.n_latents})")
        if z.shape[-1] != self.n_latents:
            raise ValueError(
                f"`z` must have shape (..., n_latents={self.n_latents}), got {z.shape}"
            )
        w1, w2, w3, w4 = self.weights
        h = _leaky_relu(z @ w1)
        h = _leaky_relu(h @ w2)
        h = _leaky_relu(h @ w3)
        return h @ w4


def mixing_function(n_latents: int, n_obs: int, seed: int) -> MixingMLP:
    """Draw the mixing MLP from its own RNG stream ``default_rng(seed)``
    (``docs/mechanism_sparsity.md#dedicated-mixing-stream``).

    Draw order: W1 (n_latents × h), W2, W3 (h × h), W4 (h × n_obs), with h = n_obs.

    Example:
        >>> f = mixing_function(10, 20, seed=265542)
        >>> f(np.zeros((3, 10))).shape
        (3, 20)
    """
    n_latents = check_int(n_latents, "n_latents", minimum=1)
    n_obs = check_int(n_obs, "n_obs", minimum=1)
    if n_obs < n_latents:
        raise ValueError(
            f"`n_obs` must be >= n_latents={n_latents} for an injective f, got {n_obs}"
        )
    seed = check_seed(seed, "seed")
    rng = np.random.default_rng(seed)
    hidden = n_obs
    gain = np.sqrt(2.0 / (1.0 + LEAKY_SLOPE**2))

    def scaled(matrix: np.ndarray) -> np.ndarray:
        fan_in, fan_out = matrix.shape
        return matrix * gain * np.sqrt(2.0 / (fan_in + fan_out))

    w1 = _orthonormal_columns(rng.standard_normal((n_latents, hidden)).T).T
    w2 = _orthonormal_columns(rng.standard_normal((hidden, hidden)))
    w3 = _orthonormal_columns(rng.standard_normal((hidden, hidden)))
    w4 = _orthonormal_columns(rng.standard_normal((hidden, n_obs)))
    weights = tuple(scaled(w) for w in (w1, w2, w3, w4))
    for w in weights:
        w.setflags(write=False)
    return MixingMLP(weights=weights)
