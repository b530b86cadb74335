"""Device selection for the JAX backends, with the same device strings as the torch side."""

from __future__ import annotations

import jax


def _gpus() -> list:
    try:
        return jax.devices("gpu")
    except RuntimeError:  # no GPU backend in this jax installation
        return []


def resolve_jax_device(device: str | None = "auto"):
    """Map ``"auto"``/None, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (or ``"gpu[:N]"``) to a JAX device.

    ``"auto"`` is JAX's default device (a GPU when JAX has one, else the CPU). Raises
    ``ValueError`` naming ``device`` for an unknown string or an unavailable GPU.
    """
    if device is None or device == "auto":
        return jax.devices()[0]
    if not isinstance(device, str):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    kind, _, index = device.partition(":")
    if kind == "cpu" and not index:
        return jax.devices("cpu")[0]
    if kind in ("cuda", "gpu") and (not index or index.isdigit()):
        gpus = _gpus()
        n = int(index or 0)
        if n >= len(gpus):
            raise ValueError(
                f"device {device!r} was requested but JAX sees {len(gpus)} GPU(s) here"
            )
        return gpus[n]
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")


def device_name(device) -> str:
    """``"cpu"`` or ``"cuda:N"``: the torch-style name of a JAX device (for run folders)."""
    return "cpu" if device.platform == "cpu" else f"cuda:{device.id}"
