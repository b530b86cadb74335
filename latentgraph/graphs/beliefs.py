"""Edge beliefs: a matrix of edge probabilities with node names and a graph kind.

Rows are children and columns are parents, as everywhere in latentgraph. A learned
mechanism-sparsity graph is ``sigmoid(alpha)`` of the mask logits (spec
``mechanism_sparsity.md`` 2.2); thresholding at 0.5 gives the learned graph of spec 4.4.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike, NDArray

from latentgraph._atomic import atomic_write
from latentgraph.graphs._validation import (
    as_binary_matrix,
    as_name_sequence,
    as_permutation,
    as_real_array,
)

__all__ = ["EdgeBeliefs", "EdgeKind"]

EdgeKind = Literal["action_to_latent", "latent_to_latent", "concept"]

_ROLES: dict[str, tuple[str, str]] = {
    # kind: (child role, parent role)
    "action_to_latent": ("latent", "action"),
    "latent_to_latent": ("latent", "latent"),
    "concept": ("concept", "concept"),
}
_PREFIXES: dict[str, tuple[str, str]] = {
    "action_to_latent": ("z", "a"),
    "latent_to_latent": ("z", "z"),
    "concept": ("c", "c"),
}


def _check_threshold(threshold: float | None, *, allow_none: bool) -> float | None:
    if threshold is None:
        if allow_none:
            return None
        raise TypeError("threshold must be a float in [0, 1]; received None")
    if isinstance(threshold, bool | np.bool_) or not isinstance(
        threshold, int | float | np.integer | np.floating
    ):
        raise TypeError(f"threshold must be a float in [0, 1]; received {type(threshold).__name__}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1]; received {threshold}")
    return float(threshold)


def _check_names(names: Sequence[str], expected: int, argument: str) -> tuple[str, ...]:
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"{argument} must contain strings only; received {names!r}")
    if len(names) != expected:
        raise ValueError(f"{argument} must have {expected} entries; received {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{argument} must be distinct; received {names!r}")
    return names


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, eq=False)
class EdgeBeliefs:
    """Probabilities of the edges of a graph, with node names and a kind.

    Attributes:
        probs: ``(n_children, n_parents)`` array in ``[0, 1]``; ``probs[i, j]`` is the belief
            in the edge ``parent j -> child i``. Stored as a read-only float64 copy.
        kind: ``"action_to_latent"`` (parents are actions ``a``), ``"latent_to_latent"``
            (parents are the same latents one time step earlier, ``z_j^{t-1} -> z_i^t``; self
            loops allowed) or ``"concept"`` (a graph among concepts). The last two must be
            square.
        child_names: one name per row; empty means ``z0, z1, ...`` (``c0, ...`` for concepts).
        parent_names: one name per column; empty means ``a0, a1, ...`` for actions and the
            child names for the square kinds (which must equal the child names if given).

    Example:
        >>> beliefs = EdgeBeliefs(np.array([[0.9, 0.2], [0.1, 0.7]]), "action_to_latent")
        >>> beliefs.adjacency().tolist()
        [[1, 0], [0, 1]]
    """

    probs: NDArray[np.float64]
    kind: EdgeKind
    child_names: tuple[str, ...] = field(default=())
    parent_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in get_args(EdgeKind):
            raise ValueError(f"kind must be one of {get_args(EdgeKind)}; received {self.kind!r}")
        probs = np.array(as_real_array(self.probs, "probs"), dtype=np.float64, copy=True)
        if probs.ndim != 2 or 0 in probs.shape:
            raise ValueError(
                "probs must be a non-empty 2-D array (rows = children, columns = parents); "
                f"received shape {probs.shape}"
            )
        if not np.all(np.isfinite(probs)):
            n_bad = int(np.sum(~np.isfinite(probs)))
            raise ValueError(
                f"probs must be finite and lie in [0, 1]; found {n_bad} NaN or infinite value(s)"
            )
        if probs.min() < 0.0 or probs.max() > 1.0:
            raise ValueError(
                "probs must be finite and lie in [0, 1]; "
                f"received values in [{probs.min()}, {probs.max()}]"
            )
        square = self.kind != "action_to_latent"
        if square and probs.shape[0] != probs.shape[1]:
            raise ValueError(f"probs must be square for kind {self.kind!r}; got {probs.shape}")
        probs.setflags(write=False)

        child_names = as_name_sequence(self.child_names, "child_names")
        parent_names = as_name_sequence(self.parent_names, "parent_names")
        child_prefix, parent_prefix = _PREFIXES[self.kind]
        n_children, n_parents = probs.shape
        children = (
            _check_names(child_names, n_children, "child_names")
            if child_names
            else tuple(f"{child_prefix}{i}" for i in range(n_children))
        )
        if square:
            parents = (
                _check_names(parent_names, n_parents, "parent_names") if parent_names else children
            )
            if parents != children:
                raise ValueError(
                    f"parent_names must equal child_names for kind {self.kind!r}; "
                    f"received {parents!r} and {children!r}"
                )
        else:
            parents = (
                _check_names(parent_names, n_parents, "parent_names")
                if parent_names
                else tuple(f"{parent_prefix}{j}" for j in range(n_parents))
            )
            clash = sorted(set(children) & set(parents))
            if clash:
                raise ValueError(
                    f"child_names and parent_names must not share names; both contain {clash}"
                )
        object.__setattr__(self, "probs", probs)
        object.__setattr__(self, "child_names", children)
        object.__setattr__(self, "parent_names", parents)

    # ----------------------------------------------------------------------------------------
    # constructors
    @classmethod
    def from_adjacency(
        cls,
        adjacency: ArrayLike,
        kind: EdgeKind,
        child_names: Sequence[str] = (),
        parent_names: Sequence[str] = (),
    ) -> EdgeBeliefs:
        """Beliefs that are certain: probability 1 on the edges of a 0/1 graph (e.g. a true
        graph), 0 elsewhere."""
        graph = as_binary_matrix(adjacency, "adjacency")
        return cls(graph.astype(np.float64), kind, child_names, parent_names)

    @classmethod
    def from_logits(
        cls,
        logits: ArrayLike,
        kind: EdgeKind,
        child_names: Sequence[str] = (),
        parent_names: Sequence[str] = (),
    ) -> EdgeBeliefs:
        """Beliefs ``sigmoid(logits)`` from mask logits ``alpha`` (spec 2.2)."""
        alpha = as_real_array(logits, "logits")
        if alpha.ndim != 2 or 0 in alpha.shape:
            raise ValueError(
                "logits must be a non-empty 2-D array (rows = children, columns = parents); "
                f"received shape {alpha.shape}"
            )
        if np.any(np.isnan(alpha)):
            n_bad = int(np.sum(np.isnan(alpha)))
            raise ValueError(f"logits must not be NaN (+-inf are fine); found {n_bad} NaN value(s)")
        # tanh form of the sigmoid cannot overflow for large |alpha|
        probs = 0.5 * (1.0 + np.tanh(0.5 * alpha))
        return cls(probs, kind, child_names, parent_names)

    # ----------------------------------------------------------------------------------------
    # summaries
    @property
    def shape(self) -> tuple[int, int]:
        """``(n_children, n_parents)``."""
        return (int(self.probs.shape[0]), int(self.probs.shape[1]))

    def adjacency(self, threshold: float = 0.5) -> NDArray[np.int8]:
        """Hard graph ``1[probs > threshold]`` as an ``int8`` matrix (spec 4.4)."""
        level = _check_threshold(threshold, allow_none=False)
        return (self.probs > level).astype(np.int8)

    def n_edges(self, threshold: float = 0.5) -> int:
        """Number of edges with ``probs > threshold``."""
        return int(self.adjacency(threshold).sum())

    def expected_edges(self) -> float:
        """Expected number of edges, ``sum(probs)`` (the sparsity measure of spec 2.2)."""
        return float(self.probs.sum())

    # ----------------------------------------------------------------------------------------
    # reordering
    def permuted(self, permutation: ArrayLike) -> EdgeBeliefs:
        """Beliefs in ground-truth order given a latent matching.

        ``permutation[i]`` is the learned latent matched to true latent ``i`` (e.g.
        ``MCCResult.permutation``). Rows are reordered, ``P probs``; for the square kinds the
        columns too, ``P probs P^T`` (spec 4.4). Names travel with their rows, so row ``i`` keeps
        the name of the learned latent sitting at true position ``i``. A permutation shorter
        than ``n_children`` keeps only the matched latents.
        """
        perm = as_permutation(permutation, n_true=None, n_learned=self.probs.shape[0])
        if perm.size == 0:
            raise ValueError("permutation must have at least one entry; received none")
        children = tuple(self.child_names[k] for k in perm)
        if self.kind == "action_to_latent":
            return EdgeBeliefs(self.probs[perm], self.kind, children, self.parent_names)
        return EdgeBeliefs(self.probs[np.ix_(perm, perm)], self.kind, children, children)

    # ----------------------------------------------------------------------------------------
    # export
    def _kept_edges(self, threshold: float | None) -> list[tuple[int, int, float]]:
        level = _check_threshold(threshold, allow_none=True)
        keep = self.probs > (0.0 if level is None else level)
        return [
            (int(i), int(j), float(self.probs[i, j]))
            for i, j in zip(*np.nonzero(keep), strict=True)
        ]

    def _nodes(self) -> list[tuple[str, str, int]]:
        """``(name, role, index)`` for every node, parents first for bipartite graphs."""
        child_role, parent_role = _ROLES[self.kind]
        children = [(name, child_role, i) for i, name in enumerate(self.child_names)]
        if self.kind != "action_to_latent":
            return children
        parents = [(name, parent_role, j) for j, name in enumerate(self.parent_names)]
        return parents + children

    def to_networkx(self, threshold: float | None = None) -> nx.DiGraph:
        """The beliefs as a ``networkx.DiGraph`` with edges ``parent -> child``.

        Nodes carry ``role`` (``"latent"``, ``"action"`` or ``"concept"``) and ``index`` (row or
        column position). Edges carry ``prob`` and ``weight`` (both the edge probability). With
        ``threshold=None`` every edge of nonzero probability is kept, so the matrix can be
        rebuilt exactly; with a float only edges with ``prob > threshold`` are kept. The graph
        attribute ``kind`` records the kind. For ``latent_to_latent`` an edge ``z_j -> z_i``
        means ``z_j^{t-1} -> z_i^t`` and self loops are time-lagged self dependencies.
        """
        graph = nx.DiGraph(kind=self.kind)
        for name, role, index in self._nodes():
            graph.add_node(name, role=role, index=index)
        for i, j, prob in self._kept_edges(threshold):
            graph.add_edge(self.parent_names[j], self.child_names[i], prob=prob, weight=prob)
        return graph

    def write_gml(
        self, path: str | os.PathLike[str], threshold: float | None = 0.5, overwrite: bool = False
    ) -> Path:
        """Write :meth:`to_networkx` (at ``threshold``) as GML; read back with ``nx.read_gml``.

        Refuses to replace an existing file unless ``overwrite=True``. The text is written to
        a temporary file in the same folder and moved into place, so readers never see a
        partial file.
        """
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a str or os.PathLike; received {type(path).__name__}")
        target = Path(path)
        text = "\n".join(nx.generate_gml(self.to_networkx(threshold))) + "\n"
        with atomic_write(target, overwrite=overwrite, text=True) as stream:
            stream.write(text)
        return target

    def to_dot(self, threshold: float | None = 0.5) -> str:
        """Graphviz DOT text of the graph at ``threshold`` (``None``: all nonzero edges).

        The text is written by hand so that neither pygraphviz nor pydot is needed. Actions are
        drawn as boxes, latents and concepts as ellipses; each edge carries its probability as
        ``prob`` and as a two-decimal ``label``. Graphviz's ``weight`` is deliberately not
        set, because ``dot`` accepts only integer weights.
        """
        lines = [
            "digraph edge_beliefs {",
            f"  graph [kind={_dot_quote(self.kind)}];",
        ]
        for name, role, index in self._nodes():
            shape = "box" if role == "action" else "ellipse"
            lines.append(
                f"  {_dot_quote(name)} [role={_dot_quote(role)}, index={index}, shape={shape}];"
            )
        for i, j, prob in self._kept_edges(threshold):
            lines.append(
                f"  {_dot_quote(self.parent_names[j])} -> {_dot_quote(self.child_names[i])} "
                f'[prob={prob:.6g}, label="{prob:.2f}", penwidth={0.5 + 2.5 * prob:.3g}];'
            )
        lines.append("}")
        return "\n".join(lines) + "\n"
