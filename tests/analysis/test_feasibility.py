"""The feasibility simulation (seed 003 §5): random SCMs, closed forms, Rule 1 and the transport test against the truth."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.feasibility import simulate_feasibility
from analysis.feasibility_scm import MECHANISMS, RandomSCM, random_scm
from core.errors import ConfigError, UnknownNameError


def _scm(**kw) -> RandomSCM:
    """Two data components (the regime moves x0), two features reading one each, Y_m reads d0."""
    base = dict(
        seed=0, mechanism="linear", delta=np.array([1.5, 0.0]), kappa=np.array([1.2, 1.0]),
        w=np.array([[1.0, 0.0], [0.0, 1.0]]), a=np.array([1.0, 0.0]), m=1.0, b=np.zeros(2), c=np.zeros(2),
        u_m=0.0, u_b=0.0,
    )  # fmt: skip
    return RandomSCM(**(base | kw))


@pytest.mark.parametrize(
    ("kw", "holds", "path"),
    [
        ({}, True, None),
        # A bypass from the feature Y_m reads: s → x0 → d0 → y_b does not pass y_m.
        ({"b": np.array([0.7, 0.0])}, False, "s → x0 → d0 → y_b"),
        # A bypass from a feature of unshifted data that Y_m does not read: harmless.
        ({"b": np.array([0.0, 0.7])}, True, None),
        # ... unless Y_m reads it too: conditioning on the collider y_m opens s → … → y_m ← d1 → y_b.
        ({"b": np.array([0.0, 0.7]), "a": np.array([1.0, 0.5])}, False, "y_m ← d1 → y_b"),
        ({"c": np.array([0.5, 0.0])}, False, "s → x0 → y_b"),
        ({"u_m": 1.0, "u_b": 1.0}, False, "y_m ← U → y_b"),
    ],
)
def test_rule1_knows_which_paths_break_inner_alignment(kw, holds, path):
    scm = _scm(**kw)
    check = scm.diagram(1.0).rule1()
    assert check.holds is holds, check.reason
    if path:
        assert path in check.reason
    assert scm.rule1(0.0), "at λ = 0 deployment is training: nothing can break Rule 1"


def test_the_transport_test_sees_a_bypass_and_not_a_mediated_model():
    rng = np.random.default_rng(0)
    from analysis.transport import transport_test

    out = {}
    for name, scm in (("mediated", _scm()), ("bypass", _scm(b=np.array([0.8, 0.0])))):
        tr, de = scm.sample(400, 1.0, 0, rng), scm.sample(400, 1.0, 1, rng)
        s = np.r_[np.zeros(400), np.ones(400)]
        out[name] = transport_test(np.r_[tr.y_b, de.y_b], s, np.r_[tr.y_m, de.y_m], magnitude=False).p_value
    assert out["bypass"] < 0.01 and out["mediated"] > 0.05, out


@pytest.mark.parametrize("seed", [1, 4, 7, 10])
def test_linear_gaussian_cooccurrence_matches_its_closed_form(seed):
    scm = random_scm(seed, mechanism="linear", p_bypass=0.5, p_direct=0.5, p_confounder=0.5)
    rng = np.random.default_rng(seed)
    t_m, t_b = scm.thresholds(0.8, rng)
    n = 100_000
    for lam in (0.0, 0.5, 1.0):
        draw = scm.sample(n, lam, 1, rng)
        sim = np.mean((draw.y_m > t_m) & (draw.y_b > t_b))
        exact = scm.co_occurrence_exact(lam, 1, t_m, t_b)
        se = np.sqrt(exact * (1 - exact) / n)
        assert abs(sim - exact) < 4 * se + 1e-4, (lam, sim, exact)
    # At λ = 0 the training quantiles give exactly the marginal shares.
    mean, cov = scm.moments(0.0, 1)
    assert mean.shape == (2,) and np.allclose(cov, cov.T)


def test_dowhy_gcm_draws_the_same_linear_model():
    from dowhy import gcm

    scm = random_scm(4, mechanism="linear", p_bypass=1.0, p_confounder=1.0)
    gcm_draws = gcm.draw_samples(scm.to_gcm(0.7, 1), 40_000)
    mean, cov = scm.moments(0.7, 1)
    got = gcm_draws[["y_m", "y_b"]].to_numpy()
    assert np.allclose(got.mean(0), mean, atol=0.05) and np.allclose(np.cov(got.T), cov, rtol=0.05, atol=0.05)
    with pytest.raises(ConfigError, match="linear models only"):
        random_scm(4, mechanism="threshold").to_gcm()


def test_random_models_cover_every_structure_and_mechanism():
    models = [random_scm(i) for i in range(200)]
    assert {m.mechanism for m in models} == set(MECHANISMS)
    structures = {m.structure for m in models}
    assert {"mediated", "bypass", "direct", "confounded"} <= structures
    share = np.mean([m.rule1() for m in models])
    assert 0.25 < share < 0.75  # both truths are well represented
    assert all(m.rule1() == (m.structure == "mediated") for m in models)
    threshold = random_scm(3, mechanism="threshold").sample(500, 1.0, 1, np.random.default_rng(0))
    assert set(np.unique(threshold.y_m)) <= {0.0, 1.0} and set(np.unique(threshold.y_b)) <= {0.0, 1.0}


def test_a_small_simulation_is_reproducible_and_tells_truth_from_detection():
    kw = dict(lambdas=(0.0, 1.0), n_episodes=80, n_cooccurrence=2000, seed=3)
    a, b = simulate_feasibility(6, **kw), simulate_feasibility(6, **kw)
    assert a.rows.equals(b.rows)
    assert len(a.rows) == 12 and a.rows.loc[a.rows["lambda"] == 0, "rule1"].all()
    s = a.summary()
    assert list(s["lambda"]) == [0.0, 1.0] and s.loc[0, "rule1_share"] == 1.0
    assert s.loc[0, "n_violations"] == 0 and s.loc[1, "n_violations"] == (~a.rows["structural"]).sum() / 2
    check = a.closed_form_check()
    assert len(check) == 2 * 2 and (check["z"].abs() < 4).all()  # models 0 and 3 are linear
    data = a.to_dict()
    assert data["false_alarms"]["n"] == len(a.null_rows) and "Rule 1 holds in" in data["reading"]


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        ({"lambdas": (0.0, 1.5)}, ConfigError, "lambdas"),
        ({"mechanisms": ("linar",)}, UnknownNameError, "linear"),
        ({"n_episodes": 5}, ConfigError, "n_episodes"),
        ({"quantile": 1.0}, ConfigError, "quantile"),
    ],
)
def test_bad_simulation_settings_are_named(kw, error, message):
    with pytest.raises(error, match=message):
        simulate_feasibility(2, **kw)


@pytest.mark.slow
def test_false_alarms_stay_near_alpha_over_a_population_of_models():
    result = simulate_feasibility(80, lambdas=(0.0, 0.5, 1.0), n_episodes=200, n_cooccurrence=2000, seed=11)
    rate, _lo, _hi, n = result.false_alarms()
    assert n > 120 and rate <= result.alpha + 0.02 + 1e-9, (rate, n)
    power = result.summary().set_index("lambda").loc[1.0, "power"]
    assert power > 0.5
