"""The house's boundaries (ARCHITECTURE.md), checked on the source with an AST walk.

1. Nothing on the NumPyro side imports torch or Pyro; nothing on the Pyro side imports JAX,
   NumPyro, flax or optax; ``import latentgraph`` loads neither backend (checked in a fresh
   interpreter, so transitive imports count too).
2. ``latentgraph/families/`` uses only names in the ``__all__`` of the library's public
   namespaces (and its own family's modules).
3. Nothing in the library layer imports ``latentgraph.families`` or ``latentgraph.app``;
   nothing in ``families/`` imports ``latentgraph.app``.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "latentgraph"
PUBLIC = (
    "latentgraph",
    "latentgraph.data",
    "latentgraph.graphs",
    "latentgraph.metrics",
    "latentgraph.pyro",
    "latentgraph.numpyro",
)
TORCH_WORLD = ("torch", "pyro")
JAX_WORLD = ("jax", "jaxlib", "numpyro", "flax", "optax")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """``(module, imported names, line)`` for every import in ``path`` (relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = _module_name(path).split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((module, [alias.name for alias in node.names], node.lineno))
    return found


def _sources(*rooms: str) -> list[Path]:
    return sorted(p for room in rooms for p in (PACKAGE / room).rglob("*.py"))


def _world(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE).as_posix()
    if rel.startswith("numpyro/") or path.stem.endswith(("_numpyro", "_jax", "_flax")):
        return "jax"
    if rel.startswith("pyro/") or path.stem.endswith(("_pyro", "_torch")):
        return "torch"
    return None


def _top(module: str) -> str:
    return module.split(".")[0]


def _backends_used(path: Path) -> set[str]:
    """The backends a file imports directly: ``"torch"`` (torch, Pyro, ``latentgraph.pyro`` or a
    ``*_pyro``/``*_torch`` module) and ``"jax"`` (JAX, NumPyro, flax, optax, ``latentgraph.numpyro``
    or a ``*_numpyro``/``*_jax``/``*_flax`` module)."""
    used = set()
    for module, _, _ in _imports(path):
        last = module.split(".")[-1]
        if _top(module) in TORCH_WORLD or module.startswith("latentgraph.pyro"):
            used.add("torch")
        elif _top(module) in JAX_WORLD or module.startswith("latentgraph.numpyro"):
            used.add("jax")
        elif _top(module) == "latentgraph" and last.endswith(("_pyro", "_torch")):
            used.add("torch")
        elif _top(module) == "latentgraph" and last.endswith(("_numpyro", "_jax", "_flax")):
            used.add("jax")
    return used


# the one file whose job is to cross the line: it converts trained torch weights for NumPyro
BRIDGES = {"families/mechanism_sparsity/weights_torch_to_numpyro.py"}


def test_each_backend_file_imports_only_its_own_backend():
    bad = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in BRIDGES or rel.startswith("app/"):  # the app dispatches to both, lazily
            continue
        used = _backends_used(path)
        world = _world(path)
        if len(used) > 1 or (world is not None and used - {world}):
            bad.append(f"{rel} (named for {world or 'no backend'}) imports {sorted(used)}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("latentgraph", TORCH_WORLD + JAX_WORLD),
        ("latentgraph.data", TORCH_WORLD + JAX_WORLD),
        ("latentgraph.graphs", TORCH_WORLD + JAX_WORLD),
        ("latentgraph.metrics", TORCH_WORLD + JAX_WORLD),
        ("latentgraph.numpyro", TORCH_WORLD),
        ("latentgraph.pyro", JAX_WORLD),
    ],
)
def test_importing_a_namespace_loads_no_other_backend(module, forbidden):
    code = (
        f"import sys, {module}\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def _public_names() -> dict[str, set[str]]:
    return {name: set(importlib.import_module(name).__all__) for name in PUBLIC}


def test_families_use_only_public_library_names():
    public = _public_names()
    bad = []
    for path in _sources("families"):
        family = _module_name(path).split(".")[:3]  # latentgraph.families.<name>
        for module, names, line in _imports(path):
            if _top(module) != "latentgraph":
                continue
            where = f"{path.relative_to(PACKAGE)}:{line}"
            if module.split(".")[:3] == family:
                continue
            if module not in public:
                bad.append(f"{where} imports the non-public module {module}")
                continue
            hidden = sorted(set(names) - public[module])
            if hidden:
                bad.append(f"{where} imports {hidden} not in {module}.__all__")
    assert not bad, "\n".join(bad)


def test_lower_layers_never_import_higher_ones():
    bad = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("app/") or rel == "__main__.py":  # the entry point is the app's
            continue
        higher = ("latentgraph.app",) if rel.startswith("families/") else (
            "latentgraph.app", "latentgraph.families",
        )  # fmt: skip
        for module, _, line in _imports(path):
            if module.startswith(higher):
                bad.append(f"{rel}:{line} imports {module}")
    assert not bad, "\n".join(bad)


def test_the_public_namespaces_export_what_they_list():
    for name, names in _public_names().items():
        module = importlib.import_module(name)
        missing = [n for n in sorted(names) if not hasattr(module, n)]
        assert not missing, f"{name}.__all__ lists missing names {missing}"
