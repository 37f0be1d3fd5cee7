"""The transport test over a family of deployment regimes: per regime (Holm) and joint (max-type)."""

import json
import warnings

import numpy as np
import pytest

from analysis import Verdict, ci_test, transport_test
from analysis.scm_family import FAMILY_SCENARIOS, simulate_family
from analysis.transport import TransportResult
from analysis.transport_family import FamilyTransportResult, holm
from core.errors import DataError, FewEpisodesWarning

NAMES = ["train", "anywhere", "near_start", "more_walls"]


def _family(n=1500, seed=0, effects=(0.5, 0.0, 0.0)):
    rng = np.random.default_rng(seed)
    s = rng.choice(4, size=n, p=[0.4, 0.2, 0.2, 0.2])
    y_m = rng.normal(size=n) + 0.3 * s
    tau = np.array([0.0, *effects])[s]
    y_b = np.sin(y_m) + 0.2 * rng.normal(size=n) + tau
    return y_b, s, y_m


def test_each_regime_is_tested_against_training_and_named():
    y_b, s, y_m = _family()
    r = transport_test(y_b, s, y_m, regime_names=NAMES)
    assert isinstance(r, FamilyTransportResult)
    assert r.names == ("anywhere", "near_start", "more_walls") and r.n_train == int((s == 0).sum())
    assert r.regime("anywhere").verdict == Verdict.REGIME_DEPENDENT
    assert 0.4 < r.regime("anywhere").effect < 0.6
    for name in ("near_start", "more_walls"):
        assert r.regime(name).verdict == Verdict.TRANSPORTS, r.regime(name)
    assert r.verdict == Verdict.REGIME_DEPENDENT and r.p_value < 0.01
    assert r.reading() == "regime-dependent on anywhere; transports on near_start, more_walls"
    # Holm over the tested regimes; intervals at alpha / k.
    raw = [x.p_value for x in r.regimes]
    assert np.allclose([x.p_adjusted for x in r.regimes], holm(raw))
    assert all(x.result.alpha == pytest.approx(0.05 / 3) for x in r.regimes)
    json.dumps(r.to_dict())
    assert "near_start" in r._repr_html_()
    with pytest.raises(KeyError, match="anywhere"):
        r.regime("anywher")


def test_a_family_without_effects_transports_everywhere():
    y_b, s, y_m = _family(n=2500, effects=(0.0, 0.0, 0.0), seed=1)
    r = transport_test(y_b, s, y_m, regime_names=NAMES)
    assert r.verdict == Verdict.TRANSPORTS, r.reading()
    assert r.p_value >= 0.05


def test_effects_of_opposite_sign_are_found_where_pooling_cancels_them():
    y_b, s, y_m = _family(effects=(0.3, -0.3, 0.0), seed=2)
    pooled = transport_test(y_b, (s > 0).astype(int), y_m, method="gcm")
    family = transport_test(y_b, s, y_m, regime_names=NAMES)
    assert pooled.p_value > 0.05  # + and − regimes average out
    assert family.regime("anywhere").verdict == family.regime("near_start").verdict == Verdict.REGIME_DEPENDENT


def test_one_deployment_regime_with_any_index_is_the_binary_test():
    y_b, s, y_m = _family()
    keep = (s == 0) | (s == 2)
    two = transport_test(y_b[keep], s[keep], y_m[keep])
    binary = transport_test(y_b[keep], (s[keep] == 2).astype(int), y_m[keep])
    assert isinstance(two, TransportResult) and two.p_value == binary.p_value and two.effect == binary.effect


def test_a_regime_with_too_few_episodes_is_inconclusive_and_warned():
    y_b, s, y_m = _family()
    keep = (s != 3) | (np.cumsum(s == 3) <= 8)
    with pytest.warns(FewEpisodesWarning, match="8 episodes in regime 'more_walls'"):
        r = transport_test(y_b[keep], s[keep], y_m[keep], regime_names=NAMES)
    few = r.regime("more_walls")
    assert few.result is None and few.verdict == Verdict.INCONCLUSIVE and "not tested" in few.note
    assert r.regime("anywhere").verdict == Verdict.REGIME_DEPENDENT


def test_bad_regimes_are_clear():
    y_b, s, y_m = _family(n=300)
    with pytest.raises(DataError, match="regime_names has 2 names"):
        transport_test(y_b, s, y_m, regime_names=["train", "anywhere"])
    with pytest.raises(DataError, match="no training episodes"):
        transport_test(y_b[s > 0], s[s > 0], y_m[s > 0])
    with pytest.raises(DataError, match="regime indices"):
        transport_test(y_b, s + 0.5, y_m)


def test_categorical_ci_test_joint_and_per_level():
    y_b, s, y_m = _family(n=1200, seed=3)
    r = ci_test(y_b, s, y_m, categorical=True, seed=1)
    assert r.method == "pcm" and r.levels == (1, 2, 3) and len(r.level_p_values) == 3
    assert r.p_value < 0.01 and r.level_p_values[0] < 0.01 and min(r.level_p_values[1:]) > 0.01
    gcm = ci_test(y_b, s, y_m, method="gcm", categorical=True)
    assert gcm.df == 3 and gcm.p_value < 0.01  # the multivariate GCM of Shah & Peters: χ² with k df
    json.dumps(r.to_dict())
    # The same seed gives the same p-values; binary data are the binary test.
    assert ci_test(y_b, s, y_m, categorical=True, seed=1).level_p_values == r.level_p_values
    keep = s < 2
    assert (
        ci_test(y_b[keep], s[keep], y_m[keep], categorical=True).p_value
        == ci_test(y_b[keep], s[keep], y_m[keep]).p_value
    )


@pytest.mark.parametrize("name", ["family5_imbalanced", "family3_poor_overlap"])
def test_family_scenarios_draw_what_they_say(name):
    sc = FAMILY_SCENARIOS[name]
    y_b, s, y_m, groups = simulate_family(name, 3000, 0)
    assert set(np.unique(s)) == set(range(sc.k + 1)) and groups is None and sc.null
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = transport_test(y_b, s, y_m, magnitude=False)
    assert len(r.regimes) == sc.k
