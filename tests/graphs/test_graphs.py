"""Tests for latentgraph.graphs: identifiability theory, edge beliefs, export and drawing.

The paper's graphs are rebuilt by hand from ``docs/mechanism_sparsity.md#synthetic-data``; the
expected numbers are the exact sanity values of ``docs/mechanism_sparsity.md#exact-sanity-values``.
"""

from __future__ import annotations

import ast
from itertools import product
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import latentgraph
from latentgraph.graphs import (
    EdgeBeliefs,
    complete_disentanglement_identifiable,
    draw_correlation_matrix,
    draw_graph_comparison,
    empty_rows,
    entangled_blocks,
    entanglement_graph,
    guaranteed_disentangled,
    is_completely_disentangled,
)
from latentgraph.metrics import structural_hamming_distance

# ---------------------------------------------------------------------------------------------
# the paper's graphs (rows = children, columns = parents, 0-based)

N_LATENTS = 10


def block_diagonal(n_blocks: int, size: int) -> np.ndarray:
    return np.kron(np.eye(n_blocks, dtype=int), np.ones((size, size), dtype=int))


def identity() -> np.ndarray:
    return np.eye(N_LATENTS, dtype=int)


def action_non_trivial() -> np.ndarray:
    graph = np.zeros((N_LATENTS, N_LATENTS), dtype=int)
    for i in range(N_LATENTS):
        graph[i, i] = 1  # z_i <- a_i
        graph[i, (i - 1) % N_LATENTS] = 1  # z_i <- a_{i-1 mod 10}
    return graph


def temporal_non_trivial() -> np.ndarray:
    graph = np.zeros((N_LATENTS, N_LATENTS), dtype=int)
    for i in range(N_LATENTS):
        for j in range(i + 1):  # G_ij = 1 iff j <= i
            graph[i, j] = 1
    return graph


def graph_action_3_easy() -> np.ndarray:
    graph = np.zeros((N_LATENTS, 5), dtype=int)
    for k in range(5):
        graph[2 * k, k] = graph[2 * k + 1, k] = 1
    return graph


def graph_action_3_hard() -> np.ndarray:
    graph = graph_action_3_easy()
    graph[8, 0] = graph[9, 0] = 1
    return graph


def graph_temporal_3_easy() -> np.ndarray:
    return block_diagonal(5, 2)


def graph_temporal_3_hard() -> np.ndarray:
    graph = graph_temporal_3_easy()
    for child, parent in product([0, 1], [8, 9]):
        graph[child, parent] = 1
    for child, parent in product([8, 9], [0, 1, 4, 5]):
        graph[child, parent] = 1
    return graph


def hard_pattern() -> np.ndarray:
    """Spec 5.6: 2x2 blocks plus E[0,8], E[0,9], E[1,8], E[1,9]."""
    pattern = block_diagonal(5, 2).astype(bool)
    pattern[np.ix_([0, 1], [8, 9])] = True
    return pattern


PAIRS = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
SINGLETONS = [(i,) for i in range(N_LATENTS)]
ALL = list(range(N_LATENTS))

# name, graph kind, graph, #edges, nnz(E), complete?, blocks, guaranteed, no-sparsity SHD
SANITY_TABLE = [
    ("action_trivial", "action", identity(), 10, 10, True, SINGLETONS, ALL, 90),
    ("temporal_trivial", "latent", identity(), 10, 10, True, SINGLETONS, ALL, 90),
    ("action_non_trivial", "action", action_non_trivial(), 20, 10, True, SINGLETONS, ALL, 80),
    ("temporal_non_trivial", "latent", temporal_non_trivial(), 55, 10, True, SINGLETONS, ALL, 45),
    ("graph_action_3_easy", "action", graph_action_3_easy(), 10, 20, False, PAIRS, [], 40),
    ("graph_action_3_hard", "action", graph_action_3_hard(), 12, 24, False, PAIRS, [], 38),
    ("graph_temporal_3_easy", "latent", graph_temporal_3_easy(), 20, 20, False, PAIRS, [], 80),
    ("graph_temporal_3_hard", "latent", graph_temporal_3_hard(), 32, 24, False, PAIRS, [], 68),
    ("no_graph_crit_action", "action", block_diagonal(5, 2), 20, 20, False, PAIRS, [], 80),
    (
        "no_graph_crit_temporal",
        "latent",
        block_diagonal(2, 5),
        50,
        50,
        False,
        [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)],
        [],
        50,
    ),
]


