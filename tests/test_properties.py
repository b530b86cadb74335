"""Property-based tests (hypothesis) of the metrics, graph utilities and data loaders.

Random shapes, dtypes and values either give a correct result or the documented
``ValueError``/``TypeError`` naming the argument, never another exception, a numpy warning or
a silent NaN (issue 6, item 4). Correctness properties check the analytic invariants of
``docs/mechanism_sparsity.md#metrics`` and ``docs/mechanism_sparsity.md#theory-as-checks``: MCC of a permuted, sign-flipped and
rescaled copy is 1 with the permutation recovered, SHD of a graph against its relabelled copy
is 0, the entanglement graph is a preorder, save/load round-trips bit for bit.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from latentgraph.data import (
    MECHANISM_DATASETS,
    Dataset,
    frequencies_and_phases,
    k2_variance,
    linear_action_mean,
    linear_temporal_mean,
    load_npz,
    make_mechanism_dataset,
    mixing_function,
    named_graph,
    random_graph,
    sines_action_mean,
    sines_temporal_mean,
)
from latentgraph.graphs import (
    EdgeBeliefs,
    complete_disentanglement_identifiable,
    empty_rows,
    entangled_blocks,
    entanglement_graph,
    guaranteed_disentangled,
    is_completely_disentangled,
)
from latentgraph.metrics import (
    consistency_r,
    correlation_matrix,
    edge_confusion,
    linear_r,
    mean_correlation,
    pairwise_mcc,
    permute_learned_graph,
    select_by_udr,
    structural_hamming_distance,
    udr,
)

# a numpy RuntimeWarning (overflow, invalid value, empty mean) is a silent NaN in the making
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

# derandomize: CI sees the same examples on every run; explore further by raising
# max_examples locally (the fixed failures are pinned with @example)
FAST = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
QUICK = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


# ---------------------------------------------------------------------------------------------
# strategies
ANY_DTYPES = st.sampled_from(
    [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_, np.complex128]
)


def junk_values() -> st.SearchStrategy:
    """Things that are not arrays of real numbers."""
    return st.sampled_from(
        [
            None,
            "abc",
            [[1.0, 2.0], [3.0]],  # ragged
            np.array([[1, None], [2, 3]], dtype=object),
            np.array([["a", "b"], ["c", "d"]]),
            {"x": 1},
            3.5,
        ]
    )


def any_arrays(max_dims: int = 3, max_side: int = 4) -> st.SearchStrategy:
    """Arrays of any dtype and shape (0-D to 3-D, sides 0..max_side), any values."""
    return hnp.arrays(
        dtype=ANY_DTYPES,
        shape=hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side),
    )


def float_matrices(
    rows: st.SearchStrategy[int],
    columns: st.SearchStrategy[int],
    *,
    finite: bool = False,
    bound: float | None = None,
) -> st.SearchStrategy[np.ndarray]:
    """float64 2-D arrays with any values (NaN, inf, subnormal and near-overflow included);
    ``bound`` limits the finite values to ``[-bound, bound]``."""
    elements = st.floats(-(bound or np.inf), bound or np.inf)
    if bound is None:
        elements = st.floats(allow_nan=not finite, allow_infinity=not finite)
    elif not finite:
        elements = st.one_of(elements, st.sampled_from([np.nan, np.inf, -np.inf]))
    return st.tuples(rows, columns).flatmap(
        lambda shape: hnp.arrays(np.float64, shape, elements=elements)
    )


def binary_matrices(rows: int, columns: int) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.int8, (rows, columns), elements=st.integers(0, 1))


@st.composite
def square_graphs(draw, min_side: int = 1, max_side: int = 6) -> np.ndarray:
    n = draw(st.integers(min_side, max_side))
    return draw(binary_matrices(n, n))


@st.composite
def permutations(draw, n: int) -> np.ndarray:
    return np.array(draw(st.permutations(range(n))), dtype=np.intp)


def expect_result_or_error(call: Callable[[], object], names: Sequence[str]) -> object | None:
    """``call()``'s result, or None when it raised a ValueError/TypeError naming one of
    ``names``; any other exception (or warning, see ``pytestmark``) fails the test."""
    try:
        return call()
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(name in message for name in names), f"message names none of {names}: {message}"
        return None


def non_constant(values: np.ndarray) -> np.ndarray:
    """Per column: does it take more than one value?"""
    return ~np.all(values == values[0], axis=0)


# ---------------------------------------------------------------------------------------------
# metrics: arbitrary input
LATENT_NAMES = ("z_true", "z_hat", "max_rows", "method")


@FAST
@given(
    z_true=st.one_of(any_arrays(), junk_values()),
    z_hat=st.one_of(any_arrays(), junk_values()),
    method=st.sampled_from(["pearson", "spearman", "kendall", None]),
    max_rows=st.one_of(st.none(), st.integers(-1, 5), st.just(2.0), st.just(True)),
)
def test_latent_metrics_reject_bad_arrays_by_name(z_true, z_hat, method, max_rows):
    for call in (
        lambda: correlation_matrix(z_true, z_hat, method, max_rows=max_rows),
        lambda: mean_correlation(z_true, z_hat, method, max_rows=max_rows).score,
        lambda: linear_r(z_true, z_hat, max_rows=max_rows),
    ):
        result = expect_result_or_error(call, LATENT_NAMES)
        if result is not None:
            assert np.all(np.isfinite(result)) and np.all(np.abs(result) <= 1.0)


@FAST
@given(
    z_true=float_matrices(st.integers(0, 6), st.integers(0, 4)),
    z_hat=float_matrices(st.integers(0, 6), st.integers(0, 4)),
    method=st.sampled_from(["pearson", "spearman"]),
)
def test_latent_metrics_on_float_matrices_are_scores_or_errors(z_true, z_hat, method):
    """NaN, inf, extreme and subnormal values, few rows, mismatched shapes."""
    corr = expect_result_or_error(lambda: correlation_matrix(z_true, z_hat, method), LATENT_NAMES)
    result = expect_result_or_error(lambda: mean_correlation(z_true, z_hat, method), LATENT_NAMES)
    r = expect_result_or_error(lambda: linear_r(z_true, z_hat), LATENT_NAMES)
    if corr is not None:
        assert corr.shape == (z_true.shape[1], z_hat.shape[1])
        assert np.all(np.isfinite(corr)) and np.all(np.abs(corr) <= 1.0)
    if result is not None:
        assert 0.0 <= result.score <= 1.0
        assert np.isclose(result.score, result.matched.mean())
        assert sorted(set(result.permutation.tolist())) == sorted(result.permutation.tolist())
    if r is not None:
        assert 0.0 <= r <= 1.0


@FAST
@given(z=float_matrices(st.integers(2, 6), st.integers(1, 4), finite=True))
@example(z=np.array([[1e308, 1.0], [-1e308, 2.0], [0.0, 3.0]]))  # centring overflowed: 0.5
@example(z=np.array([[2.7e154], [0.0]]))  # the squares in the norm overflowed
@example(z=np.array([[1e-320, 1.0], [2e-320, 2.0], [0.0, 3.0]]))  # subnormal norm was 0: 0.5
def test_self_scores_count_the_non_constant_columns(z):
    """Any finite values, near-overflow (1e308) and subnormal (1e-320) included: a column
    correlates perfectly with itself unless it is constant (correlation 0 by convention)."""
    expected = non_constant(z).mean()
    assert mean_correlation(z, z).score == pytest.approx(expected, abs=1e-9)
    assert mean_correlation(z, z, "spearman").score == pytest.approx(expected, abs=1e-9)
    assert linear_r(z, z) == pytest.approx(expected, abs=1e-6)
    corr = correlation_matrix(z, z)
    assert np.allclose(np.diag(corr), non_constant(z).astype(float), atol=1e-9)


# ---------------------------------------------------------------------------------------------
# metrics: correctness on well-conditioned data
@st.composite
def latent_problems(draw):
    """Gaussian latents and a learned copy: permuted, sign-flipped, positively rescaled."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_latents = draw(st.integers(1, 5))
    n_rows = draw(st.integers(30, 80))
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_rows, n_latents))
    perm = draw(permutations(n_latents))
    signs = np.array(
        draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n_latents, max_size=n_latents))
    )
    scales = np.array(draw(st.lists(st.floats(1e-3, 1e3), min_size=n_latents, max_size=n_latents)))
    shift = rng.normal(size=n_latents) * 10.0
    z_hat = np.empty_like(z)
    z_hat[:, perm] = z * signs * scales + shift
    return z, z_hat, perm


