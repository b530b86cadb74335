"""Label-free hyperparameter selection with UDR (unsupervised disentanglement ranking).

``docs/mechanism_sparsity.md#model-selection-with-udr`` (after Duan et al., ICLR 2020,
arXiv 1905.12614, with MCC as similarity; Lachapelle et al., arXiv 2401.04890): for one
hyperparameter setting, ``UDR`` is the mean MCC over pairs of the seeds' encodings of the same
held-out data; the setting with the highest UDR is selected (:func:`select_by_udr`).
:func:`select_setting` adds ``"udr-elbo"``: UDR among the settings that fit the held-out data
about as well as the best one does (see its docstring for why plain UDR needs it).

Caveat (``docs/mechanism_sparsity.md#udr-across-different-graphs``): UDR is only meaningful when every seed was trained on the *same* data and
ground truth. With random graphs drawn per training seed the runs do not share a ground truth;
fix the graph seed independently of the training seed before selecting with UDR.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from latentgraph.errors import UserInputError
from latentgraph.graphs._validation import as_real_array
from latentgraph.metrics._validation import (
    DEFAULT_MAX_ROWS,
    CorrelationMethod,
    as_latents,
    check_max_rows,
    check_method,
)
from latentgraph.metrics.correlation import mean_correlation

__all__ = ["RULES", "Selection", "pairwise_mcc", "select_by_udr", "select_setting", "udr"]

RULES = ("udr", "udr-elbo")
"""The rules of :func:`select_setting`."""
DEFAULT_TOLERANCE = 2.0
"""Default ``tolerance`` of ``"udr-elbo"``: two standard errors of the ELBO gap to the best."""


def _check_encodings(
    encodings: Sequence[ArrayLike], name: str, max_rows: int | None
) -> list[NDArray[np.float64]]:
    if isinstance(encodings, np.ndarray) and encodings.ndim in (0, 2):
        raise TypeError(
            f"{name} must be a sequence of 2-D arrays (one per seed), not one array of shape "
            f"{encodings.shape}"
        )
    if not isinstance(encodings, Sequence | np.ndarray):
        raise TypeError(
            f"{name} must be a sequence of 2-D arrays; received {type(encodings).__name__}"
        )
    if len(encodings) < 2:
        raise ValueError(f"{name} needs at least 2 encodings (seeds); received {len(encodings)}")
    checked = []
    for k, encoding in enumerate(encodings):
        full = as_real_array(encoding, f"{name}[{k}]")
        as_latents(full, f"{name}[{k}]", max_rows=max_rows)
        if checked and full.shape != checked[0].shape:
            raise ValueError(
                f"{name}[{k}] must have the shape of {name}[0] {checked[0].shape} (the same test "
                f"rows encoded by every seed); received {full.shape}"
            )
        checked.append(full)
    return checked


def pairwise_mcc(
    encodings: Sequence[ArrayLike],
    method: CorrelationMethod = "pearson",
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> NDArray[np.float64]:
    """Symmetric matrix of MCCs between every pair of encodings (diagonal 1).

    Each encoding is ``(n_rows, n_latents)``: one seed's encoder means on the same test rows.
    The MCC of a pair with equal widths is symmetric, so each unordered pair is computed once.
    """
    method = check_method(method)
    max_rows = check_max_rows(max_rows)
    checked = _check_encodings(encodings, "encodings", max_rows)
    scores = np.eye(len(checked))
    for a, b in combinations(range(len(checked)), 2):
        score = mean_correlation(checked[a], checked[b], method, max_rows=max_rows).score
        scores[a, b] = scores[b, a] = score
    return scores


def udr(
    encodings: Sequence[ArrayLike],
    method: CorrelationMethod = "pearson",
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> float:
    """UDR of one setting: the mean pairwise MCC between its seeds' encodings (Duan et al., 2020;
    ``docs/mechanism_sparsity.md#model-selection-with-udr``).

    Args:
        encodings: at least two ``(n_rows, n_latents)`` arrays of equal shape, the encodings
            of the same test rows by models trained with different seeds.
        method: correlation used inside the MCC (``"pearson"`` as in the paper).
        max_rows: use only the first ``max_rows`` rows (``None``: all).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(300, 4))
        >>> round(udr([z, -3.0 * z[:, ::-1]]), 6)
        1.0
    """
    scores = pairwise_mcc(encodings, method, max_rows=max_rows)
    upper = np.triu_indices(scores.shape[0], k=1)
    return float(scores[upper].mean())


def select_by_udr[Setting: Hashable](
    encodings_by_setting: Mapping[Setting, Sequence[ArrayLike]],
    method: CorrelationMethod = "pearson",
    *,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> tuple[Setting, dict[Setting, float]]:
    """Pick the hyperparameter setting whose seeds agree most (highest :func:`udr`).

    Args:
        encodings_by_setting: for each setting (e.g. a sparsity bound), its seeds' encodings.
        method, max_rows: passed to :func:`udr`.

    Returns:
        ``(best_setting, {setting: udr})``. Ties go to the setting listed first.
    """
    if not isinstance(encodings_by_setting, Mapping):
        raise TypeError(
            "encodings_by_setting must be a mapping setting -> encodings; "
            f"received {type(encodings_by_setting).__name__}"
        )
    if not encodings_by_setting:
        raise ValueError("encodings_by_setting must hold at least one setting; received none")
    method = check_method(method)
    max_rows = check_max_rows(max_rows)
    for setting, encodings in encodings_by_setting.items():
        _check_encodings(encodings, f"encodings_by_setting[{setting!r}]", max_rows)
    scores = {
        setting: udr(encodings, method, max_rows=max_rows)
        for setting, encodings in encodings_by_setting.items()
    }
    best = max(scores, key=scores.__getitem__)
    return best, scores


@dataclass(frozen=True)
class Selection[Setting: Hashable]:
    """The outcome of :func:`select_setting`.

    Attributes:
        selected: the chosen setting.
        rule: ``"udr"`` or ``"udr-elbo"``.
        scores: criterion -> {setting: value}, every criterion that could be computed:
            ``"udr"`` always; with ELBOs also ``"elbo"`` (mean over seeds), ``"elbo_sd"``
            (seed-to-seed standard deviation), ``"elbo_gap"`` (best mean minus this mean,
            >= 0), ``"elbo_se"`` (standard error of that gap), ``"eligible"`` (1.0 if the
            setting passes the ELBO test at ``tolerance``, else 0.0).
        tolerance: the ELBO tolerance in standard errors (``None`` when no ELBO was given).
    """

    selected: Setting
    rule: str
    scores: dict[str, dict[Setting, float]]
    tolerance: float | None


def _check_elbos[Setting: Hashable](
    elbo_by_setting: Mapping[Setting, Sequence[float]], settings: Sequence[Setting]
) -> dict[Setting, np.ndarray]:
    if not isinstance(elbo_by_setting, Mapping):
        raise TypeError(
            "elbo_by_setting must be a mapping setting -> per-seed validation ELBOs; "
            f"received {type(elbo_by_setting).__name__}"
        )
    missing = [s for s in settings if s not in elbo_by_setting]
    extra = [s for s in elbo_by_setting if s not in set(settings)]
    if missing or extra:
        raise ValueError(
            "elbo_by_setting must have the settings of encodings_by_setting "
            f"{list(settings)!r}; missing {missing!r}, unexpected {extra!r}"
        )
    checked = {}
    for setting in settings:
        values = np.asarray(elbo_by_setting[setting], dtype=float)
        if values.ndim != 1 or values.size < 2:
            raise ValueError(
                f"elbo_by_setting[{setting!r}] must be a sequence of at least 2 per-seed ELBOs "
                f"(their spread is the test's scale); received shape {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError(
                f"elbo_by_setting[{setting!r}] must be finite (a diverged run has no ELBO: "
                f"leave it out or re-run it); received {values.tolist()}"
            )
        checked[setting] = values
    return checked


def _check_tolerance(tolerance: float | None) -> float:
    if tolerance is None:
        return DEFAULT_TOLERANCE
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise UserInputError(
            "tolerance must be a finite number >= 0 (standard errors of the ELBO gap) or None "
            f"(the default, {DEFAULT_TOLERANCE}); received {tolerance!r}"
        )
    return float(tolerance)


def elbo_eligibility[Setting: Hashable](
    elbo_by_setting: Mapping[Setting, Sequence[float]], tolerance: float = DEFAULT_TOLERANCE
) -> dict[str, dict[Setting, float]]:
    """The ELBO test of ``"udr-elbo"``: which settings fit about as well as the best one.

    With :math:`\\bar e_k, s_k, n_k` the mean, standard deviation and count of setting k's
    per-seed validation ELBOs and :math:`b = \\arg\\max_k \\bar e_k`,

    .. math:: g_k = \\bar e_b - \\bar e_k, \\qquad
              \\mathrm{se}_k = \\sqrt{s_b^2 / n_b + s_k^2 / n_k}, \\qquad
              k \\text{ eligible} \\iff g_k \\le \\mathrm{tolerance} \\cdot \\mathrm{se}_k

    (a Welch-type comparison with the best setting; ``b`` itself is always eligible). Returns
    the scores ``"elbo"``, ``"elbo_sd"``, ``"elbo_gap"``, ``"elbo_se"``, ``"eligible"`` of
    :class:`Selection`.
    """
    tolerance = _check_tolerance(tolerance)
    settings = list(elbo_by_setting)
    values = _check_elbos(elbo_by_setting, settings)
    mean = {k: float(v.mean()) for k, v in values.items()}
    sd = {k: float(v.std(ddof=1)) for k, v in values.items()}
    best = max(settings, key=mean.__getitem__)
    gap = {k: mean[best] - mean[k] for k in settings}
    se = {
        k: math.sqrt(sd[best] ** 2 / values[best].size + sd[k] ** 2 / values[k].size)
        for k in settings
    }
    eligible = {k: float(gap[k] <= tolerance * se[k]) for k in settings}
    return {"elbo": mean, "elbo_sd": sd, "elbo_gap": gap, "elbo_se": se, "eligible": eligible}


def select_setting[Setting: Hashable](
    encodings_by_setting: Mapping[Setting, Sequence[ArrayLike]],
    elbo_by_setting: Mapping[Setting, Sequence[float]] | None = None,
    *,
    rule: str = "udr",
    tolerance: float | None = None,
    method: CorrelationMethod = "pearson",
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> Selection[Setting]:
    """Pick a setting without labels: by UDR (``rule="udr"``), or by UDR among the settings
    whose validation ELBO is not clearly below the best one's (``rule="udr-elbo"``).

    Why the ELBO (``docs/mechanism_sparsity.md#model-selection-with-udr``; Lachapelle et al.,
    arXiv 2401.04890): UDR rewards agreement between seeds, and agreement has two
    causes. Runs that recover the true latents agree (the identifiable case), but so do runs
    that are *too sparse* and all drop the same true edges: a bound below the true edge count
    forces every seed into the same wrong, smaller graph, and the seeds then agree almost
    perfectly (``BENCHMARKS.md``, "Selection: UDR over bounds ... paper's rate ratio": bound 15
    scores UDR 0.991 where the true count 20 scores 0.975). Such runs fit the data worse, since a
    mechanism that has lost a true parent cannot predict its child as well; a bound at or above
    the truth fits as well as the truth, and among those the too-dense ones are not
    identifiable, so their seeds disagree and UDR ranks them below the true one. The ELBO
    screens out the first failure, UDR the second.

    The ELBO test (:func:`elbo_eligibility`) compares every setting with the best mean ELBO
    ``b`` in units of the standard error of the gap, ``se_k = sqrt(s_b^2/n_b + s_k^2/n_k)``
    over seeds: setting ``k`` is eligible when ``mean_b - mean_k <= tolerance * se_k``. The
    unit is the seeds' own spread because the ELBO's scale depends on the data (nats per
    example grow with ``T * d_x``) while what matters is whether a gap is larger than the
    noise between seeds; the default, 2 standard errors, keeps every setting that a two-sided
    test at about 5 % could not tell from the best, so a true-bound setting with one unlucky
    seed (a large spread) stays eligible while a consistent deficit is screened out.

    Args:
        encodings_by_setting: for each setting, its seeds' encodings of the same held-out rows
            (as :func:`select_by_udr`).
        elbo_by_setting: for each setting (the same keys), its seeds' validation ELBOs (per
            example, higher is better; e.g. ``families.mechanism_sparsity.evaluate.
            validation_elbo``); required by ``"udr-elbo"``, optional for ``"udr"`` (then its
            scores are reported too).
        rule: ``"udr"`` or ``"udr-elbo"``.
        tolerance: standard errors of the ELBO gap a setting may lie below the best one
            (``None``: :data:`DEFAULT_TOLERANCE`, 2.0).
        method, max_rows: passed to :func:`udr`.

    Returns:
        a :class:`Selection`. Ties in UDR go to the setting listed first.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(300, 3))
        >>> same = [z, 2 * z]  # seeds that agree
        >>> differ = [z, rng.normal(size=(300, 3))]
        >>> sel = select_setting({15: same, 20: differ, 25: same},
        ...                      {15: [-3.0, -3.1], 20: [-1.0, -1.1], 25: [-1.05, -1.0]},
        ...                      rule="udr-elbo")
        >>> sel.selected, sel.scores["eligible"]
        (25, {15: 0.0, 20: 1.0, 25: 1.0})
    """
    if not isinstance(rule, str) or rule not in RULES:
        raise UserInputError(f"rule must be one of {RULES}; received {rule!r}")
    if not isinstance(encodings_by_setting, Mapping):
        raise TypeError(
            "encodings_by_setting must be a mapping setting -> encodings; "
            f"received {type(encodings_by_setting).__name__}"
        )
    if not encodings_by_setting:
        raise ValueError("encodings_by_setting must hold at least one setting; received none")
    settings = list(encodings_by_setting)
    if rule == "udr-elbo" and elbo_by_setting is None:
        raise ValueError(
            "rule 'udr-elbo' needs elbo_by_setting (per-seed validation ELBOs of every "
            "setting); received None"
        )
    checked_tolerance = _check_tolerance(tolerance)
    elbo_scores: dict[str, dict[Setting, float]] = {}
    if elbo_by_setting is not None:
        _check_elbos(elbo_by_setting, settings)
        elbo_scores = elbo_eligibility({s: elbo_by_setting[s] for s in settings}, checked_tolerance)
    _, udr_scores = select_by_udr(encodings_by_setting, method, max_rows=max_rows)
    if rule == "udr":
        candidates = settings
    else:
        candidates = [s for s in settings if elbo_scores["eligible"][s] == 1.0]
    selected = max(candidates, key=udr_scores.__getitem__)  # first of equal scores
    return Selection(
        selected=selected,
        rule=rule,
        scores={"udr": udr_scores, **elbo_scores},
        tolerance=checked_tolerance if elbo_by_setting is not None else None,
    )
