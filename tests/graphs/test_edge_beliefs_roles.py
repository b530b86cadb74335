"""EdgeBeliefs with free-form node roles: a gene -> gene graph (one node set) and a bipartite
concept -> pixel graph (two node sets), through names, networkx, GML, DOT, permutation and
drawing; and the errors for bad kinds, roles and names."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import networkx as nx
import numpy as np
import pytest

from latentgraph.graphs import EdgeBeliefs, EdgeKind, draw_graph_comparison


def _gene_probs() -> np.ndarray:
    rng = np.random.default_rng(0)
    probs = rng.random((5, 5))
    probs[probs < 0.4] = 0.0
    probs[2, 2] = 0.9  # a self loop
    return probs


def _pixel_probs() -> np.ndarray:
    """3 concepts -> 64 pixels; concept k lights the k-th third of the pixels."""
    probs = np.zeros((64, 3))
    for pixel in range(64):
        probs[pixel, min(pixel // 22, 2)] = 0.95
    probs[5, 2] = 0.3  # a weak edge, dropped at threshold 0.5
    return probs


def test_generic_call_of_a_fit_result_uses_child_and_parent_roles():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.6]])
    beliefs = EdgeBeliefs(
        probs,
        child_role="child",
        parent_role="parent",
        child_names=("x0", "x1"),
        parent_names=("z0", "z1", "z2"),
    )
    assert beliefs.kind is None
    assert (beliefs.child_role, beliefs.parent_role) == ("child", "parent")
    assert not beliefs.one_node_set
    assert beliefs.adjacency().tolist() == [[1, 0, 0], [0, 1, 1]]
    # no kind and no roles: the same default roles and role-derived names
    plain = EdgeBeliefs(probs)
    assert (plain.child_role, plain.parent_role) == ("child", "parent")
    assert plain.child_names == ("child0", "child1")
    assert plain.parent_names == ("parent0", "parent1", "parent2")


def test_kinds_keep_their_roles_and_names():
    action = EdgeBeliefs(np.zeros((2, 3)), "action_to_latent")
    assert (action.child_role, action.parent_role) == ("latent", "action")
    assert action.parent_names == ("a0", "a1", "a2") and not action.one_node_set
    concept = EdgeBeliefs(np.zeros((2, 2)), "concept", child_role="concept")
    assert concept.one_node_set and concept.child_names == ("c0", "c1")
    assert set(EdgeKind.__args__) == {"action_to_latent", "latent_to_latent", "concept"}


def test_gene_graph_is_one_node_set_with_self_loops():
    probs = _gene_probs()
    beliefs = EdgeBeliefs(probs, child_role="gene", parent_role="gene")
    assert beliefs.one_node_set
    assert beliefs.child_names == beliefs.parent_names == tuple(f"gene{i}" for i in range(5))
    graph = beliefs.to_networkx(0.5)
    assert set(graph.nodes) == set(beliefs.child_names)  # no separate parent nodes
    assert ("gene2", "gene2") in graph.edges
    assert graph.graph == {"child_role": "gene", "parent_role": "gene"}
    expected = {(f"gene{j}", f"gene{i}") for i, j in zip(*np.nonzero(probs > 0.5), strict=True)}
    assert set(graph.edges) == expected
    # the full graph rebuilds the matrix exactly
    assert np.array_equal(EdgeBeliefs.from_networkx(beliefs.to_networkx()).probs, probs)


def test_gene_graph_gml_round_trip_with_names(tmp_path):
    names = ("sox2", "pou5f1", "nanog", "klf4", "myc")
    beliefs = EdgeBeliefs(_gene_probs(), child_role="gene", parent_role="gene", child_names=names)
    path = beliefs.write_gml(tmp_path / "genes.gml", threshold=None)
    loaded = nx.read_gml(path)
    assert loaded.graph["child_role"] == loaded.graph["parent_role"] == "gene"
    assert {role for _, role in loaded.nodes(data="role")} == {"gene"}
    rebuilt = EdgeBeliefs.from_networkx(loaded)
    assert rebuilt.child_names == rebuilt.parent_names == names
    assert (rebuilt.child_role, rebuilt.parent_role, rebuilt.kind) == ("gene", "gene", None)
    np.testing.assert_allclose(rebuilt.probs, beliefs.probs, rtol=1e-12)
    assert nx.parse_gml(beliefs.to_gml(None)).number_of_edges() == loaded.number_of_edges()


def test_gene_graph_permutes_rows_and_columns():
    probs = _gene_probs()
    perm = np.array([3, 0, 4, 1, 2])
    moved = EdgeBeliefs(probs, child_role="gene", parent_role="gene").permuted(perm)
    assert np.array_equal(moved.probs, probs[perm][:, perm])
    assert moved.child_names == moved.parent_names == ("gene3", "gene0", "gene4", "gene1", "gene2")
    assert moved.child_role == moved.parent_role == "gene"


def test_bipartite_concept_to_pixel_graph(tmp_path):
    probs = _pixel_probs()
    beliefs = EdgeBeliefs(probs, child_role="pixel", parent_role="concept")
    assert beliefs.shape == (64, 3) and not beliefs.one_node_set
    assert beliefs.parent_names == ("concept0", "concept1", "concept2")
    assert beliefs.child_names[63] == "pixel63"
    graph = beliefs.to_networkx(0.5)
    assert graph.number_of_nodes() == 67 and graph.number_of_edges() == 64
    assert graph.nodes["concept1"] == {"role": "concept", "index": 1}
    assert graph.nodes["pixel30"] == {"role": "pixel", "index": 30}
    assert ("concept1", "pixel30") in graph.edges and ("concept2", "pixel5") not in graph.edges
    # every edge goes concept -> pixel
    assert all(graph.nodes[p]["role"] == "concept" for p, _ in graph.edges)
    loaded = nx.read_gml(beliefs.write_gml(tmp_path / "pixels.gml", threshold=None))
    rebuilt = EdgeBeliefs.from_networkx(loaded)
    assert rebuilt.shape == (64, 3) and rebuilt.parent_names == beliefs.parent_names
    np.testing.assert_allclose(rebuilt.probs, probs, rtol=1e-12)
    # permuting pixels reorders rows only; concepts keep their columns
    perm = np.arange(64)[::-1]
    moved = beliefs.permuted(perm)
    assert np.array_equal(moved.probs, probs[perm])
    assert moved.parent_names == beliefs.parent_names and moved.child_names[0] == "pixel63"


def test_bipartite_dot_draws_parents_as_boxes():
    beliefs = EdgeBeliefs(_pixel_probs()[:4], child_role="pixel", parent_role="concept")
    dot = beliefs.to_dot()
    assert 'graph [child_role="pixel", parent_role="concept"];' in dot
    assert '"concept0" [role="concept", index=0, shape=box];' in dot
    assert '"pixel0" [role="pixel", index=0, shape=ellipse];' in dot
    assert dot.count("->") == 4
    genes = EdgeBeliefs(np.eye(2) * 0.9, child_role="gene", parent_role="gene").to_dot()
    assert "shape=box" not in genes and genes.count("->") == 2


def test_from_logits_and_adjacency_take_roles():
    certain = EdgeBeliefs.from_adjacency(
        np.array([[1, 0], [1, 1], [0, 1]]), child_role="pixel", parent_role="concept"
    )
    assert certain.n_edges() == 4 and certain.parent_names == ("concept0", "concept1")
    logits = EdgeBeliefs.from_logits(np.zeros((2, 2)), child_role="gene", parent_role="gene")
    assert logits.one_node_set and np.all(logits.probs == 0.5)


def test_draw_graph_comparison_with_free_roles():
    learned = EdgeBeliefs(_pixel_probs()[:6], child_role="pixel", parent_role="concept")
    truth = (_pixel_probs()[:6] > 0.5).astype(int)
    truth[0, 0] = 0  # one false positive
    figure = draw_graph_comparison(learned, truth)
    panels = figure.axes
    assert panels[2].get_title() == "SHD = 1 (FP 1, FN 0)"
    assert panels[0].get_xlabel() == "parent concept"
    assert "pixel" in panels[0].get_ylabel()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"child_role": "my gene"}, ValueError, "child_role must be an identifier"),
        ({"parent_role": ""}, ValueError, "parent_role must be an identifier"),
        ({"child_role": 3}, TypeError, "child_role must be a string"),
        ({"child_role": "gene", "parent_role": "gene"}, ValueError, "must be square"),
        (
            {"child_role": "pixel", "parent_role": "concept", "child_names": ("a", "b")},
            ValueError,
            "child_names must have 3 entries",
        ),
        (
            {
                "child_role": "x",
                "parent_role": "y",
                "child_names": ("a", "b", "c"),
                "parent_names": ("c", "d"),
            },
            ValueError,
            "must not share names when the roles differ",
        ),
        ({"child_names": ("a", "", "c")}, ValueError, "non-empty strings"),
        ({"parent_names": "ab"}, TypeError, "parent_names must be a sequence of strings"),
    ],
)
def test_bad_roles_and_names_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        EdgeBeliefs(np.full((3, 2), 0.5), **kwargs)


def test_roles_must_agree_with_a_kind():
    with pytest.raises(ValueError, match="parent_role must be 'action' for kind"):
        EdgeBeliefs(np.zeros((2, 3)), "action_to_latent", parent_role="gene")
    with pytest.raises(ValueError, match="kind must be one of .* or None"):
        EdgeBeliefs(np.zeros((2, 2)), "gene_to_gene")
    with pytest.raises(ValueError, match="parent_names must equal child_names for equal roles"):
        EdgeBeliefs(np.eye(2), child_role="g", parent_role="g", parent_names=("g1", "g0"))


def test_from_networkx_refuses_foreign_graphs():
    with pytest.raises(TypeError, match="graph must be a networkx.DiGraph"):
        EdgeBeliefs.from_networkx(nx.Graph())
    graph = EdgeBeliefs(np.eye(2) * 0.7, child_role="gene", parent_role="gene").to_networkx()
    graph.add_node("stray", role="protein", index=0)
    with pytest.raises(ValueError, match="graph node 'stray' must have role 'gene'"):
        EdgeBeliefs.from_networkx(graph)