@FAST
@given(problem=latent_problems())
def test_mcc_of_a_relabelled_copy_is_one_and_recovers_the_permutation(problem):
    z, z_hat, perm = problem
    result = mean_correlation(z, z_hat)
    assert result.score == pytest.approx(1.0, abs=1e-9)
    assert result.permutation.tolist() == perm.tolist()
    assert mean_correlation(z, z_hat, "spearman").score == pytest.approx(1.0, abs=1e-9)
    # rank correlation is invariant to monotone element-wise maps
    assert mean_correlation(z, np.exp(z_hat / np.abs(z_hat).max()), "spearman").score == (
        pytest.approx(1.0, abs=1e-9)
    )
    assert linear_r(z, z_hat) == pytest.approx(1.0, abs=1e-9)
    # with E = I the consistency-R equals the Pearson MCC (docs/mechanism_sparsity.md#consistency-r)
    eye = np.eye(z.shape[1], dtype=int)
    for transposed in (False, True):
        assert consistency_r(z, z_hat, eye, result.permutation, transposed=transposed) == (
            pytest.approx(result.score, abs=1e-9)
        )
    assert udr([z, z_hat]) == pytest.approx(1.0, abs=1e-9)


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    n_rows=st.integers(2, 20),
    n_latents=st.integers(1, 4),
    extra=st.integers(0, 2),
)
def test_mcc_matching_is_optimal_and_symmetric(seed, n_rows, n_latents, extra):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n_rows, n_latents))
    b = rng.normal(size=(n_rows, n_latents + extra))
    result = mean_correlation(a, b)
    corr = np.abs(correlation_matrix(a, b))
    assert np.allclose(result.correlation, corr)
    assert 0.0 <= result.score <= 1.0
    # no other injective matching of a small problem does better
    for _ in range(5):
        other = rng.permutation(n_latents + extra)[:n_latents]
        assert corr[np.arange(n_latents), other].mean() <= result.score + 1e-12
    if extra == 0:
        assert mean_correlation(b, a).score == pytest.approx(result.score, abs=1e-12)


