"""Soft interventions on one sample site of a NumPyro program: shift and scale its location and
scale parameters.

For a location-scale mechanism ``x = loc(pa) + scale * eps`` the intervened mechanism is
``x = loc_factor * loc(pa) + loc_shift + scale_factor * scale * eps``: the parents still act
(scaled by ``loc_factor``), which makes it an imperfect, parametric intervention (Eberhardt &
Scheines 2007, "Interventions and causal inference", Philosophy of Science 74; Peters,
Janzing, Schölkopf 2017, §6.3). Supported distributions are listed in
:func:`~latentgraph.models.interventions.replacement_numpyro.soft_shift_scale`. The NumPyro twin
of :mod:`~latentgraph.models.interventions.soft_pyro`; see
:mod:`~latentgraph.models.interventions.intervene_numpyro` for the log-joint semantics.
"""

from __future__ import annotations

from collections.abc import Callable

from latentgraph.models.interventions.contexts import Context, Soft, check_mask, check_site_name
from latentgraph.models.interventions.intervene_numpyro import InterventionMessenger

__all__ = ["SoftMessenger", "soft"]


class SoftMessenger(InterventionMessenger):
    """``loc -> loc_factor * loc + loc_shift``, ``scale -> scale_factor * scale`` at ``site``.

    Args:
        fn: the program to wrap, or None to use the handler as a context manager.
        site: name of the sample site.
        loc_shift, loc_factor, scale_factor: numbers or arrays (JAX arrays may be traced, e.g.
            a learned shift) broadcastable to the site's ``batch_shape + event_shape``;
            ``scale_factor > 0``. For a MultivariateNormal, ``scale_factor`` (scalar or per
            coordinate) multiplies the rows of the Cholesky factor: ``Sigma -> D Sigma D``,
            ``D = diag(scale_factor)``.
        mask: optional boolean ``(batch,)`` or ``(batch, ...)``: which plate elements are
            intervened.
        strict: raise if the program never samples ``site``.
    """

    def __init__(
        self,
        fn: Callable | None = None,
        *,
        site: str,
        loc_shift: object = 0.0,
        loc_factor: object = 1.0,
        scale_factor: object = 1.0,
        mask: object = None,
        strict: bool = True,
    ):
        site = check_site_name(site)
        intervention = Soft(loc_shift=loc_shift, loc_factor=loc_factor, scale_factor=scale_factor)
        mask = check_mask(mask, "mask", min_ndim=1)
        context = Context({site: intervention}, mask=None if mask is None else mask[..., None])
        super().__init__(fn, context, strict=strict)


def soft(
    fn: Callable | None = None,
    *,
    site: str,
    loc_shift: object = 0.0,
    loc_factor: object = 1.0,
    scale_factor: object = 1.0,
    mask: object = None,
    strict: bool = True,
) -> SoftMessenger:
    """Soft intervention on ``site``; see :class:`SoftMessenger`.

    Usable as ``soft(model, site="x", loc_shift=1.0)`` or as a context manager.

    Example:
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.handlers import seed
        >>> def model():
        ...     return numpyro.sample("x", dist.Normal(1.0, 1e-3))
        >>> shifted = soft(model, site="x", loc_factor=2.0, loc_shift=3.0)
        >>> bool(abs(seed(shifted, 0)() - 5.0) < 0.1)
        True
    """
    return SoftMessenger(
        fn,
        site=site,
        loc_shift=loc_shift,
        loc_factor=loc_factor,
        scale_factor=scale_factor,
        mask=mask,
        strict=strict,
    )
