import numpy as np
import pandas as pd
import pytest

from envs import ConfigError, DataError
from probes import LinearProbe, RolloutDataset, probe_candidates


def test_linear_probe_recovers_planted_direction():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 10))
    y = (X[:, 3] - X[:, 7] + 0.3 * rng.normal(size=600) > 0).astype(int)
    probe = LinearProbe("logistic").fit(X[:400], y[:400])
    assert probe.score(X[400:], y[400:]) > 0.95
    p1 = probe.readout(X)
    assert 0 <= p1.min() and p1.max() <= 1
    # scikit-learn's conventions: predict gives labels, predict_proba the two class probabilities.
    assert set(np.unique(probe.predict(X))) == {0, 1} and np.array_equal(probe.predict(X), (p1 > 0.5).astype(int))
    np.testing.assert_allclose(probe.predict_proba(X), np.column_stack([1 - p1, p1]))
    ridge = LinearProbe("ridge").fit(X[:400], X[:400, 2] * 3)
    assert ridge.score(X[400:], X[400:, 2] * 3) > 0.99


def test_constant_target_gives_constant_probe():
    X = np.random.default_rng(0).normal(size=(50, 3))
    probe = LinearProbe().fit(X, np.ones(50))
    assert probe.constant_ == 1.0 and np.all(probe.readout(X) == 1.0) and np.all(probe.predict(X) == 1)


def test_bad_kind():
    with pytest.raises(ConfigError, match="logistic"):
        LinearProbe("lasso").fit(np.zeros((4, 1)), np.array([0, 1, 0, 1]))


def _planted_dataset(n_episodes=200, seed=0):
    """Episodes whose 'hidden' site encodes the candidate outcome and whose 'noise' site does not."""
    rng = np.random.default_rng(seed)
    rows, hidden, noise, obs = [], [], [], []
    for ep in range(n_episodes):
        goal = int(rng.random() < 0.5)
        for t in range(3):
            rows.append(
                dict(
                    run="r",
                    episode=ep,
                    t=t,
                    s=ep % 2,
                    shift=0.5,
                    action=0,
                    reward=float(goal and t == 2),
                    return_to_go=float(goal),
                    achieved_goal=bool(goal and t == 2),
                )
            )
            hidden.append([goal + 0.3 * rng.normal(), rng.normal()])
            noise.append(rng.normal(size=2))
            obs.append(rng.normal(size=4))
    acts = {k: np.asarray(v, np.float32) for k, v in {"hidden": hidden, "noise": noise, "obs": obs}.items()}
    return RolloutDataset(pd.DataFrame(rows), acts)


def test_probe_candidates_finds_the_site_that_carries_the_goal():
    res = probe_candidates(_planted_dataset())
    scores = res.scores.set_index("site")
    assert scores.loc["hidden", "score"] > 0.95
    assert abs(scores.loc["noise", "score"] - 0.5) < 0.15
    assert abs(scores.loc["hidden", "control_score"] - 0.5) < 0.15
    assert bool(scores.loc["hidden", "beats_control"])
    assert res.best_site == {"goal": "hidden"}
    assert len(res.y_m) == 200 and res.y_m["ym_goal"].between(0, 1).all()


def test_probe_on_real_rollouts(dataset):
    res = probe_candidates(dataset, n_folds=3)
    assert set(res.scores.candidate) == {"coin", "exit"}
    assert {"ym_coin", "ym_exit", "return", "s"} <= set(res.y_m.columns)
    assert len(res.y_m) == dataset.n_episodes


def test_any_scikit_learn_classifier_is_a_probe_and_its_linear_weights_are_read():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    from probes import cross_fit
    from probes.attribution import linear_readout
    from probes.estimators import Probe, as_probe

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)) + 3
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(float)
    for est in (
        LogisticRegression(),
        make_pipeline(StandardScaler(), LogisticRegression()),
        make_pipeline(StandardScaler(with_mean=False), LogisticRegression()),
    ):
        probe = Probe(est).fit(X, y)
        w, b = linear_readout(probe)
        np.testing.assert_allclose(1 / (1 + np.exp(-(X @ w + b))), probe.readout(X), atol=1e-9)
    ridge = Probe(RidgeClassifier()).fit(X, y)  # no predict_proba: the read-out is its decision function
    w, b = linear_readout(ridge)
    np.testing.assert_allclose(X @ w + b, ridge.readout(X), atol=1e-9)
    with pytest.raises(DataError, match="not a linear model"):
        linear_readout(Probe(make_pipeline(MinMaxScaler(), LogisticRegression())).fit(X, y))
    # An unfitted ensemble cannot be asked whether it is truthy; cross-fitting must not ask.
    pred = cross_fit(X, y, probe=RandomForestClassifier(n_estimators=10, random_state=0), n_folds=3, seed=0)
    assert pred.shape == (300,) and 0 <= pred.min() and pred.max() <= 1
    with pytest.raises(ConfigError, match="scikit-learn estimator"):
        as_probe(object())
