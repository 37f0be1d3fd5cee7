"""Calibration of the own CI methods on structural causal models with known truth.

Fixed seeds, no retries. The short version runs in `make test` with bands sized for its
repetitions (a calibrated test rejects 0.05 ± 0.022 over 100 nulls; the band is ~3 SD each side),
on nulls that combine difficulties as real probe outputs do (the costliest combinations, with
heavy tails in six dimensions, run in the long version only). `-m slow` runs the long version: the
default test on every null at n = 2,000 (1,000 datasets, band [0.03, 0.07]) and power ≥ 0.9 on
every alternative at n = 2,000. `benchmarks/transport_calibration.py` and
`benchmarks/ci_calibration.py` run the same with the verdicts and DoWhy's methods, and write the
reports.
"""

import pytest

from analysis import SCENARIOS, rejection_rate

NULLS = [name for name, sc in SCENARIOS.items() if sc.null]
ALTERNATIVES = [name for name, sc in SCENARIOS.items() if not sc.null]


@pytest.mark.parametrize("scenario", ["nonlinear", "discrete_binary"])
def test_default_type_one_error_short(scenario):
    r = rejection_rate("pcm", scenario, n=400, reps=100, seed=7)
    assert 0.005 <= r.rate <= 0.12, r


@pytest.mark.parametrize("method", ["gcm", "rff_kernel"])
def test_named_methods_type_one_error_short(method):
    r = rejection_rate(method, "clustered", n=400, reps=60, seed=7)
    assert 0.0 <= r.rate <= 0.14, r


@pytest.mark.parametrize("scenario", ["direct", "discrete_binary_sign_change", "region"])
def test_default_power_short(scenario):
    r = rejection_rate("pcm", scenario, n=2000, reps=12, seed=8)
    assert r.rate >= 0.8, r


def test_ignoring_episodes_is_anticonservative():
    # Why groups= exists: steps of one episode share a shock, and a row-level test over-rejects.
    r = rejection_rate("gcm", "clustered", n=1000, reps=30, seed=9, use_groups=False)
    assert r.rate >= 0.2, r


def test_only_the_gcm_is_blind_to_effects_that_average_to_zero():
    gcm = rejection_rate("gcm", "sign_change", n=2000, reps=12, seed=10)
    pcm = rejection_rate("pcm", "sign_change", n=2000, reps=12, seed=10)
    rff = rejection_rate("rff_kernel", "sign_change", n=2000, reps=12, seed=10)
    assert pcm.rate >= 0.9 and rff.rate >= 0.8 and gcm.rate <= 0.3, (pcm, rff, gcm)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", NULLS)
def test_default_type_one_error_long(scenario):
    r = rejection_rate("pcm", scenario, n=2000, reps=1000, seed=1)
    assert 0.03 <= r.rate <= 0.07, r


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ALTERNATIVES)
def test_default_power_long(scenario):
    r = rejection_rate("pcm", scenario, n=2000, reps=200, seed=1)
    assert r.rate >= 0.9, r


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gcm", "rff_kernel"])
@pytest.mark.parametrize("scenario", ["nonlinear", "imbalanced", "binary_yb", "dim16", "clustered"])
def test_named_methods_type_one_error_long(method, scenario):
    # The one-difficulty nulls the named methods were calibrated on; on the hard combinations they are not
    # (README), which is why `auto` never chooses them.
    r = rejection_rate(method, scenario, n=1000, reps=1000, seed=1)
    assert 0.03 <= r.rate <= 0.07, r


@pytest.mark.slow
def test_documented_dowhy_failures_still_hold():
    # README and analysis/dowhy_ci.py say these DoWhy methods fail on our problem; if DoWhy fixes
    # them this test fails, and the documentation must be updated. DoWhy is pinned, so this can only
    # change with a deliberate upgrade: it runs in `make test-all` (9 s), not in `make test`.
    approx = rejection_rate("dowhy_approx_kernel", "dim16", n=1000, reps=4, seed=1)
    assert approx.rate == 1.0, approx  # every null rejected with a 16-dimensional Y_m
    regression = rejection_rate("dowhy_regression", "direct", n=1000, reps=10, seed=1)
    assert regression.rate == 0.0, regression  # no power against a direct shift