def _entanglement(kind: str, graph: np.ndarray) -> np.ndarray:
    if kind == "action":
        return entanglement_graph(action_graph=graph)
    return entanglement_graph(latent_graph=graph)


@pytest.mark.parametrize(
    ("name", "kind", "graph", "n_edges", "nnz", "complete", "blocks", "guaranteed", "shd"),
    SANITY_TABLE,
    ids=[row[0] for row in SANITY_TABLE],
)
def test_spec_sanity_table(name, kind, graph, n_edges, nnz, complete, blocks, guaranteed, shd):
    assert int(graph.sum()) == n_edges
    pattern = _entanglement(kind, graph)
    assert pattern.dtype == np.bool_
    assert pattern.shape == (N_LATENTS, N_LATENTS)
    assert int(pattern.sum()) == nnz
    assert is_completely_disentangled(pattern) is complete
    action, latent = (graph, None) if kind == "action" else (None, graph)
    assert complete_disentanglement_identifiable(action, latent) is complete
    assert entangled_blocks(pattern) == blocks
    assert guaranteed_disentangled(pattern).tolist() == guaranteed
    # E is a preorder: reflexive and transitive
    assert np.all(np.diag(pattern))
    assert np.array_equal((pattern.astype(int) @ pattern.astype(int)) > 0, pattern)
    # no-sparsity control: the learned graph is all ones, so SHD = B_max - #edges
    all_ones = np.ones_like(graph)
    permutation = np.random.default_rng(7).permutation(N_LATENTS)
    assert structural_hamming_distance(graph, all_ones, permutation, kind=kind) == shd
    assert shd == graph.size - n_edges


@pytest.mark.parametrize("kind", ["action", "latent"])
def test_hard_graphs_leak_exactly_z0_z1_into_z8_z9(kind):
    graph = graph_action_3_hard() if kind == "action" else graph_temporal_3_hard()
    pattern = _entanglement(kind, graph)
    assert np.array_equal(pattern, hard_pattern())
    for j, i in product([0, 1], [8, 9]):
        assert pattern[j, i] and not pattern[i, j]


def test_easy_graphs_are_five_pair_blocks():
    for pattern in (
        entanglement_graph(action_graph=graph_action_3_easy()),
        entanglement_graph(latent_graph=graph_temporal_3_easy()),
    ):
        assert np.array_equal(pattern, block_diagonal(5, 2).astype(bool))


def _reference_entanglement(action_graph=None, latent_graph=None) -> np.ndarray:
    """Set-based definition of docs/mechanism_sparsity.md#entanglement-graph (a second formulation of the matrix form)."""
    d = action_graph.shape[0] if action_graph is not None else latent_graph.shape[0]
    pattern = np.ones((d, d), dtype=bool)
    if action_graph is not None:
        parents = [set(np.flatnonzero(action_graph[i])) for i in range(d)]
        for j, i in product(range(d), repeat=2):
            pattern[j, i] &= parents[j] <= parents[i]
    if latent_graph is not None:
        parents = [set(np.flatnonzero(latent_graph[i])) for i in range(d)]
        children = [set(np.flatnonzero(latent_graph[:, i])) for i in range(d)]
        for j, i in product(range(d), repeat=2):
            pattern[j, i] &= parents[j] <= parents[i] and children[j] <= children[i]
    return pattern


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matrix_form_matches_set_definition_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    action = (rng.random((8, 4)) < 0.35).astype(int)
    latent = (rng.random((8, 8)) < 0.3).astype(int)
    np.fill_diagonal(latent, 1)
    for kwargs in (
        {"action_graph": action},
        {"latent_graph": latent},
        {"action_graph": action, "latent_graph": latent},
    ):
        assert np.array_equal(entanglement_graph(**kwargs), _reference_entanglement(**kwargs))


def test_both_graphs_combine_by_and():
    # actions alone leave pairs entangled; self-loops in time separate them
    assert not complete_disentanglement_identifiable(action_graph=graph_action_3_easy())
    assert complete_disentanglement_identifiable(graph_action_3_easy(), identity())
    combined = entanglement_graph(graph_action_3_hard(), graph_temporal_3_easy())
    assert np.array_equal(
        combined,
        entanglement_graph(action_graph=graph_action_3_hard())
        & entanglement_graph(latent_graph=graph_temporal_3_easy()),
    )


def test_guaranteed_disentangled_partial_example():
    # z0 <- a0; z1 <- a0, a1; z2 <- a1: z0 and z2 may leak into z_hat_1 only
    action = np.array([[1, 0], [1, 1], [0, 1]])
    pattern = entanglement_graph(action_graph=action)
    assert pattern.astype(int).tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 1]]
    assert guaranteed_disentangled(pattern).tolist() == [0, 2]
    assert not is_completely_disentangled(pattern)
    assert entangled_blocks(pattern) == [(0,), (1,), (2,)]


