import json

import numpy as np
import pandas as pd
import pytest
import torch

from core.errors import ConfigError, DataError, UnknownNameError
from probes import ProbeTransport, RolloutDataset, SpatialProbe, probe_candidates, probe_transport

torch.set_num_threads(1)

SITES = ("stable", "flip", "vanish", "copy", "xor")


def _transport_dataset(n_per_shift=200, seed=0, goal_rate0=0.5):
    """Two shifts, two steps per episode; candidate `goal` (achieved with probability `goal_rate0`
    at shift 0, balanced at shift 1) and `rare` (balanced at shift 0, never achieved at shift 1).
    Sites at the first step:
    `stable` encodes goal the same way at both shifts; `flip` encodes it with the opposite sign at
    shift 1; `vanish` loses it at shift 1; `copy` is the observation; `xor` encodes it as the sign
    of a product (linearly invisible); `obs` is noise that carries no goal (the control)."""
    rng = np.random.default_rng(seed)
    rows, acts = [], {k: [] for k in (*SITES, "obs")}
    for ep in range(2 * n_per_shift):
        shift = float(ep >= n_per_shift)
        goal = int(rng.random() < (goal_rate0 if shift == 0 else 0.5))
        rare = int(rng.random() < 0.5) if shift == 0 else 0
        sign = 2 * goal - 1
        for t in range(2):
            done = t == 1
            rows.append(
                dict(
                    run="r",
                    episode=ep,
                    t=t,
                    s=int(shift),
                    shift=shift,
                    action=0,
                    reward=float(goal and done),
                    return_to_go=float(goal),
                    achieved_goal=bool(goal and done),
                    achieved_rare=bool(rare and done),
                )
            )
            obs = rng.normal(size=3)
            a = rng.normal()
            acts["obs"].append(obs)
            acts["copy"].append(obs.copy())
            acts["stable"].append([sign + 0.7 * rng.normal(), rng.normal()])
            acts["flip"].append([(sign if shift == 0 else -sign) + 0.7 * rng.normal(), rng.normal()])
            acts["vanish"].append([(sign if shift == 0 else 0) + 0.7 * rng.normal(), rng.normal()])
            acts["xor"].append([a, sign * np.sign(a) * abs(rng.normal())])
    return RolloutDataset(pd.DataFrame(rows), {k: np.asarray(v, np.float32) for k, v in acts.items()})


@pytest.fixture(scope="module")
def data():
    return _transport_dataset()


@pytest.fixture(scope="module")
def result(data):
    return probe_transport(data, n_folds=4)


def _flag(res, site, kind, cand="goal"):
    f = res.flags
    return f[(f.candidate == cand) & (f.site == site) & (f.kind == kind)].iloc[0]


def _score(res, site, kind, shift, cand="goal"):
    s = res.scores
    return s[(s.candidate == cand) & (s.site == site) & (s.kind == kind) & (s["shift"] == shift)].iloc[0]


def test_scores_cover_every_candidate_site_kind_and_shift(result):
    assert isinstance(result, ProbeTransport)
    assert result.fit_on == "train_shift" and "auto" in result.fit_on_reason
    assert result.train_shift == 0.0 and result.shifts == [0.0, 1.0]
    assert len(result.scores) == 2 * 6 * 2 * 2
    assert {"candidate", "site", "kind", "shift", "score", "n", "note"} <= set(result.scores.columns)
    assert set(result.scores.site) == {*SITES, "obs"}
    assert (result.scores.n == 200).all()


def test_stable_encoding_transports_and_beats_control(result):
    for kind in ("logistic", "mlp"):
        row = _flag(result, "stable", kind)
        assert row.train_score > 0.9 and row.worst_score > 0.9
        assert not row.drops and not row.no_better_than_control and row.transports
        assert not row.misspecified
        assert abs(_score(result, "obs", kind, 1.0).score - 0.5) < 0.12
    assert result.flagged("goal", "stable") == []


@pytest.mark.parametrize("site", ["flip", "vanish"])
def test_encoding_that_flips_or_vanishes_drops(result, site):
    for kind in ("logistic", "mlp"):
        row = _flag(result, site, kind)
        assert row.train_score > 0.9
        assert row.drops and row.worst_shift == 1.0 and not row.transports
    assert _score(result, site, "logistic", 1.0).score < (0.15 if site == "flip" else 0.65)
    assert any("shift 1" in r and "does not transport" in r for r in result.flagged("goal", site))


