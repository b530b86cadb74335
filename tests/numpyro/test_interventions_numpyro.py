"""Intervention handlers for NumPyro programs (the twins of the Pyro handlers).

References checked against: closed-form moments of linear-Gaussian SCMs under each kind of
intervention (Monte Carlo, tolerance = 5 standard errors of the estimator at the sample size,
fixed keys), the Pyro handlers' log joint for the same numpy values, hand-computed log densities
and gradients, the linear-SCM family's closed form, and pairs of formulations of the same
intervention that must agree exactly (same key) or in log density (same values). JAX's default
float32 throughout.
"""

from __future__ import annotations

import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.infer import Predictive
from numpyro.infer.util import log_density

from latentgraph.data import linear_scm_moments
from latentgraph.models.handlers_numpyro import fix
from latentgraph.models.interventions.contexts import (
    Context,
    PerfectDraw,
    PerfectValue,
    Soft,
    Stochastic,
    target_mask,
)
from latentgraph.models.interventions.intervene_numpyro import intervene
from latentgraph.models.interventions.linear_gaussian import (
    linear_gaussian_moments,
    perfect_linear_gaussian,
    soft_linear_gaussian,
)
from latentgraph.models.interventions.masked_select_numpyro import MaskedSelect, broadcast_shape
from latentgraph.models.interventions.perfect_numpyro import perfect
from latentgraph.models.interventions.replacement_numpyro import intervened_distribution
from latentgraph.models.interventions.scm_numpyro import linear_gaussian_scm_numpyro
from latentgraph.models.interventions.soft_numpyro import soft
from latentgraph.models.interventions.stochastic_numpyro import stochastic

# ---------------------------------------------------------------- small SCMs (rows = children)
SCM3 = {  # x0 -> x1 -> x2, x0 -> x2
    "weights": np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.5, -1.0, 0.0]]),
    "noise_scales": np.array([1.0, 0.5, 0.7]),
    "intercepts": np.array([0.5, -1.0, 0.2]),
    "target": 1,
}
SCM4 = {  # diamond x0 -> {x1, x2} -> x3
    "weights": np.array(
        [[0.0, 0.0, 0.0, 0.0], [0.8, 0.0, 0.0, 0.0], [-1.2, 0.0, 0.0, 0.0], [0.0, 1.0, 0.5, 0.0]]
    ),
    "noise_scales": np.array([0.6, 1.0, 0.4, 0.3]),
    "intercepts": np.array([1.0, 0.0, -0.5, 0.3]),
    "target": 2,
}
SCMS = {"scm3": SCM3, "scm4": SCM4}
N_MC = 20_000
N_SE = 5.0
KINDS = ("perfect_value", "perfect_draw", "stochastic", "soft")
NAMES3 = ("x0", "x1", "x2")
NAMES4 = ("x0", "x1", "x2", "x3")
HANDLER_MODULES = (
    "latentgraph.models.handlers_numpyro",
    "latentgraph.models.interventions",
    "latentgraph.models.interventions.intervene_numpyro",
    "latentgraph.models.interventions.masked_select_numpyro",
    "latentgraph.models.interventions.perfect_numpyro",
    "latentgraph.models.interventions.replacement_numpyro",
    "latentgraph.models.interventions.scm_numpyro",
    "latentgraph.models.interventions.soft_numpyro",
    "latentgraph.models.interventions.stochastic_numpyro",
)


def _scm_args(scm):
    return scm["weights"], scm["noise_scales"], scm["intercepts"]


def _scm_model(scm):
    return linear_gaussian_scm_numpyro(*_scm_args(scm))


def _stack(values: dict) -> np.ndarray:
    names = sorted(values, key=lambda name: int(name[1:]))
    return np.stack([np.asarray(values[name], np.float64) for name in names], -1)


def _draw(model, n, seed):
    return _stack(handlers.seed(model, seed)(n))


def _trace(model, *args, seed=0):
    return handlers.trace(handlers.seed(model, seed)).get_trace(*args)


def _values(trace, names):
    return {name: trace[name]["value"] for name in names}


def _site_log_prob(site):
    return site["fn"].log_prob(site["value"])


def _assert_close(actual, expected, *, rtol=1e-5, atol=1e-5, msg=None):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (msg, actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=str(msg))


