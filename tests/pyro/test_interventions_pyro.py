"""Intervention handlers for Pyro programs (latentgraph.models.interventions).

References checked against: closed-form moments of linear-Gaussian SCMs under each kind of
intervention (Monte Carlo, tolerance = 5 standard errors of the estimator at the sample size,
fixed seeds), hand-computed log densities, and pairs of formulations of the same intervention
that must agree exactly (same seed) or in log density (same values).
"""

from __future__ import annotations

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Predictive

from latentgraph.data import linear_scm_moments
from latentgraph.models.interventions import (
    Context,
    MaskedSelect,
    PerfectDraw,
    PerfectValue,
    Soft,
    Stochastic,
    intervene,
    linear_gaussian_moments,
    linear_gaussian_scm_pyro,
    perfect,
    perfect_linear_gaussian,
    soft,
    soft_linear_gaussian,
    stochastic,
    target_mask,
)
from latentgraph.models.interventions.masked_select_pyro import broadcast_shape

# ---------------------------------------------------------------- small SCMs (rows = children)
SCM3 = {  # x0 -> x1 -> x2, x0 -> x2
    "weights": np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.5, -1.0, 0.0]]),
    "noise_scales": np.array([1.0, 0.5, 0.7]),
    "intercepts": np.array([0.5, -1.0, 0.2]),
    "target": 1,
}
SCM4 = {  # diamond x0 -> {x1, x2} -> x3
    "weights": np.array(
        [
            [0.0, 0.0, 0.0, 0.0],
            [0.8, 0.0, 0.0, 0.0],
            [-1.2, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.5, 0.0],
        ]
    ),
    "noise_scales": np.array([0.6, 1.0, 0.4, 0.3]),
    "intercepts": np.array([1.0, 0.0, -0.5, 0.3]),
    "target": 2,
}
SCMS = {"scm3": SCM3, "scm4": SCM4}
N_MC = 20_000
N_SE = 5.0


def _assert_close(actual, expected, *, rtol=1e-5, atol=1e-5, msg=None):
    """torch.allclose with a shape check (torch.testing.assert_close imports sympy: seconds)."""
    expected = torch.as_tensor(expected, dtype=actual.dtype, device=actual.device)
    assert actual.shape == expected.shape, (msg, actual.shape, expected.shape)
    assert torch.allclose(actual, expected, rtol=rtol, atol=atol), (msg, actual, expected)


def _scm_model(scm, device, dtype):
    return linear_gaussian_scm_pyro(
        scm["weights"], scm["noise_scales"], scm["intercepts"], device=device, dtype=dtype
    )


def _scm_args(scm):
    return scm["weights"], scm["noise_scales"], scm["intercepts"]


def _stack(values: dict) -> np.ndarray:
    names = sorted(values, key=lambda name: int(name[1:]))
    return torch.stack([values[name] for name in names], -1).double().cpu().numpy()


def _draw(model, n, seed):
    pyro.set_rng_seed(seed)
    return _stack(model(n))


