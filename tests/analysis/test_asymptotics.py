import numpy as np
import pytest
import torch
from scipy import stats

from analysis import SCENARIOS, simulate
from analysis.asymptotics import cluster_totals, quadratic_test, wald_test, weighted_chi2_sf
from envs import UnknownNameError


def test_weighted_chi2_is_exact_for_equal_weights_and_close_otherwise():
    for q in (0.5, 3.0, 9.0):
        assert weighted_chi2_sf(q, np.ones(3)) == pytest.approx(stats.chi2.sf(q, 3), rel=1e-9)
    rng = np.random.default_rng(0)
    w = np.array([3.0, 1.0, 0.5, 0.1])
    draws = (w * rng.chisquare(1, size=(200_000, 4))).sum(1)
    q95 = np.quantile(draws, 0.95)
    assert weighted_chi2_sf(q95, w) == pytest.approx(0.05, abs=0.005)
    assert weighted_chi2_sf(1.0, np.zeros(3)) == 1.0


def test_wald_and_quadratic_tests_are_uniform_under_the_null():
    rng = np.random.default_rng(1)
    p_wald, p_quad = [], []
    for _ in range(400):
        u = torch.as_tensor(rng.normal(size=(300, 3)) * [1.0, 2.0, 0.5])
        p_wald.append(wald_test(u)[2])
        p_quad.append(quadratic_test(u)[2])
    for p in (p_wald, p_quad):
        assert 0.02 <= np.mean(np.array(p) < 0.05) <= 0.09
        assert stats.kstest(p, "uniform").pvalue > 0.001


def test_cluster_totals_sum_within_groups():
    prod = torch.arange(6.0).reshape(6, 1)
    totals = cluster_totals(prod, np.array([2, 2, 5, 5, 5, 9]))
    assert totals.flatten().tolist() == [1.0, 9.0, 5.0]
    assert cluster_totals(prod, None) is prod


def test_scenarios_draw_what_they_say():
    for name in SCENARIOS:
        y_b, s, y_m, groups = simulate(name, 500, seed=0)
        assert len(y_b) == len(s) == len(y_m) and set(np.unique(s)) == {0.0, 1.0}
        assert (groups is not None) == name.startswith("clustered")
    assert simulate("dim16", 50, seed=0)[2].shape == (50, 16)
    assert simulate("nonlinear", 100, seed=3)[0].tolist() == simulate("nonlinear", 100, seed=3)[0].tolist()
    with pytest.raises(UnknownNameError, match="'nonlinear'"):
        simulate("nonlinaer", 10)
