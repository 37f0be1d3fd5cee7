import numpy as np
import pytest

from analysis import CI_METHODS, ci_test
from envs import DataError, UnknownNameError


def _data(n=300, dependent=False, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    s = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    y = z + (1.0 * s if dependent else 0) + 0.5 * rng.normal(size=n)
    return y, s, z


@pytest.mark.parametrize("method", ["kernel", "gcm"])
def test_null_not_rejected_and_alternative_rejected(method):
    y, s, z = _data()
    assert ci_test(y, s, z, method=method).p_value > 0.05
    y, s, z = _data(dependent=True)
    assert ci_test(y, s, z, method=method).p_value < 0.01


def test_every_dowhy_method_runs():
    y, s, z = _data(n=200)
    for method in CI_METHODS:
        r = ci_test(y, s, z, method=method)
        assert 0.0 <= r.p_value <= 1.0 and r.method == method and r.conditional


def test_seed_fixes_p_value_and_restores_global_rng():
    y, s, z = _data(n=2500)  # > 2000 rows: DoWhy subsamples with the global RNG
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    p1 = ci_test(y, s, z, seed=1).p_value
    assert np.array_equal(np.random.get_state()[1], before)
    assert ci_test(y, s, z, seed=1).p_value == p1


def test_bad_inputs():
    y, s, z = _data(n=50)
    with pytest.raises(DataError, match="rows"):
        ci_test(y, s[:-1], z)
    with pytest.raises(DataError, match="NaN"):
        ci_test(np.where(np.arange(50) == 3, np.nan, y), s, z)
    with pytest.raises(UnknownNameError, match="Did you mean 'kernel'"):
        ci_test(y, s, z, method="kernal")
