"""Apply a context (several known intervention targets at once) to a NumPyro program.

.. code-block:: python

    context = Context({"x0": PerfectValue(1.0), "x2": Soft(loc_shift=2.0)}, mask=targets)
    samples = seed(intervene(model, context), 0)(n)   # a wrapped program
    with intervene(context=context):                  # or a context manager
        samples = seed(model, 0)(n)

The NumPyro twin of :mod:`~latentgraph.models.interventions.intervene_pyro`, with the same
semantics: causal semantics enter from outside the program, as with ChiRho's ``do``; the program
only declares its mechanisms as sample sites.

**How intervened sites count in the log joint.** An intervened site is recorded under its own
name, holding the *intervened* value, and its log density is that of the *intervention*
distribution: ``log q(x_i)`` for a :class:`~.contexts.PerfectDraw`, :class:`~.contexts.Stochastic`
or :class:`~.contexts.Soft` intervention, and ``log 1 = 0`` for a :class:`~.contexts.PerfectValue`
(a point mass). :func:`numpyro.infer.util.log_density` of the intervened program is then the log
density of the interventional distribution (the truncated factorisation, Pearl 2009,
*Causality*, §3.2.3, eq. 3.10), which is what a model must evaluate to be fitted on data
gathered under known interventions (``docs/context_module.md``). With a per-sample mask,
intervened elements take the intervention's log density and the others the mechanism's
(:class:`~.masked_select_numpyro.MaskedSelect`).

This differs on purpose from :func:`numpyro.handlers.do`, which splits the site (the natural
draw stays under the original name, the intervened value is only returned to the program), the
single-world construction for counterfactuals; stochastic and soft interventions have no place
in it.

A perfect value on a whole site (no mask) is marked observed, so :class:`numpyro.handlers.seed`
draws no key for it and an autoguide built on the intervened model has no latent there. With a
mask, the site stays latent for its natural elements; a guide that samples the site must then
give the intervened elements their value (apply the same handler to the guide, as with
:func:`~latentgraph.models.handlers_numpyro.fix`). Concrete values that reach a fixed element
from outside (observed data, ``condition``, ``substitute``) and differ from the intervened value
raise a ValueError rather than silently undoing the intervention downstream; traced values
(under ``jit``, ``vmap``, ``lax.map``: inside ``Predictive``) cannot be compared, and the
intervened value is put back where fixed (:func:`~.replacement_numpyro.check_fixed_value`).
Observed data at a stochastically or softly intervened site are scored under the intervened
distribution. NumPyro's :class:`~numpyro.handlers.mask` wraps a site's distribution; the
intervention acts inside the wrapper and keeps it.

**Order on the handler stack.** NumPyro runs ``process_message`` from the innermost handler
out, so the program's plates have already expanded the site's distribution when the mask meets
it: apply the handler outside the program (``intervene(model, c)``), not inside its plates.
``seed(intervene(model, c))`` draws no key for a fixed site; ``intervene(seed(model), c)`` draws
one key per site whatever the context, so two formulations of one intervention see the same key
stream. As a context manager the handler acts on every program run inside the block, guides
included; wrap the model to intervene on the model only. Several handlers on the same site
compose: the outer one treats the inner one's result as the natural mechanism.
"""

from __future__ import annotations

from collections.abc import Callable

from numpyro.primitives import Messenger

from latentgraph.models.interventions.contexts import Context, PerfectValue
from latentgraph.models.interventions.replacement_numpyro import (
    apply_intervention,
    check_fixed_value,
)

__all__ = ["InterventionMessenger", "intervene"]


class InterventionMessenger(Messenger):
    """Intervene on every target of ``context`` (see the module docstring).

    Args:
        fn: the program to wrap, or None to use the handler as a context manager.
        context: the targets, their interventions and an optional per-sample mask.
        strict: raise a ValueError when the program exits without having sampled every target
            (a misspelt site would otherwise be silently left alone). Turn off for a guide that
            samples only some of the targets.
    """

    def __init__(
        self, fn: Callable | None = None, context: Context | None = None, *, strict: bool = True
    ):
        if not isinstance(context, Context):
            raise TypeError(f"`context` must be a Context, got {type(context).__name__}")
        if not isinstance(strict, bool):
            raise TypeError(f"`strict` must be a bool, got {type(strict).__name__}")
        self.context = context
        self.strict = strict
        self._seen: set[str] = set()
        super().__init__(fn)

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

    def process_message(self, msg) -> None:
        if msg["type"] != "sample" or msg["name"] not in self.context.interventions:
            return
        name = msg["name"]
        self._seen.add(name)
        apply_intervention(msg, self.context.interventions[name], self.context.mask_for(name))

    def postprocess_message(self, msg) -> None:
        if msg["type"] == "sample" and isinstance(
            self.context.interventions.get(msg["name"]), PerfectValue
        ):
            check_fixed_value(msg)


def intervene(fn: Callable | None = None, context: Context | None = None, *, strict: bool = True):
    """Apply ``context`` to ``fn``; see :class:`InterventionMessenger`.

    Usable as ``intervene(model, context)`` (returns the wrapped callable) or as a context
    manager ``with intervene(context=context): ...``.

    Example:
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.handlers import seed
        >>> from latentgraph.models.interventions.contexts import Context, PerfectValue
        >>> def model():
        ...     x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        ...     return numpyro.sample("y", dist.Normal(2.0 * x, 0.1))
        >>> y = seed(intervene(model, Context({"x": PerfectValue(3.0)})), 0)()
        >>> bool(abs(y - 6.0) < 1.0)
        True
    """
    if context is None:
        raise TypeError("intervene() needs a context: a Context of targets and interventions")
    return InterventionMessenger(fn, context, strict=strict)
