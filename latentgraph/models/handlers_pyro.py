"""Small Pyro effect handlers used by latentgraph's programs."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from pyro.poutine.messenger import Messenger


class FixMessenger(Messenger):
    """Hold named sample sites at given values and drop them from the joint density.

    Unlike :func:`pyro.poutine.condition`, a fixed site contributes nothing to ``log p`` (its
    mask is set to ``False``), so it is a *frozen* quantity rather than an observation: this is
    how a graph is held at all-ones for the "no sparsity" control of Lachapelle et al. (2024).
    Apply the same handler to model and guide so the guide does not sample the site either.
    """

    def __init__(self, data: Mapping[str, torch.Tensor]):
        super().__init__()
        self.data = dict(data)

    def _pyro_sample(self, msg) -> None:
        name = msg["name"]
        if name in self.data:
            value = self.data[name]
            msg["value"] = value
            msg["is_observed"] = True
            msg["mask"] = False


def fix(fn=None, data: Mapping[str, torch.Tensor] | None = None):
    """Hold the sites named in ``data`` at their values; see :class:`FixMessenger`.

    Usable as ``fix(model, data={...})`` (returns the wrapped callable) or as a context manager
    ``with fix(data={...}): ...``.
    """
    if data is None:
        raise TypeError("fix() needs data: a mapping from site name to value")
    messenger = FixMessenger(data)
    return messenger if fn is None else messenger(fn)
