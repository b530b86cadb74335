"""Graphs: edge beliefs, export, drawing and the identifiability theory (numpy/networkx).

- :mod:`~latentgraph.graphs.beliefs`: :class:`EdgeBeliefs`, thresholding, networkx/GML/DOT.
- :mod:`~latentgraph.graphs.theory`: entanglement graph and the checks derived from it.
- :mod:`~latentgraph.graphs.drawing`: heat maps of graphs and latent matchings.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from latentgraph.graphs.beliefs import EdgeBeliefs, EdgeKind
from latentgraph.graphs.theory import (
    complete_disentanglement_identifiable,
    empty_rows,
    entangled_blocks,
    entanglement_graph,
    guaranteed_disentangled,
    is_completely_disentangled,
)

if TYPE_CHECKING:
    from latentgraph.graphs.drawing import draw_correlation_matrix, draw_graph_comparison

# matplotlib is imported on first use of a drawing function, so numeric users of the graph
# theory and export do not pay its import time
_LAZY = {
    "draw_correlation_matrix": "latentgraph.graphs.drawing",
    "draw_graph_comparison": "latentgraph.graphs.drawing",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "EdgeBeliefs",
    "EdgeKind",
    "complete_disentanglement_identifiable",
    "draw_correlation_matrix",
    "draw_graph_comparison",
    "empty_rows",
    "entangled_blocks",
    "entanglement_graph",
    "guaranteed_disentangled",
    "is_completely_disentangled",
]