def test_empty_action_rows_leak_everywhere():
    # docs/mechanism_sparsity.md#empty-action-rows: latents without action parents are entangled with everything
    action = identity()
    action[3] = 0
    action[7] = 0
    assert empty_rows(action).tolist() == [3, 7]
    pattern = entanglement_graph(action_graph=action)
    assert pattern[3].all() and pattern[7].all()
    assert guaranteed_disentangled(pattern).tolist() == []
    assert not complete_disentanglement_identifiable(action_graph=action)
    assert empty_rows(identity()).tolist() == []


def test_theory_input_validation():
    with pytest.raises(ValueError, match="action_graph, latent_graph or both"):
        entanglement_graph()
    with pytest.raises(ValueError, match="latent_graph must be square"):
        entanglement_graph(latent_graph=np.ones((3, 2)))
    with pytest.raises(ValueError, match="latent_graph must have 4 rows"):
        entanglement_graph(action_graph=np.eye(4), latent_graph=np.eye(3))
    with pytest.raises(ValueError, match="action_graph must contain only 0 and 1"):
        entanglement_graph(action_graph=np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="action_graph must be 2-D"):
        entanglement_graph(action_graph=np.ones(3))
    with pytest.raises(TypeError, match="action_graph"):
        entanglement_graph(action_graph=np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="entanglement must be square"):
        guaranteed_disentangled(np.ones((2, 3)))
    with pytest.raises(ValueError, match="graph must be 2-D"):
        empty_rows(np.ones(4))


# ---------------------------------------------------------------------------------------------
# EdgeBeliefs

PROBS = np.array(
    [
        [0.9, 0.0, 0.3],
        [0.6, 0.5, 0.0],
    ]
)


def test_default_names_and_kinds():
    action = EdgeBeliefs(PROBS, "action_to_latent")
    assert action.child_names == ("z0", "z1")
    assert action.parent_names == ("a0", "a1", "a2")
    latent = EdgeBeliefs(np.eye(3) * 0.8, "latent_to_latent")
    assert latent.parent_names == latent.child_names == ("z0", "z1", "z2")
    concept = EdgeBeliefs(np.zeros((2, 2)), "concept")
    assert concept.child_names == ("c0", "c1")


def test_probs_are_a_read_only_copy():
    source = PROBS.copy()
    beliefs = EdgeBeliefs(source, "action_to_latent")
    source[0, 0] = 0.0
    assert beliefs.probs[0, 0] == 0.9
    with pytest.raises(ValueError):
        beliefs.probs[0, 0] = 0.1


def test_adjacency_thresholds_strictly():
    beliefs = EdgeBeliefs(PROBS, "action_to_latent")
    assert beliefs.adjacency().tolist() == [[1, 0, 0], [1, 0, 0]]  # 0.5 is not > 0.5
    assert beliefs.adjacency().dtype == np.int8
    assert beliefs.adjacency(0.2).tolist() == [[1, 0, 1], [1, 1, 0]]
    assert beliefs.n_edges() == 2
    assert beliefs.n_edges(0.2) == 4
    assert beliefs.expected_edges() == pytest.approx(2.3)


def test_from_adjacency_and_logits():
    truth = EdgeBeliefs.from_adjacency(graph_action_3_hard(), "action_to_latent")
    assert truth.n_edges() == 12
    assert truth.expected_edges() == 12.0
    # docs/mechanism_sparsity.md#graph-masks: sigma(alpha_0 = 5) = 0.9933
    initial = EdgeBeliefs.from_logits(np.full((2, 2), 5.0), "latent_to_latent")
    assert initial.probs[0, 0] == pytest.approx(0.9933, abs=5e-5)
    extreme = EdgeBeliefs.from_logits(np.array([[-800.0, 800.0]]), "action_to_latent")
    assert extreme.probs.tolist() == [[0.0, 1.0]]


