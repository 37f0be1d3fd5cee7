"""Calibration of the transport test (p-value and effect interval) on SCMs with known truth.

Fixed seeds, no retries. The short version runs in `make test`; `-m slow` runs more repetitions.
"""

import warnings

import numpy as np
import pytest

from analysis import SCENARIOS, transport_test, verdict_rates


def _scm(rng, n, direct=0.0, binary=False):
    s = (rng.random(n) < 0.5).astype(int)
    y_m = rng.normal(size=n) + 0.8 * s
    lin = np.tanh(y_m) + direct * s
    if binary:
        y_b = (rng.random(n) < 1 / (1 + np.exp(-2 * lin))).astype(float)
    else:
        y_b = lin + 0.5 * rng.normal(size=n)
    return y_b, s, y_m, direct


def _run(reps, n, direct, binary, method, seed):
    rng = np.random.default_rng(seed)
    reject, cover = 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(reps):
            y_b, s, y_m, _ = _scm(rng, n, direct, binary)
            r = transport_test(y_b, s, y_m, method=method, seed=int(rng.integers(1 << 31)), device="cpu")
            reject += r.p_value < 0.05
            cover += r.effect_ci[0] <= direct <= r.effect_ci[1] if not binary else 0
    return reject / reps, cover / reps


@pytest.mark.parametrize("binary", [False, True])
def test_auto_type_one_error_near_alpha(binary):
    rate, cover = _run(reps=100, n=300, direct=0.0, binary=binary, method="auto", seed=11)
    # 100 null datasets: a calibrated test rejects 5 ± 2.2; the band is ~3 SD wide each side.
    assert 0.0 <= rate <= 0.12, rate
    if not binary:
        assert cover >= 0.89, cover


def test_auto_power_on_direct_shift():
    rate, cover = _run(reps=40, n=400, direct=0.4, binary=False, method="auto", seed=12)
    assert rate >= 0.9, rate
    assert cover >= 0.85, cover


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pcm", "gcm", "rff_kernel", "dowhy_kernel"])
def test_long_calibration(method):
    rate, cover = _run(reps=400, n=300, direct=0.0, binary=False, method=method, seed=21)
    assert 0.025 <= rate <= 0.08, rate
    assert 0.92 <= cover <= 0.98, cover


# The verdict suite: how often a verdict is wrong on known truth (analysis.verdict_rates).


@pytest.mark.parametrize(("scenario", "certified"), [("nonlinear", 0.5), ("discrete_binary", 0.3)])
def test_nulls_are_rarely_called_regime_dependent_short(scenario, certified):
    r = verdict_rates(scenario, n=1500, reps=20, seed=3)
    assert r.wrong <= 0.1, r
    assert r.shares["transports"] >= certified, r  # the claim is positive, and it is made when the data allow


@pytest.mark.parametrize("scenario", ["sign_change", "discrete_binary_sign_change"])
def test_no_false_certificates_on_sign_changing_effects_short(scenario):
    r = verdict_rates(scenario, n=2000, reps=8, seed=3)
    assert r.magnitude > r.margin and r.wrong == 0.0, r


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [name for name in SCENARIOS])
def test_verdicts_long(scenario):
    r = verdict_rates(scenario, n=2000, reps=300 if SCENARIOS[scenario].null else 200, seed=2)
    if r.wrong is not None:
        assert r.wrong <= (0.07 if r.null else 0.05), r
