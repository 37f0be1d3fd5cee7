"""Probe heads solved by torch (`probes.torch_linear`): scikit-learn's objectives, on any device."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge

from core.errors import ConfigError, DataError
from mesaprobe.probe_config import ProbeConfig
from probes import LinearProbe, TorchLogisticRegression, TorchRidge


def _hard_data(n=3000, d=24, seed=0):
    """Heavy-tailed, heteroscedastic features, a rare positive class and an effect that changes sign."""
    rng = np.random.default_rng(seed)
    X = rng.standard_t(df=3, size=(n, d)) * rng.uniform(0.2, 3.0, size=d)
    w = rng.normal(size=d) * np.where(np.arange(d) % 2, 1, -1)
    logit = np.tanh(X @ w / np.sqrt(d)) * 3 - 2.5 + rng.normal(size=n) * (1 + np.abs(X[:, 0]))
    return X, (logit > 0).astype(int)


def _objective_and_gradient(model, X, y, C):
    """scikit-learn's logistic objective `½‖w‖² + C Σ log-loss` at a fitted model, and its gradient."""
    w, b = model.coef_[0], model.intercept_[0]
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    value = 0.5 * w @ w + C * np.sum(np.logaddexp(0, z) - y * z)
    return value, np.r_[w + C * X.T @ (p - y), C * np.sum(p - y)]


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_logistic_reaches_scikit_learns_optimum(C):
    X, y = _hard_data()
    assert 0.02 < y.mean() < 0.3
    theirs = LogisticRegression(C=C, max_iter=20_000, tol=1e-12).fit(X, y)
    ours = TorchLogisticRegression(C=C).fit(X, y)
    value, gradient = _objective_and_gradient(ours, X, y, C)
    their_value, their_gradient = _objective_and_gradient(theirs, X, y, C)
    # The same objective, at least as well minimised: Newton's steps end where the gradient vanishes.
    assert value <= their_value + 1e-9 * abs(their_value)
    assert np.abs(gradient).max() <= max(1e-6 * C * len(y), np.abs(their_gradient).max())
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-4)
    assert (ours.predict(X) == theirs.predict(X)).mean() > 0.999
    assert ours.n_iter_ < 30 and list(ours.classes_) == [0, 1]


def test_logistic_stays_finite_on_separable_data_and_refuses_one_class():
    X = np.r_[np.zeros((20, 1)) - 1, np.zeros((20, 1)) + 1]
    y = np.r_[np.zeros(20, int), np.ones(20, int)]
    ours = TorchLogisticRegression(C=10.0).fit(X, y)
    exact = LogisticRegression(C=10.0, max_iter=10_000, tol=1e-12).fit(X, y)
    assert np.isfinite(ours.coef_).all() and ours.coef_[0, 0] == pytest.approx(exact.coef_[0, 0], rel=1e-6)
    with pytest.raises(DataError, match="both classes"):
        TorchLogisticRegression().fit(X, np.zeros(40, int))
    with pytest.raises(ConfigError, match="C must be > 0"):
        TorchLogisticRegression(C=0).fit(X, y)


def test_ridge_is_scikit_learns_ridge():
    rng = np.random.default_rng(1)
    X = rng.standard_t(df=3, size=(500, 12)) + 5.0  # shifted: the intercept matters
    y = X @ rng.normal(size=12) + rng.normal(size=500) * (1 + np.abs(X[:, 1] - 5))
    for alpha in (1e-3, 1.0, 1e3):
        ours, theirs = TorchRidge(alpha=alpha).fit(X, y), Ridge(alpha=alpha).fit(X, y)
        np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-7, atol=1e-9)
        assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-7, abs=1e-9)
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7)


def test_linear_probe_on_a_device():
    X, y = _hard_data(n=800, d=8, seed=2)
    cpu = LinearProbe("logistic", alpha=2.0).fit(X, y)
    # "auto" on a machine without CUDA is the CPU: scikit-learn's solver, the same read-out to the bit.
    if not torch.cuda.is_available():
        assert np.array_equal(LinearProbe("logistic", 2.0, device="auto").fit(X, y).readout(X), cpu.readout(X))
        with pytest.raises(ConfigError, match="CUDA is not available"):
            LinearProbe("logistic", 2.0, device="cuda").fit(X, y)
    else:  # pragma: no cover - on a GPU machine
        gpu = LinearProbe("logistic", 2.0, device="cuda").fit(X, y)
        np.testing.assert_allclose(gpu.readout(X), cpu.readout(X), atol=5e-3)
    probe = clone(LinearProbe("ridge", alpha=3.0, device="cuda"))
    assert probe.get_params() == {"kind": "ridge", "alpha": 3.0, "device": "cuda"}


def test_probe_config_device():
    assert ProbeConfig().build_estimator() is None
    probe = ProbeConfig(kind="ridge", alpha=2.0, device="cuda").build_estimator()
    assert isinstance(probe, LinearProbe) and probe.get_params() == {"kind": "ridge", "alpha": 2.0, "device": "cuda"}
    with pytest.raises(ConfigError, match="probe.device must be cpu, cuda or auto"):
        ProbeConfig(device="gpu")


def test_cli_stage_commands_check_their_device(tmp_path, capsys):
    from mesaprobe.cli import main

    assert main(["probe", str(tmp_path / "rollouts"), "--out", str(tmp_path / "p"), "--device", "gpu"]) == 2
    assert "probe.device must be cpu, cuda or auto" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_a_study_on_a_missing_device_stops_before_training(tmp_path):
    import dataclasses

    from mesaprobe import demo_config, run_study

    config = demo_config()
    config = dataclasses.replace(config, probe=dataclasses.replace(config.probe, device="cuda"))
    with pytest.raises(ConfigError, match="CUDA is not available"):
        run_study(config, tmp_path / "study")
    assert not (tmp_path / "study").exists()
