"""The application's one validation layer: every check of a command line before any work.

Each ``latentgraph fit <family>``, ``sweep`` and ``demo`` runs these checks, then creates its
run folder, then generates data and trains: validate everything, then create anything (README.md,
"Fitting from the command line": bad input is refused before anything is written). A failed
check raises :class:`~latentgraph.errors.UserInputError` whose message names the option, the
limit and the value received; the command line prints it as one line with exit code 2 and
leaves ``--out`` as it was.

The limits, and why they are what they are:

- **Training seeds** (``--seed``, and the seeds ``0 .. K-1`` of ``--seeds K``):
  ``0 <= seed <= 2**32 - 1`` for both backends. PyTorch's CPU generator is a Mersenne twister
  seeded with the low 32 bits of ``torch.manual_seed`` (``manual_seed(2**32)`` draws exactly what
  ``manual_seed(0)`` draws), and JAX's ``random.key(seed)`` without ``jax_enable_x64`` keeps the
  low 32 bits too (``key(2**32) == key(0)``) and overflows from ``2**63``. A larger seed would
  silently repeat a smaller seed's run, so it is refused. Data seeds go to
  ``numpy.random.SeedSequence``, which uses every bit: any non-negative int is valid.
- **Counts** (steps, batch sizes, images, intervals): at most ``2**31 - 1``, the largest
  step index a JAX loop counter holds without ``jax_enable_x64`` (and far beyond any run).
- **Real coefficients** (learning rates, penalties, loss weights): finite and at most ``1e30``
  in magnitude. Models compute in float32 (largest value about ``3.4e38``); ``1e30`` leaves
  eight orders of magnitude for the products with edge counts and data sizes in a loss, while a
  larger coefficient overflows the float32 conversion or the first loss.
- **Memory of generated data**: the arrays a generator will hold must fit in the memory that
  is available now (``MemAvailable`` of ``/proc/meminfo``, or ``os.sysconf`` elsewhere); the
  message gives both numbers.
- **Devices** (``--device``): ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``, ``xpu[:N]`` for
  PyTorch (``gpu[:N]`` is accepted for JAX); a device the backend cannot use here is refused
  with the devices actually present. torch is imported only to check a Pyro family's device,
  JAX only for a NumPyro run.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from pathlib import Path

from latentgraph.errors import UserInputError

__all__ = [
    "COEFFICIENT_MAX",
    "COUNT_MAX",
    "SEED_MAX",
    "available_memory",
    "check_count",
    "check_device",
    "check_disk",
    "check_memory",
    "check_real",
    "check_seed",
    "check_seed_count",
    "check_shared_options",
    "check_splits",
    "format_bytes",
    "INPUT_PATH_ERRORS",
    "user_input",
]

SEED_MAX = 2**32 - 1
"""Largest training seed either backend uses without aliasing (module docstring)."""
SEED_RANGES = {"pyro": (0, SEED_MAX), "numpyro": (0, SEED_MAX)}
"""Training-seed range per backend: torch's CPU Mersenne twister and JAX's 32-bit key both keep
the low 32 bits of the seed."""
COUNT_MAX = 2**31 - 1
"""Largest count (steps, batch size, images) an option takes: a JAX int32 loop counter."""
COEFFICIENT_MAX = 1e30
"""Largest magnitude of a real coefficient (float32 holds 3.4e38; room for products in a loss)."""
BACKENDS = tuple(SEED_RANGES)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_seed(seed: object, backend: str = "pyro", *, option: str = "--seed") -> int:
    """``seed`` as an int in the backend's seed range ``[0, 2**32 - 1]``.

    Example: ``check_seed(2**63, "pyro")`` raises (torch would run the seed-0 run).
    """
    low, high = _seed_range(backend)
    if not _is_int(seed):
        raise UserInputError(f"{option} must be an integer, got {seed!r}")
    if not low <= seed <= high:
        raise UserInputError(
            f"{option} must be in [{low}, {high}] (2**32 - 1) for the {backend} backend, got "
            f"{seed}: its random generators keep the low 32 bits of a seed, so a larger one "
            "would repeat the run of a smaller seed"
        )
    return int(seed)


def check_seed_count(
    count: object,
    backend: str = "numpyro",
    *,
    option: str = "--seeds",
    minimum: int = 1,
    maximum: int | None = None,
    why: str = "",
) -> int:
    """``count`` seeds ``0 .. count - 1``: an int in ``[minimum, maximum]`` whose seeds are all in
    the backend's range (:func:`check_seed`); ``maximum`` caps runs that share one program and
    ``why`` says so in the message."""
    _, high = _seed_range(backend)
    limit = high + 1 if maximum is None else min(maximum, high + 1)
    if not _is_int(count) or not minimum <= count <= limit:
        raise UserInputError(
            f"{option} must be an integer in [{minimum}, {limit}]"
            + (f" ({why})" if why else "")
            + f", got {count!r}"
        )
    return int(count)


def _seed_range(backend: str) -> tuple[int, int]:
    if backend not in SEED_RANGES:
        raise UserInputError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return SEED_RANGES[backend]


def check_count(
    value: object,
    option: str,
    *,
    minimum: int = 1,
    maximum: int = COUNT_MAX,
    allow_none: bool = False,
) -> int | None:
    """An int in ``[minimum, maximum]`` (``None`` passes with ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not _is_int(value) or not minimum <= value <= maximum:
        raise UserInputError(
            f"{option} must be an integer in [{minimum}, {maximum}], got {value!r}"
        )
    return int(value)


def check_real(
    value: object,
    option: str,
    *,
    minimum: float | None = None,
    positive: bool = False,
    maximum: float = COEFFICIENT_MAX,
    allow_none: bool = False,
) -> float | None:
    """A finite real number with ``|value| <= maximum`` (default :data:`COEFFICIENT_MAX`),
    ``>= minimum`` and, with ``positive``, ``> 0``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UserInputError(f"{option} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise UserInputError(f"{option} must be a finite number, got {value}")
    if abs(value) > maximum:
        raise UserInputError(
            f"{option} must be at most {maximum:g} in magnitude (the model computes in float32, "
            f"whose largest value is 3.4e38), got {value:g}"
        )
    if positive and not value > 0:
        raise UserInputError(f"{option} must be > 0, got {value:g}")
    if minimum is not None and value < minimum:
        raise UserInputError(f"{option} must be >= {minimum:g}, got {value:g}")
    return value


# ---------------------------------------------------------------------------- memory
def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now: ``MemAvailable`` of
    ``/proc/meminfo`` (Linux), else free pages times the page size (``os.sysconf``), capped by
    a cgroup v2 ``memory.max`` when one is set. ``None`` when nothing can be read."""
    found = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        found = None
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            found = None
    cgroup = _cgroup_headroom()
    if cgroup is not None:
        found = cgroup if found is None else min(found, cgroup)
    return found


def _cgroup_headroom() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int((root / "memory.current").read_text().strip()), 0)
    except (OSError, ValueError):
        return None


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 kB"`` (powers of 1000, as ``MemAvailable`` is usually quoted)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def check_memory(
    needed: float, *, what: str, option: str, hint: str = "", available: int | None = None
) -> None:
    """Refuse work that needs more memory than is available (``available`` defaults to
    :func:`available_memory`; nothing is refused when it cannot be read).

    Example message: ``--n-samples 1000000000000 needs about 93.6 TB of memory for the generated
    data, but 20.1 GB are available on this machine``.
    """
    available = available_memory() if available is None else available
    if available is None or needed <= available:
        return
    raise UserInputError(
        f"{option} needs about {format_bytes(needed)} of memory for {what}, but "
        f"{format_bytes(available)} are available on this machine" + (f"; {hint}" if hint else "")
    )


