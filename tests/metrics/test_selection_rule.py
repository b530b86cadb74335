"""select_setting: UDR, and UDR restricted to settings whose validation ELBO is near the best.

Hand-made settings (issue 15, point 5): seeds that agree (the same latents up to permutation
and scale), seeds that disagree (independent latents), and per-seed ELBOs chosen so the
expected eligibility follows from the Welch-type test by hand.
"""

import math

import numpy as np
import pytest

import latentgraph
from latentgraph.errors import UserInputError
from latentgraph.metrics import Selection, select_by_udr, select_setting, udr
from latentgraph.metrics.selection import elbo_eligibility

ROWS, LATENTS = 400, 3


def _agreeing(seed: int, n_seeds: int = 3) -> list[np.ndarray]:
    """Encodings that are permutations and rescalings of one another (UDR 1)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(ROWS, LATENTS))
    return [(k + 1.0) * np.roll(z, k, axis=1) for k in range(n_seeds)]


def _partly_agreeing(seed: int, n_seeds: int = 3, noise: float = 1.0) -> list[np.ndarray]:
    """Encodings sharing a signal plus independent noise (0 < UDR < 1)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(ROWS, LATENTS))
    return [z + noise * rng.normal(size=z.shape) for _ in range(n_seeds)]


def _disagreeing(seed: int, n_seeds: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(ROWS, LATENTS)) for _ in range(n_seeds)]


def test_runs_that_agree_but_fit_badly_lose_under_udr_elbo_and_win_under_udr():
    encodings = {15: _agreeing(0), 20: _partly_agreeing(1, noise=0.3), 50: _disagreeing(2)}
    elbos = {15: [-12.0, -12.1, -11.9], 20: [-10.0, -10.1, -9.9], 50: [-10.05, -9.95, -10.0]}
    plain = select_setting(encodings, elbos, rule="udr")
    screened = select_setting(encodings, elbos, rule="udr-elbo")
    assert plain.selected == 15  # the too-sparse runs agree perfectly
    assert screened.selected == 20
    assert screened.scores["eligible"] == {15: 0.0, 20: 1.0, 50: 1.0}
    assert plain.scores == screened.scores  # every criterion is reported by both rules
    assert screened.scores["udr"][15] == pytest.approx(1.0)


def test_runs_that_fit_equally_are_ranked_by_agreement():
    encodings = {
        20: _partly_agreeing(3, noise=0.2),
        25: _partly_agreeing(4, noise=1.0),
        50: _disagreeing(5),
    }
    elbos = {20: [-5.0, -5.2, -5.1], 25: [-5.1, -5.0, -5.2], 50: [-5.2, -5.1, -5.0]}
    sel = select_setting(encodings, elbos, rule="udr-elbo")
    assert sel.scores["eligible"] == {20: 1.0, 25: 1.0, 50: 1.0}
    order = sorted(sel.scores["udr"], key=sel.scores["udr"].get, reverse=True)
    assert order == [20, 25, 50]
    assert sel.selected == 20
    assert sel.selected == select_by_udr(encodings)[0]


def test_the_elbo_test_by_hand():
    elbos = {"a": [1.0, 3.0], "b": [0.0, 0.0], "c": [-2.0, -6.0]}
    scores = elbo_eligibility(elbos, tolerance=1.0)
    # best a: mean 2, sd sqrt(2); b: mean 0, sd 0; c: mean -4, sd sqrt(8)
    assert scores["elbo"] == {"a": 2.0, "b": 0.0, "c": -4.0}
    assert scores["elbo_gap"] == {"a": 0.0, "b": 2.0, "c": 6.0}
    assert scores["elbo_se"]["b"] == pytest.approx(math.sqrt(2 / 2))
    assert scores["elbo_se"]["c"] == pytest.approx(math.sqrt(2 / 2 + 8 / 2))
    # b: 2 > 1 * 1 -> out; c: 6 > 1 * sqrt(5) -> out; at tolerance 3: b in (2 <= 3), c in (6 <= 6.7)
    assert scores["eligible"] == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert elbo_eligibility(elbos, tolerance=3.0)["eligible"] == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_a_large_spread_keeps_a_setting_eligible_a_consistent_deficit_does_not():
    # one unlucky seed of three (a wrong graph) against a tight, slightly better setting
    elbos = {20: [-10.0, -10.0, -11.5], 25: [-10.0, -10.02, -9.98], 15: [-10.6, -10.62, -10.58]}
    scores = elbo_eligibility(elbos)
    assert scores["eligible"] == {20: 1.0, 25: 1.0, 15: 0.0}


