"""Small NumPyro effect handlers used by latentgraph's programs (twins of
:mod:`~latentgraph.models.handlers_pyro`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from numpyro.primitives import Messenger

from latentgraph.data._checks import describe as _describe

__all__ = ["FixMessenger", "fix"]


class FixMessenger(Messenger):
    """Hold named sample sites at given values and drop them from the joint density.

    Unlike :class:`numpyro.handlers.condition`, a fixed site contributes nothing to ``log p``
    (its distribution is masked out, ``fn.mask(False)``), so it is a *frozen* quantity rather
    than an observation: this is how a graph is held at all-ones for the "no sparsity" control
    of Lachapelle et al. (2024, arXiv:2401.04890). The site is marked observed, so
    :class:`numpyro.handlers.seed` draws no key for it and autoguides leave it out; apply the
    same handler to a hand-written guide that samples the site.

    Args:
        fn: the program to wrap, or None to use the handler as a context manager.
        data: mapping from site name to value.
    """

    def __init__(self, fn: Callable | None = None, data: Mapping[str, object] | None = None):
        if not isinstance(data, Mapping):
            raise TypeError(
                f"`data` must be a mapping from site name to value, got {_describe(data)}"
            )
        for name in data:
            if not isinstance(name, str):
                raise TypeError(f"`data` keys must be site names (str), got {_describe(name)}")
        self.data = dict(data)
        super().__init__(fn)

    def process_message(self, msg) -> None:
        if msg["type"] != "sample" or msg["name"] not in self.data:
            return
        msg["value"] = self.data[msg["name"]]
        msg["is_observed"] = True
        msg["fn"] = msg["fn"].mask(False)


def fix(fn: Callable | None = None, data: Mapping[str, object] | None = None) -> FixMessenger:
    """Hold the sites named in ``data`` at their values; see :class:`FixMessenger`.

    Usable as ``fix(model, data={...})`` (returns the wrapped callable) or as a context manager
    ``with fix(data={...}): ...``.

    Example:
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.infer.util import log_density
        >>> def model():
        ...     g = numpyro.sample("g", dist.Bernoulli(0.1))
        ...     numpyro.sample("x", dist.Normal(g, 1.0), obs=0.0)
        >>> round(float(log_density(fix(model, data={"g": 1.0}), (), {}, {})[0]), 4)  # log N(0|1,1)
        -1.4189
    """
    if data is None:
        raise TypeError("fix() needs data: a mapping from site name to value")
    return FixMessenger(fn, data)
