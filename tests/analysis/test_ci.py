import numpy as np
import pytest
import torch

from analysis import CI_METHODS, OWN_METHODS, ci_test, simulate
from analysis.ridge import assign_folds, crossfit
from core.errors import FitError
from envs import ConfigError, DataError, UnknownNameError


def _data(n=300, dependent=False, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    s = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    y = z + (1.0 * s if dependent else 0) + 0.5 * rng.normal(size=n)
    return y, s, z


@pytest.mark.parametrize("method", [*OWN_METHODS, "dowhy_kernel"])
def test_null_not_rejected_and_alternative_rejected(method):
    y, s, z = _data()
    assert ci_test(y, s, z, method=method).p_value > 0.05
    y, s, z = _data(dependent=True)
    assert ci_test(y, s, z, method=method).p_value < 0.01


def test_every_method_runs_and_reports_itself():
    y, s, z = _data(n=200)
    for method in CI_METHODS:
        r = ci_test(y, s, z, method=method)
        assert 0.0 <= r.p_value <= 1.0 and r.conditional
        assert r.method == method or (method == "auto" and r.chosen_by)
        assert r.method != "auto"


def test_auto_says_what_it_picked():
    y, s, z = _data(n=400)
    r = ci_test(y, s, z)
    assert r.method == "pcm" and "400" in r.chosen_by and "change sign" in r.chosen_by
    small = ci_test(*_data(n=60))
    assert small.method == "dowhy_kernel" and "60 units" in small.chosen_by


def test_own_methods_are_deterministic_and_leave_global_rngs_alone():
    y, s, z = _data(n=500)
    np.random.seed(123)
    torch.manual_seed(5)
    before = np.random.get_state()[1].copy()
    t_before = torch.get_rng_state().clone()
    for method in OWN_METHODS:
        p1 = ci_test(y, s, z, method=method, seed=1).p_value
        assert ci_test(y, s, z, method=method, seed=1).p_value == p1
    assert np.array_equal(np.random.get_state()[1], before)
    assert torch.equal(torch.get_rng_state(), t_before)


def test_dowhy_seed_fixes_p_value_and_restores_global_rng():
    y, s, z = _data(n=500)  # > max_num_samples_run rows: DoWhy subsamples with the global RNG
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    p1 = ci_test(y, s, z, method="dowhy_kernel", seed=1, max_num_samples_run=300).p_value
    assert np.array_equal(np.random.get_state()[1], before)
    assert ci_test(y, s, z, method="dowhy_kernel", seed=1, max_num_samples_run=300).p_value == p1


@pytest.mark.parametrize("method", OWN_METHODS)
def test_groups_make_clustered_steps_honest(method):
    # One draw whose episode-level shocks fool the row-level test; the cluster-robust one is not fooled.
    y_b, s, y_m, groups = simulate("clustered", 3000, seed=3)
    naive = ci_test(y_b, s, y_m, method=method)
    robust = ci_test(y_b, s, y_m, method=method, groups=groups)
    assert robust.n_groups == 300
    assert robust.p_value > naive.p_value


def test_multivariate_and_unconditional_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = rng.normal(size=(400, 3))
    for method in [m for m in OWN_METHODS if m != "pcm"]:
        r = ci_test(x, y, rng.normal(size=(400, 4)), method=method)
        assert 0 <= r.p_value <= 1 and r.df >= 1
        assert ci_test(x, y, method=method).conditional is False
    with pytest.raises(ConfigError, match="one column x against one column y"):
        ci_test(x, y, rng.normal(size=(400, 4)), method="pcm")
    auto = ci_test(x, y, rng.normal(size=(400, 4)))
    assert auto.method == "gcm" and "pcm takes one each" in auto.chosen_by
    dep = ci_test(x[:, 0] + 0.5 * y[:, 0], y, method="gcm")
    assert dep.p_value < 1e-6


def test_crossfit_predicts_out_of_fold_only():
    rng = np.random.default_rng(0)
    z = torch.as_tensor(rng.normal(size=(600, 2)))
    t = torch.sin(z[:, :1]) + 0.1 * torch.as_tensor(rng.normal(size=(600, 1)))
    folds = assign_folds(600, 5, None, 0)
    fit = crossfit(z, t, folds)
    assert float(((fit.pooled - torch.sin(z[:, :1])) ** 2).mean()) < 0.01
    t2 = t.clone()
    t2[torch.as_tensor(folds == 0)] += 100.0  # outcomes of fold 0 must not move its own predictions
    fit2 = crossfit(z, t2, folds)
    rows = torch.as_tensor(folds == 0)
    assert torch.equal(fit.pooled[rows], fit2.pooled[rows])
    assert not torch.equal(fit.pooled[~rows], fit2.pooled[~rows])


def test_groups_keep_clusters_in_one_fold():
    groups = np.repeat(np.arange(40), 7)
    folds = assign_folds(len(groups), 5, groups, 0)
    assert all(len(np.unique(folds[groups == g])) == 1 for g in range(40))


def test_bad_inputs():
    y, s, z = _data(n=50)
    with pytest.raises(DataError, match="rows"):
        ci_test(y, s[:-1], z)
    with pytest.raises(DataError, match="NaN"):
        ci_test(np.where(np.arange(50) == 3, np.nan, y), s, z)
    with pytest.raises(DataError, match="NaN"):
        ci_test(y, s, np.where(np.arange(50) == 3, np.inf, z))
    with pytest.raises(DataError, match="both regimes"):
        ci_test(y, np.ones(50), z, method="gcm")
    with pytest.raises(DataError, match="groups must have shape"):
        ci_test(y, s, z, method="gcm", groups=np.arange(49))
    with pytest.raises(ConfigError, match="cannot take groups"):
        ci_test(y, s, z, method="dowhy_kernel", groups=np.arange(50))
    with pytest.raises(UnknownNameError, match="Did you mean .*'dowhy_kernel'"):
        ci_test(y, s, z, method="kernel")
    with pytest.raises(UnknownNameError, match="'gcm'"):
        ci_test(y, s, z, method="gmc")


def test_no_p_value_from_a_failed_fit(monkeypatch):
    # The ridge decomposes its Gram matrices with NumPy's LAPACK on the CPU and with torch elsewhere: break both.
    y, s, z = _data(n=200)
    real = {"torch": torch.linalg.eigh, "numpy": np.linalg.eigh}

    def diverging(lib):
        def eigh(a):
            evals, evecs = real[lib](a)
            return evals, evecs * float("nan")

        return eigh

    monkeypatch.setattr(torch.linalg, "eigh", diverging("torch"))
    monkeypatch.setattr(np.linalg, "eigh", diverging("numpy"))
    with pytest.raises(FitError, match="non-finite"):
        ci_test(y, s, z, method="gcm")

    def failing(error):
        def eigh(a):
            raise error("did not converge")

        return eigh

    monkeypatch.setattr(torch.linalg, "eigh", failing(torch.linalg.LinAlgError))
    monkeypatch.setattr(np.linalg, "eigh", failing(np.linalg.LinAlgError))
    for method in OWN_METHODS:
        with pytest.raises(FitError, match="failed to fit"):
            ci_test(y, s, z, method=method)