@QUICK
@given(
    seed=st.integers(0, 2**32 - 1),
    n_seeds=st.integers(2, 4),
    n_settings=st.integers(1, 3),
    shape=st.tuples(st.integers(2, 12), st.integers(1, 3)),
)
def test_udr_pairwise_matrix_and_selection(seed, n_seeds, n_settings, shape):
    rng = np.random.default_rng(seed)
    encodings = {k: [rng.normal(size=shape) for _ in range(n_seeds)] for k in range(n_settings)}
    scores = pairwise_mcc(encodings[0])
    assert scores.shape == (n_seeds, n_seeds)
    assert np.allclose(scores, scores.T) and np.allclose(np.diag(scores), 1.0)
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    assert udr(encodings[0]) == pytest.approx(scores[np.triu_indices(n_seeds, k=1)].mean())
    best, by_setting = select_by_udr(encodings)
    assert list(by_setting) == list(encodings)
    assert by_setting[best] == max(by_setting.values())


@QUICK
@given(
    encodings=st.one_of(
        junk_values(),
        st.lists(st.one_of(any_arrays(), junk_values()), max_size=3),
        any_arrays(),
    ),
    method=st.sampled_from(["pearson", "spearman", "cosine"]),
)
@example(encodings=np.array(0.0), method="pearson")  # was len() of unsized object
def test_udr_rejects_bad_encodings_by_name(encodings, method):
    names = ("encodings", "method")
    result = expect_result_or_error(lambda: udr(encodings, method), names)
    if result is not None:
        assert 0.0 <= result <= 1.0
    expect_result_or_error(lambda: select_by_udr({"a": encodings}, method), (*names, "[", "'a'"))


@FAST
@given(
    z=float_matrices(st.integers(2, 5), st.integers(1, 3), finite=True),
    entanglement=st.one_of(any_arrays(max_dims=2), square_graphs(1, 3)),
    permutation=st.one_of(any_arrays(max_dims=2), st.lists(st.integers(-1, 3), max_size=4)),
    transposed=st.sampled_from([False, True, 1, None]),
)
def test_consistency_r_scores_or_names_the_argument(z, entanglement, permutation, transposed):
    names = ("z_true", "z_hat", "entanglement", "permutation", "transposed")
    result = expect_result_or_error(
        lambda: consistency_r(z, z, entanglement, permutation, transposed=transposed), names
    )
    if result is not None:
        assert 0.0 <= result <= 1.0


# ---------------------------------------------------------------------------------------------
# graph distance
@st.composite
def relabelled_graphs(draw):
    """A true graph and the same graph in a learned order (latent or action kind)."""
    kind = draw(st.sampled_from(["latent", "action"]))
    n = draw(st.integers(1, 6))
    n_columns = n if kind == "latent" else draw(st.integers(1, 4))
    true = draw(binary_matrices(n, n_columns))
    perm = draw(permutations(n))
    learned = np.empty_like(true)
    if kind == "latent":
        learned[np.ix_(perm, perm)] = true
    else:
        learned[perm] = true
    return kind, true, learned, perm


@FAST
@given(case=relabelled_graphs())
def test_shd_of_a_relabelled_copy_is_zero(case):
    kind, true, learned, perm = case
    assert structural_hamming_distance(true, true, None, kind) == 0
    assert structural_hamming_distance(true, learned, perm, kind) == 0
    assert np.array_equal(permute_learned_graph(learned, perm, kind), true)
    confusion = edge_confusion(true, learned, perm, kind)
    assert confusion.true_positive == true.sum()
    assert confusion.precision == confusion.recall == 1.0


@FAST
@given(
    shape=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    data=st.data(),
)
def test_edge_confusion_counts_every_entry_once(shape, data):
    kind = "latent" if shape[0] == shape[1] else "action"
    true = data.draw(binary_matrices(*shape))
    learned = data.draw(binary_matrices(*shape))
    confusion = edge_confusion(true, learned, None, kind)
    counts = (
        confusion.true_positive,
        confusion.false_positive,
        confusion.false_negative,
        confusion.true_negative,
    )
    assert sum(counts) == true.size
    assert confusion.true_positive + confusion.false_negative == true.sum()
    assert confusion.true_positive + confusion.false_positive == learned.sum()
    assert confusion.shd == np.sum(true != learned)
    assert structural_hamming_distance(true, learned, np.arange(shape[0]), kind) == confusion.shd
    for value in (confusion.precision, confusion.recall, confusion.f1):
        assert 0.0 <= value <= 1.0