def test_edge_beliefs_validation():
    with pytest.raises(ValueError, match="kind must be one of"):
        EdgeBeliefs(PROBS, "actions")
    with pytest.raises(ValueError, match="probs must be finite and lie in"):
        EdgeBeliefs(PROBS * 2, "action_to_latent")
    with pytest.raises(ValueError, match="probs must be square"):
        EdgeBeliefs(PROBS, "latent_to_latent")
    with pytest.raises(ValueError, match="probs must be a non-empty 2-D"):
        EdgeBeliefs(np.ones(3) * 0.5, "action_to_latent")
    with pytest.raises(TypeError, match="probs"):
        EdgeBeliefs(np.array([[True]]), "action_to_latent")
    with pytest.raises(ValueError, match="child_names must have 2 entries"):
        EdgeBeliefs(PROBS, "action_to_latent", ("z0",))
    with pytest.raises(ValueError, match="share names"):
        EdgeBeliefs(PROBS, "action_to_latent", ("x", "y"), ("x", "b", "c"))
    with pytest.raises(ValueError, match="parent_names must equal child_names"):
        EdgeBeliefs(np.eye(2), "latent_to_latent", ("u", "v"), ("v", "u"))
    with pytest.raises(ValueError, match="adjacency must contain only 0 and 1"):
        EdgeBeliefs.from_adjacency(PROBS, "action_to_latent")
    with pytest.raises(ValueError, match="threshold must lie in"):
        EdgeBeliefs(PROBS, "action_to_latent").adjacency(1.5)


def test_to_networkx_attributes_and_thresholds():
    beliefs = EdgeBeliefs(PROBS, "action_to_latent")
    graph = beliefs.to_networkx()
    assert graph.graph["kind"] == "action_to_latent"
    assert dict(graph.nodes(data="role")) == {
        "a0": "action",
        "a1": "action",
        "a2": "action",
        "z0": "latent",
        "z1": "latent",
    }
    # threshold=None keeps every nonzero edge, parent -> child
    assert sorted(graph.edges) == [("a0", "z0"), ("a0", "z1"), ("a1", "z1"), ("a2", "z0")]
    assert graph.edges["a2", "z0"]["prob"] == 0.3
    assert graph.edges["a2", "z0"]["weight"] == 0.3
    rebuilt = np.zeros_like(PROBS)
    for parent, child, prob in graph.edges(data="prob"):
        rebuilt[graph.nodes[child]["index"], graph.nodes[parent]["index"]] = prob
    assert np.array_equal(rebuilt, PROBS)
    assert sorted(beliefs.to_networkx(0.5).edges) == [("a0", "z0"), ("a0", "z1")]


def test_latent_graph_to_networkx_has_self_loops_and_direction():
    # z0 -> z1 (lagged) and a self loop on z0
    probs = np.array([[0.8, 0.0], [0.7, 0.1]])
    graph = EdgeBeliefs(probs, "latent_to_latent").to_networkx(0.5)
    assert set(graph.nodes) == {"z0", "z1"}
    assert sorted(graph.edges) == [("z0", "z0"), ("z0", "z1")]
    assert all(role == "latent" for _, role in graph.nodes(data="role"))


def test_gml_round_trip(tmp_path):
    beliefs = EdgeBeliefs(PROBS, "action_to_latent", ("speed", "angle"), ("left", "right", "go"))
    path = beliefs.write_gml(tmp_path / "graph.gml", threshold=None)
    loaded = nx.read_gml(path)
    original = beliefs.to_networkx()
    assert set(loaded.nodes) == set(original.nodes)
    assert set(loaded.edges) == set(original.edges)
    for parent, child, prob in original.edges(data="prob"):
        assert loaded.edges[parent, child]["prob"] == pytest.approx(prob)
    assert loaded.nodes["go"]["role"] == "action"
    assert loaded.nodes["angle"]["role"] == "latent"
    assert loaded.graph["kind"] == "action_to_latent"


def test_gml_refuses_to_overwrite(tmp_path):
    path = tmp_path / "graph.gml"
    EdgeBeliefs(PROBS, "action_to_latent").write_gml(path)
    first = path.read_text()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        EdgeBeliefs(np.zeros((2, 3)), "action_to_latent").write_gml(path)
    assert path.read_text() == first
    EdgeBeliefs(np.zeros((2, 3)), "action_to_latent").write_gml(path, overwrite=True)
    assert nx.read_gml(path).number_of_edges() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.gml"]  # no temporary left


def test_dot_text_lists_kept_edges_only():
    beliefs = EdgeBeliefs(PROBS, "action_to_latent", ("z0", 'odd "name"'))
    dot = beliefs.to_dot()
    assert dot.startswith("digraph")
    assert dot.count("{") == dot.count("}") == 1
    assert '"a0" -> "z0"' in dot
    assert '"a0" -> "odd \\"name\\""' in dot
    assert '"a2" -> "z0"' not in dot  # 0.3 is below the 0.5 threshold
    assert dot.count("->") == 2
    assert "shape=box" in dot
    assert beliefs.to_dot(None).count("->") == 4


