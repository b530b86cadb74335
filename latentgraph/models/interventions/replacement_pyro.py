"""The intervened distribution of one sample site, by kind of intervention (Pyro).

:func:`intervened_distribution` turns a site's natural distribution ``p(x | pa)`` and an
:class:`~latentgraph.models.interventions.contexts.Intervention` into the distribution the site
follows where it is intervened (see the contexts module for the math of each kind), and
:func:`apply_intervention` writes it into a Pyro message, with or without a per-sample mask. The
handlers (:mod:`~latentgraph.models.interventions.intervene_pyro` and the single-kind ones) call
it from their ``_pyro_sample``.
"""

from __future__ import annotations

from collections.abc import Callable

import pyro.distributions as dist
import torch
from pyro.distributions.torch_distribution import ExpandedDistribution, MaskedDistribution
from torch.distributions import Distribution

from latentgraph.models.interventions.contexts import (
    Intervention,
    PerfectDraw,
    PerfectValue,
    Soft,
    Stochastic,
)
from latentgraph.models.interventions.masked_select_pyro import MaskedSelect, broadcast_shape

__all__ = [
    "apply_intervention",
    "check_fixed_value",
    "intervened_distribution",
    "soft_shift_scale",
]

# location-scale families whose constructor is (loc, scale); LogNormal's are those of log x
_LOC_SCALE = (
    torch.distributions.Normal,
    torch.distributions.Laplace,
    torch.distributions.Cauchy,
    torch.distributions.Gumbel,
    torch.distributions.LogNormal,
)


def apply_intervention(msg: dict, intervention: Intervention, mask: object | None) -> None:
    """Intervene on the sample message ``msg`` in place.

    Without a mask, ``msg["fn"]`` becomes the intervened distribution; a :class:`PerfectValue`
    also sets the value and marks the site observed, so guides and ``poutine.replay`` leave it
    alone (as :func:`pyro.poutine.do` does) and it adds ``log 1 = 0`` to the log joint. With a
    mask, ``msg["fn"]`` becomes ``MaskedSelect(natural, intervened, mask)``.
    """
    site = msg["name"]
    natural = msg["fn"]
    if not isinstance(natural, Distribution):
        raise TypeError(
            f"site {site!r}: interventions need a torch/Pyro distribution, got "
            f"{type(natural).__name__}"
        )
    intervened, value = intervened_distribution(site, natural, intervention)
    if mask is None:
        msg["fn"] = intervened
        if value is not None and not msg["is_observed"]:
            msg["value"] = value
            msg["is_observed"] = True
        return
    msg["fn"] = MaskedSelect(natural, intervened, site_mask(site, mask, natural))


def check_fixed_value(msg: dict) -> None:
    """After the stack has run: a site fixed by a :class:`PerfectValue` must still hold its
    value where intervened. Outer handlers can overwrite it (``poutine.condition``,
    :class:`pyro.infer.Predictive`'s posterior samples, ``poutine.replay`` from a guide that
    does not intervene), which would silently undo the intervention downstream; raise instead.
    """
    fn, value = msg["fn"], msg["value"]
    if isinstance(fn, dist.Delta):
        if value is fn.v:
            return
        fixed, where = fn.v, None
    elif isinstance(fn, MaskedSelect) and isinstance(fn.intervened, dist.Delta):
        fixed, where = fn.intervened.v, fn._event_mask()
    else:  # an outer handler replaced the distribution: it owns the site now
        return
    differs = value != fixed
    if where is not None:
        differs = differs & where
    if bool(differs.any()):
        raise ValueError(
            f"site {msg['name']!r} is fixed by a perfect intervention do({msg['name']} := v), "
            "but other values reached it: observed data, poutine.condition, Predictive's "
            "posterior samples or a replayed guide; leave intervened sites out of those (or "
            "apply the same handler to the guide)"
        )


