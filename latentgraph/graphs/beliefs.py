"""Edge beliefs: a matrix of edge probabilities with node names and node roles.

Rows are children and columns are parents, as everywhere in latentgraph. A learned
mechanism-sparsity graph is ``sigmoid(alpha)`` of the mask logits, and thresholding at 0.5
gives the learned graph (Lachapelle et al., "Nonparametric Partial Disentanglement via
Mechanism Sparsity", arXiv 2401.04890; ``docs/mechanism_sparsity.md#graph-masks``).

A graph is described either by one of the paper families' kinds (``"action_to_latent"``,
``"latent_to_latent"``, ``"concept"``) or by free-form node roles for user-scripted models
(a gene -> gene graph, a concept -> pixel graph...). Equal roles mean one node set (square,
parents = children, self loops allowed); different roles mean two disjoint node sets (any
shape, a bipartite graph).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
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
# roles of a graph given neither a kind nor roles (e.g. the result of a generic fit)
_GENERIC_ROLES = ("child", "parent")
_ARGUMENTS = ("child_role", "parent_role")


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


def _check_kind(kind: object) -> EdgeKind | None:
    if kind is not None and kind not in get_args(EdgeKind):
        raise ValueError(
            f"kind must be one of {get_args(EdgeKind)} or None (free-form roles); received {kind!r}"
        )
    return kind  # type: ignore[return-value]


def _check_role(role: object, argument: str) -> str:
    if not isinstance(role, str):
        raise TypeError(
            f"{argument} must be a string such as 'gene' or 'pixel'; "
            f"received {type(role).__name__} {role!r}"
        )
    if not role.isidentifier():
        raise ValueError(
            f"{argument} must be an identifier (letters, digits and underscores, not starting "
            f"with a digit) such as 'gene' or 'pixel'; received {role!r}"
        )
    return role


def _resolve_roles(
    kind: EdgeKind | None, child_role: object, parent_role: object
) -> tuple[str, str]:
    """``(child role, parent role)``: fixed by ``kind`` when given, else free-form."""
    if kind is None:
        child = _GENERIC_ROLES[0] if child_role is None else _check_role(child_role, "child_role")
        parent = (
            _GENERIC_ROLES[1] if parent_role is None else _check_role(parent_role, "parent_role")
        )
        return child, parent
    roles = _ROLES[kind]
    for given, fixed, argument in zip((child_role, parent_role), roles, _ARGUMENTS, strict=True):
        if given is not None and given != fixed:
            raise ValueError(
                f"{argument} must be {fixed!r} for kind {kind!r} (or left out); received "
                f"{given!r}. Use kind=None for free-form roles"
            )
    return roles


def _check_names(names: Sequence[str], expected: int, argument: str) -> tuple[str, ...]:
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"{argument} must contain strings only; received {names!r}")
    if not all(names):
        raise ValueError(f"{argument} must be non-empty strings; received {names!r}")
    if len(names) != expected:
        raise ValueError(f"{argument} must have {expected} entries; received {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{argument} must be distinct; received {names!r}")
    return names


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, eq=False)
class EdgeBeliefs:
    """Probabilities of the edges of a graph, with node names and node roles.

    Attributes:
        probs: ``(n_children, n_parents)`` array in ``[0, 1]``; ``probs[i, j]`` is the belief
            in the edge ``parent j -> child i``. Stored as a read-only float64 copy.
        kind: one of the paper families' graphs, or ``None`` for free-form roles.
            ``"action_to_latent"`` (parents are actions ``a``), ``"latent_to_latent"``
            (parents are the same latents one time step earlier, ``z_j^{t-1} -> z_i^t``; self
            loops allowed) or ``"concept"`` (a graph among concepts). The last two must be
            square.
        child_names: one name per row; empty means ``z0, z1, ...`` (``c0, ...`` for concepts)
            for a kind and ``f"{child_role}{i}"`` for free-form roles.
        parent_names: one name per column; empty means ``a0, a1, ...`` for actions,
            ``f"{parent_role}{j}"`` for free-form roles, and the child names when there is one
            node set (which they must equal if given).
        child_role, parent_role: keyword-only node roles, identifiers such as ``"gene"`` or
            ``"pixel"``. With a kind they are fixed (``latent``/``action``, ``latent``/
            ``latent``, ``concept``/``concept``) and may be left out; with ``kind=None`` they
            default to ``"child"`` and ``"parent"``. Equal roles mean one node set (``probs``
            square, self loops allowed); different roles mean two disjoint node sets.

    Example:
        >>> beliefs = EdgeBeliefs(np.array([[0.9, 0.2], [0.1, 0.7]]), "action_to_latent")
        >>> beliefs.adjacency().tolist()
        [[1, 0], [0, 1]]
        >>> pixels = EdgeBeliefs(np.full((4, 2), 0.8), child_role="pixel", parent_role="concept")
        >>> pixels.parent_names, pixels.child_names[:2]
        (('concept0', 'concept1'), ('pixel0', 'pixel1'))
    """

    probs: NDArray[np.float64]
    kind: EdgeKind | None = None
    child_names: tuple[str, ...] = field(default=())
    parent_names: tuple[str, ...] = field(default=())
    _: KW_ONLY
    child_role: str | None = None
    parent_role: str | None = None

    def __post_init__(self) -> None:
        kind = _check_kind(self.kind)
        child_role, parent_role = _resolve_roles(kind, self.child_role, self.parent_role)
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
        one_node_set = child_role == parent_role
        described = f"kind {kind!r}" if kind is not None else f"equal roles {child_role!r}"
        if one_node_set and probs.shape[0] != probs.shape[1]:
            raise ValueError(
                f"probs must be square for {described} (one node set); got {probs.shape}"
            )
        probs.setflags(write=False)

        child_names = as_name_sequence(self.child_names, "child_names")
        parent_names = as_name_sequence(self.parent_names, "parent_names")
        child_prefix, parent_prefix = (
            _PREFIXES[kind] if kind is not None else (child_role, parent_role)
        )
        n_children, n_parents = probs.shape
        children = (
            _check_names(child_names, n_children, "child_names")
            if child_names
            else tuple(f"{child_prefix}{i}" for i in range(n_children))
        )
        if one_node_set:
            parents = (
                _check_names(parent_names, n_parents, "parent_names") if parent_names else children
            )
            if parents != children:
                raise ValueError(
                    f"parent_names must equal child_names for {described}; "
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
                    "child_names and parent_names must not share names when the roles differ "
                    f"({child_role!r} and {parent_role!r}); both contain {clash}. Give equal "
                    "roles for a graph among one node set"
                )
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "child_role", child_role)
        object.__setattr__(self, "parent_role", parent_role)
        object.__setattr__(self, "probs", probs)
        object.__setattr__(self, "child_names", children)
        object.__setattr__(self, "parent_names", parents)

    # ----------------------------------------------------------------------------------------
    # constructors
    @classmethod
    def from_adjacency(
        cls,
        adjacency: ArrayLike,
        kind: EdgeKind | None = None,
        child_names: Sequence[str] = (),
        parent_names: Sequence[str] = (),
        *,
        child_role: str | None = None,
        parent_role: str | None = None,
    ) -> EdgeBeliefs:
        """Beliefs that are certain: probability 1 on the edges of a 0/1 graph (e.g. a true
        graph), 0 elsewhere."""
        graph = as_binary_matrix(adjacency, "adjacency")
        return cls(
            graph.astype(np.float64),
            kind,
            child_names,  # type: ignore[arg-type]
            parent_names,  # type: ignore[arg-type]
            child_role=child_role,
            parent_role=parent_role,
        )

    @classmethod
    def from_logits(
        cls,
        logits: ArrayLike,
        kind: EdgeKind | None = None,
        child_names: Sequence[str] = (),
        parent_names: Sequence[str] = (),
        *,
        child_role: str | None = None,
        parent_role: str | None = None,
    ) -> EdgeBeliefs:
        """Beliefs ``sigmoid(logits)`` from mask logits ``alpha`` (Lachapelle et al., arXiv
        2401.04890; ``docs/mechanism_sparsity.md#graph-masks``)."""
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
        return cls(
            probs,
            kind,
            child_names,  # type: ignore[arg-type]
            parent_names,  # type: ignore[arg-type]
            child_role=child_role,
            parent_role=parent_role,
        )

    @classmethod
    def from_networkx(cls, graph: nx.DiGraph) -> EdgeBeliefs:
        """Rebuild beliefs from :meth:`to_networkx` output (or its GML read back).

        Nodes need ``role`` and ``index``; edges ``prob``; the graph attribute ``kind`` (or, for
        free-form roles, ``child_role`` and ``parent_role``) says which roles are children and
        which parents. Edges dropped by a threshold come back with probability 0, so
        ``from_networkx(b.to_networkx())`` equals ``b`` exactly.
        """
        if not isinstance(graph, nx.DiGraph):
            raise TypeError(f"graph must be a networkx.DiGraph; received {type(graph).__name__}")
        kind = _check_kind(graph.graph.get("kind"))
        child_role, parent_role = _resolve_roles(
            kind, graph.graph.get("child_role"), graph.graph.get("parent_role")
        )
        children: dict[int, str] = {}
        parents: dict[int, str] = {}
        for name, data in graph.nodes(data=True):
            role, index = data.get("role"), data.get("index")
            if role not in (child_role, parent_role) or not isinstance(index, int):
                raise ValueError(
                    f"graph node {name!r} must have role {child_role!r} or {parent_role!r} and "
                    f"an integer index; received role={role!r}, index={index!r}"
                )
            if role == child_role:
                children[index] = str(name)
            if role == parent_role:
                parents[index] = str(name)
        for found, role in ((children, child_role), (parents, parent_role)):
            if sorted(found) != list(range(len(found))) or not found:
                raise ValueError(
                    f"graph nodes of role {role!r} must have indices 0..n-1; "
                    f"received {sorted(found)}"
                )
        child_names = tuple(children[i] for i in range(len(children)))
        parent_names = tuple(parents[j] for j in range(len(parents)))
        row = {name: i for i, name in enumerate(child_names)}
        column = {name: j for j, name in enumerate(parent_names)}
        probs = np.zeros((len(child_names), len(parent_names)))
        for parent, child, prob in graph.edges(data="prob"):
            if parent not in column or child not in row:
                raise ValueError(
                    f"graph edge {parent!r} -> {child!r} must go from a {parent_role!r} node to "
                    f"a {child_role!r} node"
                )
            probs[row[child], column[parent]] = prob
        return cls(
            probs,
            kind,
            child_names,
            parent_names,
            child_role=child_role if kind is None else None,
            parent_role=parent_role if kind is None else None,
        )

    # ----------------------------------------------------------------------------------------
    # summaries
    @property
    def shape(self) -> tuple[int, int]:
        """``(n_children, n_parents)``."""
        return (int(self.probs.shape[0]), int(self.probs.shape[1]))

    @property
    def one_node_set(self) -> bool:
        """Whether children and parents are the same nodes (equal roles; square ``probs``)."""
        return self.child_role == self.parent_role

    def adjacency(self, threshold: float = 0.5) -> NDArray[np.int8]:
        """Hard graph ``1[probs > threshold]`` as an ``int8`` matrix
        (``docs/mechanism_sparsity.md#graph-masks``)."""
        level = _check_threshold(threshold, allow_none=False)
        return (self.probs > level).astype(np.int8)

    def n_edges(self, threshold: float = 0.5) -> int:
        """Number of edges with ``probs > threshold``."""
        return int(self.adjacency(threshold).sum())

    def expected_edges(self) -> float:
        """Expected number of edges, ``sum(probs)`` (the expected sparsity penalty of the
        Bernoulli edge mask)."""
        return float(self.probs.sum())

    # ----------------------------------------------------------------------------------------
    # reordering
    def _with(
        self, probs: NDArray[np.float64], children: tuple[str, ...], parents: tuple[str, ...]
    ) -> EdgeBeliefs:
        free = self.kind is None
        return EdgeBeliefs(
            probs,
            self.kind,
            children,
            parents,
            child_role=self.child_role if free else None,
            parent_role=self.parent_role if free else None,
        )

    def permuted(self, permutation: ArrayLike) -> EdgeBeliefs:
        """Beliefs in ground-truth order given a matching of the children.

        ``permutation[i]`` is the learned child (e.g. latent) matched to true child ``i`` (e.g.
        ``MCCResult.permutation``). Rows are reordered, ``P probs``; for one node set the
        columns too, ``P probs P^T`` (``docs/mechanism_sparsity.md#shd``). Names travel with their
        rows, so row ``i`` keeps the name of the learned node sitting at true position ``i``. A
        permutation shorter than ``n_children`` keeps only the matched children.
        """
        perm = as_permutation(permutation, n_true=None, n_learned=self.probs.shape[0])
        if perm.size == 0:
            raise ValueError("permutation must have at least one entry; received none")
        children = tuple(self.child_names[k] for k in perm)
        if not self.one_node_set:
            return self._with(self.probs[perm], children, self.parent_names)
        return self._with(self.probs[np.ix_(perm, perm)], children, children)

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
        """``(name, role, index)`` for every node, parents first for two node sets."""
        assert self.child_role is not None and self.parent_role is not None
        children = [(name, self.child_role, i) for i, name in enumerate(self.child_names)]
        if self.one_node_set:
            return children
        parents = [(name, self.parent_role, j) for j, name in enumerate(self.parent_names)]
        return parents + children

    def _graph_attributes(self) -> dict[str, str]:
        if self.kind is not None:
            return {"kind": self.kind}
        assert self.child_role is not None and self.parent_role is not None
        return {"child_role": self.child_role, "parent_role": self.parent_role}

    def to_networkx(self, threshold: float | None = None) -> nx.DiGraph:
        """The beliefs as a ``networkx.DiGraph`` with edges ``parent -> child``.

        Nodes carry ``role`` (``"latent"``, ``"action"``, ``"concept"`` or the free-form role)
        and ``index`` (row or column position). Edges carry ``prob`` and ``weight`` (both the
        edge probability). With ``threshold=None`` every edge of nonzero probability is kept,
        so the matrix can be rebuilt exactly (:meth:`from_networkx`); with a float only edges
        with ``prob > threshold`` are kept. The graph attribute ``kind`` records the kind, or
        ``child_role`` and ``parent_role`` record free-form roles. For ``latent_to_latent`` an
        edge ``z_j -> z_i`` means ``z_j^{t-1} -> z_i^t`` and self loops are time-lagged self
        dependencies.
        """
        graph = nx.DiGraph(**self._graph_attributes())
        for name, role, index in self._nodes():
            graph.add_node(name, role=role, index=index)
        for i, j, prob in self._kept_edges(threshold):
            graph.add_edge(self.parent_names[j], self.child_names[i], prob=prob, weight=prob)
        return graph

    def to_gml(self, threshold: float | None = 0.5) -> str:
        """GML text of :meth:`to_networkx` at ``threshold``; parse with ``nx.parse_gml``."""
        return "\n".join(nx.generate_gml(self.to_networkx(threshold))) + "\n"

    def write_gml(
        self, path: str | os.PathLike[str], threshold: float | None = 0.5, overwrite: bool = False
    ) -> Path:
        """Write :meth:`to_gml` (at ``threshold``) to ``path``; read back with ``nx.read_gml``.

        Refuses to replace an existing file unless ``overwrite=True``. The text is written to
        a temporary file in the same folder and moved into place, so readers never see a
        partial file.
        """
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a str or os.PathLike; received {type(path).__name__}")
        target = Path(path)
        text = self.to_gml(threshold)
        with atomic_write(target, overwrite=overwrite, text=True) as stream:
            stream.write(text)
        return target

    def to_dot(self, threshold: float | None = 0.5) -> str:
        """Graphviz DOT text of the graph at ``threshold`` (``None``: all nonzero edges).

        The text is written by hand so that neither pygraphviz nor pydot is needed. Parents of
        a graph between two node sets (e.g. actions) are drawn as boxes, every other node as an
        ellipse; each edge carries its probability as ``prob`` and as a two-decimal ``label``.
        Graphviz's ``weight`` is deliberately not set, because ``dot`` accepts only integer
        weights.
        """
        attributes = ", ".join(
            f"{key}={_dot_quote(value)}" for key, value in self._graph_attributes().items()
        )
        lines = [
            "digraph edge_beliefs {",
            f"  graph [{attributes}];",
        ]
        for name, role, index in self._nodes():
            is_parent = not self.one_node_set and role == self.parent_role
            shape = "box" if is_parent else "ellipse"
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
