"""Perfect interventions on one sample site of a NumPyro program: ``do(x := value)`` or
``do(x ~ distribution)``.

A perfect intervention cuts the site's parents: the site's mechanism ``p(x | pa)`` is replaced
by a point mass at ``value`` or by a fixed ``distribution`` that does not read the parents, and
everything downstream sees the intervened value (Pearl 2009, *Causality*, §3.2.3; Peters,
Janzing, Schölkopf 2017, §6.3). The NumPyro twin of
:mod:`~latentgraph.models.interventions.perfect_pyro`; see
:mod:`~latentgraph.models.interventions.intervene_numpyro` for how the intervened site counts in
the log joint, and the contexts module for per-sample masks.
"""

from __future__ import annotations

from collections.abc import Callable

from latentgraph.models.interventions.contexts import (
    Context,
    PerfectDraw,
    PerfectValue,
    check_mask,
    check_site_name,
)
from latentgraph.models.interventions.intervene_numpyro import InterventionMessenger

__all__ = ["PerfectMessenger", "perfect"]


class PerfectMessenger(InterventionMessenger):
    """``do(site := value)`` or ``do(site ~ distribution)``, optionally per plate element.

    Args:
        fn: the program to wrap, or None to use the handler as a context manager.
        site: name of the sample site.
        value: the fixed value (number or array broadcastable to the site's
            ``batch_shape + event_shape``); exclusive with ``distribution``.
        distribution: the fixed intervention distribution (a NumPyro distribution with the
            site's ``event_shape`` and a ``batch_shape`` broadcastable to it); exclusive with
            ``value``.
        mask: optional boolean ``(batch,)`` or ``(batch, ...)``: which plate elements are
            intervened (broadcast from the right against the site's batch shape).
        strict: raise if the program never samples ``site``.
    """

    def __init__(
        self,
        fn: Callable | None = None,
        *,
        site: str,
        value: object = None,
        distribution: object = None,
        mask: object = None,
        strict: bool = True,
    ):
        site = check_site_name(site)
        if (value is None) == (distribution is None):
            raise ValueError(
                f"perfect intervention on {site!r}: give exactly one of `value` (do(x := v)) "
                "and `distribution` (do(x ~ q))"
            )
        intervention = PerfectValue(value) if distribution is None else PerfectDraw(distribution)
        mask = check_mask(mask, "mask", min_ndim=1)
        context = Context({site: intervention}, mask=None if mask is None else mask[..., None])
        super().__init__(fn, context, strict=strict)


def perfect(
    fn: Callable | None = None,
    *,
    site: str,
    value: object = None,
    distribution: object = None,
    mask: object = None,
    strict: bool = True,
) -> PerfectMessenger:
    """Perfect intervention on ``site``; see :class:`PerfectMessenger`.

    Usable as ``perfect(model, site="x", value=1.0)`` (returns the wrapped callable) or as a
    context manager ``with perfect(site="x", value=1.0): ...``.

    Example:
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.handlers import seed
        >>> def model():
        ...     x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        ...     return numpyro.sample("y", dist.Normal(x, 0.01))
        >>> bool(abs(seed(perfect(model, site="x", value=5.0), 0)() - 5.0) < 0.1)
        True
    """
    return PerfectMessenger(
        fn, site=site, value=value, distribution=distribution, mask=mask, strict=strict
    )
