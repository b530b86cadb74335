"""Stochastic interventions on one sample site of a NumPyro program: replace the mechanism's
distribution.

The site's mechanism ``p(x | pa)`` becomes ``mechanism(p(x | pa))``, a new distribution computed
from the natural one (so the new mechanism may still read the parents through the natural
distribution's parameters, e.g. ``lambda d: Normal(0.5 * d.loc, 1.0)``), or a fixed
distribution (then the same as :func:`~latentgraph.models.interventions.perfect_numpyro.perfect`
with ``distribution=``). Peters, Janzing, Schölkopf 2017, *Elements of Causal Inference*, §6.3
(stochastic and imperfect interventions). The NumPyro twin of
:mod:`~latentgraph.models.interventions.stochastic_pyro`; see
:mod:`~latentgraph.models.interventions.intervene_numpyro` for the log-joint semantics.
"""

from __future__ import annotations

from collections.abc import Callable

from latentgraph.models.interventions.contexts import (
    Context,
    Stochastic,
    check_mask,
    check_site_name,
)
from latentgraph.models.interventions.intervene_numpyro import InterventionMessenger

__all__ = ["StochasticMessenger", "stochastic"]


class StochasticMessenger(InterventionMessenger):
    """Replace the distribution of ``site`` by ``mechanism``, optionally per plate element.

    Args:
        fn: the program to wrap, or None to use the handler as a context manager.
        site: name of the sample site.
        mechanism: a NumPyro distribution, or a callable ``natural distribution ->
            distribution``; the result must have the site's ``event_shape`` and a
            ``batch_shape`` that broadcasts to the site's.
        mask: optional boolean ``(batch,)`` or ``(batch, ...)``: which plate elements are
            intervened.
        strict: raise if the program never samples ``site``.
    """

    def __init__(
        self,
        fn: Callable | None = None,
        *,
        site: str,
        mechanism: object,
        mask: object = None,
        strict: bool = True,
    ):
        site = check_site_name(site)
        mask = check_mask(mask, "mask", min_ndim=1)
        context = Context(
            {site: Stochastic(mechanism)}, mask=None if mask is None else mask[..., None]
        )
        super().__init__(fn, context, strict=strict)


def stochastic(
    fn: Callable | None = None,
    *,
    site: str,
    mechanism: object,
    mask: object = None,
    strict: bool = True,
) -> StochasticMessenger:
    """Stochastic intervention on ``site``; see :class:`StochasticMessenger`.

    Usable as ``stochastic(model, site="x", mechanism=...)`` or as a context manager.

    Example:
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.handlers import seed
        >>> def model():
        ...     return numpyro.sample("x", dist.Normal(0.0, 1.0))
        >>> narrow = stochastic(model, site="x", mechanism=lambda d: dist.Normal(d.loc + 7, 1e-3))
        >>> bool(abs(seed(narrow, 0)() - 7.0) < 0.1)
        True
    """
    return StochasticMessenger(fn, site=site, mechanism=mechanism, mask=mask, strict=strict)