def test_permuted_reorders_rows_and_latent_columns():
    rng = np.random.default_rng(3)
    probs = rng.random((4, 4))
    perm = np.array([2, 0, 3, 1])
    latent = EdgeBeliefs(probs, "latent_to_latent").permuted(perm)
    assert np.array_equal(latent.probs, probs[perm][:, perm])
    assert latent.child_names == ("z2", "z0", "z3", "z1")
    action = EdgeBeliefs(probs, "action_to_latent").permuted(perm)
    assert np.array_equal(action.probs, probs[perm])
    assert action.parent_names == ("a0", "a1", "a2", "a3")
    # keeping only the matched latents when there are more learned than true ones
    assert EdgeBeliefs(probs, "action_to_latent").permuted([3, 1]).shape == (2, 4)
    with pytest.raises(ValueError, match="permutation entries must be distinct"):
        EdgeBeliefs(probs, "action_to_latent").permuted([1, 1, 0, 2])
    with pytest.raises(TypeError, match="permutation must have an integer dtype"):
        EdgeBeliefs(probs, "action_to_latent").permuted([0.0, 1.0, 2.0, 3.0])


# ---------------------------------------------------------------------------------------------
# drawing


def _learned_action_beliefs():
    """Learned beliefs equal to graph_action_3_hard up to a permutation, plus two errors."""
    truth = graph_action_3_hard().astype(float)
    perm = np.random.default_rng(5).permutation(N_LATENTS)
    learned = np.zeros_like(truth)
    learned[perm] = truth * 0.9 + 0.05
    learned[perm[4], 3] = 0.8  # false positive at true (4, 3)
    learned[perm[8], 0] = 0.2  # false negative at true (8, 0)
    return EdgeBeliefs(learned, "action_to_latent"), perm


def test_draw_graph_comparison_returns_figure(tmp_path):
    beliefs, perm = _learned_action_beliefs()
    path = tmp_path / "comparison.png"
    figure = draw_graph_comparison(beliefs, graph_action_3_hard(), perm, path=path)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 4  # true, learned, difference, colour bar
    assert "SHD = 2 (FP 1, FN 1)" in figure.axes[2].get_title()
    assert path.read_bytes()[:4] == b"\x89PNG"
    # without the matching, the same beliefs disagree with the truth much more
    unmatched = draw_graph_comparison(beliefs, graph_action_3_hard())
    assert "SHD = 2 " not in unmatched.axes[2].get_title()


def test_draw_graph_comparison_into_given_axes_and_checks_shape():
    figure = Figure()
    axes = figure.subplots(1, 3)
    beliefs = EdgeBeliefs(np.eye(3) * 0.9, "latent_to_latent")
    returned = draw_graph_comparison(beliefs, np.eye(3), axes=list(axes))
    assert returned is figure
    assert "SHD = 0" in axes[2].get_title()
    with pytest.raises(ValueError, match="axes must be 3 matplotlib Axes"):
        draw_graph_comparison(beliefs, np.eye(3), axes=list(axes[:2]))
    with pytest.raises(ValueError, match="true_graph must have 3 columns"):
        draw_graph_comparison(beliefs, np.ones((3, 2)))


def test_draw_correlation_matrix_titles_the_mcc():
    correlation = np.array([[0.2, 0.9, 0.1], [0.8, -0.3, 0.0]])
    figure = draw_correlation_matrix(correlation)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2  # heat map and colour bar
    assert "MCC = 0.850" in figure.axes[0].get_title()
    figure = Figure()
    ax = figure.add_subplot()
    assert draw_correlation_matrix(correlation, [0, 1], ax=ax) is figure
    assert "MCC = 0.250" in ax.get_title()  # the given (poor) matching is used
    assert isinstance(figure.axes[0], Axes)
    with pytest.raises(ValueError, match="at least as many columns"):
        draw_correlation_matrix(correlation.T)


def test_rooms_stay_backend_neutral_and_headless():
    """No torch/JAX/Pyro import and no pyplot (which would pick a GUI backend) in either room."""
    forbidden = ("torch", "jax", "jaxlib", "pyro", "numpyro", "flax", "matplotlib.pyplot")
    package = Path(latentgraph.__file__).parent
    files = sorted((package / "graphs").glob("*.py")) + sorted((package / "metrics").glob("*.py"))
    assert len(files) >= 8
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not any(name == bad or name.startswith(bad + ".") for bad in forbidden), (
                    f"{file.name} imports {name}"
                )
