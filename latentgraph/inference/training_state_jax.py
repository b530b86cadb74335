"""Everything a JAX training run needs to continue exactly where it was, as one ``.npz``.

The twin of :mod:`latentgraph.inference.training_state_torch` for
:mod:`latentgraph.inference.svi_jax`: the full :class:`~.svi_jax.SVIState` (parameters, optax
state, multipliers, PRNG key, step), the learning-rate scale left by divergence recoveries,
the history, the log window still open and a few numbers describing the run (to refuse a resume
with other settings). The state is stored leaf by leaf (``state/00000``, ...) in the order of
:func:`jax.tree.leaves`; :func:`load_training_state` puts the leaves back into the structure of
a freshly initialised state of the same program, so nothing but numpy arrays is read
(``allow_pickle=False``) and no code runs on load. Typed PRNG keys are stored as their key data.

Restoring and stepping is bit-identical to never having stopped (same device and thread count).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import random

from latentgraph.errors import RunFolderError
from latentgraph.inference.checkpoint_jax import load_pytree, save_pytree
from latentgraph.inference.settings import History
from latentgraph.inference.svi_jax import SVIState

FORMAT = "latentgraph.svi_jax.training_state/1"


def _is_key(leaf) -> bool:
    return isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _to_numpy(leaf) -> np.ndarray:
    if _is_key(leaf):
        leaf = random.key_data(leaf)
    return np.asarray(jax.device_get(leaf))


def _plain(value):
    if isinstance(value, np.generic | np.ndarray | jax.Array):
        return np.asarray(value).tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def _text(value: Any) -> np.ndarray:
    return np.asarray(json.dumps(value, default=_plain))


def save_training_state(
    path: str | os.PathLike,
    state: SVIState,
    *,
    lr_scale: float,
    history: History,
    pending: tuple[dict, int],
    meta: Mapping[str, Any],
) -> Path:
    """Write a resumable checkpoint atomically (temporary file, ``fsync``, rename).

    Args:
        state: the :class:`SVIState` after a completed chunk.
        lr_scale: the run's current learning-rate scale (``RunHyper.lr_scale``).
        history: the history so far.
        pending: ``(sums, count)`` of the log window still open (see :func:`~.svi_jax.train`).
        meta: JSON-serialisable numbers that a resume must match (steps, batch size...).
    """
    leaves = jax.tree.leaves(state)
    tree = {
        "format": np.asarray(FORMAT),
        "state": {f"{i:05d}": _to_numpy(leaf) for i, leaf in enumerate(leaves)},
        "lr_scale": np.asarray(float(lr_scale)),
        "history": _text(asdict(history)),
        "pending": _text([dict(pending[0]), int(pending[1])]),
        "meta": _text(dict(meta)),
    }
    return save_pytree(tree, path)


def load_training_state(path: str | os.PathLike, template: SVIState) -> dict:
    """Read :func:`save_training_state`'s file into ``template``'s structure.

    Args:
        template: a freshly initialised state of the same program (shapes and dtypes must
            match the stored leaves).

    Returns ``{"state", "lr_scale", "history", "pending", "meta"}``. Raises
    :class:`~latentgraph.errors.RunFolderError` (a ``ValueError``) naming ``path`` if the file is
    not such a checkpoint or does not fit ``template``.
    """
    stored = load_pytree(path)
    if "format" not in stored or str(stored["format"]) != FORMAT:
        raise RunFolderError(f"checkpoint {str(path)!r} is not a {FORMAT} file")
    template_leaves, treedef = jax.tree.flatten(template)
    if not isinstance(stored.get("state"), dict):
        raise RunFolderError(f"checkpoint {str(path)!r} holds no training state arrays")
    names = sorted(stored["state"])
    if len(names) != len(template_leaves):
        raise RunFolderError(
            f"checkpoint {str(path)!r} holds {len(names)} state arrays, this model and guide "
            f"have {len(template_leaves)}: it was written by another program"
        )
    leaves = []
    for name, like in zip(names, template_leaves, strict=True):
        value = stored["state"][name]
        if _is_key(like):
            leaves.append(random.wrap_key_data(value, impl=random.key_impl(like)))
            continue
        like = np.asarray(like)
        if value.shape != like.shape or value.dtype != like.dtype:
            raise RunFolderError(
                f"checkpoint {str(path)!r} does not fit this model and guide: array {name} has "
                f"shape {value.shape} and dtype {value.dtype}, expected {like.shape} {like.dtype}"
            )
        leaves.append(jnp.asarray(value))
    try:
        history = History(**json.loads(str(stored["history"])))
        sums, count = json.loads(str(stored["pending"]))
        meta = json.loads(str(stored["meta"]))
        lr_scale = float(stored["lr_scale"])
    except (KeyError, TypeError, ValueError) as err:
        raise RunFolderError(
            f"checkpoint {str(path)!r} has a damaged history, log window or settings entry "
            f"({type(err).__name__}: {str(err)[:200]})"
        ) from None
    return {
        "state": jax.tree.unflatten(treedef, leaves),
        "lr_scale": lr_scale,
        "history": history,
        "pending": (sums, count),
        "meta": meta,
    }