def _assert_moments(samples: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> None:
    """Sample mean and covariance within N_SE standard errors of the closed form.

    SE of a mean: sqrt(S_ii / n); of a covariance entry (Gaussian): sqrt((S_ii S_jj + S_ij^2) / n).
    The small absolute slack covers float32 rounding (far below any SE here).
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


def _kind_cases(scm):
    """kind -> (wrap the model, closed-form (W, omega, b), Intervention) on the target."""
    redraw = dist.Normal(-1.0, 0.3)
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
    weights, scales, intercepts = perfect_linear_gaussian(*_scm_args(SCM4), {1: (-1.0, 0.0)})
    return soft_linear_gaussian(
        weights,
        scales,
        intercepts,
        {
            2: Soft(loc_shift=2.0, scale_factor=0.5),
            3: Soft(loc_factor=-1.0, scale_factor=0.2 / SCM4["noise_scales"][3]),
        },
    )


# ---------------------------------------------------------------- layering
def test_handlers_import_no_torch():
    """The NumPyro handlers (and the interventions package) never pull in torch or pyro."""
    code = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in HANDLER_MODULES)
        + "leaked = [m for m in ('torch', 'pyro') if m in sys.modules]\n"
        + "assert not leaked, leaked\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- Monte Carlo vs closed form
@pytest.mark.parametrize("scm_name", sorted(SCMS))
def test_observational_moments(scm_name):
    scm = SCMS[scm_name]
    _assert_moments(_draw(_scm_model(scm), N_MC, seed=0), *linear_gaussian_moments(*_scm_args(scm)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scm_name", sorted(SCMS))
def test_single_target_moments(scm_name, kind):
    scm = SCMS[scm_name]
    wrap, closed_form, _ = _kind_cases(scm)[kind]
    expected = linear_gaussian_moments(*closed_form)
    _assert_distinguishable(expected, linear_gaussian_moments(*_scm_args(scm)), N_MC)
    samples = _draw(wrap(_scm_model(scm)), N_MC, seed=1)
    _assert_moments(samples, *expected)
    if kind == "perfect_value":
        assert np.all(samples[:, scm["target"]] == 2.0)


def test_several_targets_moments():
    expected = linear_gaussian_moments(*_multi_closed_form())
    _assert_distinguishable(expected, linear_gaussian_moments(*_scm_args(SCM4)), N_MC)
    samples = _draw(intervene(_scm_model(SCM4), _multi_context()), N_MC, seed=2)
    _assert_moments(samples, *expected)


@pytest.mark.parametrize("kind", KINDS)
def test_per_sample_mixed_mask_moments(kind):
    """Intervened plate elements follow the interventional law, the others the natural one."""
    scm = SCM3
    k = scm["target"]
    _, closed_form, intervention = _kind_cases(scm)[kind]
    n = 3 * 10_000
    rows = np.arange(n) % 3 == 0
    model = intervene(_scm_model(scm), Context({f"x{k}": intervention}, mask=rows[:, None]))
    samples = _draw(model, n, seed=3)
    _assert_moments(samples[rows], *linear_gaussian_moments(*closed_form))
    _assert_moments(samples[~rows], *linear_gaussian_moments(*_scm_args(scm)))


def test_subsumes_the_linear_scm_family_handler():
    """The linear-SCM family's ``perfect_intervention`` sets, in context ``k + 1``, the mechanism
    of latent ``k`` to ``N(m_k, s_k^2)`` with its parents cut; its test checks it against
    :func:`latentgraph.data.linear_scm_moments`. The library handler gives those moments too,
    one ``do(z_k ~ N(m_k, s_k^2))`` per context as per-sample masks in one batch (mixing = I,
    no observation noise). The family module itself is not imported: its package loads arviz."""
    weights, scales = SCM4["weights"], SCM4["noise_scales"]
    loc, scale = np.array([2.0, -1.0, 0.5, 3.0]), np.array([0.5, 0.3, 1.5, 0.2])
    family_loc, family_cov = linear_scm_moments(weights, scales, loc, scale, np.eye(4), 0.0)
    n_contexts, per_context = 5, 6000
    context_of_row = np.arange(n_contexts * per_context) % n_contexts
    sets = [set() if c == 0 else {c - 1} for c in context_of_row]
    context = Context(
        {f"x{k}": PerfectDraw(dist.Normal(loc[k], scale[k])) for k in range(4)},
        mask=target_mask(sets, NAMES4),
    )
    model = intervene(linear_gaussian_scm_numpyro(weights, scales), context)
    samples = _draw(model, len(sets), seed=11)
    for c in range(n_contexts):
        _assert_moments(samples[context_of_row == c], family_loc[c], family_cov[c])


# ---------------------------------------------------------------- two formulations agree
def _assert_same_traces(trace_a, trace_b, names, *, exact=True):
    for name in names:
        a, b = trace_a[name], trace_b[name]
        if exact:
            assert np.array_equal(a["value"], b["value"]), name
        else:
            _assert_close(a["value"], b["value"], rtol=1e-6, atol=1e-6, msg=name)
        _assert_close(_site_log_prob(a), _site_log_prob(b), rtol=1e-6, atol=1e-6, msg=name)


def test_perfect_value_equals_stochastic_point_mass():
    """Same values and densities. ``intervene(seed(model))`` gives both the same key stream;
    with ``seed`` outside, a fixed (observed) site takes no key."""
    model = _scm_model(SCM3)
    point_mass = stochastic(handlers.seed(model, 0), site="x1", mechanism=dist.Delta(2.0))
    fixed = perfect(handlers.seed(model, 0), site="x1", value=2.0)
    fixed_trace = handlers.trace(fixed).get_trace(50)
    _assert_same_traces(fixed_trace, handlers.trace(point_mass).get_trace(50), NAMES3)
    assert np.all(fixed_trace["x1"]["value"] == 2.0)
    assert np.all(_site_log_prob(fixed_trace["x1"]) == 0.0)
    assert fixed_trace["x1"]["is_observed"]  # guides and seed leave a fixed site alone
    outside = _trace(perfect(model, site="x1", value=2.0), 50)
    assert outside["x1"]["kwargs"]["rng_key"] is None
    # x0 comes first and takes the same key; x2 takes the key x1 took above
    assert np.array_equal(outside["x0"]["value"], fixed_trace["x0"]["value"])
    assert not np.array_equal(outside["x2"]["value"], fixed_trace["x2"]["value"])


def test_perfect_draw_equals_stochastic_replacement():
    model = _scm_model(SCM3)
    q = dist.Normal(-1.0, 0.3)
    draw = _trace(perfect(model, site="x1", distribution=q), 50)
    _assert_same_traces(draw, _trace(stochastic(model, site="x1", mechanism=q), 50), NAMES3)
    callable_mechanism = _trace(stochastic(model, site="x1", mechanism=lambda d: q), 50)
    _assert_same_traces(draw, callable_mechanism, NAMES3)


def test_soft_equals_stochastic_with_shifted_distribution():
    model = _scm_model(SCM3)
    shifted = _trace(soft(model, site="x1", loc_shift=1.5, loc_factor=0.5, scale_factor=2.0), 50)
    replaced = _trace(
        stochastic(
            model, site="x1", mechanism=lambda d: dist.Normal(0.5 * d.loc + 1.5, 2.0 * d.scale)
        ),
        50,
    )
    _assert_same_traces(shifted, replaced, NAMES3, exact=False)
    natural = _trace(model, 50)  # same key: the soft shift moved x1
    assert not np.allclose(shifted["x1"]["value"], natural["x1"]["value"])


def test_several_targets_equal_nested_single_target_handlers():
    model = _scm_model(SCM4)
    n = 32
    mask = np.random.default_rng(5).random((n, 3)) < 0.5
    for context_mask in (None, mask):
        columns = [None] * 3 if context_mask is None else [context_mask[:, j] for j in range(3)]
        joint = _trace(intervene(model, _multi_context(context_mask)), n, seed=6)
        nested = perfect(model, site="x1", value=-1.0, mask=columns[0])
        nested = soft(nested, site="x2", loc_shift=2.0, scale_factor=0.5, mask=columns[1])
        nested = stochastic(
            nested, site="x3", mechanism=lambda d: dist.Normal(-d.loc, 0.2), mask=columns[2]
        )
        _assert_same_traces(joint, _trace(nested, n, seed=6), NAMES4)


def test_nested_soft_handlers_compose():
    """The outer handler sees the inner one's result as the mechanism: shifts add up."""

    def model():
        return numpyro.sample("x", dist.Normal(1.0, 2.0))

    twice = soft(soft(model, site="x", loc_shift=1.0, scale_factor=3.0), site="x", loc_shift=2.0)
    fn = _trace(twice)["x"]["fn"]
    assert float(fn.loc) == 4.0 and float(fn.scale) == 6.0


def test_mask_all_true_equals_batch_level_and_all_false_natural():
    model = _scm_model(SCM3)
    n = 64
    for kind, (_, _, intervention) in _kind_cases(SCM3).items():
        for mask, reference in (
            (np.ones(n, bool), intervene(model, Context({"x1": intervention}))),
            (np.zeros(n, bool), model),
        ):
            masked = _trace(intervene(model, Context({"x1": intervention}, mask=mask[:, None])), n)
            values = _values(masked, NAMES3)
            batch = handlers.trace(handlers.condition(reference, data=values)).get_trace(n)
            for name in NAMES3:
                _assert_close(_site_log_prob(masked[name]), _site_log_prob(batch[name]), msg=kind)


def test_mixed_mask_equals_two_batch_level_runs():
    """Rows of a mixed-mask run score exactly as in a batch-level intervened run (mask True)
    or a natural run (mask False) of those rows alone."""
    model = _scm_model(SCM3)
    mask = np.array([True, False, False, True, True, False, True, False])
    for kind, (_, _, intervention) in _kind_cases(SCM3).items():
        mixed = _trace(intervene(model, Context({"x1": intervention}, mask=mask[:, None])), 8)
        values = _values(mixed, NAMES3)
        for rows, program in (
            (mask, intervene(model, Context({"x1": intervention}))),
            (~mask, model),
        ):
            part = {name: value[rows] for name, value in values.items()}
            alone = handlers.trace(handlers.condition(program, data=part)).get_trace(
                int(rows.sum())
            )
            for name in NAMES3:
                _assert_close(
                    _site_log_prob(mixed[name])[rows], _site_log_prob(alone[name]), msg=kind
                )
        if kind == "perfect_value":
            assert np.all(values["x1"][mask] == 2.0) and np.all(values["x1"][~mask] != 2.0)


# ---------------------------------------------------------------- the Pyro twin's log joint
def _pyro_log_joint(context_factory, values: dict, n: int) -> float:
    import pyro
    import torch
    from pyro import poutine

    from latentgraph.models.interventions.intervene_pyro import intervene as intervene_pyro
    from latentgraph.models.interventions.scm_pyro import linear_gaussian_scm_pyro

    model = linear_gaussian_scm_pyro(*_scm_args(SCM4))
    context = context_factory(torch)
    if context is not None:
        model = intervene_pyro(model, context)
    data = {name: torch.as_tensor(value, dtype=torch.float32) for name, value in values.items()}
    pyro.set_rng_seed(0)
    return float(poutine.trace(poutine.condition(model, data=data)).get_trace(n).log_prob_sum())


def _numpyro_log_joint(context_factory, values: dict, n: int) -> float:
    model = _scm_model(SCM4)
    context = context_factory(None)
    if context is not None:
        model = intervene(model, context)
    data = {name: jnp.asarray(value, jnp.float32) for name, value in values.items()}
    return float(log_density(model, (n,), {}, data)[0])


def _twin_contexts(mask):
    """name -> factory(torch or None) -> Context, with the backend's distributions."""

    def normal(backend, loc, scale):
        if backend is None:
            return dist.Normal(loc, scale)
        import pyro.distributions as pdist

        return pdist.Normal(backend.tensor(loc), backend.tensor(scale))

    def stochastic_mechanism(backend):
        return lambda d: type(d)(-d.loc, 0.2)  # the natural Normal's own backend

    return {
        "observational": lambda backend: None,
        "perfect_value": lambda backend: Context({"x1": PerfectValue(-1.0)}, mask=mask),
        "perfect_draw": lambda backend: Context(
            {"x2": PerfectDraw(normal(backend, 0.5, 0.3))}, mask=mask
        ),
        "stochastic": lambda backend: Context(
            {"x3": Stochastic(stochastic_mechanism(backend))}, mask=mask
        ),
        "soft": lambda backend: Context(
            {"x2": Soft(loc_shift=2.0, loc_factor=0.5, scale_factor=0.5)}, mask=mask
        ),
        "several": lambda backend: Context(
            {
                "x1": PerfectValue(-1.0),
                "x2": Soft(loc_shift=2.0, scale_factor=0.5),
                "x3": Stochastic(stochastic_mechanism(backend)),
            },
            mask=None if mask is None else np.repeat(mask, 3, axis=-1),
        ),
    }


@pytest.mark.parametrize("masked", [False, True], ids=["whole_site", "per_sample"])
def test_log_joint_equals_the_pyro_twin(masked):
    n = 12
    rng = np.random.default_rng(7)
    values = {name: rng.normal(size=n) for name in NAMES4}
    mask = (np.arange(n) % 3 == 0)[:, None] if masked else None
    fixed_rows = np.ones(n, bool) if mask is None else mask[:, 0]
    values["x1"][fixed_rows] = -1.0  # consistent with do(x1 := -1) where fixed
    observational = _numpyro_log_joint(lambda backend: None, values, n)
    for name, factory in _twin_contexts(mask).items():
        ours = _numpyro_log_joint(factory, values, n)
        twin = _pyro_log_joint(factory, values, n)
        assert math.isfinite(ours), name
        assert abs(ours - twin) < 1e-4 * max(1.0, abs(twin)), (name, ours, twin)
        if name != "observational":  # the intervention changed the density
            assert abs(ours - observational) > 1e-2, name


def test_log_density_hand_computed():
    """x0 ~ N(0, 1), x1 | x0 ~ N(2 x0 + 1, 0.5^2) at x0 = 0.3, x1 = 1 (as in the Pyro tests)."""

    def two_node():
        with numpyro.plate("n", 2):
            x0 = numpyro.sample("x0", dist.Normal(0.0, 1.0))
            return numpyro.sample("x1", dist.Normal(2.0 * x0 + 1.0, 0.5))

    def site_log_probs(program, data):
        trace = handlers.trace(handlers.condition(program, data=data)).get_trace()
        return _site_log_prob(trace["x0"]), _site_log_prob(trace["x1"]), trace

    x0, x1 = jnp.full(2, 0.3), jnp.ones(2)
    log_sqrt_2pi = 0.5 * math.log(2 * math.pi)
    lp0, lp1, trace = site_log_probs(perfect(two_node, site="x0", value=0.3), {"x1": x1})
    assert np.all(lp0 == 0.0) and np.all(trace["x0"]["value"] == np.float32(0.3))
    _assert_close(lp1, np.full(2, -0.9457913526447276))
    _, lp1, _ = site_log_probs(
        perfect(two_node, site="x1", distribution=dist.Normal(-1.0, 2.0)), {"x0": x0, "x1": x1}
    )
    _assert_close(lp1, np.full(2, -log_sqrt_2pi - math.log(2.0) - 0.5))
    soft_x1 = soft(two_node, site="x1", loc_factor=2.0, loc_shift=1.0, scale_factor=3.0)
    lp0, lp1, _ = site_log_probs(soft_x1, {"x0": x0, "x1": x1})
    _assert_close(lp0, np.full(2, -log_sqrt_2pi - 0.045))
    _assert_close(lp1, np.full(2, -3.599959196868393))
    _, lp1, _ = site_log_probs(
        stochastic(two_node, site="x1", mechanism=lambda d: dist.Normal(-d.loc, 0.25)),
        {"x0": x0, "x1": x1},
    )
    _assert_close(lp1, np.full(2, -53.612644172084785), rtol=1e-6)
    per_sample = soft(
        two_node,
        site="x1",
        loc_factor=2.0,
        loc_shift=1.0,
        scale_factor=3.0,
        mask=np.array([True, False]),
    )
    _, lp1, _ = site_log_probs(per_sample, {"x0": x0, "x1": x1})
    _assert_close(lp1, np.array([-3.599959196868393, -0.9457913526447276]))


def test_gradient_of_a_learned_soft_shift_is_the_masked_residual():
    """d/dc log p = sum over intervened rows of (x1 - loc - c) / omega^2, and jnp.where keeps
    the natural rows out of it (the unselected branch carries no gradient)."""
    n = 10
    rng = np.random.default_rng(8)
    values = {name: jnp.asarray(rng.normal(size=n), jnp.float32) for name in NAMES3}
    mask = np.arange(n) % 2 == 0

    def log_joint(shift):
        program = soft(_scm_model(SCM3), site="x1", loc_shift=shift, mask=mask)
        return log_density(program, (n,), {}, values)[0]

    shift = 0.7
    grad = jax.grad(log_joint)(jnp.float32(shift))
    loc = 1.5 * np.asarray(values["x0"], np.float64) - 1.0
    residual = (np.asarray(values["x1"], np.float64) - loc - shift) / 0.5**2
    assert abs(float(grad) - residual[mask].sum()) < 1e-4 * max(1.0, abs(residual[mask].sum()))
    assert abs(residual[mask].sum()) > 1.0  # the reference is not trivially zero


# ---------------------------------------------------------------- distributions
def test_soft_multivariate_normal_and_independent():
    """Soft on MVN: N(a mu + c, D Sigma D); on Independent(Normal): the shifted Normal."""
    rng = np.random.default_rng(0)
    loc = jnp.array([1.0, -2.0, 0.5])
    factor = jnp.asarray(rng.normal(size=(3, 3)), jnp.float32)
    cov = factor @ factor.T + jnp.eye(3)
    shift, gain = jnp.array([0.5, 1.0, -1.0]), jnp.array([2.0, 0.5, 3.0])
    values = jnp.asarray(rng.normal(size=(7, 3)), jnp.float32)

    def mvn_model(n):
        with numpyro.plate("n", n):
            return numpyro.sample("z", dist.MultivariateNormal(loc, covariance_matrix=cov))

    def normal_model(n):
        with numpyro.plate("n", n):
            return numpyro.sample("z", dist.Normal(loc, jnp.sqrt(jnp.diag(cov))).to_event(1))

    for program, reference in (
        (mvn_model, dist.MultivariateNormal(2.0 * loc + shift, gain[:, None] * cov * gain)),
        (normal_model, dist.Normal(2.0 * loc + shift, gain * jnp.sqrt(jnp.diag(cov))).to_event(1)),
    ):
        intervened = soft(program, site="z", loc_shift=shift, loc_factor=2.0, scale_factor=gain)
        site = handlers.trace(handlers.condition(intervened, data={"z": values})).get_trace(7)["z"]
        _assert_close(site["fn"].log_prob(values), reference.log_prob(values), rtol=1e-5, atol=1e-4)
    shifted = soft(mvn_model, site="z", loc_shift=shift, loc_factor=2.0, scale_factor=gain)
    samples = np.asarray(handlers.seed(shifted, 4)(N_MC), np.float64)
    _assert_moments(
        samples, np.asarray(2.0 * loc + shift), np.asarray(gain[:, None] * cov * gain, np.float64)
    )


def test_masked_select_distribution():
    natural, intervened = dist.Normal(jnp.zeros(4), 1.0), dist.Normal(10.0, 0.1)
    mask = jnp.array([True, False, True, False])
    select = MaskedSelect(natural, intervened, mask)
    assert select.batch_shape == (4,) and select.has_rsample
    _assert_close(select.mean, [10.0, 0.0, 10.0, 0.0])
    value = jnp.array([10.0, 0.0, 0.0, 10.0])
    expected = jnp.where(mask, intervened.log_prob(value), natural.log_prob(value))
    _assert_close(select.log_prob(value), expected)
    expanded = select.expand((3, 4))
    assert expanded.batch_shape == (3, 4)
    assert expanded.sample(jax.random.key(0)).shape == (3, 4)
    draws = np.asarray(select.sample(jax.random.key(1), (500,)))
    assert np.all(np.abs(draws[:, np.asarray(mask)] - 10.0) < 1.0)
    assert draws[:, ~np.asarray(mask)].std() > 0.5
    # a pytree: it crosses jit boundaries
    assert np.allclose(jax.jit(lambda d: d.log_prob(value))(select), expected)
    point_mass = MaskedSelect(
        dist.Normal(jnp.zeros(2), 1.0), dist.Delta(jnp.full(2, 5.0)), mask[:2]
    )
    lp = point_mass.log_prob(jnp.ones(2))
    assert lp[0] == -math.inf and np.isfinite(lp[1])


def test_broadcast_shape_matches_numpy():
    cases = [((), ()), ((3,), ()), ((4, 1), (3,)), ((2, 1, 5), (7, 1), (5,)), ((0,), (1,))]
    for shapes in cases:
        assert broadcast_shape(*shapes) == np.broadcast_shapes(*shapes)
    for shapes in [((3,), (4,)), ((2, 3), (3, 3))]:
        with pytest.raises(ValueError):
            np.broadcast_shapes(*shapes)
        assert broadcast_shape(*shapes) is None


def test_intervened_distribution_keeps_site_shapes():
    natural = dist.Normal(jnp.zeros((4, 1)), 1.0).expand((4, 3)).to_event(1)
    for intervention in (
        PerfectValue(2.0),
        PerfectDraw(dist.Normal(jnp.zeros(3), 1.0).to_event(1)),
        Stochastic(lambda d: dist.Normal(0.0, 2.0).expand((3,)).to_event(1)),
        Soft(loc_shift=np.arange(3.0), scale_factor=2.0),
    ):
        q, value = intervened_distribution("z", natural, intervention)
        assert (q.batch_shape, q.event_shape) == ((4,), (3,)), intervention.kind
        assert (value is not None) == (intervention.kind == "perfect_value")


# ---------------------------------------------------------------- composes with NumPyro machinery
def test_composes_with_trace_substitute_and_context_manager():
    model = _scm_model(SCM3)
    n = 16
    x0 = jnp.full(n, 3.0)
    shifted = handlers.substitute(soft(model, site="x1", loc_shift=10.0), data={"x0": x0})
    trace = _trace(shifted, n)
    assert np.array_equal(trace["x0"]["value"], x0)
    _assert_close(trace["x1"]["fn"].loc, 1.5 * x0 - 1.0 + 10.0)
    # the same handler as a context manager, around a seeded program
    with handlers.trace() as recorded, perfect(site="x0", value=-4.0):
        handlers.seed(model, 0)(n)
    assert np.all(recorded["x0"]["value"] == -4.0) and recorded["x0"]["is_observed"]
    _assert_close(recorded["x1"]["fn"].loc, np.full(n, 1.5 * -4.0 - 1.0))
    # concrete values reaching a fixed element from outside raise; consistent ones pass
    mask = np.array([True, False] * (n // 2))
    for m in (mask, None):
        with pytest.raises(ValueError, match="fixed by a perfect intervention"):
            _trace(handlers.substitute(perfect(model, site="x1", value=5.0, mask=m), {"x1": x0}), n)
    ok = jnp.where(mask, 5.0, 1.0)
    _trace(handlers.condition(perfect(model, site="x1", value=5.0, mask=mask), {"x1": ok}), n)


def test_composes_with_predictive():
    """Prior predictive of the intervened program has the interventional moments; with
    posterior samples of a non-target site, the downstream sites follow the intervention."""
    scm = SCM3
    wrap, closed_form, _ = _kind_cases(scm)["perfect_value"]
    draws, n = 2, N_MC // 2
    out = Predictive(wrap(_scm_model(scm)), num_samples=draws)(jax.random.key(5), n)
    assert out["x1"].shape == (draws, n) and np.all(out["x1"] == 2.0)
    _assert_moments(_stack(out).reshape(-1, 3), *linear_gaussian_moments(*closed_form))
    # posterior samples of x0 (e.g. from a fit) substituted: x2 = 0.5 x0 - x1 + 0.2 + 0.7 e
    samples = {"x0": jnp.full((draws, n), 3.0)}
    mask = np.arange(n) % 2 == 0
    intervened = perfect(_scm_model(scm), site="x1", value=2.0, mask=mask)
    out = Predictive(intervened, posterior_samples=samples)(jax.random.key(6), n)
    x1, x2 = np.asarray(out["x1"]), np.asarray(out["x2"], np.float64)
    assert np.all(x1[:, mask] == 2.0) and np.all(x1[:, ~mask] != 2.0)
    assert abs(x2[:, mask].mean() - (1.5 - 2.0 + 0.2)) < N_SE * 0.7 / math.sqrt(draws * n / 2)
    # posterior samples of the fixed site itself (e.g. from an observational fit) are traced
    # under Predictive, so they cannot raise: the intervened value is put back where fixed
    samples = {"x0": jnp.full((draws, n), 3.0), "x1": jnp.full((draws, n), -50.0)}
    for m in (mask, None):
        program = perfect(_scm_model(scm), site="x1", value=2.0, mask=m)
        x2 = np.asarray(Predictive(program, posterior_samples=samples)(jax.random.key(7), n)["x2"])
        fixed = np.ones(n, bool) if m is None else m
        assert abs(x2[:, fixed].mean() - (1.5 - 2.0 + 0.2)) < 0.2  # -50 would give 51.7
        assert np.all(x2[:, ~fixed] > 40.0)


def test_inner_mask_handler_is_kept():
    """NumPyro's ``mask`` wraps the distribution; an intervention keeps the wrapper."""

    def model():
        with numpyro.plate("n", 3), handlers.mask(mask=np.array([True, False, True])):
            return numpyro.sample("x", dist.Normal(0.0, 1.0))

    values = {"x": jnp.array([1.0, 2.0, 3.0])}
    shifted = soft(model, site="x", loc_shift=1.0, mask=np.array([True, True, False]))
    expected = float(dist.Normal(1.0, 1.0).log_prob(1.0) + dist.Normal(0.0, 1.0).log_prob(3.0))
    assert float(log_density(shifted, (), {}, values)[0]) == pytest.approx(expected, abs=1e-5)
    redrawn = perfect(model, site="x", distribution=dist.Normal(3.0, 1.0))
    expected = float(dist.Normal(3.0, 1.0).log_prob(jnp.array([1.0, 3.0])).sum())
    assert float(log_density(redrawn, (), {}, values)[0]) == pytest.approx(expected, abs=1e-5)


def test_fix_drops_sites_from_the_joint_like_the_pyro_fix():
    import pyro
    import pyro.distributions as pdist
    import torch
    from pyro import poutine

    from latentgraph.models.handlers_pyro import fix as fix_pyro

    graph = np.array([1.0, 0.0, 1.0])

    def model():
        g = numpyro.sample("g", dist.Bernoulli(0.2).expand((3,)).to_event(1))
        numpyro.sample("x", dist.Normal(g, 1.0).to_event(1), obs=jnp.array([0.5, 0.5, 0.5]))

    def model_pyro():
        g = pyro.sample("g", pdist.Bernoulli(torch.full((3,), 0.2)).to_event(1))
        pyro.sample("x", pdist.Normal(g, 1.0).to_event(1), obs=torch.full((3,), 0.5))

    trace = _trace(fix(model, data={"g": graph}))
    assert np.array_equal(trace["g"]["value"], graph) and trace["g"]["is_observed"]
    ours = float(log_density(fix(model, data={"g": graph}), (), {}, {})[0])
    expected = float(dist.Normal(graph, 1.0).log_prob(0.5).sum())  # x only, g dropped
    twin = poutine.trace(fix_pyro(model_pyro, data={"g": torch.as_tensor(graph)})).get_trace()
    assert abs(ours - expected) < 1e-5 and abs(ours - float(twin.log_prob_sum())) < 1e-5
    with fix(data={"g": graph}):  # context manager form
        assert float(log_density(model, (), {}, {})[0]) == pytest.approx(expected, abs=1e-5)


# ---------------------------------------------------------------- bad input
def test_errors():
    model = _scm_model(SCM3)

    def run(program, n=4):
        return handlers.seed(program, 0)(n)

    with pytest.raises(ValueError, match="x9"):
        run(perfect(model, site="x9", value=1.0))
    run(perfect(model, site="x9", value=1.0, strict=False))  # allowed when asked
    with pytest.raises(ValueError, match="does not broadcast"):
        run(perfect(model, site="x1", value=1.0, mask=jnp.ones(5, bool)))
    with pytest.raises(ValueError, match="does not broadcast"):
        run(soft(model, site="x1", loc_shift=jnp.zeros(3)))
    with pytest.raises(TypeError, match="boolean"):
        perfect(model, site="x1", value=1.0, mask=jnp.ones(4))
    with pytest.raises(ValueError, match="exactly one"):
        perfect(model, site="x1")
    with pytest.raises(ValueError, match="exactly one"):
        perfect(model, site="x1", value=1.0, distribution=dist.Normal(0.0, 1.0))
    with pytest.raises(ValueError, match="event shape"):
        run(perfect(model, site="x1", distribution=dist.Normal(jnp.zeros(2), 1.0).to_event(1)))
    with pytest.raises(ValueError, match="batch shape"):
        run(perfect(model, site="x1", distribution=dist.Normal(jnp.zeros(3), 1.0)))
    with pytest.raises(TypeError, match="mechanism"):
        run(stochastic(model, site="x1", mechanism=lambda d: 3.0))
    with pytest.raises(TypeError, match="location-scale"):
        run(soft(lambda n: numpyro.sample("g", dist.Gamma(2.0, 1.0)), site="g", loc_shift=1.0))
    with pytest.raises(TypeError, match="site"):
        perfect(model, site=3, value=1.0)
    with pytest.raises(TypeError, match="Context"):
        intervene(model, {"x1": PerfectValue(1.0)})
    with pytest.raises(TypeError, match="needs a context"):
        intervene(model)
    with pytest.raises(TypeError, match="strict"):
        intervene(model, Context({"x1": PerfectValue(1.0)}), strict=1)
    with pytest.raises(TypeError, match="data"):
        fix(model)
    with pytest.raises(TypeError, match="mapping"):
        fix(model, data=[("g", 1.0)])
    with pytest.raises(TypeError, match="boolean"):
        MaskedSelect(dist.Normal(0.0, 1.0), dist.Normal(1.0, 1.0), jnp.ones(2))
    with pytest.raises(ValueError, match="event shape"):
        MaskedSelect(
            dist.Normal(jnp.zeros(2), 1.0).to_event(1), dist.Normal(0.0, 1.0), jnp.ones(2, bool)
        )
    with pytest.raises(ValueError, match="broadcastable"):
        MaskedSelect(dist.Normal(jnp.zeros(3), 1.0), dist.Normal(0.0, 1.0), jnp.ones(2, bool))
    with pytest.raises(ValueError, match="DAG"):
        linear_gaussian_scm_numpyro([[0.0, 1.0], [1.0, 0.0]], [1.0, 1.0])
    with pytest.raises(ValueError, match="noise_scales"):
        linear_gaussian_scm_numpyro([[0.0]], [0.0])
    with pytest.raises(ValueError, match="n_samples"):
        run(model, n=0)