@FAST
@given(
    true=st.one_of(any_arrays(), junk_values(), square_graphs()),
    learned=st.one_of(any_arrays(), junk_values(), square_graphs()),
    permutation=st.one_of(st.none(), any_arrays(max_dims=2), st.lists(st.integers(-1, 6))),
    kind=st.sampled_from(["latent", "action", "concept"]),
)
@example(true=np.eye(2), learned=np.eye(2), permutation=np.array([], int), kind="latent")
def test_graph_distance_rejects_bad_input_by_name(true, learned, permutation, kind):
    names = ("true_graph", "learned_graph", "permutation", "kind")
    confusion = expect_result_or_error(
        lambda: edge_confusion(true, learned, permutation, kind), names
    )
    if confusion is not None:
        assert confusion.shd >= 0
    permuted = expect_result_or_error(
        lambda: permute_learned_graph(learned, permutation, kind), names
    )
    if permuted is not None:
        assert permuted.ndim == 2 and permuted.size > 0


# ---------------------------------------------------------------------------------------------
# identifiability theory
@st.composite
def true_graph_pairs(draw):
    n = draw(st.integers(1, 6))
    action = draw(st.one_of(st.none(), binary_matrices(n, draw(st.integers(1, 4)))))
    latent = draw(binary_matrices(n, n))
    if action is None or draw(st.booleans()):
        return action, latent
    return action, None


@FAST
@given(graphs=true_graph_pairs(), data=st.data())
def test_entanglement_graph_is_a_permutation_equivariant_preorder(graphs, data):
    action, latent = graphs
    e = entanglement_graph(action, latent)
    n = e.shape[0]
    assert e.dtype == bool and e.shape == (n, n)
    assert np.all(np.diag(e))  # reflexive
    two_steps = (e.astype(int) @ e.astype(int)) > 0
    assert np.all(e | ~two_steps)  # transitive
    # relabelling the latents relabels E
    perm = data.draw(permutations(n))
    e_perm = entanglement_graph(
        None if action is None else action[perm],
        None if latent is None else latent[np.ix_(perm, perm)],
    )
    assert np.array_equal(e_perm, e[np.ix_(perm, perm)])

    blocks = entangled_blocks(e)
    assert sorted(i for block in blocks for i in block) == list(range(n))
    guaranteed = guaranteed_disentangled(e)
    for i in range(n):
        assert (i in guaranteed) == bool(np.array_equal(e[:, i], np.eye(n, dtype=bool)[:, i]))
    assert is_completely_disentangled(e) == (guaranteed.size == n)
    assert complete_disentanglement_identifiable(action, latent) == (guaranteed.size == n)
    if action is not None:
        assert empty_rows(action).tolist() == np.flatnonzero(action.sum(axis=1) == 0).tolist()


@FAST
@given(n=st.integers(1, 8), with_latent=st.booleans())
def test_identity_graphs_give_complete_disentanglement(n, with_latent):
    eye = np.eye(n, dtype=int)
    e = entanglement_graph(eye, eye if with_latent else None)
    assert is_completely_disentangled(e)
    assert guaranteed_disentangled(e).tolist() == list(range(n))
    assert entangled_blocks(e) == [(i,) for i in range(n)]
    assert complete_disentanglement_identifiable(latent_graph=eye)


@FAST
@given(
    action=st.one_of(st.none(), any_arrays(), junk_values(), square_graphs()),
    latent=st.one_of(st.none(), any_arrays(), junk_values(), square_graphs()),
)
def test_theory_rejects_bad_graphs_by_name(action, latent):
    names = ("action_graph", "latent_graph")
    e = expect_result_or_error(lambda: entanglement_graph(action, latent), names)
    if e is not None:
        assert e.dtype == bool and np.all(np.diag(e))
    for function in (guaranteed_disentangled, is_completely_disentangled, entangled_blocks):
        expect_result_or_error(lambda f=function: f(latent), ("entanglement",))
    expect_result_or_error(lambda: empty_rows(action), ("graph",))


# ---------------------------------------------------------------------------------------------
# edge beliefs
NAMES = st.text(min_size=1, max_size=5)


@st.composite
def named_beliefs(draw):
    kind = draw(st.sampled_from(["action_to_latent", "latent_to_latent", "concept"]))
    n_children = draw(st.integers(1, 5))
    n_parents = n_children if kind != "action_to_latent" else draw(st.integers(1, 4))
    adjacency = draw(binary_matrices(n_children, n_parents))
    total = n_children + (n_parents if kind == "action_to_latent" else 0)
    names = draw(
        st.one_of(st.just([]), st.lists(NAMES, min_size=total, max_size=total, unique=True))
    )
    children = tuple(names[:n_children])
    parents = tuple(names[n_children:]) if kind == "action_to_latent" else ()
    return EdgeBeliefs.from_adjacency(adjacency, kind, children, parents), adjacency