def _assert_moments(samples: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> None:
    """Sample mean and covariance within N_SE standard errors of the closed form.

    SE of a mean: sqrt(S_ii / n); of a covariance entry (Gaussian): sqrt((S_ii S_jj + S_ij^2) / n).
    The small absolute slack covers float32 rounding (it is far below any SE here).
    """
    n = len(samples)
    var = np.diag(cov)
    np.testing.assert_array_less(np.abs(samples.mean(0) - mean), N_SE * np.sqrt(var / n) + 1e-4)
    cov_se = np.sqrt((np.outer(var, var) + cov**2) / n)
    np.testing.assert_array_less(np.abs(np.cov(samples, rowvar=False) - cov), N_SE * cov_se + 1e-4)


def _assert_distinguishable(moments_a, moments_b, n: int) -> None:
    """The two closed forms differ by > 4 tolerances somewhere, so the MC check can fail."""
    (mean_a, cov_a), (mean_b, cov_b) = moments_a, moments_b
    var = np.maximum(np.diag(cov_a), np.diag(cov_b))
    mean_gap = np.abs(mean_a - mean_b) / (N_SE * np.sqrt(var / n) + 1e-4)
    cov_se = np.sqrt((np.outer(var, var) + np.maximum(cov_a**2, cov_b**2)) / n)
    cov_gap = np.abs(cov_a - cov_b) / (N_SE * cov_se + 1e-4)
    assert max(mean_gap.max(), cov_gap.max()) > 4.0


def _kind_cases(scm, device, dtype):
    """kind -> (wrap the model, closed-form (W, omega, b), Intervention) on the target."""
    redraw = dist.Normal(torch.tensor(-1.0, device=device, dtype=dtype), 0.3)
    k = scm["target"]
    args = _scm_args(scm)
    omega_k = scm["noise_scales"][k]
    return {
        "perfect_value": (
            lambda model: perfect(model, site=f"x{k}", value=2.0),
            perfect_linear_gaussian(*args, {k: (2.0, 0.0)}),
            PerfectValue(2.0),
        ),
        "perfect_draw": (
            lambda model: perfect(model, site=f"x{k}", distribution=redraw),
            perfect_linear_gaussian(*args, {k: (-1.0, 0.3)}),
            PerfectDraw(redraw),
        ),
        # parent-dependent replacement: x_k ~ N(0.5 loc_k(pa) - 1, 0.3^2)
        "stochastic": (
            lambda model: stochastic(
                model, site=f"x{k}", mechanism=lambda d: dist.Normal(0.5 * d.loc - 1.0, 0.3)
            ),
            soft_linear_gaussian(
                *args, {k: Soft(loc_factor=0.5, loc_shift=-1.0, scale_factor=0.3 / omega_k)}
            ),
            Stochastic(lambda d: dist.Normal(0.5 * d.loc - 1.0, 0.3)),
        ),
        "soft": (
            lambda model: soft(
                model, site=f"x{k}", loc_shift=1.5, loc_factor=0.5, scale_factor=2.0
            ),
            soft_linear_gaussian(*args, {k: Soft(loc_shift=1.5, loc_factor=0.5, scale_factor=2.0)}),
            Soft(loc_shift=1.5, loc_factor=0.5, scale_factor=2.0),
        ),
    }


KINDS = ("perfect_value", "perfect_draw", "stochastic", "soft")


# ---------------------------------------------------------------- closed form (numpy)
def test_closed_form_matches_linear_scm_moments():
    """Second formulation: the data room's per-context moments (mixing = I, no obs noise)."""
    scm = SCM4
    loc, scale = np.array([1.0, -2.0, 0.5, 3.0]), np.array([0.5, 1.0, 2.0, 0.1])
    ref_mean, ref_cov = linear_scm_moments(
        scm["weights"], scm["noise_scales"], loc, scale, np.eye(4), 0.0
    )
    mean, cov = linear_gaussian_moments(scm["weights"], scm["noise_scales"])
    np.testing.assert_allclose(mean, ref_mean[0], atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov[0], atol=1e-12)
    for k in range(4):
        cut = perfect_linear_gaussian(
            scm["weights"], scm["noise_scales"], None, {k: (loc[k], scale[k])}
        )
        mean, cov = linear_gaussian_moments(*cut)
        np.testing.assert_allclose(mean, ref_mean[k + 1], atol=1e-12)
        np.testing.assert_allclose(cov, ref_cov[k + 1], atol=1e-12)


def test_closed_form_hand_example():
    # x0 = 1 + e0, x1 = 2 x0 + e1: E = (1, 2), Cov = [[1, 2], [2, 5]];
    # soft on x1 (a = 0.5, c = 1, g = 2): x1 = x0 + 1 + 2 e1: E x1 = 2, Var x1 = 1 + 4 = 5
    weights, scales, intercepts = [[0, 0], [2, 0]], [1, 1], [1, 0]
    mean, cov = linear_gaussian_moments(weights, scales, intercepts)
    assert mean.tolist() == [1.0, 2.0] and cov.tolist() == [[1.0, 2.0], [2.0, 5.0]]
    shifted = soft_linear_gaussian(
        weights, scales, intercepts, {1: Soft(loc_factor=0.5, loc_shift=1.0, scale_factor=2.0)}
    )
    mean, cov = linear_gaussian_moments(*shifted)
    np.testing.assert_allclose(mean, [1.0, 2.0])
    np.testing.assert_allclose(cov, [[1.0, 1.0], [1.0, 5.0]])
    # do(x0 := 3): x1 = 6 + e1
    mean, cov = linear_gaussian_moments(
        *perfect_linear_gaussian(weights, scales, intercepts, {0: (3.0, 0.0)})
    )
    np.testing.assert_allclose(mean, [3.0, 6.0])
    np.testing.assert_allclose(cov, [[0.0, 0.0], [0.0, 1.0]])


# ---------------------------------------------------------------- Monte Carlo vs closed form
@pytest.mark.parametrize("scm_name", sorted(SCMS))
def test_observational_moments(scm_name, device, dtype):
    scm = SCMS[scm_name]
    samples = _draw(_scm_model(scm, device, dtype), N_MC, seed=0)
    _assert_moments(samples, *linear_gaussian_moments(*_scm_args(scm)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scm_name", sorted(SCMS))
def test_single_target_moments(scm_name, kind, device, dtype):
    scm = SCMS[scm_name]
    wrap, closed_form, _ = _kind_cases(scm, device, dtype)[kind]
    expected = linear_gaussian_moments(*closed_form)
    _assert_distinguishable(expected, linear_gaussian_moments(*_scm_args(scm)), N_MC)
    samples = _draw(wrap(_scm_model(scm, device, dtype)), N_MC, seed=1)
    _assert_moments(samples, *expected)
    if kind == "perfect_value":
        assert np.all(samples[:, scm["target"]] == 2.0)


def _multi_context(mask=None):
    return Context(
        {
            "x1": PerfectValue(-1.0),
            "x2": Soft(loc_shift=2.0, scale_factor=0.5),
            "x3": Stochastic(lambda d: dist.Normal(-d.loc, 0.2)),
        },
        mask=mask,
    )


def _multi_closed_form():
    args = _scm_args(SCM4)
    weights, scales, intercepts = perfect_linear_gaussian(*args, {1: (-1.0, 0.0)})
    return soft_linear_gaussian(
        weights,
        scales,
        intercepts,
        {
            2: Soft(loc_shift=2.0, scale_factor=0.5),
            3: Soft(loc_factor=-1.0, scale_factor=0.2 / SCM4["noise_scales"][3]),
        },
    )


def test_several_targets_moments(device, dtype):
    expected = linear_gaussian_moments(*_multi_closed_form())
    _assert_distinguishable(expected, linear_gaussian_moments(*_scm_args(SCM4)), N_MC)
    samples = _draw(intervene(_scm_model(SCM4, device, dtype), _multi_context()), N_MC, seed=2)
    _assert_moments(samples, *expected)


@pytest.mark.parametrize("kind", KINDS)
def test_per_sample_mixed_mask_moments(kind, device, dtype):
    """Intervened plate elements follow the interventional law, the others the natural one."""
    scm = SCM3
    k = scm["target"]
    _, closed_form, intervention = _kind_cases(scm, device, dtype)[kind]
    n = 3 * 10_000
    mask = torch.arange(n, device=device) % 3 == 0
    model = intervene(
        _scm_model(scm, device, dtype), Context({f"x{k}": intervention}, mask=mask[:, None])
    )
    samples = _draw(model, n, seed=3)
    rows = mask.cpu().numpy()
    _assert_moments(samples[rows], *linear_gaussian_moments(*closed_form))
    _assert_moments(samples[~rows], *linear_gaussian_moments(*_scm_args(scm)))


# ---------------------------------------------------------------- two formulations agree
def _trace(model, *args, seed=0):
    pyro.set_rng_seed(seed)
    trace = poutine.trace(model).get_trace(*args)
    trace.compute_log_prob()
    return trace


def _values(trace, names):
    return {name: trace.nodes[name]["value"] for name in names}


NAMES3 = ("x0", "x1", "x2")


def _assert_same_traces(trace_a, trace_b, names, *, exact=True):
    for name in names:
        a, b = trace_a.nodes[name], trace_b.nodes[name]
        if exact:
            assert torch.equal(a["value"], b["value"]), name
        else:
            _assert_close(a["value"], b["value"], rtol=1e-6, atol=1e-6)
        _assert_close(a["log_prob"], b["log_prob"], rtol=1e-6, atol=1e-6)


def test_perfect_value_equals_stochastic_point_mass(device, dtype):
    model = _scm_model(SCM3, device, dtype)
    value = torch.tensor(2.0, device=device, dtype=dtype)
    fixed = _trace(perfect(model, site="x1", value=2.0), 50)
    point_mass = _trace(stochastic(model, site="x1", mechanism=dist.Delta(value)), 50)
    _assert_same_traces(fixed, point_mass, NAMES3)
    assert torch.all(fixed.nodes["x1"]["value"] == 2.0)
    assert torch.all(fixed.nodes["x1"]["log_prob"] == 0.0)
    assert fixed.nodes["x1"]["is_observed"]  # guides and replay leave a fixed site alone


def test_perfect_draw_equals_stochastic_replacement(device, dtype):
    model = _scm_model(SCM3, device, dtype)
    q = dist.Normal(torch.tensor(-1.0, device=device, dtype=dtype), 0.3)
    draw = _trace(perfect(model, site="x1", distribution=q), 50)
    fixed_mechanism = _trace(stochastic(model, site="x1", mechanism=q), 50)
    callable_mechanism = _trace(stochastic(model, site="x1", mechanism=lambda d: q), 50)
    _assert_same_traces(draw, fixed_mechanism, NAMES3)
    _assert_same_traces(draw, callable_mechanism, NAMES3)


def test_soft_equals_stochastic_with_shifted_distribution(device, dtype):
    model = _scm_model(SCM3, device, dtype)
    shifted = _trace(soft(model, site="x1", loc_shift=1.5, loc_factor=0.5, scale_factor=2.0), 50)
    replaced = _trace(
        stochastic(
            model, site="x1", mechanism=lambda d: dist.Normal(0.5 * d.loc + 1.5, 2.0 * d.scale)
        ),
        50,
    )
    _assert_same_traces(shifted, replaced, NAMES3, exact=False)
    # and the soft shift moved x1: its natural mean would be 1.5 * x0 - 1
    natural = _trace(model, 50)
    assert not torch.allclose(shifted.nodes["x1"]["value"], natural.nodes["x1"]["value"])


def test_soft_multivariate_normal_and_independent(device, dtype):
    """Soft on MVN: N(a mu + c, D Sigma D); on Independent(Normal): the shifted Normal."""
    torch.manual_seed(0)
    loc = torch.tensor([1.0, -2.0, 0.5], device=device, dtype=dtype)
    factor = torch.randn(3, 3, device=device, dtype=dtype)
    cov = factor @ factor.T + torch.eye(3, device=device, dtype=dtype)
    shift = torch.tensor([0.5, 1.0, -1.0], device=device, dtype=dtype)
    gain = torch.tensor([2.0, 0.5, 3.0], device=device, dtype=dtype)

    def mvn_model(n):
        with pyro.plate("n", n):
            return pyro.sample("z", dist.MultivariateNormal(loc, covariance_matrix=cov))

    def normal_model(n):
        with pyro.plate("n", n):
            return pyro.sample("z", dist.Normal(loc, cov.diagonal().sqrt()).to_event(1))

    values = torch.randn(7, 3, device=device, dtype=dtype)
    for program, reference in (
        (
            mvn_model,
            dist.MultivariateNormal(
                2.0 * loc + shift, covariance_matrix=gain[:, None] * cov * gain
            ),
        ),
        (normal_model, dist.Normal(2.0 * loc + shift, gain * cov.diagonal().sqrt()).to_event(1)),
    ):
        intervened = soft(program, site="z", loc_shift=shift, loc_factor=2.0, scale_factor=gain)
        trace = poutine.trace(poutine.condition(intervened, data={"z": values})).get_trace(7)
        _assert_close(
            trace.nodes["z"]["fn"].log_prob(values),
            reference.log_prob(values),
            rtol=1e-5,
            atol=1e-5,
        )
    pyro.set_rng_seed(4)
    samples = soft(mvn_model, site="z", loc_shift=shift, loc_factor=2.0, scale_factor=gain)(N_MC)
    expected_cov = (gain[:, None] * cov * gain).double().cpu().numpy()
    _assert_moments(
        samples.double().cpu().numpy(), (2.0 * loc + shift).double().cpu().numpy(), expected_cov
    )


def test_mask_all_true_equals_batch_level(device, dtype):
    """Same values, same per-site log densities, for each kind."""
    model = _scm_model(SCM3, device, dtype)
    n = 64
    all_true = torch.ones(n, dtype=torch.bool, device=device)
    for kind, (_, _, intervention) in _kind_cases(SCM3, device, dtype).items():
        masked = _trace(intervene(model, Context({"x1": intervention}, mask=all_true[:, None])), n)
        values = _values(masked, NAMES3)
        batch = _trace(
            poutine.condition(intervene(model, Context({"x1": intervention})), data=values), n
        )
        for name in NAMES3:
            _assert_close(masked.nodes[name]["log_prob"], batch.nodes[name]["log_prob"], msg=kind)
        if kind == "perfect_value":
            assert torch.all(values["x1"] == 2.0)


def test_mixed_mask_equals_two_batch_level_runs(device, dtype):
    """Rows of a mixed-mask run score exactly as in a batch-level intervened run (mask True)
    or a natural run (mask False) of those rows alone."""
    model = _scm_model(SCM3, device, dtype)
    mask = torch.tensor([True, False, False, True, True, False, True, False], device=device)
    for kind, (_, _, intervention) in _kind_cases(SCM3, device, dtype).items():
        mixed = _trace(
            intervene(model, Context({"x1": intervention}, mask=mask[:, None])), len(mask)
        )
        values = _values(mixed, NAMES3)
        for rows, program in (
            (mask, intervene(model, Context({"x1": intervention}))),
            (~mask, model),
        ):
            part = {name: value[rows] for name, value in values.items()}
            alone = _trace(poutine.condition(program, data=part), int(rows.sum()))
            for name in NAMES3:
                _assert_close(
                    mixed.nodes[name]["log_prob"][rows], alone.nodes[name]["log_prob"], msg=kind
                )
        if kind == "perfect_value":
            assert torch.all(values["x1"][mask] == 2.0) and torch.all(values["x1"][~mask] != 2.0)


def test_several_targets_equal_nested_single_target_handlers(device, dtype):
    model = _scm_model(SCM4, device, dtype)
    n = 32
    names = ("x0", "x1", "x2", "x3")
    generator = torch.Generator().manual_seed(5)
    mask = (torch.rand(n, 3, generator=generator) < 0.5).to(device)
    for context_mask in (None, mask):
        columns = [None] * 3 if context_mask is None else [context_mask[:, j] for j in range(3)]
        multi = _trace(intervene(model, _multi_context(context_mask)), n, seed=6)
        nested = perfect(model, site="x1", value=-1.0, mask=columns[0])
        nested = soft(nested, site="x2", loc_shift=2.0, scale_factor=0.5, mask=columns[1])
        nested = stochastic(
            nested, site="x3", mechanism=lambda d: dist.Normal(-d.loc, 0.2), mask=columns[2]
        )
        _assert_same_traces(multi, _trace(nested, n, seed=6), names)


def test_nested_soft_handlers_compose():
    """The outer handler sees the inner one's result as the mechanism: shifts add up."""

    def model():
        return pyro.sample("x", dist.Normal(1.0, 2.0))

    twice = soft(soft(model, site="x", loc_shift=1.0, scale_factor=3.0), site="x", loc_shift=2.0)
    fn = poutine.trace(twice).get_trace().nodes["x"]["fn"]
    assert float(fn.loc) == 4.0 and float(fn.scale) == 6.0


# ---------------------------------------------------------------- hand-computed log densities
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _two_node(n=None):
    # x0 ~ N(0, 1), x1 | x0 ~ N(2 x0 + 1, 0.5^2)
    with pyro.plate("n", 2 if n is None else n):
        x0 = pyro.sample("x0", dist.Normal(0.0, 1.0))
        return pyro.sample("x1", dist.Normal(2.0 * x0 + 1.0, 0.5))


def _site_log_probs(program, data):
    trace = poutine.trace(poutine.condition(program, data=data)).get_trace()
    trace.compute_log_prob()
    return trace.nodes["x0"]["log_prob"], trace.nodes["x1"]["log_prob"], trace


def test_log_density_hand_computed():
    x0, x1 = torch.tensor([0.3, 0.3]), torch.tensor([1.0, 1.0])
    # do(x0 := 0.3): x0 contributes log 1 = 0; x1 ~ N(1.6, 0.5^2) at 1.0
    lp0, lp1, trace = _site_log_probs(perfect(_two_node, site="x0", value=0.3), {"x1": x1})
    assert torch.all(lp0 == 0.0) and torch.all(trace.nodes["x0"]["value"] == 0.3)
    _assert_close(lp1, torch.full((2,), -0.9457913526447276))
    # do(x1 ~ N(-1, 2^2)) at 1.0: -log sqrt(2 pi) - log 2 - 1/2
    _, lp1, _ = _site_log_probs(
        perfect(_two_node, site="x1", distribution=dist.Normal(-1.0, 2.0)), {"x0": x0, "x1": x1}
    )
    _assert_close(lp1, torch.full((2,), -LOG_SQRT_2PI - math.log(2.0) - 0.5))
    # soft x1: loc 2 * 1.6 + 1 = 4.2, scale 1.5
    lp0, lp1, _ = _site_log_probs(
        soft(_two_node, site="x1", loc_factor=2.0, loc_shift=1.0, scale_factor=3.0),
        {"x0": x0, "x1": x1},
    )
    _assert_close(lp0, torch.full((2,), -LOG_SQRT_2PI - 0.045))
    _assert_close(lp1, torch.full((2,), -3.599959196868393))
    # parent-dependent stochastic replacement N(-loc, 0.25^2): loc -1.6
    _, lp1, _ = _site_log_probs(
        stochastic(_two_node, site="x1", mechanism=lambda d: dist.Normal(-d.loc, 0.25)),
        {"x0": x0, "x1": x1},
    )
    _assert_close(lp1, torch.full((2,), -53.612644172084785))
    # per sample: element 0 soft, element 1 natural N(1.6, 0.5^2)
    _, lp1, _ = _site_log_probs(
        soft(
            _two_node,
            site="x1",
            loc_factor=2.0,
            loc_shift=1.0,
            scale_factor=3.0,
            mask=torch.tensor([True, False]),
        ),
        {"x0": x0, "x1": x1},
    )
    _assert_close(lp1, torch.tensor([-3.599959196868393, -0.9457913526447276]))


def test_other_values_at_a_fixed_site_raise():
    """Values reaching a fixed element from outside must equal the intervened value: the point
    mass scores others -inf, and the handler raises rather than let them flow downstream."""
    point_mass = MaskedSelect(
        dist.Normal(torch.zeros(2), 1.0),
        dist.Delta(torch.full((2,), 5.0)),
        torch.tensor([True, False]),
    )
    lp = point_mass.log_prob(torch.tensor([1.0, 1.0]))
    assert lp[0] == -math.inf and torch.isfinite(lp[1])
    data = {"x0": torch.zeros(2), "x1": torch.tensor([1.0, 1.0])}
    for mask in (torch.tensor([True, False]), None):
        with pytest.raises(ValueError, match="fixed by a perfect intervention"):
            poutine.trace(
                poutine.condition(perfect(_two_node, site="x1", value=5.0, mask=mask), data)
            ).get_trace()
    # consistent values pass: 5 where fixed, anything elsewhere
    ok = {"x0": torch.zeros(2), "x1": torch.tensor([5.0, 1.0])}
    poutine.trace(
        poutine.condition(
            perfect(_two_node, site="x1", value=5.0, mask=torch.tensor([True, False])), ok
        )
    ).get_trace()
    # Predictive with posterior samples of the fixed site (e.g. from an observational fit)
    samples = {"x0": torch.zeros(3, 2), "x1": torch.ones(3, 2)}
    with pytest.raises(ValueError, match="Predictive"):
        Predictive(perfect(_two_node, site="x1", value=5.0), posterior_samples=samples)()


def test_masked_select_distribution():
    natural, intervened = dist.Normal(torch.zeros(4), 1.0), dist.Normal(10.0, 0.1)
    mask = torch.tensor([True, False, True, False])
    select = MaskedSelect(natural, intervened, mask)
    assert select.batch_shape == (4,) and select.has_rsample
    _assert_close(select.mean, torch.tensor([10.0, 0.0, 10.0, 0.0]))
    value = torch.tensor([10.0, 0.0, 0.0, 10.0])
    expected = torch.where(mask, intervened.log_prob(value), natural.log_prob(value))
    _assert_close(select.log_prob(value), expected)
    expanded = select.expand((3, 4))
    assert expanded.batch_shape == (3, 4) and expanded.sample().shape == (3, 4)
    draws = select.sample((500,))
    assert torch.all((draws[:, mask] - 10.0).abs() < 1.0) and draws[:, ~mask].std() > 0.5


def test_broadcast_shape_matches_numpy():
    cases = [((), ()), ((3,), ()), ((4, 1), (3,)), ((2, 1, 5), (7, 1), (5,)), ((0,), (1,))]
    for shapes in cases:
        assert broadcast_shape(*shapes) == np.broadcast_shapes(*shapes)
    for shapes in [((3,), (4,)), ((2, 3), (3, 3))]:
        with pytest.raises(ValueError):
            np.broadcast_shapes(*shapes)
        assert broadcast_shape(*shapes) is None


# ---------------------------------------------------------------- composes with Pyro machinery
def test_composes_with_trace_and_replay(device, dtype):
    model = _scm_model(SCM3, device, dtype)
    n = 16

    def guide(n):
        with pyro.plate("samples", n):
            pyro.sample("x0", dist.Normal(torch.full((n,), 3.0, device=device, dtype=dtype), 1e-3))

    guide_trace = poutine.trace(guide).get_trace(n)
    intervened = soft(model, site="x1", loc_shift=10.0)
    trace = poutine.trace(poutine.replay(intervened, trace=guide_trace)).get_trace(n)
    x0 = guide_trace.nodes["x0"]["value"]
    assert torch.equal(trace.nodes["x0"]["value"], x0)
    fn = trace.nodes["x1"]["fn"]
    _assert_close(fn.loc, 1.5 * x0 - 1.0 + 10.0)
    # the guide does not intervene on the fixed site: replay leaves a perfect value alone
    fixed = poutine.trace(poutine.replay(perfect(model, site="x0", value=-4.0), trace=guide_trace))
    assert torch.all(fixed.get_trace(n).nodes["x0"]["value"] == -4.0)


@pytest.mark.parametrize("parallel", [False, True])
def test_composes_with_predictive(parallel, device, dtype):
    """Predictive (with a guide, and with a per-sample mask) returns the intervened values."""
    model = _scm_model(SCM3, device, dtype)
    n, draws = 6, 400
    mask = torch.tensor([True, False] * 3, device=device)

    def guide(n):
        with pyro.plate("samples", n):
            pyro.sample("x0", dist.Normal(torch.full((n,), 3.0, device=device, dtype=dtype), 1e-3))

    pyro.set_rng_seed(7)
    out = Predictive(
        perfect(model, site="x1", value=2.0, mask=mask),
        guide=guide,
        num_samples=draws,
        parallel=parallel,
    )(n)
    assert out["x1"].shape == (draws, n) and out["x2"].shape == (draws, n)
    assert torch.all(out["x1"][:, mask] == 2.0)
    assert torch.all(out["x1"][:, ~mask] != 2.0)
    # x2 = 0.5 x0 - x1 + 0.2 + 0.7 e with x0 = 3: mean -0.3 where x1 = 2; natural x1 = 3.5 +- 0.5
    x2 = out["x2"].double().cpu().numpy()
    se = 0.7 / math.sqrt(draws * 3)
    assert abs(x2[:, mask.cpu().numpy()].mean() - (-0.3)) < N_SE * se
    assert abs(x2[:, ~mask.cpu().numpy()].mean() - (1.5 - 3.5 + 0.2)) < N_SE * math.sqrt(
        0.74 / (draws * 3)
    )


# ---------------------------------------------------------------- contexts and masks
def test_context_and_target_mask():
    context = Context(
        {"c0": PerfectValue(1.0), "c2": Soft(loc_shift=2.0)}, mask=np.eye(2, dtype=bool)
    )
    assert context.targets == ("c0", "c2")
    assert context.mask_for("c2").tolist() == [False, True]
    assert target_mask([set(), {"c0"}, {0, "c2"}], ["c0", "c2"]).tolist() == [
        [False, False],
        [True, False],
        [True, True],
    ]
    with pytest.raises(KeyError, match="c1"):
        context.mask_for("c1")


def test_context_mask_from_target_sets_drives_the_handler():
    """A (batch, n_targets) mask from per-sample target sets: each row its own context."""

    def model(n):
        with pyro.plate("n", n):
            return [pyro.sample(f"c{k}", dist.Normal(0.0, 1.0)) for k in range(3)]

    sets = [set(), {"c0"}, {"c0", "c2"}, {"c1"}]
    context = Context(
        {f"c{k}": PerfectValue(float(k + 10)) for k in range(3)},
        mask=target_mask(sets, ["c0", "c1", "c2"]),
    )
    values = torch.stack(intervene(model, context)(4), -1)
    fixed = values == torch.tensor([10.0, 11.0, 12.0])
    assert fixed.tolist() == target_mask(sets, ["c0", "c1", "c2"]).tolist()


# ---------------------------------------------------------------- bad input
def test_errors():
    model = linear_gaussian_scm_pyro(SCM3["weights"], SCM3["noise_scales"])
    with pytest.raises(ValueError, match="x9"):
        perfect(model, site="x9", value=1.0)(4)
    perfect(model, site="x9", value=1.0, strict=False)(4)  # allowed when asked
    with pytest.raises(ValueError, match="does not broadcast"):
        perfect(model, site="x1", value=1.0, mask=torch.ones(5, dtype=torch.bool))(4)
    with pytest.raises(ValueError, match="does not broadcast"):
        soft(model, site="x1", loc_shift=torch.zeros(3))(4)
    with pytest.raises(TypeError, match="boolean"):
        perfect(model, site="x1", value=1.0, mask=torch.ones(4))
    with pytest.raises(ValueError, match="exactly one"):
        perfect(model, site="x1")
    with pytest.raises(ValueError, match="exactly one"):
        perfect(model, site="x1", value=1.0, distribution=dist.Normal(0.0, 1.0))
    with pytest.raises(ValueError, match="event shape"):
        perfect(model, site="x1", distribution=dist.Normal(torch.zeros(2), 1.0).to_event(1))(4)
    with pytest.raises(TypeError, match="mechanism"):
        stochastic(model, site="x1", mechanism=lambda d: 3.0)(4)
    with pytest.raises(TypeError, match="mechanism"):
        Stochastic(3.0)
    with pytest.raises(TypeError, match="location-scale"):
        soft(lambda: pyro.sample("g", dist.Gamma(2.0, 1.0)), site="g", loc_shift=1.0)()
    with pytest.raises(ValueError, match="scale_factor"):
        Soft(scale_factor=0.0)
    with pytest.raises(ValueError, match="finite"):
        PerfectValue(float("nan"))
    with pytest.raises(TypeError, match="value"):
        PerfectValue("1.0")
    with pytest.raises(TypeError, match="distribution"):
        PerfectDraw(1.0)
    with pytest.raises(TypeError, match="site"):
        perfect(model, site=3, value=1.0)
    with pytest.raises(ValueError, match="at least one"):
        Context({})
    with pytest.raises(TypeError, match="PerfectValue, PerfectDraw"):
        Context({"x1": 2.0})
    with pytest.raises(ValueError, match="n_targets=2"):
        Context({"a": PerfectValue(1.0), "b": PerfectValue(2.0)}, mask=np.ones((4, 3), dtype=bool))
    with pytest.raises(TypeError, match="boolean"):
        Context({"a": PerfectValue(1.0)}, mask=np.ones((4, 1)))
    with pytest.raises(TypeError, match="Context"):
        intervene(model, {"x1": PerfectValue(1.0)})
    with pytest.raises(ValueError, match="not one of the targets"):
        target_mask([{"c5"}], ["c0"])
    with pytest.raises(ValueError, match="DAG"):
        linear_gaussian_scm_pyro([[0.0, 1.0], [1.0, 0.0]], [1.0, 1.0])
    with pytest.raises(ValueError, match="noise_scales"):
        linear_gaussian_scm_pyro([[0.0]], [0.0])
    with pytest.raises(ValueError, match="square"):
        linear_gaussian_moments(np.zeros((2, 3)), [1.0, 1.0])
    with pytest.raises(ValueError, match="node indices"):
        perfect_linear_gaussian(np.zeros((2, 2)), [1.0, 1.0], None, {2: (0.0, 1.0)})


def test_svi_learns_a_soft_shift_from_mixed_context_data(device, dtype):
    """Gradients flow through a learnable soft shift and a per-sample mask: SVI (all sites
    observed, empty guide) reaches the closed-form MLE, the mean residual of the intervened
    rows, x1 - (1.5 x0 - 1)."""
    scm = SCM3
    n = 1000
    mask = torch.arange(n, device=device) % 2 == 0
    pyro.set_rng_seed(8)
    data = soft(_scm_model(scm, device, dtype), site="x1", loc_shift=1.5, mask=mask)(n)
    residual = data["x1"] - (1.5 * data["x0"] - 1.0)
    mle = residual[mask].double().mean().item()
    assert abs(mle - 1.5) < N_SE * 0.5 / math.sqrt(n / 2)  # the data carry the shift

    def model(n):
        shift = pyro.param("shift", torch.zeros((), device=device, dtype=dtype))
        program = soft(_scm_model(scm, device, dtype), site="x1", loc_shift=shift, mask=mask)
        return poutine.condition(program, data=data)(n)

    optimizer = pyro.optim.ClippedAdam({"lr": 0.1, "lrd": 0.95})
    svi = pyro.infer.SVI(model, lambda n: None, optimizer, pyro.infer.Trace_ELBO())
    for _ in range(100):
        svi.step(n)
    assert abs(pyro.param("shift").item() - mle) < 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_elbo_gradients_finite_with_per_sample_masks(kind, device, dtype):
    """torch.where keeps the unselected branch out of the gradient: a latent intervened site
    with a mixed mask gives a finite ELBO and finite, nonzero gradients (the guide gets the same
    handler, so fixed elements agree)."""
    n = 8
    mask = torch.arange(n, device=device) % 2 == 0
    _, _, intervention = _kind_cases(SCM3, device, dtype)[kind]
    context = Context({"x1": intervention}, mask=mask[:, None])
    observed = torch.linspace(-2.0, 2.0, n, device=device, dtype=dtype)

    def model():
        weight = pyro.param("weight", torch.tensor(1.5, device=device, dtype=dtype))
        with pyro.plate("samples", n):
            x0 = pyro.sample("x0", dist.Normal(torch.zeros(n, device=device, dtype=dtype), 1.0))
            x1 = pyro.sample("x1", dist.Normal(weight * x0 - 1.0, 0.5))
            pyro.sample("x2", dist.Normal(0.5 * x0 - x1 + 0.2, 0.7), obs=observed)

    def guide():
        loc = pyro.param("guide_loc", torch.zeros(2, n, device=device, dtype=dtype))
        with pyro.plate("samples", n):
            pyro.sample("x0", dist.Normal(loc[0], 1.0))
            pyro.sample("x1", dist.Normal(loc[1], 1.0))

    pyro.set_rng_seed(9)
    loss = pyro.infer.Trace_ELBO().differentiable_loss(
        intervene(model, context), intervene(guide, context)
    )
    loss.backward()
    assert torch.isfinite(loss)
    for name in ("weight", "guide_loc"):
        grad = pyro.param(name).unconstrained().grad
        assert grad is not None and torch.all(torch.isfinite(grad)), name
        assert grad.abs().sum() > 0, name


def test_block_concepts_with_per_sample_target_sets(device, dtype):
    """The context module's use: concept *blocks* (``to_event(1)`` sites) in one plate, a
    (batch, K) mask from per-sample target sets, single and composed targets in one batch.
    A block SCM is a scalar SCM over the block entries, so each row group has closed-form
    moments (linear_gaussian_moments with block weights)."""
    effect = np.array([[0.8, -0.5], [0.3, 1.2]])  # c1 = effect @ c0 + noise
    weights = np.zeros((4, 4))
    weights[2:, :2] = effect
    scales = np.array([1.0, 0.5, 0.4, 0.6])
    effect_t = torch.as_tensor(effect, device=device, dtype=dtype)
    scales_t = torch.as_tensor(scales, device=device, dtype=dtype)

    def model(n):
        with pyro.plate("batch", n):
            c0 = pyro.sample(
                "c0",
                dist.Normal(torch.zeros(n, 2, device=device, dtype=dtype), scales_t[:2]).to_event(
                    1
                ),
            )
            pyro.sample("c1", dist.Normal(c0 @ effect_t.T, scales_t[2:]).to_event(1))

    redraw_loc = torch.tensor([2.0, -1.0], device=device, dtype=dtype)
    shift = torch.tensor([1.0, -3.0], device=device, dtype=dtype)
    groups = [set(), {"c0"}, {"c1"}, {"c0", "c1"}]
    n_per_group = 5000
    sets = groups * n_per_group
    mask = torch.as_tensor(target_mask(sets, ["c0", "c1"]), device=device)
    context = Context(
        {
            "c0": PerfectDraw(dist.Normal(redraw_loc, 0.3).to_event(1)),
            "c1": Soft(loc_shift=shift, scale_factor=2.0),
        },
        mask=mask,
    )
    pyro.set_rng_seed(10)
    trace = poutine.trace(intervene(model, context)).get_trace(len(sets))
    samples = torch.cat([trace.nodes["c0"]["value"], trace.nodes["c1"]["value"]], -1)
    samples = samples.double().cpu().numpy()
    group_of_row = np.arange(len(sets)) % len(groups)
    for g, targets in enumerate(groups):
        w, omega, b = weights, scales, np.zeros(4)
        if "c0" in targets:
            w, omega, b = perfect_linear_gaussian(w, omega, b, {0: (2.0, 0.3), 1: (-1.0, 0.3)})
        if "c1" in targets:
            w, omega, b = soft_linear_gaussian(
                w,
                omega,
                b,
                {
                    2: Soft(loc_shift=1.0, scale_factor=2.0),
                    3: Soft(loc_shift=-3.0, scale_factor=2.0),
                },
            )
        _assert_moments(samples[group_of_row == g], *linear_gaussian_moments(w, omega, b))