def test_copy_of_observation_is_no_better_than_control(result):
    for kind in ("logistic", "mlp"):
        row = _flag(result, "copy", kind)
        assert row.no_better_than_control and row.control_shifts == [0.0, 1.0] and not row.transports
    assert any("no better than the observation control" in r for r in result.flagged("goal", "copy"))
    ctrl = _flag(result, "obs", "logistic")
    assert ctrl.is_control and not ctrl.no_better_than_control


def test_xor_encoding_is_misspecified_for_the_linear_probe(result):
    lin, mlp = _flag(result, "xor", "logistic"), _flag(result, "xor", "mlp")
    assert mlp.train_score > 0.85 and lin.train_score < 0.65
    assert lin.misspecified and lin.nonlinear_gap > 0.2 and not mlp.misspecified
    assert mlp.transports and lin.no_better_than_control
    assert any("mis-specified" in r for r in result.flagged("goal", "xor"))


def test_single_class_shift_gives_nan_with_note(result):
    row = _score(result, "stable", "logistic", 1.0, cand="rare")
    assert np.isnan(row.score) and "all not achieved" in row.note and "undefined" in row.note
    flag = _flag(result, "stable", "logistic", cand="rare")
    assert np.isnan(flag.worst_shift) and not flag.drops and not flag.transports
    assert "no other shift" in flag.note


def test_logistic_in_distribution_score_matches_probe_candidates(data, result):
    eps = data.episodes()
    train = data.filter_episodes(eps.episode[eps["shift"] == 0.0])
    ref = probe_candidates(train, candidates=["goal"], sites=["stable", "xor"], n_folds=4).scores.set_index("site")
    for site in ("stable", "xor"):
        assert _score(result, site, "logistic", 0.0).score == pytest.approx(ref.loc[site, "score"], abs=1e-12)
    assert _score(result, "obs", "logistic", 0.0).score == pytest.approx(ref.loc["stable", "control_score"])


def test_train_shift_and_determinism(data):
    kw = dict(candidates=["goal"], sites=["flip"], n_folds=4)
    a, b = probe_transport(data, seed=3, **kw), probe_transport(data, seed=3, **kw)
    pd.testing.assert_frame_equal(a.scores, b.scores)
    assert set(a.scores.site) == {"flip", "obs"}  # the control is always scored
    rev = probe_transport(data, train_shift=1, kinds=("logistic",), **kw)
    assert rev.train_shift == 1.0 and _flag(rev, "flip", "logistic").worst_shift == 0.0
    assert _flag(rev, "flip", "logistic").drops and set(rev.scores.kind) == {"logistic"}


def test_to_dict_is_plain_json_and_html(result):
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["train_shift"] == 0.0 and len(d["scores"]) == len(result.scores)
    assert any(r["score"] is None for r in d["scores"])
    assert "ProbeTransport" in result._repr_html_() and "shift 0 (train)" in result._repr_html_()


def test_errors(data, result):
    with pytest.raises(ConfigError, match="logistic"):
        probe_transport(data, kinds=("logistc",))
    with pytest.raises(UnknownNameError, match="goal"):
        probe_transport(data, candidates=["gaol"])
    with pytest.raises(UnknownNameError, match="stable"):
        probe_transport(data, sites=["stabel"])
    with pytest.raises(ConfigError, match="shifts present"):
        probe_transport(data, train_shift=0.5)
    one = data.filter_episodes(range(200))
    with pytest.raises(DataError, match="two or more shifts"):
        probe_transport(one)
    with pytest.raises(ConfigError, match="n_folds"):
        probe_transport(data, n_folds=1)
    with pytest.raises(ConfigError, match="pooled"):
        probe_transport(data, fit_on="pool")
    with pytest.raises(UnknownNameError):
        result.flagged("goal", "nowhere")


@pytest.fixture(scope="module")
def saturated():
    # The training shift is saturated: `goal` is achieved in every shift-0 episode (a competent agent).
    return _transport_dataset(goal_rate0=1.0)


@pytest.fixture(scope="module")
def pooled(saturated):
    return probe_transport(saturated, candidates=["goal"], sites=["stable", "vanish", "copy", "xor"], n_folds=4)


def test_auto_pools_when_the_training_shift_is_one_class(saturated, pooled):
    assert pooled.fit_on == "pooled" and "'goal' (200 of 200 achieved)" in pooled.fit_on_reason
    forced = probe_transport(
        saturated, candidates=["goal"], sites=["stable"], kinds=("logistic",), fit_on="train_shift"
    )
    assert forced.fit_on == "train_shift" and "too one-sided" in forced.fit_on_reason
    assert forced.scores.score.isna().all() and not forced.flags.transports.any()
    assert pooled.scores.in_distribution.all()
    for kind in ("logistic", "mlp"):
        shift0 = _score(pooled, "stable", kind, 0.0)
        assert np.isnan(shift0.score) and "all achieved" in shift0.note
        assert np.isfinite(_score(pooled, "stable", kind, 1.0).score)
    assert np.isfinite(pooled.flags.pooled_score).all()
    assert (pooled.flags.reference_score == pooled.flags.pooled_score).all()


