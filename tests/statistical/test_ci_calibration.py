"""Calibration of the own CI methods on structural causal models with known truth.

Fixed seeds, no retries. The short version runs in `make test` with bands sized for its
repetitions (a calibrated test rejects 0.05 ± 0.015 over 200 nulls; the band is ~3 SD each side).
`-m slow` runs the long version: 1000 nulls per scenario with the band [0.03, 0.07], and power at
n = 2000. `benchmarks/ci_calibration.py` runs the same with DoWhy's methods and writes the report.
"""

import pytest

from analysis import OWN_METHODS, SCENARIOS, rejection_rate

NULLS = [name for name, sc in SCENARIOS.items() if sc.null]
MODERATE = ["direct", "interaction", "clustered_direct"]


@pytest.mark.parametrize("method", OWN_METHODS)
@pytest.mark.parametrize("scenario", ["nonlinear", "binary_yb", "clustered"])
def test_type_one_error_short(method, scenario):
    r = rejection_rate(method, scenario, n=400, reps=200, seed=7)
    assert 0.01 <= r.rate <= 0.10, r


@pytest.mark.parametrize("method", OWN_METHODS)
@pytest.mark.parametrize("scenario", ["direct", "interaction"])
def test_power_short(method, scenario):
    r = rejection_rate(method, scenario, n=2000, reps=25, seed=8)
    assert r.rate >= 0.8, r


def test_ignoring_episodes_is_anticonservative():
    # Why groups= exists: steps of one episode share a shock, and a row-level test over-rejects.
    r = rejection_rate("gcm", "clustered", n=1000, reps=60, seed=9, use_groups=False)
    assert r.rate >= 0.2, r


def test_rff_kernel_sees_effects_that_average_to_zero():
    gcm = rejection_rate("gcm", "signed_interaction", n=2000, reps=25, seed=10)
    rff = rejection_rate("rff_kernel", "signed_interaction", n=2000, reps=25, seed=10)
    assert rff.rate >= 0.8 and gcm.rate <= 0.3, (rff, gcm)


@pytest.mark.slow
@pytest.mark.parametrize("method", OWN_METHODS)
@pytest.mark.parametrize("scenario", NULLS)
def test_type_one_error_long(method, scenario):
    r = rejection_rate(method, scenario, n=1000, reps=1000, seed=1)
    assert 0.03 <= r.rate <= 0.07, r


@pytest.mark.slow
@pytest.mark.parametrize("method", OWN_METHODS)
@pytest.mark.parametrize("scenario", MODERATE)
def test_power_long(method, scenario):
    r = rejection_rate(method, scenario, n=2000, reps=200, seed=1)
    assert r.rate >= 0.9, r


def test_documented_dowhy_failures_still_hold():
    # README and analysis/dowhy_ci.py say these DoWhy methods fail on our problem; if DoWhy fixes
    # them this test fails, and the documentation must be updated.
    approx = rejection_rate("dowhy_approx_kernel", "dim16", n=1000, reps=4, seed=1)
    assert approx.rate == 1.0, approx  # every null rejected with a 16-dimensional Y_m
    regression = rejection_rate("dowhy_regression", "direct", n=1000, reps=10, seed=1)
    assert regression.rate == 0.0, regression  # no power against a direct shift
