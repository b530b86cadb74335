"""The intervened distribution of one sample site, by kind of intervention (NumPyro).

:func:`intervened_distribution` turns a site's natural distribution ``p(x | pa)`` and an
:class:`~latentgraph.models.interventions.contexts.Intervention` into the distribution the site
follows where it is intervened (see the contexts module for the math of each kind; Peters,
Janzing, Schölkopf 2017, *Elements of Causal Inference*, §6.3), and :func:`apply_intervention`
writes it into a NumPyro message, with or without a per-sample mask. The handlers
(:mod:`~latentgraph.models.interventions.intervene_numpyro` and the single-kind ones) call it from
their ``process_message``. The NumPyro twin of
:mod:`~latentgraph.models.interventions.replacement_pyro`, with the same checks and messages.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import Distribution
from numpyro.distributions.distribution import (
    ExpandedDistribution,
    Independent,
    MaskedDistribution,
)

from latentgraph.models.interventions.contexts import (
    Intervention,
    PerfectDraw,
    PerfectValue,
    Soft,
    Stochastic,
)
from latentgraph.models.interventions.masked_select_numpyro import MaskedSelect, broadcast_shape

__all__ = [
    "apply_intervention",
    "check_fixed_value",
    "intervened_distribution",
    "site_mask",
    "soft_shift_scale",
]

# location-scale families whose constructor is (loc, scale); LogNormal's are those of log x
_LOC_SCALE = (dist.Normal, dist.Laplace, dist.Cauchy, dist.Gumbel, dist.LogNormal)


def apply_intervention(msg: dict, intervention: Intervention, mask: object | None) -> None:
    """Intervene on the sample message ``msg`` in place.

    Without a mask, ``msg["fn"]`` becomes the intervened distribution; a :class:`PerfectValue`
    also sets the value and marks the site observed, so guides, autoguides and
    :class:`numpyro.handlers.seed` leave it alone and it adds ``log 1 = 0`` to the log joint.
    With a mask, ``msg["fn"]`` becomes ``MaskedSelect(natural, intervened, mask)``.
    """
    site = msg["name"]
    natural, masks = _unmasked(msg["fn"])
    if not isinstance(natural, Distribution):
        raise TypeError(
            f"site {site!r}: interventions need a NumPyro distribution, got "
            f"{type(natural).__name__}"
        )
    intervened, value = intervened_distribution(site, natural, intervention)
    if mask is None:
        msg["fn"] = _remasked(intervened, masks)
        if value is not None and not msg["is_observed"]:
            msg["value"] = value
            msg["is_observed"] = True
        return
    select = MaskedSelect(natural, intervened, site_mask(site, mask, natural))
    msg["fn"] = _remasked(select, masks)


def _unmasked(fn: object) -> tuple[object, list]:
    """``fn`` without its ``numpyro.handlers.mask`` layers, and those masks (outermost first).

    NumPyro's ``mask`` handler wraps the site's distribution (Pyro's sets ``msg["mask"]``), so
    the intervention acts on the distribution inside and the masks are put back around it.
    """
    masks = []
    while isinstance(fn, MaskedDistribution):
        masks.append(fn._mask)
        fn = fn.base_dist
    return fn, masks


def _remasked(fn: Distribution, masks: list) -> Distribution:
    for mask in reversed(masks):
        fn = fn.mask(mask)
    return fn


def check_fixed_value(msg: dict) -> None:
    """After the stack has run: a site fixed by a :class:`PerfectValue` must still hold its
    value where intervened. Outer handlers can overwrite it (``numpyro.handlers.condition`` or
    ``substitute``, observed data, :class:`numpyro.infer.Predictive`'s posterior samples), which
    would silently undo the intervention downstream.

    Concrete values that differ raise a ValueError (as the Pyro twin does). Traced values (under
    ``jit``, ``vmap`` or ``lax.map``: inside ``Predictive``, MCMC and SVI) cannot be compared in
    Python; there the intervened value is put back, ``where(mask, v, value)``, so the program
    downstream still sees ``do(x := v)``. Outer handlers that recorded the site before (a
    ``trace`` outside) keep the value they saw, and score it ``-inf`` under the point mass where
    it differs.
    """
    fn, value = _unmasked(msg["fn"])[0], msg["value"]
    if isinstance(fn, dist.Delta):
        if value is fn.v:
            return
        fixed, where = fn.v, None
    elif isinstance(fn, MaskedSelect) and isinstance(fn.intervened, dist.Delta):
        fixed, where = fn.intervened.v, fn._event_mask()
    else:  # an outer handler replaced the distribution: it owns the site now
        return
    if any(isinstance(x, jax.core.Tracer) for x in (value, fixed, where)):
        value = jnp.asarray(value)
        restored = fixed if where is None else jnp.where(where, fixed, value)
        msg["value"] = jnp.broadcast_to(restored, jnp.broadcast_shapes(value.shape, fixed.shape))
        return
    differs = jnp.asarray(value) != fixed
    if where is not None:
        differs = differs & where
    if bool(jnp.any(differs)):
        raise ValueError(
            f"site {msg['name']!r} is fixed by a perfect intervention do({msg['name']} := v), "
            "but other values reached it: observed data, handlers.condition/substitute or "
            "Predictive's posterior samples; leave intervened sites out of those (or apply the "
            "same handler to the guide)"
        )


def intervened_distribution(
    site: str, natural: Distribution, intervention: Intervention
) -> tuple[Distribution, jax.Array | None]:
    """``(q, value)``: the distribution of the intervened site, with ``natural``'s batch and
    event shapes, and the fixed value for a :class:`PerfectValue` (else None).

    Example:
        >>> import numpyro.distributions as dist
        >>> q, value = intervened_distribution("x", dist.Normal(1.0, 2.0), Soft(loc_shift=3.0))
        >>> float(q.loc), float(q.scale), value
        (4.0, 2.0, None)
    """
    if isinstance(intervention, PerfectValue):
        value = _site_array(site, "value", intervention.value, natural, expand=True)
        return dist.Delta(value, event_dim=len(natural.event_shape)), value
    if isinstance(intervention, PerfectDraw):
        return _fitted(site, natural, intervention.distribution, "distribution"), None
    if isinstance(intervention, Stochastic):
        if intervention.is_fixed:
            replacement = intervention.mechanism
        else:
            replacement = intervention.mechanism(natural)
        return _fitted(site, natural, replacement, "mechanism"), None
    if isinstance(intervention, Soft):
        return soft_shift_scale(
            natural,
            loc_shift=intervention.loc_shift,
            loc_factor=intervention.loc_factor,
            scale_factor=intervention.scale_factor,
            site=site,
        ), None
    raise TypeError(
        f"site {site!r}: unknown intervention {type(intervention).__name__}; expected "
        "PerfectValue, PerfectDraw, Stochastic or Soft"
    )


def soft_shift_scale(
    natural: Distribution,
    *,
    loc_shift: object = 0.0,
    loc_factor: object = 1.0,
    scale_factor: object = 1.0,
    site: str = "<site>",
) -> Distribution:
    """``natural`` with ``loc -> loc_factor * loc + loc_shift`` and ``scale -> scale_factor *
    scale`` (see :class:`~latentgraph.models.interventions.contexts.Soft`).

    Supported: Normal, Laplace, Cauchy, Gumbel, LogNormal (parameters of ``log x``),
    MultivariateNormal (``L -> diag(scale_factor) L``), and these wrapped in ``Independent``
    (``.to_event``), ``.expand`` (what a ``numpyro.plate`` does to a site) or ``.mask``. The
    parameters broadcast against the site's ``batch_shape + event_shape`` and may be traced
    arrays (a learned shift).
    """

    def transform(d: Distribution) -> Distribution:
        return soft_shift_scale(
            d, loc_shift=loc_shift, loc_factor=loc_factor, scale_factor=scale_factor, site=site
        )

    if isinstance(natural, Independent):
        return Independent(transform(natural.base_dist), natural.reinterpreted_batch_ndims)
    if isinstance(natural, ExpandedDistribution):
        base = natural.base_dist
        if isinstance(base, (dist.MultivariateNormal, *_LOC_SCALE)):
            # broadcast the parameters first, so that shifts of the expanded (plate) shape apply
            return transform(_broadcast_parameters(base, tuple(natural.batch_shape)))
        return transform(base).expand(natural.batch_shape)
    if isinstance(natural, MaskedDistribution):
        return transform(natural.base_dist).mask(natural._mask)
    if isinstance(natural, (dist.MultivariateNormal, *_LOC_SCALE)):
        loc = natural.loc
        shift, factor, scale = (
            _site_array(site, name, v, natural, like=loc)
            for name, v in (
                ("loc_shift", loc_shift),
                ("loc_factor", loc_factor),
                ("scale_factor", scale_factor),
            )
        )
        if isinstance(natural, dist.MultivariateNormal):
            tril = natural.scale_tril
            tril = tril * scale if scale.ndim == 0 else scale[..., None] * tril
            return dist.MultivariateNormal(loc=factor * loc + shift, scale_tril=tril)
        return type(natural)(factor * loc + shift, scale * natural.scale)
    raise TypeError(
        f"site {site!r}: a soft intervention needs a location-scale distribution (Normal, "
        "Laplace, Cauchy, Gumbel, LogNormal, MultivariateNormal, possibly Independent/expanded/"
        f"masked), got {type(natural).__name__}; use Stochastic(mechanism) instead"
    )


def _broadcast_parameters(base: Distribution, batch_shape: tuple[int, ...]) -> Distribution:
    """A location-scale or MultivariateNormal ``base`` rebuilt with its parameters broadcast to
    ``batch_shape`` (what ``base.expand(batch_shape)`` means)."""
    if isinstance(base, dist.MultivariateNormal):
        d = base.event_shape[0]
        return dist.MultivariateNormal(
            loc=jnp.broadcast_to(base.loc, batch_shape + (d,)),
            scale_tril=jnp.broadcast_to(base.scale_tril, batch_shape + (d, d)),
        )
    return type(base)(
        jnp.broadcast_to(base.loc, batch_shape), jnp.broadcast_to(base.scale, batch_shape)
    )


def site_mask(site: str, mask: object, natural: Distribution) -> jax.Array:
    """The per-sample mask as a bool array; it must broadcast to ``natural.batch_shape`` (from
    the right) without enlarging it."""
    array = jnp.asarray(mask)
    if array.dtype != jnp.bool_:
        raise TypeError(f"site {site!r}: `mask` must be boolean, got dtype {array.dtype}")
    batch_shape = tuple(natural.batch_shape)
    if broadcast_shape(array.shape, batch_shape) != batch_shape:
        raise ValueError(
            f"site {site!r}: `mask` of shape {tuple(array.shape)} does not broadcast to the "
            f"site's batch shape {batch_shape}; masks align from the right as in "
            "numpyro.handlers.mask (use shape (batch, 1) for a plate at dim=-2), and the handler "
            "must be applied outside the program's plates"
        )
    return array


def _fitted(site: str, natural: Distribution, replacement: object, name: str) -> Distribution:
    """``replacement`` checked against ``natural``'s shapes and expanded to its batch shape."""
    if not isinstance(replacement, Distribution):
        raise TypeError(
            f"site {site!r}: `{name}` must give a NumPyro distribution, got "
            f"{type(replacement).__name__}"
        )
    if tuple(replacement.event_shape) != tuple(natural.event_shape):
        raise ValueError(
            f"site {site!r}: `{name}` has event shape {tuple(replacement.event_shape)}, the site "
            f"has {tuple(natural.event_shape)}"
        )
    batch_shape = tuple(natural.batch_shape)
    if tuple(replacement.batch_shape) == batch_shape:
        return replacement
    if broadcast_shape(replacement.batch_shape, batch_shape) != batch_shape:
        raise ValueError(
            f"site {site!r}: `{name}` has batch shape {tuple(replacement.batch_shape)}, which does "
            f"not broadcast to the site's batch shape {batch_shape}"
        )
    return replacement.expand(batch_shape)


def _site_array(
    site: str,
    name: str,
    value: object,
    natural: Distribution,
    *,
    like: jax.Array | None = None,
    expand: bool = False,
) -> jax.Array:
    """``value`` as an array of the site's dtype, broadcastable to (or, with ``expand``,
    broadcast to) ``batch_shape + event_shape``."""
    reference = _reference_array(natural) if like is None else jnp.asarray(like)
    array = jnp.asarray(value, dtype=reference.dtype)
    shape = tuple(natural.batch_shape) + tuple(natural.event_shape)
    if broadcast_shape(array.shape, shape) != shape:
        raise ValueError(
            f"site {site!r}: `{name}` of shape {tuple(array.shape)} does not broadcast to the "
            f"site's shape {shape} (batch_shape + event_shape)"
        )
    return jnp.broadcast_to(array, shape) if expand else array


def _reference_array(natural: Distribution) -> jax.Array:
    """An array carrying ``natural``'s floating dtype (a parameter, or its mean)."""
    for name in getattr(natural, "arg_constraints", {}):
        attribute = getattr(natural, name, None)
        if hasattr(attribute, "dtype") and jnp.issubdtype(attribute.dtype, jnp.floating):
            return jnp.asarray(attribute)
    base = getattr(natural, "base_dist", None)
    if base is not None:
        return _reference_array(base)
    try:
        mean = jnp.asarray(natural.mean)
        if jnp.issubdtype(mean.dtype, jnp.floating):
            return mean
    except (NotImplementedError, AttributeError, TypeError):
        pass
    return jnp.zeros((), dtype=jnp.result_type(float))
