"""The tests that touch a device, for the GPU check's test stage (``benchmarks/gpu_check.py``).

A test touches the device when it asks for the ``device`` fixture of ``tests/conftest.py``
(``LATENTGRAPH_TEST_DEVICE``, as in Pyro's own suite), directly or through another fixture, or
when it is marked ``gpu``. Every other test runs the same on any machine, so on a lent GPU only
these are worth its minutes. Two halves:

* :func:`device_test_files` reads the test files' source (no import) and keeps those with a
  function or fixture taking ``device`` or a ``gpu`` mark, so pytest imports only those;
* loaded as a plugin (``pytest -p benchmarks.device_tests``), :func:`pytest_collection_modifyitems`
  deselects the collected tests that neither use the fixture (its closure) nor carry the mark.
"""

from __future__ import annotations

import ast
from pathlib import Path

FIXTURE = "device"
MARK = "gpu"


def _is_gpu_mark(node: ast.expr) -> bool:
    # pytest.mark.gpu, or pytest.mark.gpu(...)
    target = node.func if isinstance(node, ast.Call) else node
    return isinstance(target, ast.Attribute) and target.attr == MARK


def touches_device(source: str) -> bool:
    """Whether a test module's ``source`` has a function taking ``device`` or a ``gpu`` mark
    (on a function, a class or ``pytestmark``)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = [
                a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)
            ]
            if FIXTURE in names or any(_is_gpu_mark(d) for d in node.decorator_list):
                return True
        elif isinstance(node, ast.ClassDef) and any(_is_gpu_mark(d) for d in node.decorator_list):
            return True
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            values = (
                node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            )
            if any(_is_gpu_mark(v) for v in values):
                return True
    return False


def device_test_files(tests_dir: str | Path) -> list[str]:
    """Test files under ``tests_dir`` (``test_*.py``, sorted) that :func:`touches_device`."""
    tests_dir = Path(tests_dir)
    if not tests_dir.is_dir():
        raise ValueError(f"tests_dir must be a folder, got {str(tests_dir)!r}")
    return [
        str(path)
        for path in sorted(tests_dir.rglob("test_*.py"))
        if touches_device(path.read_text(encoding="utf-8"))
    ]


def pytest_collection_modifyitems(config, items) -> None:
    """Keep the tests that use the ``device`` fixture or carry the ``gpu`` mark."""
    keep, drop = [], []
    for item in items:
        uses = FIXTURE in getattr(item, "fixturenames", ()) or item.get_closest_marker(MARK)
        (keep if uses else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
