"""A per-element choice between two distributions: the per-sample form of an intervention (NumPyro).

With a boolean ``mask`` over the batch elements, the site's distribution becomes

.. math::

    \\tilde p(x) = \\prod_{r} \\tilde p_{r}(x_r), \\qquad
    \\tilde p_r = \\begin{cases} q_r & \\text{mask}_r \\\\ p_r & \\text{otherwise,} \\end{cases}

where ``p`` is the natural mechanism and ``q`` the intervened one: each plate element follows its
own context (the truncated factorisation of Pearl 2009, *Causality*, §3.2.3, eq. 3.10, applied
per sample). ``sample`` draws from both with independent keys and keeps, per element, the one
the mask selects (``jnp.where``); ``log_prob`` is ``where(mask, q.log_prob(x), p.log_prob(x))``
elementwise over the batch shape. The NumPyro twin of
:class:`~latentgraph.models.interventions.masked_select_pyro.MaskedSelect`; see
:mod:`~latentgraph.models.interventions.contexts` for the per-sample contexts of the context
module.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from numpyro.distributions import Distribution, constraints

__all__ = ["MaskedSelect", "broadcast_shape"]


def broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...] | None:
    """The broadcast of ``shapes`` (aligned from the right), or None if they do not broadcast.

    Example:
        >>> broadcast_shape((4, 1), (3,)), broadcast_shape((4,), (3,))
        ((4, 3), None)
    """
    ndim = max((len(shape) for shape in shapes), default=0)
    result = [1] * ndim
    for shape in shapes:
        for axis, size in enumerate(shape, start=ndim - len(shape)):
            if size == result[axis] or size == 1:
                continue
            if result[axis] != 1:
                return None
            result[axis] = size
    return tuple(result)


class MaskedSelect(Distribution):
    """Element ``r`` of the batch follows ``intervened`` where ``mask[r]`` is True, else
    ``natural``.

    Args:
        natural: the mechanism's distribution ``p`` (a NumPyro distribution).
        intervened: the intervention distribution ``q``, with the same ``event_shape``.
        mask: boolean array broadcastable (from the right) with the batch shapes.

    Shapes: ``batch_shape = broadcast(natural.batch_shape, intervened.batch_shape,
    mask.shape)``; ``event_shape = natural.event_shape``.

    Both log densities are evaluated on the whole value, then selected; ``jnp.where`` keeps the
    unselected branch out of the gradient (a point mass gives ``-inf`` off its atom, with no
    gradient path). ``sample`` splits its key: the first half draws ``intervened``, the second
    ``natural``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import numpyro.distributions as dist
        >>> d = MaskedSelect(dist.Normal(jnp.zeros(3), 1.0), dist.Delta(jnp.full(3, 5.0)),
        ...                  jnp.array([True, False, True]))
        >>> x = d.sample(jax.random.key(0))
        >>> x[0].item(), x[2].item(), d.log_prob(x)[0].item()
        (5.0, 5.0, 0.0)
    """

    arg_constraints: dict = {}
    pytree_data_fields = ("natural", "intervened", "select_mask")

    def __init__(self, natural: Distribution, intervened: Distribution, mask: jax.Array):
        if not isinstance(natural, Distribution) or not isinstance(intervened, Distribution):
            raise TypeError(
                "`natural` and `intervened` must be NumPyro distributions, got "
                f"{type(natural).__name__} and {type(intervened).__name__}"
            )
        if tuple(natural.event_shape) != tuple(intervened.event_shape):
            raise ValueError(
                f"`intervened` must have the event shape of `natural` {tuple(natural.event_shape)}"
                f", got {tuple(intervened.event_shape)}"
            )
        if not hasattr(mask, "dtype") or not str(mask.dtype).endswith("bool"):
            raise TypeError(
                f"`mask` must be a boolean array, got {type(mask).__name__}"
                + (f" of dtype {mask.dtype}" if hasattr(mask, "dtype") else "")
            )
        mask = jnp.asarray(mask)
        batch_shape = broadcast_shape(natural.batch_shape, intervened.batch_shape, mask.shape)
        if batch_shape is None:
            raise ValueError(
                "`natural`, `intervened` and `mask` must have broadcastable batch shapes, got "
                f"{tuple(natural.batch_shape)}, {tuple(intervened.batch_shape)}, {tuple(mask.shape)}"
            )
        self.natural = natural.expand(batch_shape)
        self.intervened = intervened.expand(batch_shape)
        self.select_mask = mask
        super().__init__(batch_shape, tuple(natural.event_shape), validate_args=False)

    def _event_mask(self) -> jax.Array:
        return jnp.reshape(self.select_mask, self.select_mask.shape + (1,) * len(self.event_shape))

    @constraints.dependent_property(is_discrete=False)
    def support(self):
        return self.natural.support

    @property
    def has_rsample(self) -> bool:
        return bool(self.natural.has_rsample and self.intervened.has_rsample)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        key_intervened, key_natural = jax.random.split(key)
        intervened = self.intervened.sample(key_intervened, sample_shape)
        natural = self.natural.sample(key_natural, sample_shape)
        return jnp.where(self._event_mask(), intervened, natural)

    def rsample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        if not self.has_rsample:
            raise NotImplementedError("both distributions must be reparameterised")
        return self.sample(key, sample_shape)

    def log_prob(self, value: jax.Array) -> jax.Array:
        return jnp.where(
            self.select_mask, self.intervened.log_prob(value), self.natural.log_prob(value)
        )

    @property
    def mean(self) -> jax.Array:
        return jnp.where(self._event_mask(), self.intervened.mean, self.natural.mean)

    @property
    def variance(self) -> jax.Array:
        return jnp.where(self._event_mask(), self.intervened.variance, self.natural.variance)

    def expand(self, batch_shape: Sequence[int]) -> MaskedSelect:
        batch_shape = tuple(batch_shape)
        if batch_shape == tuple(self.batch_shape):
            return self
        return MaskedSelect(
            self.natural.expand(batch_shape),
            self.intervened.expand(batch_shape),
            jnp.broadcast_to(self.select_mask, batch_shape),
        )
