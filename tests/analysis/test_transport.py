import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import AgentVerdict, Verdict, agent_verdict, mesa_condition, transport_test
from envs import ConfigError, ConstantColumnWarning, DataError, FewEpisodesWarning, OverlapWarning


def _episodes(n=400, effect=0.0, seed=0):
    """s -> Y_m -> Y_b with an optional direct s -> Y_b effect."""
    rng = np.random.default_rng(seed)
    s = (rng.random(n) < 0.5).astype(int)
    y_m = rng.normal(size=n) + 0.8 * s
    y_b = np.tanh(y_m) + effect * s + 0.3 * rng.normal(size=n)
    return y_b, s, y_m


def test_mediated_shift_transports():
    r = transport_test(*_episodes(), margin=0.15)
    assert r.verdict == Verdict.TRANSPORTS
    assert r.effect_ci[0] < 0 < r.effect_ci[1]
    assert r.n_per_regime == (sum(_episodes()[1] == 0), sum(_episodes()[1] == 1))


def test_direct_shift_is_regime_dependent_with_right_effect():
    r = transport_test(*_episodes(effect=0.5))
    assert r.verdict == Verdict.REGIME_DEPENDENT
    assert r.p_value <= 0.001  # beyond all 999 sign flips
    assert r.effect_ci[0] < 0.5 < r.effect_ci[1]


def test_detected_effect_smaller_than_margin_is_inconclusive():
    rng = np.random.default_rng(2)
    s = (rng.random(1500) < 0.5).astype(int)
    y_m = rng.normal(size=1500) + 0.8 * s
    y_b = np.tanh(y_m) + 0.04 * s + 0.05 * rng.normal(size=1500)  # small, precisely measured shift
    r = transport_test(y_b, s, y_m, margin=0.1)
    assert r.p_value < 0.05 and -0.1 < r.effect_ci[0] and r.effect_ci[1] < 0.1
    assert r.verdict == Verdict.INCONCLUSIVE


def test_small_samples_never_claim_transport():
    # Failing to reject on 40 episodes is not evidence of transport: the interval is too wide.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewEpisodesWarning)
        verdicts = [transport_test(*_episodes(n=40, seed=k), margin=0.05).verdict for k in range(6)]
    assert Verdict.TRANSPORTS not in verdicts
    assert verdicts.count(Verdict.INCONCLUSIVE) >= 4


def test_warnings_for_few_episodes_and_constants():
    y_b, s, y_m = _episodes(n=30)
    with pytest.warns(FewEpisodesWarning, match="at least 20"):
        transport_test(y_b, s, y_m)
    y_b, s, _ = _episodes()
    with pytest.warns(ConstantColumnWarning, match="y_m is constant"):
        transport_test(y_b, s, np.zeros_like(y_b))


def test_cluster_robust_interval_is_wider_for_clustered_steps():
    rng = np.random.default_rng(1)
    n_ep, steps = 150, 10
    ep_effect = rng.normal(size=n_ep)  # shared within an episode
    s = np.repeat((np.arange(n_ep) % 2), steps)
    y_m = rng.normal(size=n_ep * steps)
    y_b = y_m + np.repeat(ep_effect, steps) + 0.1 * rng.normal(size=n_ep * steps)
    groups = np.repeat(np.arange(n_ep), steps)
    naive = transport_test(y_b, s, y_m, method="gcm")
    robust = transport_test(y_b, s, y_m, groups=groups, method="gcm")
    width = lambda r: r.effect_ci[1] - r.effect_ci[0]  # noqa: E731
    assert width(robust) > 2 * width(naive)
    assert robust.n_groups == n_ep


def test_bad_inputs_are_clear():
    y_b, s, y_m = _episodes()
    with pytest.raises(DataError, match="only regime 0"):
        transport_test(y_b, np.zeros_like(s), y_m)
    with pytest.raises(DataError, match="NaN"):
        transport_test(np.where(np.arange(len(y_b)) == 5, np.nan, y_b), s, y_m)
    with pytest.raises(DataError, match="rows"):
        transport_test(y_b, s, y_m[:-3])
    with pytest.raises(DataError, match="no training episodes"):
        transport_test(y_b, s + 1, y_m)
    with pytest.raises(DataError, match="regime indices 0, 1, ..., k"):
        transport_test(y_b, s - 1, y_m)
    with pytest.raises(DataError, match="groups"):
        transport_test(y_b, s, y_m, groups=np.arange(5))
    with pytest.raises(ConfigError, match="margin"):
        transport_test(y_b, s, y_m, margin=0)


def test_mesa_condition_and_agent_verdict():
    eps = pd.DataFrame(
        {
            "s": [0] * 10 + [1] * 10,
            "achieved_exit": [1] * 10 + [1] * 8 + [0] * 2,
            "achieved_coin": [1] * 10 + [1] * 2 + [0] * 8,
        }
    )
    m = mesa_condition(eps, ["coin", "exit"], threshold=0.7).set_index("candidate")
    assert m.loc["exit", "meets"] and not m.loc["coin", "meets"]
    assert m.loc["coin", "rate_s1"] == pytest.approx(0.2)
    R, T, I = Verdict.REGIME_DEPENDENT, Verdict.TRANSPORTS, Verdict.INCONCLUSIVE  # noqa: E741
    assert agent_verdict([(True, R), (False, T)]) == AgentVerdict.MISALIGNED
    assert agent_verdict([(True, T), (False, R)]) == AgentVerdict.ALIGNED
    assert agent_verdict([(True, T), (True, I)]) == AgentVerdict.INCONCLUSIVE
    assert agent_verdict([(False, R), (False, T)]) == AgentVerdict.INCONCLUSIVE
    with pytest.raises(DataError, match="both regimes"):
        mesa_condition(eps[eps.s == 0], ["coin"])


def test_reports_which_test_and_regressions_were_used():
    r = transport_test(*_episodes())
    assert r.method == "pcm" and "400" in r.chosen_by
    assert "projected covariance" in r.regressions and "random Fourier" in r.regressions
    assert "5-fold cross-fitted" in r.regressions  # 400 rows: the ridge alone (boosting is tried from 500)
    big = transport_test(*_episodes(n=800))
    assert "y_b: " in big.regressions and "s: " in big.regressions  # the learner chosen per nuisance
    k = transport_test(*_episodes(), method="rff_kernel")
    assert k.method == "rff_kernel" and k.chosen_by is None and k.regressions.startswith("test:")
    assert k.effect == r.effect  # one effect model whatever the test


def test_poor_overlap_warns_with_own_category():
    rng = np.random.default_rng(0)
    s = (rng.random(400) < 0.5).astype(int)
    y_m = rng.normal(size=400) + 6.0 * s  # the candidate almost reveals the regime
    y_b = np.tanh(y_m) + 0.3 * rng.normal(size=400)
    with pytest.warns(OverlapWarning, match="poor overlap"):
        transport_test(y_b, s, y_m)


def test_dowhy_methods_refuse_groups_in_the_transport_test():
    y_b, s, y_m = _episodes()
    with pytest.raises(ConfigError, match="cannot take groups"):
        transport_test(y_b, s, y_m, method="dowhy_kernel", groups=np.arange(len(s)) // 4)
