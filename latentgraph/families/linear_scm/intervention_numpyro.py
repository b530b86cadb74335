"""Perfect (stochastic ``do``) interventions on linear mechanisms, as a NumPyro effect handler.

A perfect intervention on ``z_k`` cuts its parents and draws it from a fixed distribution:
``z_k := mu_k^* + omega_k^* eps_k``. On linear mechanisms that is: row ``k`` of ``W`` becomes 0,
``mu_k -> mu_k^*``, ``omega_k -> omega_k^*`` (Squires et al. 2023, §2). Interventions are applied
from outside the program, as ChiRho's ``do`` is: the model only declares its mechanisms with
:func:`~latentgraph.families.linear_scm.mechanisms_numpyro.linear_mechanisms`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax.typing import ArrayLike
from numpyro.primitives import Messenger

from latentgraph.families.linear_scm.mechanisms_numpyro import MECHANISM_MESSAGE, LinearMechanisms

__all__ = ["PerfectIntervention", "perfect_intervention"]


class PerfectIntervention(Messenger):
    """Replace the mechanisms of the targeted latents at the mechanism site ``site``.

    Args:
        fn: the program to wrap (or None to use the handler as a context manager).
        targets: 0/1 ``(..., d)``: ``targets[c, k] = 1`` iff latent ``k`` is intervened in
            context ``c``; broadcast against the site's leading axes.
        loc: ``(..., d)`` means of the intervention distributions (used where targeted).
        scale: ``(..., d)`` standard deviations of the intervention distributions.
        site: name of the mechanism site to act on.

    Example:
        >>> import jax.numpy as jnp
        >>> from latentgraph.families.linear_scm.mechanisms_numpyro import linear_mechanisms
        >>> def program():
        ...     ones = LinearMechanisms(jnp.ones((2, 2, 2)), jnp.zeros((2, 2)), jnp.ones((2, 2)))
        ...     return linear_mechanisms("mechanisms", ones)
        >>> targets = jnp.array([[0, 0], [1, 0]])  # context 1: do(z0 ~ N(3, 0.5^2))
        >>> cut = perfect_intervention(program, targets=targets, loc=3.0, scale=0.5)()
        >>> cut.weights[1].tolist(), cut.loc[1].tolist(), cut.scale[1].tolist()
        ([[0.0, 0.0], [1.0, 1.0]], [3.0, 0.0], [0.5, 1.0])
        >>> program().weights[1].tolist()  # the program itself is unchanged
        [[1.0, 1.0], [1.0, 1.0]]
    """

    def __init__(
        self,
        fn: Callable | None = None,
        *,
        targets: ArrayLike,
        loc: ArrayLike,
        scale: ArrayLike,
        site: str = "mechanisms",
    ):
        self.targets = jnp.asarray(targets).astype(bool)
        self.loc = jnp.asarray(loc)
        self.scale = jnp.asarray(scale)
        self.site = site
        super().__init__(fn)

    def process_message(self, msg) -> None:
        if msg["type"] != MECHANISM_MESSAGE or msg["name"] != self.site:
            return
        mechanisms: LinearMechanisms = msg["value"]
        msg["value"] = LinearMechanisms(
            weights=jnp.where(self.targets[..., :, None], 0.0, mechanisms.weights),
            loc=jnp.where(self.targets, self.loc, mechanisms.loc),
            scale=jnp.where(self.targets, self.scale, mechanisms.scale),
        )


def perfect_intervention(
    fn: Callable | None = None,
    *,
    targets: ArrayLike,
    loc: ArrayLike,
    scale: ArrayLike,
    site: str = "mechanisms",
) -> PerfectIntervention:
    """Wrap ``fn`` (or open a context) with :class:`PerfectIntervention`."""
    return PerfectIntervention(fn, targets=targets, loc=loc, scale=scale, site=site)
