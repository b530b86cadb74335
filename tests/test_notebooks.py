"""Every example notebook runs, at tiny sizes, so none of them rots (issues 3-5, example items).

The code cells are executed in order in one namespace (no Jupyter kernel needed), with
``LATENTGRAPH_EXAMPLE_TINY=1`` so each notebook takes seconds.
"""

import json
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {
        "numpyro_fit.ipynb", "sweep_udr.ipynb", "posterior_analysis.ipynb",
        "interaction_asymmetry.ipynb", "context_module.ipynb",
    }  # fmt: skip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_tiny_size(path, tmp_path, monkeypatch):
    notebook = json.loads(path.read_text())
    assert notebook["nbformat"] == 4
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in cells), (
        "commit notebooks without outputs"
    )
    monkeypatch.setenv("LATENTGRAPH_EXAMPLE_TINY", "1")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    for index, cell in enumerate(cells):
        exec(compile("".join(cell["source"]), f"{path.name}, cell {index}", "exec"), namespace)  # noqa: S102
    import matplotlib.pyplot as plt

    plt.close("all")
