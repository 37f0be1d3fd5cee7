import json

import numpy as np
import pandas as pd
import pytest
import torch

from core.errors import ConfigError, DataError, UnknownNameError
from probes import RegimeProbeTransport, RolloutDataset, probe_candidates, probe_transport_by_regime

torch.set_num_threads(1)

REGIMES = ("train", "walls", "far", "flipped")


def _regimes_dataset(n_per_regime=160, seed=0):
    """Four regimes (s = 0..3), two steps per episode; candidate `goal` balanced everywhere and
    `always` achieved in every episode. Sites at the first step: `stable` encodes goal the same way
    on every regime; `partial` encodes it on train, walls and far and with the opposite sign on
    `flipped`; `copy` is the observation; `obs` is noise (the control)."""
    rng = np.random.default_rng(seed)
    rows, acts = [], {k: [] for k in ("stable", "partial", "copy", "obs")}
    for ep in range(len(REGIMES) * n_per_regime):
        s = ep // n_per_regime
        goal = int(rng.random() < 0.5)
        sign = 2 * goal - 1
        for t in range(2):
            done = t == 1
            rows.append(
                dict(
                    run="r",
                    episode=ep,
                    t=t,
                    s=s,
                    regime=REGIMES[s],
                    shift=float(s > 0),
                    action=0,
                    reward=float(goal and done),
                    return_to_go=float(goal),
                    achieved_goal=bool(goal and done),
                    achieved_always=bool(done),
                )
            )
            obs = rng.normal(size=3)
            acts["obs"].append(obs)
            acts["copy"].append(obs.copy())
            acts["stable"].append([sign + 0.7 * rng.normal(), rng.normal()])
            acts["partial"].append([(-sign if s == 3 else sign) + 0.7 * rng.normal(), rng.normal()])
    return RolloutDataset(pd.DataFrame(rows), {k: np.asarray(v, np.float32) for k, v in acts.items()})


@pytest.fixture(scope="module")
def data():
    return _regimes_dataset()


@pytest.fixture(scope="module")
def result(data):
    return probe_transport_by_regime(data, n_folds=4)


def _row(res, site, regime, cand="goal", frame="scores"):
    f = getattr(res, frame)
    return f[(f.candidate == cand) & (f.site == site) & (f.regime == regime)].iloc[0]


def test_every_read_out_is_scored_three_ways_on_every_regime(result):
    assert isinstance(result, RegimeProbeTransport)
    assert result.regimes == REGIMES
    assert len(result.scores) == 2 * 4 * len(REGIMES)  # candidates x sites (control included) x regimes
    row = _row(result, "stable", "far")
    assert row.n == 160 and 0.35 < row.positive_rate < 0.65
    for col in ("in_regime", "from_train", "left_out"):
        assert row[col] > 0.9, row


def test_a_read_out_that_generalises_works_on_every_regime(result):
    assert set(result.status("goal", "stable").values()) == {"works"}
    assert not result.only_some("goal", "stable")
    assert result.flagged("goal", "stable") == {}


def test_a_read_out_that_flips_on_one_regime_works_only_on_some(result):
    status = result.status("goal", "partial")
    assert status == {"train": "works", "walls": "works", "far": "works", "flipped": "fails"}, status
    assert result.only_some("goal", "partial")
    flagged = result.flagged("goal", "partial")
    assert list(flagged) == ["flipped"]
    assert "no better than the observation control" in flagged["flipped"][0]
    # Fitted on training (or on the other regimes), the probe reads the flipped regime backwards.
    row = _row(result, "partial", "flipped")
    assert row.from_train < 0.2 and row.left_out < 0.2
    summary = result.summary().set_index(["candidate", "site"])
    assert summary.loc[("goal", "partial"), "fails_on"] == ["flipped"]
    assert summary.loc[("goal", "partial"), "only_some"]


def test_the_observation_is_no_better_than_the_control_anywhere(result):
    assert set(result.status("goal", "copy").values()) == {"fails"}
    assert not result.only_some("goal", "copy")


def test_a_candidate_achieved_in_every_episode_is_unscored_with_a_note(result):
    assert set(result.status("always", "stable").values()) == {"unscored"}
    row = _row(result, "stable", "walls", cand="always", frame="flags")
    assert "labels all achieved" in row.note
    assert np.isnan(_row(result, "stable", "walls", cand="always").left_out)


def test_in_regime_scores_reuse_the_study_probes(data, result):
    probes = probe_candidates(data, n_folds=4)
    reused = probe_transport_by_regime(data, n_folds=4, probes=probes, sites=["partial"])
    goal = probes.y_m["achieved_goal"].to_numpy()
    pred = probes.readout("goal", "partial").to_numpy()
    flipped = probes.y_m["s"].to_numpy() == 3
    from sklearn.metrics import roc_auc_score

    assert _row(reused, "partial", "flipped").in_regime == pytest.approx(roc_auc_score(goal[flipped], pred[flipped]))
    assert _row(reused, "partial", "flipped").in_regime == pytest.approx(_row(result, "partial", "flipped").in_regime)


def test_json_and_html(result):
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["regimes"] == list(REGIMES) and len(d["flags"]) == 2 * 3 * len(REGIMES)
    assert d["summary"][0]["candidate"] == "goal"
    html = result._repr_html_()
    assert "left-out-regime" in html and "flipped" in html


def test_clear_errors(data):
    with pytest.raises(UnknownNameError, match="stabel"):
        probe_transport_by_regime(data, sites=["stabel"])
    with pytest.raises(ConfigError, match="kind"):
        probe_transport_by_regime(data, kinds=["svm"])
    train_only = data.filter_episodes(range(160))
    with pytest.raises(DataError, match="deployment regime"):
        probe_transport_by_regime(train_only)
    with pytest.raises(UnknownNameError, match="partal"):
        probe_transport_by_regime(data, sites=["partial"], n_folds=4).flagged("goal", "partal")


def test_only_the_control_site_gives_an_empty_but_well_formed_result(data):
    control_only = RolloutDataset(data.table, {"obs": data.activations["obs"]})
    res = probe_transport_by_regime(control_only, n_folds=4)
    assert res.flags.empty and list(res.flags.columns)[:6] == ["candidate", "site", "kind", "regime", "s", "status"]
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["summary"] == []