def check_disk(needed: float, folder: str | os.PathLike, *, what: str, option: str) -> None:
    """Refuse writing ``needed`` bytes under ``folder`` (or its nearest existing ancestor) when
    its file system has less free space (``shutil.disk_usage``)."""
    import shutil

    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return
    if needed > free:
        raise UserInputError(
            f"{option} needs about {format_bytes(needed)} of disk for {what}, but "
            f"{format_bytes(free)} are free under {str(path)!r}"
        )


# ---------------------------------------------------------------------------- devices
_DEVICE = re.compile(r"^(?P<kind>[a-z_]+)(?::(?P<index>\d+))?$")
_LIBRARY = {"pyro": "PyTorch", "numpyro": "JAX"}
TORCH_DEVICE_KINDS = ("cpu", "cuda", "mps", "xpu")
JAX_DEVICE_KINDS = ("cpu", "cuda", "gpu")


def check_device(name: object, backend: str = "pyro", *, option: str = "--device") -> str:
    """The torch-style name of the device ``name`` resolves to (``"cpu"``, ``"cuda:0"``,
    ``"mps"``...), or :class:`UserInputError` naming the devices present.

    ``auto`` is the GPU when the backend sees one, else the CPU. torch is imported only for
    ``backend="pyro"``, JAX only for ``"numpyro"``.
    """
    if backend not in BACKENDS:
        raise UserInputError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if name is None:
        name = "auto"
    kinds = TORCH_DEVICE_KINDS if backend == "pyro" else JAX_DEVICE_KINDS
    match = _DEVICE.match(name) if isinstance(name, str) else None
    if name != "auto" and (match is None or match["kind"] not in kinds):
        present = _present(backend)
        named = ", ".join(k if k in ("cpu", "mps") else f"{k}[:N]" for k in kinds)
        raise UserInputError(
            f"{option} must be auto or one of {named}, got {name!r}; devices present here "
            f"({_LIBRARY[backend]}): {', '.join(present)}"
        )
    resolve = _torch_device if backend == "pyro" else _jax_device
    return resolve(name, match)