@FAST
@given(case=named_beliefs())
def test_certain_beliefs_round_trip_through_networkx_and_gml(case):
    beliefs, adjacency = case
    assert np.array_equal(beliefs.adjacency(0.5), adjacency)
    assert beliefs.n_edges() == adjacency.sum() == beliefs.expected_edges()
    graph = beliefs.to_networkx()
    assert graph.number_of_edges() == adjacency.sum()
    expected_edges = {
        (beliefs.parent_names[j], beliefs.child_names[i])
        for i, j in zip(*np.nonzero(adjacency), strict=True)
    }
    assert set(graph.edges) == expected_edges
    assert beliefs.to_dot().count(" -> ") == adjacency.sum()
    with tempfile.TemporaryDirectory() as folder:
        path = beliefs.write_gml(os.path.join(folder, "graph.gml"))
        read = nx.read_gml(path)
    assert set(read.edges) == expected_edges
    assert set(read.nodes) == set(graph.nodes)


@FAST
@given(case=named_beliefs(), data=st.data())
def test_permuting_beliefs_and_back_is_the_identity(case, data):
    beliefs, _ = case
    perm = data.draw(permutations(beliefs.shape[0]))
    there = beliefs.permuted(perm)
    back = there.permuted(np.argsort(perm))
    assert np.array_equal(back.probs, beliefs.probs)
    assert back.child_names == beliefs.child_names
    assert back.parent_names == beliefs.parent_names


@FAST
@given(
    logits=float_matrices(st.integers(1, 4), st.integers(1, 4)),
    threshold=st.floats(allow_nan=True),
)
def test_beliefs_from_logits_are_probabilities_or_errors(logits, threshold):
    beliefs = expect_result_or_error(
        lambda: EdgeBeliefs.from_logits(logits, "action_to_latent"), ("probs", "logits")
    )
    if beliefs is None:
        assert np.any(np.isnan(logits))  # +-inf logits are certain beliefs, NaN is refused
        return
    assert np.all((beliefs.probs >= 0.0) & (beliefs.probs <= 1.0))
    hard = beliefs.adjacency(0.5).astype(bool)
    assert np.all(logits[hard] > 0.0)  # never an edge from a non-positive logit
    assert np.all(hard[logits > 1e-12])  # sigmoid(alpha) > 0.5 beyond rounding
    n = expect_result_or_error(lambda: beliefs.n_edges(threshold), ("threshold",))
    if n is not None:
        assert 0 <= n <= logits.size


@FAST
@given(
    probs=st.one_of(any_arrays(), junk_values()),
    kind=st.sampled_from(["action_to_latent", "latent_to_latent", "concept", "dag"]),
    child_names=st.one_of(st.just(()), st.just("ab"), st.just(5), st.lists(NAMES, max_size=4)),
)
@example(probs=np.eye(2), kind="concept", child_names="ab")  # was split into ("a", "b")
@example(probs=np.eye(2), kind="concept", child_names=5)  # was "'int' object is not iterable"
def test_edge_beliefs_reject_bad_input_by_name(probs, kind, child_names):
    names = ("probs", "kind", "adjacency", "child_names", "parent_names")
    for build in (EdgeBeliefs, EdgeBeliefs.from_adjacency, EdgeBeliefs.from_logits):
        beliefs = expect_result_or_error(
            lambda b=build: b(probs, kind, child_names), (*names, "logits")
        )
        if beliefs is not None:
            assert all(isinstance(name, str) for name in beliefs.child_names)
            assert len(beliefs.child_names) == beliefs.shape[0]
            if isinstance(child_names, list) and child_names:
                assert beliefs.child_names == tuple(child_names)
    beliefs = EdgeBeliefs(np.eye(2), "concept")
    perm = expect_result_or_error(lambda: beliefs.permuted(probs), ("permutation",))
    if perm is not None:
        assert perm.shape[0] >= 1
    if not isinstance(probs, str):  # a str would be a legitimate (relative) path
        expect_result_or_error(lambda: beliefs.write_gml(probs), ("path",))