def test_pooled_flags(pooled):
    for kind in ("logistic", "mlp"):
        stable, vanish, copy = (_flag(pooled, site, kind) for site in ("stable", "vanish", "copy"))
        assert stable.pooled_score > 0.9 and _score(pooled, "stable", kind, 1.0).score > 0.9
        assert stable.transports and not stable.drops and not stable.no_better_than_control
        assert vanish.drops and vanish.worst_shift == 1.0 and not vanish.transports
        assert vanish["drop"] > 0.1 and _score(pooled, "vanish", kind, 1.0).score < 0.65
        assert copy.no_better_than_control and copy.control_shifts == [1.0] and copy.control_pooled
        assert not copy.transports
    lin, mlp = _flag(pooled, "xor", "logistic"), _flag(pooled, "xor", "mlp")
    assert lin.misspecified and lin.nonlinear_gap == pytest.approx(mlp.pooled_score - lin.pooled_score)
    assert pooled.flagged("goal", "stable") == []
    assert any("pooled over all shifts falls to" in r and "shift 1" in r for r in pooled.flagged("goal", "vanish"))
    assert any("shift(s) 1 and pooled over all shifts" in r for r in pooled.flagged("goal", "copy"))
    assert any("mis-specified" in r and "pooled" in r for r in pooled.flagged("goal", "xor"))
    d = json.loads(json.dumps(pooled.to_dict(), allow_nan=False))
    assert d["fit_on"] == "pooled" and d["fit_on_reason"] == pooled.fit_on_reason
    page = pooled._repr_html_()
    assert "fit_on=<code>pooled</code>" in page and "(train)" not in page and "<th>pooled</th>" in page


@pytest.mark.parametrize("which", ["saturated", "data"])
def test_pooled_logistic_readout_equals_probe_candidates(which, request):
    ds = request.getfixturevalue(which)
    sites = ["stable", "vanish"]
    res = probe_transport(ds, candidates=["goal"], sites=sites, kinds=("logistic",), fit_on="pooled", n_folds=4)
    ref = probe_candidates(ds, candidates=["goal"], sites=sites, n_folds=4).y_m
    got = res.predictions["logistic"]
    assert got.episode.tolist() == ref.episode.tolist()
    for col in ("ym_goal@stable", "ym_goal@vanish", "ym_goal@obs"):
        np.testing.assert_allclose(got[col], ref[col], rtol=0, atol=1e-12)
    score = probe_candidates(ds, candidates=["goal"], sites=["stable"], n_folds=4).scores.score.iloc[0]
    assert _flag(res, "stable", "logistic").pooled_score == pytest.approx(score, abs=1e-12)


def _grid(n, C=4, H=5, W=5, signal=True, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, C, H, W))
    y = np.stack([rng.integers(0, H, n), rng.integers(0, W, n)], axis=1)
    if signal:
        X[np.arange(n), 2, y[:, 0], y[:, 1]] += 4.0
    return X, y


def test_spatial_probe_recovers_marked_cell():
    X, y = _grid(600)
    probe = SpatialProbe().fit(X[:400], y[:400])
    assert probe.score(X[400:], y[400:]) > 0.9
    assert np.argmax(np.abs(probe.coef_)) == 2
    maps = probe.predict_proba(X[400:])
    assert maps.shape == (200, 5, 5) and np.allclose(maps.sum(axis=(1, 2)), 1)
    assert probe.predict(X[:3]).shape == (3, 2)


def test_spatial_probe_is_at_chance_on_noise():
    X, y = _grid(600, signal=False)
    probe = SpatialProbe().fit(X[:400], y[:400])
    assert probe.score(X[400:], y[400:]) < 0.15  # chance is 1/25


def test_spatial_probe_shape_errors():
    X, y = _grid(20)
    with pytest.raises(DataError, match="C, H, W"):
        SpatialProbe().fit(X.reshape(20, -1), y)
    with pytest.raises(DataError, match="cell"):
        SpatialProbe().fit(X, y[:, 0])
    with pytest.raises(DataError, match="grid"):
        SpatialProbe().fit(X, y + 5)
    probe = SpatialProbe().fit(X, y)
    with pytest.raises(DataError, match="fitted on"):
        probe.predict(X[:, :, :4])