def _refuse(name: str, reason: str, backend: str, option: str = "--device"):
    present = ", ".join(_present(backend))
    raise UserInputError(
        f"{option} {name!r} cannot be used here: {reason}; devices present here "
        f"({_LIBRARY[backend]}): {present}"
    )


def _torch_present() -> list[str]:
    import torch

    present = ["cpu"]
    if torch.cuda.is_available():
        present += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        present.append("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        present += [f"xpu:{i}" for i in range(xpu.device_count())]
    return present


def _jax_present() -> list[str]:
    import jax

    present = ["cpu"]
    for device in jax.devices():
        if device.platform != "cpu":
            present.append(f"cuda:{device.id}")
    return present


def _present(backend: str) -> list[str]:
    return _torch_present() if backend == "pyro" else _jax_present()


def _torch_device(name: str, match) -> str:
    present = _torch_present()
    if name == "auto":
        return "cuda:0" if "cuda:0" in present else "cpu"
    kind, index = match["kind"], match["index"]
    if kind == "cpu":
        if index not in (None, "0"):
            _refuse(name, "there is one CPU device (cpu)", "pyro")
        return "cpu"
    if kind == "mps":
        if "mps" not in present or index not in (None, "0"):
            _refuse(name, "PyTorch has no usable MPS (Apple GPU) device", "pyro")
        return "mps"
    wanted = f"{kind}:{index or 0}"
    if wanted not in present:
        available = [p for p in present if p.startswith(kind)]
        reason = (
            f"PyTorch sees {len(available)} {kind.upper()} device(s)"
            if available
            else f"PyTorch has no usable {kind.upper()} device"
        )
        _refuse(name, reason, "pyro")
    return wanted if index is not None else kind


def _jax_device(name: str, match) -> str:
    present = _jax_present()
    gpus = [p for p in present if p != "cpu"]
    if name == "auto":
        return gpus[0] if gpus else "cpu"
    kind, index = match["kind"], match["index"]
    if kind == "cpu":
        if index not in (None, "0"):
            _refuse(name, "there is one CPU device (cpu)", "numpyro")
        return "cpu"
    n = int(index or 0)
    if n >= len(gpus):
        _refuse(name, f"JAX sees {len(gpus)} GPU(s)", "numpyro")
    return f"cuda:{n}"


# ---------------------------------------------------------------------------- shared options
def check_shared_options(args, *, backend: str = "pyro") -> str:
    """Check the options every ``fit``/``sweep`` shares (:mod:`latentgraph.app.options`):
    ``--steps``, ``--seed`` (a fit's), ``--eval-every``, ``--checkpoint-every``, ``--device``,
    and ``--batch-size``/``--lr`` where the family has them; returns the device's name.

    ``args`` is the parsed namespace after :func:`~latentgraph.app.presets.resolve_preset`.
    """
    check_count(args.steps, "--steps")
    for name in ("eval_every", "checkpoint_every"):
        if hasattr(args, name):
            check_count(getattr(args, name), _flag(name), minimum=0)
    if hasattr(args, "seed"):
        check_seed(args.seed, backend)
    if getattr(args, "batch_size", None) is not None:
        check_count(args.batch_size, "--batch-size")
    if getattr(args, "lr", None) is not None:
        check_real(args.lr, "--lr", positive=True)
    return check_device(args.device, backend)


def check_splits(
    dataset, splits: tuple[str, ...], arrays: tuple[str, ...] = (), *, option: str = "--data"
) -> None:
    """Refuse a data set (any object with ``splits`` and ``split(name)``) that lacks one of the
    ``splits`` a run trains, validates and tests on, or an array of ``arrays`` in one of them;
    a file with only a training split would otherwise fail at the first validation, mid-run."""
    missing = [name for name in splits if name not in dataset.splits]
    if missing:
        raise UserInputError(
            f"{option} must hold the splits {', '.join(splits)}; it has "
            f"{', '.join(sorted(dataset.splits)) or 'none'} (missing {', '.join(missing)})"
        )
    for name in splits:
        absent = [key for key in arrays if key not in dataset.split(name)]
        if absent:
            raise UserInputError(
                f"{option}: split {name!r} must hold {', '.join(arrays)}; "
                f"{', '.join(absent)} missing"
            )


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


# ---------------------------------------------------------------------------- library checks
INPUT_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
"""``OSError`` types that, while a command's input is read and checked, mean a path the user gave
cannot be used (a missing ``--data`` file, a ``--pretrained`` folder without its files)."""


class user_input:  # noqa: N801 - used as a context manager, like contextlib's
    """Inside ``with user_input():``, a ``ValueError`` raised by the library's checks of the
    user's settings (``TrainConfig``, ``SparsitySettings``, a family's ``check_fit_arguments``,
    ``load_npz``), or one of :data:`INPUT_PATH_ERRORS` raised while reading an input path,
    becomes a :class:`UserInputError` with the same message.

    Only the validation phase of a command (before its run folder is created and any training
    step runs) is wrapped: there such an error is a verdict on the input. Later, a
    ``ValueError`` is a bug and keeps its type and traceback, and an ``OSError`` is the output
    side's (exit code 1). A ``TypeError`` is never converted: the command line's parsers already
    give every value its type, so one is a bug.
    """

    def __enter__(self) -> user_input:
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is None or issubclass(kind, UserInputError):
            return False
        if issubclass(kind, ValueError):
            raise UserInputError(str(error)) from error
        if issubclass(kind, INPUT_PATH_ERRORS):
            path = f" {str(error.filename)!r}" if getattr(error, "filename", None) else ""
            raise UserInputError(f"cannot read{path}: {error.strerror or error}") from error
        return False
