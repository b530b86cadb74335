"""Apply a context (several known intervention targets at once) to a Pyro program.

.. code-block:: python

    context = Context({"x0": PerfectValue(1.0), "x2": Soft(loc_shift=2.0)}, mask=targets)
    samples = intervene(model, context)(n)            # a wrapped program
    with intervene(context=context):                  # or a context manager
        samples = model(n)

Causal semantics enter from outside the program, as with ChiRho's ``do`` and
:func:`pyro.poutine.do`: the program only declares its mechanisms as sample sites.

**How intervened sites count in the log joint.** An intervened site is recorded under its own
name, holding the *intervened* value, and its log density is that of the *intervention*
distribution: ``log q(x_i)`` for a :class:`~.contexts.PerfectDraw`, :class:`~.contexts.Stochastic`
or :class:`~.contexts.Soft` intervention, and ``log 1 = 0`` for a :class:`~.contexts.PerfectValue`
(a point mass). A trace's ``log_prob_sum`` is then the log density of the interventional
distribution (the truncated factorisation, Pearl 2009, §3.2.3, eq. 3.10), which is what a model
must evaluate to be *fitted* on data gathered under known interventions, the setting of the
context module (``docs/context_module.md#setting``) and of linear causal disentanglement. With a
per-sample mask, intervened elements take the intervention's log density and the others the
mechanism's (:class:`~.masked_select_pyro.MaskedSelect`).

This differs on purpose from the two references:

* :func:`pyro.poutine.do` splits the site: the natural draw stays under the original name,
  counted with the mechanism's density, and the intervened value is a hidden observed site
  ``name__CF`` that outer handlers never see. That is the single-world construction for
  counterfactuals, where both values matter; but the trace then shows the natural value, and
  stochastic or soft interventions have no place in it.
* ChiRho's ``do`` substitutes the value after the site is sampled, so the log joint still holds
  the natural draw's density and the intervened value is a deterministic function of it.
  Equivalent for a perfect value (the natural draw integrates out), but for stochastic and soft
  interventions the log joint would not be the interventional density.

A perfect value on a whole site (no mask) is marked observed, as in ``pyro.poutine.do``, so
:func:`pyro.poutine.replay` leaves it alone and an autoguide built on the intervened model has
no latent there. With a
mask, the site stays latent for its natural elements; a guide that samples the site must then
give the intervened elements their value (apply the same handler to the guide, as with
:func:`~latentgraph.models.handlers_pyro.fix`). Values that reach a fixed element from outside
(observed data, ``poutine.condition``, Predictive's posterior samples, a replayed guide) and
differ from the intervened value raise a ValueError rather than silently undoing the
intervention downstream (``pyro.poutine.do`` hides its intervened value from outer handlers
instead). Observed data at a stochastically or softly intervened site are scored under the
intervened distribution.

As a context manager the handler acts on every program run inside the block, guides
included (``with intervene(context=c): svi.step()`` would also replace a guide's distribution
at a targeted site); wrap the model, ``intervene(model, c)``, to intervene on the model only.
Several handlers on the same site compose: the outer one treats the inner one's result as the
natural mechanism (two soft shifts add up). Apply handlers outside the program's plates, so the
site's distribution already has its plate batch shape when the mask meets it.
"""

from __future__ import annotations

from collections.abc import Callable

from pyro.poutine.messenger import Messenger

from latentgraph.models.interventions.contexts import Context, PerfectValue
from latentgraph.models.interventions.replacement_pyro import (
    apply_intervention,
    check_fixed_value,
)

__all__ = ["InterventionMessenger", "intervene"]


class InterventionMessenger(Messenger):
    """Intervene on every target of ``context`` (see the module docstring).

    Args:
        context: the targets, their interventions and an optional per-sample mask.
        strict: raise a ValueError when the program exits without having sampled every target
            (a misspelt site would otherwise be silently left alone). Turn off for a guide that
            samples only some of the targets.
    """

    def __init__(self, context: Context, *, strict: bool = True):
        if not isinstance(context, Context):
            raise TypeError(f"`context` must be a Context, got {type(context).__name__}")
        if not isinstance(strict, bool):
            raise TypeError(f"`strict` must be a bool, got {type(strict).__name__}")
        super().__init__()
        self.context = context
        self.strict = strict
        self._seen: set[str] = set()

    def __enter__(self):
        self._seen = set()
        return super().__enter__()

    def __exit__(self, exc_type, exc_value, traceback):
        super().__exit__(exc_type, exc_value, traceback)
        missing = [t for t in self.context.targets if t not in self._seen]
        if exc_type is None and self.strict and missing:
            raise ValueError(
                f"intervention target(s) {missing} never reached a sample site of the program; "
                f"sites intervened on: {sorted(self._seen)} (check the names, or pass "
                "strict=False)"
            )

    def _pyro_sample(self, msg) -> None:
        name = msg["name"]
        if name not in self.context.interventions:
            return
        self._seen.add(name)
        apply_intervention(msg, self.context.interventions[name], self.context.mask_for(name))

    def _pyro_post_sample(self, msg) -> None:
        if isinstance(self.context.interventions.get(msg["name"]), PerfectValue):
            check_fixed_value(msg)


def intervene(fn: Callable | None = None, context: Context | None = None, *, strict: bool = True):
    """Apply ``context`` to ``fn``; see :class:`InterventionMessenger`.

    Usable as ``intervene(model, context)`` (returns the wrapped callable) or as a context
    manager ``with intervene(context=context): ...``.

    Example:
        >>> import pyro, pyro.distributions as dist, torch
        >>> from latentgraph.models.interventions import Context, PerfectValue
        >>> def model():
        ...     x = pyro.sample("x", dist.Normal(0.0, 1.0))
        ...     return pyro.sample("y", dist.Normal(2.0 * x, 0.1))
        >>> y = intervene(model, Context({"x": PerfectValue(3.0)}))()
        >>> bool(abs(y - 6.0) < 1.0)
        True
    """
    if context is None:
        raise TypeError("intervene() needs a context: a Context of targets and interventions")
    messenger = InterventionMessenger(context, strict=strict)
    return messenger if fn is None else messenger(fn)
