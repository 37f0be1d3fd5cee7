"""The speed-ups of the default test compute what the plain code computes: known answers on small data.

Each large-n path (bandwidth chosen on a subsample, directions learned from a subsample) is
switched on at small n by lowering its threshold, so the tests stay fast.
"""

import numpy as np
import pytest
import torch

from analysis import Verdict, ci_test, simulate, transport_test
from analysis import effect_function as effect_module
from analysis import pcm as pcm_module
from analysis import ridge as ridge_module
from analysis.learners import _Booster, crossfit_selected
from analysis.linalg import eigh, gram, matmul
from analysis.pcm import N_FLIPS, _Half, _statistics
from analysis.ridge import FeatureMap, assign_folds, crossfit


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_numpy_products_equal_torch_and_keep_the_thread_count(dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 7, generator=gen, dtype=dtype)
    y = torch.randn(7, 5, generator=gen, dtype=dtype)
    threads = torch.get_num_threads()
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(gram(x), x.T @ x, rtol=tol, atol=tol)
    torch.testing.assert_close(gram(x[10:50]), x[10:50].T @ x[10:50], rtol=tol, atol=tol)  # a row slice is a view
    torch.testing.assert_close(matmul(x, y), x @ y, rtol=tol, atol=tol)
    torch.testing.assert_close(matmul(x.T, x), x.T @ x, rtol=tol, atol=tol)
    assert gram(x).dtype == dtype and torch.get_num_threads() == threads


def test_every_bandwidth_from_one_projection_equals_each_on_its_own():
    z = torch.as_tensor(np.random.default_rng(0).normal(size=(200, 3)))
    fmap = FeatureMap.fit(z, 16, seed=1)
    every = fmap.transform_all(z)
    assert len(every) == 3
    for b, feats in enumerate(every):
        assert feats.shape == (200, fmap.n_out) and feats.dtype == z.dtype
        assert torch.equal(feats, fmap.transform(z, b))
        torch.testing.assert_close(feats[:, :3], (z - fmap.center) / fmap.scale)
        # √2·cos(z_std·W_b + φ) in double precision, to the single-precision cosine's accuracy
        exact = np.sqrt(2) * torch.cos((z - fmap.center) / fmap.scale @ fmap.weights[b] + fmap.phase)
        torch.testing.assert_close(feats[:, 3:], exact, rtol=0, atol=1e-5)
    assert not torch.equal(every[0], every[1])


