"""Test configuration.

Device and dtype come from the environment, as in Pyro's own suite, so the same tests run on
a GPU machine: ``LATENTGRAPH_TEST_DEVICE=cuda LATENTGRAPH_TEST_DTYPE=float64 pytest``.
Defaults: CPU, float32. Slow and GPU-only tests are marked and skipped by default
(``pytest -m slow`` / ``pytest -m gpu`` runs them).
"""

from __future__ import annotations

import os

import pytest
import torch

TEST_DEVICE = torch.device(os.environ.get("LATENTGRAPH_TEST_DEVICE", "cpu"))
TEST_DTYPE = getattr(torch, os.environ.get("LATENTGRAPH_TEST_DTYPE", "float32"))


@pytest.fixture
def device() -> torch.device:
    return TEST_DEVICE


@pytest.fixture
def dtype() -> torch.dtype:
    return TEST_DTYPE


@pytest.fixture(autouse=True)
def _pyro_state():
    """Fresh Pyro state, validation on, and few CPU threads for every test."""
    import pyro

    pyro.clear_param_store()
    pyro.enable_validation(True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
    pyro.enable_validation(False)


def pytest_collection_modifyitems(config, items):
    if TEST_DEVICE.type != "cuda":
        skip = pytest.mark.skip(reason="needs LATENTGRAPH_TEST_DEVICE=cuda")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