def intervened_distribution(
    site: str, natural: Distribution, intervention: Intervention
) -> tuple[Distribution, torch.Tensor | None]:
    """``(q, value)``: the distribution of the intervened site, with ``natural``'s batch and
    event shapes, and the fixed value for a :class:`PerfectValue` (else None)."""
    if isinstance(intervention, PerfectValue):
        value = _site_tensor(site, "value", intervention.value, natural, expand=True)
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
    (``.to_event``), ``.expand`` or ``.mask``. The parameters broadcast against the site's
    ``batch_shape + event_shape`` and may be tensors with gradients.
    """
    transform: Callable[[Distribution], Distribution] = lambda d: soft_shift_scale(  # noqa: E731
        d, loc_shift=loc_shift, loc_factor=loc_factor, scale_factor=scale_factor, site=site
    )
    if isinstance(natural, torch.distributions.Independent):
        return dist.Independent(transform(natural.base_dist), natural.reinterpreted_batch_ndims)
    if isinstance(natural, ExpandedDistribution):
        return transform(natural.base_dist).expand(natural.batch_shape)
    if isinstance(natural, MaskedDistribution):
        return transform(natural.base_dist).mask(natural._mask)
    if isinstance(natural, torch.distributions.MultivariateNormal):
        loc = natural.loc
        shift, factor, scale = (
            _site_tensor(site, name, v, natural, like=loc)
            for name, v in (
                ("loc_shift", loc_shift),
                ("loc_factor", loc_factor),
                ("scale_factor", scale_factor),
            )
        )
        tril = natural.scale_tril
        tril = tril * scale if scale.ndim == 0 else scale.unsqueeze(-1) * tril
        return type(natural)(loc=factor * loc + shift, scale_tril=tril)
    if isinstance(natural, _LOC_SCALE):
        loc = natural.loc
        shift, factor, scale = (
            _site_tensor(site, name, v, natural, like=loc)
            for name, v in (
                ("loc_shift", loc_shift),
                ("loc_factor", loc_factor),
                ("scale_factor", scale_factor),
            )
        )
        return type(natural)(factor * loc + shift, scale * natural.scale)
    raise TypeError(
        f"site {site!r}: a soft intervention needs a location-scale distribution (Normal, "
        "Laplace, Cauchy, Gumbel, LogNormal, MultivariateNormal, possibly Independent/expanded/"
        f"masked), got {type(natural).__name__}; use Stochastic(mechanism) instead"
    )


def site_mask(site: str, mask: object, natural: Distribution) -> torch.Tensor:
    """The per-sample mask as a bool tensor on ``natural``'s device; it must broadcast to
    ``natural.batch_shape`` (from the right) without enlarging it."""
    reference = _reference_tensor(natural)
    if isinstance(mask, torch.Tensor):
        tensor = mask.to(device=reference.device)
    else:
        tensor = torch.as_tensor(mask, device=reference.device)
    if tensor.dtype != torch.bool:
        raise TypeError(f"site {site!r}: `mask` must be boolean, got dtype {tensor.dtype}")
    batch_shape = natural.batch_shape
    broadcast = broadcast_shape(tensor.shape, batch_shape)
    if broadcast != batch_shape:
        raise ValueError(
            f"site {site!r}: `mask` of shape {tuple(tensor.shape)} does not broadcast to the "
            f"site's batch shape {tuple(batch_shape)}; masks align from the right as in "
            "pyro.poutine.mask (use shape (batch, 1) for a plate at dim=-2), and the handler "
            "must be applied outside the program's plates"
        )
    return tensor


def _fitted(site: str, natural: Distribution, replacement: object, name: str) -> Distribution:
    """``replacement`` checked against ``natural``'s shapes and expanded to its batch shape."""
    if not isinstance(replacement, Distribution):
        raise TypeError(
            f"site {site!r}: `{name}` must give a torch/Pyro distribution, got "
            f"{type(replacement).__name__}"
        )
    if replacement.event_shape != natural.event_shape:
        raise ValueError(
            f"site {site!r}: `{name}` has event shape {tuple(replacement.event_shape)}, the site "
            f"has {tuple(natural.event_shape)}"
        )
    device, site_device = _reference_tensor(replacement).device, _reference_tensor(natural).device
    if device != site_device:
        raise ValueError(
            f"site {site!r}: `{name}` lives on {device}, the site on {site_device}; build the "
            "intervention distribution on the site's device"
        )
    if replacement.batch_shape == natural.batch_shape:
        return replacement
    broadcast = broadcast_shape(replacement.batch_shape, natural.batch_shape)
    if broadcast != natural.batch_shape:
        raise ValueError(
            f"site {site!r}: `{name}` has batch shape {tuple(replacement.batch_shape)}, which does "
            f"not broadcast to the site's batch shape {tuple(natural.batch_shape)}"
        )
    return replacement.expand(natural.batch_shape)


def _site_tensor(
    site: str,
    name: str,
    value: object,
    natural: Distribution,
    *,
    like: torch.Tensor | None = None,
    expand: bool = False,
) -> torch.Tensor:
    """``value`` as a tensor of the site's dtype and device, broadcastable to (or, with
    ``expand``, expanded to) ``batch_shape + event_shape``."""
    reference = _reference_tensor(natural) if like is None else like
    tensor = torch.as_tensor(value, dtype=reference.dtype, device=reference.device)
    shape = natural.batch_shape + natural.event_shape
    broadcast = broadcast_shape(tensor.shape, shape)
    if broadcast != shape:
        raise ValueError(
            f"site {site!r}: `{name}` of shape {tuple(tensor.shape)} does not broadcast to the "
            f"site's shape {tuple(shape)} (batch_shape + event_shape)"
        )
    return tensor.expand(shape) if expand else tensor


def _reference_tensor(natural: Distribution) -> torch.Tensor:
    """A tensor carrying ``natural``'s dtype and device (its mean, or a parameter)."""
    try:
        mean = natural.mean
        if isinstance(mean, torch.Tensor):
            return mean
    except (NotImplementedError, AttributeError):
        pass
    for name in getattr(natural, "arg_constraints", {}):
        attribute = getattr(natural, name, None)
        if isinstance(attribute, torch.Tensor):
            return attribute
    base = getattr(natural, "base_dist", None)
    if base is not None:
        return _reference_tensor(base)
    return torch.zeros((), dtype=torch.get_default_dtype())