def test_eigh_through_numpy_matches_torch():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(400, 30, generator=gen, dtype=torch.float64)
    a = gram(x)
    threads = torch.get_num_threads()
    evals, evecs = eigh(a)
    ref_vals, _ = torch.linalg.eigh(a)
    assert evals.dtype == torch.float64 and torch.get_num_threads() == threads
    torch.testing.assert_close(evals, ref_vals, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(evecs @ torch.diag(evals) @ evecs.T, a, rtol=1e-10, atol=1e-9)
    torch.testing.assert_close(evecs.T @ evecs, torch.eye(30, dtype=torch.float64), rtol=0, atol=1e-10)


def test_boosting_on_a_subset_of_rows_binned_once_equals_binning_the_rows_anew():
    import lightgbm as lgb

    rng = np.random.default_rng(5)
    z = rng.normal(size=(1500, 4))
    y = np.sin(z[:, 0]) + 0.3 * rng.normal(size=1500)
    train, test = np.flatnonzero(np.arange(1500) % 5 != 0), np.arange(1500) % 5 == 0
    booster = _Booster(z, seed=2)
    anew = lgb.Dataset(z[train], label=y[train], reference=booster.binned, params=booster._binning)
    model = lgb.train(booster._params("regression"), anew)
    np.testing.assert_array_equal(booster.fit_predict(train, y, test), model.predict(z[test], num_threads=1))
    # Rows given out of order are the same rows: labels follow LightGBM's sorted subset.
    shuffled = np.random.default_rng(1).permutation(train)
    np.testing.assert_array_equal(booster.fit_predict(shuffled, y, test), booster.fit_predict(train, y, test))


def _shift_fold(z, t, folds, fold):
    fit = crossfit(z, t, folds)
    t2 = t.clone()
    t2[torch.as_tensor(folds == fold)] += 100.0
    return fit, crossfit(z, t2, folds)


def test_bandwidth_chosen_on_a_subsample_keeps_predictions_out_of_fold(monkeypatch):
    monkeypatch.setattr(ridge_module, "SELECTION_ROWS", 300)
    rng = np.random.default_rng(0)
    n = 1200
    z = torch.as_tensor(rng.normal(size=(n, 2)))
    t = torch.sin(2 * z[:, :1]) + 0.1 * torch.as_tensor(rng.normal(size=(n, 1)))
    folds = assign_folds(n, 5, None, 0)
    fit, shifted = _shift_fold(z, t, folds, 0)
    rows = torch.as_tensor(folds == 0)
    assert torch.equal(fit.pooled[rows], shifted.pooled[rows])  # fold 0's targets pick nothing for fold 0
    assert float(((fit.pooled - torch.sin(2 * z[:, :1])) ** 2).mean()) < 0.01
    assert len(np.unique(fit.bandwidths)) <= 3 and fit.bandwidths.shape == (5, 1)


def test_boosting_is_deterministic_and_leaves_the_thread_count_alone():
    rng = np.random.default_rng(2)
    n = 1500
    z = torch.as_tensor(rng.standard_t(3, size=(n, 4)))
    t = torch.tanh(z[:, :1] * z[:, 1:2]) + 0.3 * torch.as_tensor(rng.normal(size=(n, 1)))
    s = torch.as_tensor((rng.random((n, 1)) < torch.sigmoid(z[:, :1]).numpy()).astype(float))
    folds = assign_folds(n, 5, None, 0)
    threads = torch.get_num_threads()
    a = crossfit_selected(z, torch.cat([t, s], 1), folds, seed=4)
    b = crossfit_selected(z, torch.cat([t, s], 1), folds, seed=4)
    assert torch.equal(a.pooled, b.pooled) and a.learners == b.learners
    assert a.learners[0] in ("boosting", "blend")
    assert torch.get_num_threads() == threads
    booster = _Booster(z.numpy(), seed=4)
    train, test = np.flatnonzero(folds != 0), np.flatnonzero(folds == 0)
    prob = booster.fit_predict(train, s[:, 0].numpy(), test)
    assert prob.min() >= 0 and prob.max() <= 1  # the log-loss for a 0/1 target: a probability
    np.testing.assert_array_equal(prob, _Booster(z.numpy(), seed=4).fit_predict(train, s[:, 0].numpy(), test))


def test_directions_learned_from_a_subsample_keep_power_and_the_flip_algebra(monkeypatch):
    monkeypatch.setattr(pcm_module, "DIRECTION_ROWS", 400)
    monkeypatch.setattr(ridge_module, "SELECTION_ROWS", 300)
    monkeypatch.setattr(effect_module, "SELECTION_ROWS", 300)
    y_b, s, y_m, _ = simulate("sign_change", 2000, seed=4)
    assert ci_test(y_b, s, y_m, method="pcm").p_value == 1 / (1 + N_FLIPS)
    p = [ci_test(*simulate("linear", 1000, seed=k)[:3], method="pcm", seed=k).p_value for k in range(12)]
    assert min(p) >= 1 / (1 + N_FLIPS) and np.mean(np.array(p) < 0.05) <= 0.25
    # Units outside the learning sample carry zero influence rows; the identity still holds.
    gen = torch.Generator().manual_seed(0)
    totals = torch.randn(30, 7, generator=gen, dtype=torch.float64)
    totals[10:, 3:6] = 0.0
    halves = [_Half(totals), _Half(torch.randn(25, 7, generator=gen, dtype=torch.float64))]
    signs = [torch.ones(30, 1, dtype=torch.float64), torch.ones(25, 1, dtype=torch.float64)]
    flipped = _statistics(halves, [part.totals.T @ xi for part, xi in zip(halves, signs, strict=True)])
    observed = _statistics(halves, [part.totals.sum(0, keepdim=True).T for part in halves])
    np.testing.assert_allclose(flipped[0], observed[0]) and np.testing.assert_allclose(flipped[1], observed[1])


def test_a_sweep_skips_the_effect_function_and_certifies_nothing():
    y_b, s, y_m, _ = simulate("nonlinear", 600, seed=2)
    full = transport_test(y_b, s, y_m, seed=1)
    quick = transport_test(y_b, s, y_m, seed=1, magnitude=False)
    assert quick.p_value == full.p_value and quick.effect == full.effect and quick.effect_ci == full.effect_ci
    assert np.isnan(quick.magnitude) and quick.effect_curve is None and quick.verdict == Verdict.INCONCLUSIVE
    assert full.verdict != Verdict.INCONCLUSIVE or not np.isnan(full.magnitude)
