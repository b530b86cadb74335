"""A linear-Gaussian SCM as a plain Pyro program, one sample site per node.

.. math::

    x_i \\mid \\mathrm{pa}_i \\sim \\mathcal N\\Bigl(b_i + \\sum_j W_{ij} x_j,\\; \\omega_i^2\\Bigr),

sampled in a topological order inside ``pyro.plate(plate_name, n_samples)``; ``weights[i, j]``
is the effect of ``x_j`` on ``x_i`` (rows are children). Its closed-form moments, with or
without interventions, are in :mod:`~latentgraph.models.interventions.linear_gaussian`. A small
program for tests and examples of the intervention handlers: interventions are applied to it
from outside (:func:`~latentgraph.models.interventions.intervene_pyro.intervene`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyro
import pyro.distributions as dist
import torch

from latentgraph.models.interventions.scm_inputs import check_linear_scm

__all__ = ["linear_gaussian_scm_pyro"]


def linear_gaussian_scm_pyro(
    weights: object,
    noise_scales: object,
    intercepts: object = None,
    *,
    names: Sequence[str] | None = None,
    plate_name: str = "samples",
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Callable[[int], dict[str, torch.Tensor]]:
    """The program ``model(n_samples) -> {name: (n_samples,) tensor}`` of a linear-Gaussian SCM.

    Args:
        weights: ``(d, d)`` weights of a DAG, ``weights[i, j]`` the effect of ``x_j`` on
            ``x_i``.
        noise_scales: ``(d,)`` positive noise standard deviations ``omega``.
        intercepts: ``(d,)`` intercepts ``b`` (zeros if None).
        names: the ``d`` site names (default ``x0, x1, ...``).
        plate_name: name of the plate over samples.
        device, dtype: of the parameters (default CPU, torch's default dtype).

    Example:
        >>> model = linear_gaussian_scm_pyro([[0.0, 0.0], [2.0, 0.0]], [1.0, 0.5])
        >>> {name: tuple(value.shape) for name, value in model(4).items()}
        {'x0': (4,), 'x1': (4,)}
    """
    weights_np, scales_np, intercepts_np, names, order, parents = check_linear_scm(
        weights, noise_scales, intercepts, names, plate_name
    )
    d = len(names)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    W = torch.as_tensor(weights_np, dtype=dtype, device=device)
    omega = torch.as_tensor(scales_np, dtype=dtype, device=device)
    b = torch.as_tensor(intercepts_np, dtype=dtype, device=device)

    def model(n_samples: int) -> dict[str, torch.Tensor]:
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"`n_samples` must be an int >= 1, got {n_samples!r}")
        values: dict[int, torch.Tensor] = {}
        with pyro.plate(plate_name, n_samples):
            for i in order:
                loc = b[i].expand(n_samples)
                for j in parents[i]:
                    loc = loc + W[i, j] * values[j]
                values[i] = pyro.sample(names[i], dist.Normal(loc, omega[i]))
        return {names[i]: values[i] for i in range(d)}

    return model