# ---------------------------------------------------------------------------------------------
# Dataset container
# NUL ends a zip member name and is dropped from numpy strings, so Dataset refuses it
TEXT = st.text(st.characters(exclude_characters="\x00"), max_size=8)
SPLIT_NAMES = st.text(st.characters(exclude_characters="\x00/"), min_size=1, max_size=6)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def datasets(draw):
    n_steps = draw(st.integers(1, 2))
    n_obs = draw(st.integers(1, 3))
    n_actions = draw(st.one_of(st.none(), st.integers(1, 3)))
    n_latents = draw(st.one_of(st.none(), st.integers(1, 3)))
    split_names = draw(st.lists(SPLIT_NAMES, min_size=1, max_size=3, unique=True))
    splits = {}
    for split in split_names:
        n = draw(st.integers(0, 4))
        arrays = {"x": draw(hnp.arrays(np.float32, (n, n_steps, n_obs)))}
        if n_actions is not None:
            arrays["actions"] = draw(hnp.arrays(np.float32, (n, n_actions)))
        if n_latents is not None:
            arrays["z"] = draw(hnp.arrays(np.float32, (n, n_steps, n_latents)))
        # non-contiguous and Fortran-ordered arrays must survive too
        if draw(st.booleans()):
            arrays["x"] = np.asfortranarray(arrays["x"])
        splits[split] = arrays
    graphs = {}
    rows = n_latents if n_latents is not None else draw(st.integers(1, 3))
    if draw(st.booleans()):
        graphs["latent_graph"] = draw(binary_matrices(rows, rows))
    if n_actions is not None and draw(st.booleans()):
        graphs["action_graph"] = draw(binary_matrices(rows, n_actions))
    info = draw(st.dictionaries(st.text(max_size=5), JSON, max_size=3))
    return Dataset(draw(TEXT), splits, graphs, info)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shape, dtype and bytes (so NaN payloads and -0.0 count)."""
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


@QUICK
@given(ds=datasets(), mmap=st.booleans())
def test_dataset_save_load_round_trips_bit_for_bit(ds, mmap):
    with tempfile.TemporaryDirectory() as folder:
        path = ds.save(os.path.join(folder, "data.npz"))
        finite = all(
            np.isfinite(array).all()
            for arrays in ds.splits.values()
            for key, array in arrays.items()
            if key in ("x", "actions", "z")
        )
        if not finite:  # refused by default, like a plain .npz; kept bit for bit on request
            with pytest.raises(ValueError, match="must be finite"):
                Dataset.load(path, mmap=mmap)
        loaded = Dataset.load(path, mmap=mmap, check_finite=False)
        assert loaded.name == ds.name
        assert json.dumps(loaded.info, sort_keys=True) == json.dumps(ds.info, sort_keys=True)
        assert set(loaded.splits) == set(ds.splits)
        for split, arrays in ds.splits.items():
            assert set(loaded.splits[split]) == set(arrays)
            for key, array in arrays.items():
                assert same_bits(np.asarray(loaded.splits[split][key]), array)
        assert set(loaded.graphs) == set(ds.graphs)
        for key, graph in ds.graphs.items():
            assert same_bits(loaded.graphs[key], graph)
        del loaded  # release the memory maps before the folder goes


@QUICK
@given(
    name=st.one_of(TEXT, st.just("a\x00"), st.none(), st.integers()),
    split=st.one_of(SPLIT_NAMES, st.sampled_from(["", "a/b", "a\x00"]), st.integers()),
    x=st.one_of(any_arrays(), junk_values()),
    z=st.one_of(st.none(), any_arrays()),
    graph=st.one_of(st.none(), any_arrays(max_dims=2), junk_values()),
)
def test_dataset_rejects_bad_input_by_name(name, split, x, z, graph):
    arrays = {"x": x} if z is None else {"x": x, "z": z}
    graphs = {} if graph is None else {"latent_graph": graph}
    ds = expect_result_or_error(
        lambda: Dataset(name, {split: arrays}, graphs), ("`name`", "`splits", "`graphs")
    )
    if ds is not None:
        assert ds.split(split)["x"].dtype == np.float32 and ds.split(split)["x"].ndim == 3


# ---------------------------------------------------------------------------------------------
# user files
USER_KEYS = ("`x`", "`z`", "`actions`", "`action_graph`", "`latent_graph`", "len(x)", "`path`")


@st.composite
def user_files(draw):
    """Arrays for an .npz: mostly plausible shapes, any dtype and values."""
    n = draw(st.integers(0, 12))
    n_steps = draw(st.one_of(st.none(), st.integers(0, 2)))
    x_shape = (n, draw(st.integers(0, 3))) if n_steps is None else (n, n_steps, 2)
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int16, np.bool_, np.complex64]))
    arrays = {"x": draw(hnp.arrays(dtype, x_shape))}
    if draw(st.booleans()):
        arrays["z"] = draw(hnp.arrays(np.float64, x_shape[:-1] + (draw(st.integers(0, 2)),)))
    if draw(st.booleans()):
        arrays["actions"] = draw(
            hnp.arrays(np.float64, (draw(st.sampled_from([n, n + 1])), draw(st.integers(0, 2))))
        )
    if draw(st.booleans()):
        arrays["latent_graph"] = draw(any_arrays(max_dims=2, max_side=3))
    if draw(st.booleans()):
        del arrays["x"]
    return arrays


@QUICK
@given(
    arrays=user_files(),
    fractions=st.sampled_from([(0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (0.9, 0.1), (1.0, 0.0, 0.0)]),
    standardize=st.booleans(),
)
@example(arrays={"x": np.zeros((3, 0, 2))}, fractions=(0.5, 0.25, 0.25), standardize=True)
@example(arrays={"x": np.array([[3.5e38]] * 12)}, fractions=(0.8, 0.1, 0.1), standardize=False)
def test_load_npz_gives_a_clean_split_or_names_the_key(arrays, fractions, standardize):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mine.npz")
        np.savez(path, **arrays)
        ds = expect_result_or_error(
            lambda: load_npz(path, split_fractions=fractions, standardize=standardize),
            (*USER_KEYS, "split_fractions", "'x'"),
        )
    if ds is None:
        return
    x = np.asarray(arrays["x"])
    parts = [ds.split(split)["x"] for split in ("train", "valid", "test")]
    assert sum(part.shape[0] for part in parts) == x.shape[0]
    merged = np.concatenate(parts)
    assert merged.dtype == np.float32 and np.all(np.isfinite(merged))
    if not standardize:  # a shuffle of the rows, nothing lost or repeated
        original = x.astype(np.float32).reshape(merged.shape)
        assert np.array_equal(np.sort(merged, axis=None), np.sort(original, axis=None))
    else:
        train = parts[0].reshape(-1, merged.shape[2]).astype(np.float64)
        assert np.all(np.abs(train.mean(axis=0)) < 1e-3)


@QUICK
@given(
    content=st.one_of(
        st.binary(max_size=64),
        st.just(b"PK\x03\x04 not really a zip"),
    ),
    kind=st.sampled_from(["bytes", "object", "nan", "3d_graph", "single_array"]),
)
@example(content=b"PK\x03\x04 not really a zip", kind="bytes")  # Dataset.load: BadZipFile
def test_load_npz_rejects_unreadable_files(content, kind):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "bad.npz")
        if kind == "bytes":
            with open(path, "wb") as file:
                file.write(content)
        elif kind == "object":
            np.savez(path, x=np.array([[1.0, None]], dtype=object))
        elif kind == "nan":
            np.savez(path, x=np.full((12, 2), np.nan))
        elif kind == "3d_graph":
            np.savez(path, x=np.ones((12, 2)), latent_graph=np.ones((2, 2, 2)))
        else:
            with open(path, "wb") as file:
                np.save(file, np.ones((12, 2)))
        with pytest.raises(ValueError, match="`path`|`x`|`latent_graph`"):
            load_npz(path)
        with pytest.raises((ValueError, FileNotFoundError), match="`path`"):
            Dataset.load(path)


# ---------------------------------------------------------------------------------------------
# generators
ANY_NUMBER = st.one_of(
    st.integers(-2, 12), st.floats(allow_nan=True), st.none(), st.just(True), st.just("3")
)


@FAST
@given(
    kind=st.sampled_from(["action", "temporal", "both"]),
    n_latents=ANY_NUMBER,
    n_actions=st.one_of(st.none(), ANY_NUMBER),
    density=st.one_of(st.floats(allow_nan=True), st.integers(-1, 2), st.none()),
    seed=st.one_of(st.integers(-1, 2**64), st.floats()),
)
def test_random_graph_is_a_valid_graph_or_names_the_argument(
    kind, n_latents, n_actions, density, seed
):
    names = ("`kind`", "`n_latents`", "`n_actions`", "`density`", "`seed`")
    graph = expect_result_or_error(
        lambda: random_graph(kind, n_latents, n_actions, density, seed), names
    )
    if graph is None:
        return
    assert 0.0 < float(density) <= 1.0
    width = n_latents if kind == "temporal" or n_actions is None else n_actions
    assert graph.shape == (n_latents, width) and graph.dtype == np.int8
    assert set(np.unique(graph).tolist()) <= {0, 1}
    if kind == "temporal":
        assert np.all(np.diag(graph) == 1)
    if density == 1.0:
        assert np.all(graph == 1)


@FAST
@given(
    name=st.one_of(st.sampled_from(list(MECHANISM_DATASETS)), st.text(max_size=6)),
    n_latents=ANY_NUMBER,
)
def test_named_graph_is_a_graph_or_names_the_argument(name, n_latents):
    graph = expect_result_or_error(
        lambda: named_graph(name, n_latents=n_latents), ("`name`", "`n_latents`")
    )
    if graph is not None:
        assert graph.ndim == 2 and graph.shape[0] == (
            10 if name.startswith("graph_") else n_latents
        )
        assert set(np.unique(graph).tolist()) <= {0, 1}
        assert np.all(graph.sum(axis=1) >= 1)


@FAST
@given(name=st.text(max_size=12).filter(lambda name: name not in MECHANISM_DATASETS))
def test_unknown_dataset_names_list_the_known_ones(name):
    with pytest.raises(ValueError, match="`name` must be one of") as error:
        make_mechanism_dataset(name, n_samples=10)
    assert all(known in str(error.value) for known in MECHANISM_DATASETS)


@QUICK
@given(
    name=st.sampled_from(list(MECHANISM_DATASETS)),
    n_samples=st.integers(-1, 40),
    raw_fractions=st.tuples(st.floats(0.01, 1.0), st.floats(0.01, 1.0), st.floats(0.01, 1.0)),
    n_latents=st.integers(0, 4),
    n_obs=st.integers(0, 5),
    graph_density=st.one_of(st.none(), st.floats(-0.5, 1.5)),
)
@example(  # one train row of action data: std 0 made x NaN
    name="action_sparsity_trivial",
    n_samples=10,
    raw_fractions=(0.1, 0.1, 0.8),
    n_latents=2,
    n_obs=2,
    graph_density=None,
)
def test_tiny_mechanism_datasets_are_finite_or_name_the_argument(
    name, n_samples, raw_fractions, n_latents, n_obs, graph_density
):
    fractions = tuple(f / sum(raw_fractions) for f in raw_fractions)
    names = ("`n_samples`", "`split_fractions`", "`n_latents`", "`n_obs`", "`graph_density`")
    ds = expect_result_or_error(
        lambda: make_mechanism_dataset(
            name,
            n_samples=n_samples,
            split_fractions=fractions,
            graph_density=graph_density,
            n_latents=n_latents,
            n_obs=n_obs,
        ),
        names,
    )
    if ds is None:
        return
    total = 0
    for split in ("train", "valid", "test"):
        arrays = ds.split(split)
        total += arrays["x"].shape[0]
        assert arrays["x"].shape[1:] == (ds.n_steps, n_obs)
        for array in arrays.values():
            assert np.all(np.isfinite(array))
    assert total == n_samples
    assert json.dumps(ds.info, allow_nan=False)


@FAST
@given(
    n_latents=ANY_NUMBER,
    n_obs=ANY_NUMBER,
    seed=st.one_of(st.integers(-1, 10), st.none()),
    z=st.one_of(any_arrays(), junk_values()),
)
@example(n_latents=1, n_obs=1, seed=0, z="abc")
def test_mixing_function_maps_shapes_or_names_the_argument(n_latents, n_obs, seed, z):
    f = expect_result_or_error(
        lambda: mixing_function(n_latents, n_obs, seed), ("`n_latents`", "`n_obs`", "`seed`")
    )
    if f is None:
        return
    with np.errstate(over="ignore", invalid="ignore"):  # z near 1e308 overflows in f
        out = expect_result_or_error(lambda: f(z), ("`z`",))
    if out is not None:
        assert out.shape == np.shape(z)[:-1] + (n_obs,)
        if np.all(np.abs(np.asarray(z, dtype=np.float64)) < 1e100):
            assert np.all(np.isfinite(out))


@FAST
@given(
    # |values| <= 1e6: w_i a_l and A a overflow near the float64 limit, which is no input error
    inputs=st.one_of(
        float_matrices(st.integers(0, 3), st.integers(0, 3), bound=1e6),
        any_arrays(),
        junk_values(),
    ),
    graph=st.one_of(any_arrays(max_dims=2, max_side=3), square_graphs(1, 3), junk_values()),
    n_latents=ANY_NUMBER,
)
@example(inputs=np.zeros((3, 0)), graph=np.zeros((2, 0)), n_latents=-1)  # ZeroDivisionError
@example(inputs=np.zeros((1, 2)), graph=np.array([["a", "b"]]), n_latents=2.0)
def test_transitions_compute_finite_means_or_name_the_argument(inputs, graph, n_latents):
    names = (
        "`actions`",
        "`z_prev`",
        "`parents`",
        "`action_graph`",
        "`latent_graph`",
        "`graph`",
        "`weights`",
    )
    for function in (
        sines_action_mean,
        sines_temporal_mean,
        k2_variance,
        linear_action_mean,
        linear_temporal_mean,
    ):
        out = expect_result_or_error(lambda f=function: f(inputs, graph), names)
        if out is not None:
            assert out.shape == (np.shape(inputs)[0], np.shape(graph)[0])
            assert np.all(np.isfinite(out))
    w_phi = expect_result_or_error(lambda: frequencies_and_phases(n_latents), ("`n_latents`",))
    if w_phi is not None:
        assert all(part.shape == (n_latents,) for part in w_phi)


def test_names_are_never_split_into_characters():
    from latentgraph.graphs import draw_correlation_matrix

    with pytest.raises(TypeError, match="child_names"):
        EdgeBeliefs.from_adjacency(np.eye(2), "concept", child_names="ab")
    with pytest.raises(TypeError, match="true_names"):
        draw_correlation_matrix(0.5 * np.eye(2), true_names="ab")
    with pytest.raises(ValueError, match="`name`"):
        Dataset("a\x00", {"train": {"x": np.zeros((2, 1, 1), np.float32)}})