def test_ties_go_to_the_setting_listed_first():
    same = _agreeing(6)
    encodings = {25: same, 20: [e.copy() for e in same]}
    elbos = {25: [-1.0, -1.0, -1.0], 20: [-1.0, -1.0, -1.0]}  # zero spread, zero gap
    for rule in ("udr", "udr-elbo"):
        sel = select_setting(encodings, elbos, rule=rule)
        assert sel.scores["udr"][25] == sel.scores["udr"][20]
        assert sel.selected == 25
    assert select_setting(dict(reversed(encodings.items())), elbos, rule="udr-elbo").selected == 20


def test_zero_tolerance_keeps_only_the_best_fitting_setting():
    encodings = {15: _agreeing(7), 20: _disagreeing(8)}
    elbos = {15: [-3.0, -3.1, -2.9], 20: [-2.0, -2.1, -1.9]}
    sel = select_setting(encodings, elbos, rule="udr-elbo", tolerance=0)
    assert sel.selected == 20 and sel.tolerance == 0.0
    assert select_setting(encodings, elbos, rule="udr").selected == 15


def test_plain_udr_needs_no_elbo_and_matches_select_by_udr():
    encodings = {10: _partly_agreeing(9), 20: _agreeing(10)}
    sel = select_setting(encodings)
    assert isinstance(sel, Selection)
    assert sel.rule == "udr" and sel.tolerance is None
    assert set(sel.scores) == {"udr"}
    assert sel.selected == 20
    assert sel.scores["udr"][10] == pytest.approx(udr(encodings[10]))
    assert latentgraph.select_setting is select_setting


def test_selection_is_frozen():
    sel = select_setting({1: _agreeing(0), 2: _disagreeing(1)})
    with pytest.raises(AttributeError):
        sel.selected = 2


@pytest.mark.parametrize(
    ("elbos", "message"),
    [
        ({15: [-1.0, -1.0, -1.0]}, "missing \\[20\\]"),
        ({15: [-1.0, -1.0, -1.0], 20: [-1.0, -1.0, -1.0], 30: [0.0, 0.0]}, "unexpected \\[30\\]"),
        (
            {15: [-1.0, np.nan, -1.0], 20: [-1.0, -1.0, -1.0]},
            "elbo_by_setting\\[15\\] must be finite",
        ),
        ({15: [-1.0, -1.0, -1.0], 20: [-1.0, np.inf]}, "elbo_by_setting\\[20\\] must be finite"),
        ({15: [-1.0], 20: [-1.0, -1.0]}, "at least 2 per-seed"),
        ({15: -1.0, 20: [-1.0, -1.0]}, "at least 2 per-seed"),
    ],
)
def test_bad_elbos_are_refused_naming_the_setting(elbos, message):
    encodings = {15: _agreeing(0), 20: _disagreeing(1)}
    with pytest.raises(ValueError, match=message):
        select_setting(encodings, elbos, rule="udr-elbo")


def test_bad_rule_tolerance_and_missing_elbo_are_refused():
    encodings = {15: _agreeing(0), 20: _disagreeing(1)}
    elbos = {15: [-1.0, -1.0, -1.0], 20: [-1.0, -1.0, -1.0]}
    with pytest.raises(UserInputError, match="rule must be one of"):
        select_setting(encodings, elbos, rule="elbo")
    for bad in (-1.0, math.nan, math.inf, "2", True):
        with pytest.raises(UserInputError, match="tolerance must be"):
            select_setting(encodings, elbos, rule="udr-elbo", tolerance=bad)
    with pytest.raises(ValueError, match="needs elbo_by_setting"):
        select_setting(encodings, rule="udr-elbo")
    with pytest.raises(TypeError, match="elbo_by_setting must be a mapping"):
        select_setting(encodings, [[-1.0, -1.0]], rule="udr-elbo")
    with pytest.raises(ValueError, match="at least one setting"):
        select_setting({}, rule="udr")
