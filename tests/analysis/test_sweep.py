"""Shift sweeps: the transport and behaviour-only tests as the share of deployment episodes grows."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.sweep import ShiftSweep, behaviour_test, shift_sweep
from core.errors import ConfigError, DataError


def _episodes(kind: str, n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s = np.repeat([0, 1], n)
    ym = rng.normal(size=2 * n)
    if kind == "null":
        ret = ym + rng.normal(size=2 * n)
    elif kind == "masked":
        # Deployment raises the candidate signal by 0.8 and lowers the return by 0.8 beyond it: the
        # mean return is the same in both regimes, but at equal Y_m deployment returns less.
        ym = ym + 0.8 * s
        ret = ym - 0.8 * s + 0.5 * rng.normal(size=2 * n)
    else:  # "direct": the return drops in deployment whatever Y_m is
        ret = ym - 1.0 * s + 0.5 * rng.normal(size=2 * n)
    return pd.DataFrame({"s": s, "return": ret, "ym_goal": ym})


GRID = (0.02, 0.05, 0.1, 0.3)


def test_behaviour_test_is_calibrated_and_has_power():
    rng = np.random.default_rng(0)
    null = [behaviour_test(rng.normal(size=60), np.repeat([0, 1], 30), n_permutations=199, seed=k) for k in range(300)]
    assert 0.02 <= np.mean(np.array(null) < 0.05) <= 0.09
    # d = 1 with 30 per group: a t-test has power 0.97; the permutation test matches it.
    alt = [
        behaviour_test(rng.normal(size=60) + 1.0 * np.repeat([0, 1], 30), np.repeat([0, 1], 30), n_permutations=199)
        for _ in range(100)
    ]
    assert np.mean(np.array(alt) < 0.05) >= 0.9
    with pytest.raises(DataError, match="both regimes"):
        behaviour_test(np.ones(5), np.zeros(5))


def test_a_direct_effect_is_detected_by_both_tests():
    sw = shift_sweep(_episodes("direct"), "goal", grid=GRID, repeats=5)
    assert sw.summary["power_transport"].iloc[-1] == 1.0 and sw.summary["power_behaviour"].iloc[-1] == 1.0
    assert sw.detection_shift("transport") is not None and sw.detection_shift("behaviour") is not None
    assert (sw.summary["effect_hi"].iloc[-1] < 0) and abs(sw.summary["effect"].iloc[-1] + 1.0) < 0.2
    assert sw.return_gap == pytest.approx(-1.0, abs=0.15)


def test_the_reading_explains_with_numbers_why_the_transport_test_is_not_first():
    summary = pd.DataFrame(
        {
            "shift": [0.01, 0.02, 0.5],
            "power_transport": [0.2, 0.9, 1.0],
            "power_behaviour": [0.5, 0.9, 1.0],
            "effect": [np.nan, -0.7, -0.8],
            "n_deploy": [3.0, 6.0, 150.0],
        }
    )
    same = ShiftSweep("exit", pd.DataFrame(), summary, 300, 10, 0.05, 0.8, "gcm", return_gap=-0.8)
    assert "Both detect at the same λ; just below, at λ = 0.01" in same.reading
    assert "the return itself moves by -0.80" in same.reading and "accounts for 0% of the change" in same.reading
    later = ShiftSweep("exit", pd.DataFrame(), summary.assign(power_transport=[0.0, 0.5, 1.0]), 300, 10, 0.05, 0.8, "gcm",
                       return_gap=-1.6)  # fmt: skip
    assert "The return differs by regime first" in later.reading and "accounts for 50% of the change" in later.reading
    assert "the smaller part of the change that the candidate does not explain" in later.reading
    flipped = ShiftSweep("exit", pd.DataFrame(), summary, 300, 10, 0.05, 0.8, "gcm", return_gap=0.4)
    assert "accounts for 100% of the change" in flipped.reading  # opposite signs: clipped, not 300%


def test_the_transport_test_sees_a_change_the_returns_hide():
    sw = shift_sweep(_episodes("masked"), "goal", grid=GRID, repeats=5)
    assert sw.detection_shift("transport") is not None and sw.detection_shift("behaviour") is None
    assert sw.summary["power_behaviour"].max() <= 0.4
    assert "The transport test sees the change first" in sw.reading


def test_null_data_are_rarely_detected_and_same_seed_same_table():
    sw = shift_sweep(_episodes("null"), "goal", grid=GRID, repeats=5)
    assert sw.detection_shift("transport") is None and sw.detection_shift("behaviour") is None
    assert sw.draws["p_transport"].lt(0.05).mean() <= 0.2
    again = shift_sweep(_episodes("null"), "goal", grid=GRID, repeats=5)
    pd.testing.assert_frame_equal(sw.draws, again.draws)
    json.dumps(sw.to_dict())
    assert "does not detect the regime on this grid" in sw.reading


def test_detection_shift_needs_power_from_there_on():
    summary = pd.DataFrame(
        {"shift": [0.1, 0.2, 0.3, 0.5], "power_transport": [0.9, 0.5, 0.85, 1.0], "power_behaviour": [0, 0, 0, 0.8]}
    )
    sw = ShiftSweep("goal", pd.DataFrame(), summary, 100, 10, 0.05, 0.8, "gcm")
    assert sw.detection_shift("transport") == 0.3 and sw.detection_shift("behaviour") == 0.5
    with pytest.raises(ConfigError, match="'transport' or 'behaviour'"):
        sw.detection_shift("return")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"grid": (0.0, 0.5)}, ConfigError, "strictly between 0 and 1"),
        ({"grid": ()}, ConfigError, "strictly between 0 and 1"),
        ({"repeats": 0}, ConfigError, "repeats must be >= 1"),
        ({"power": 1.5}, ConfigError, "power must be in"),
        ({"n": 10_000}, ConfigError, "exceeds the smaller regime"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        shift_sweep(_episodes("null", n=50), "goal", **kwargs)


def test_bad_episodes():
    with pytest.raises(DataError, match=r"lack columns \['ym_coin'\]"):
        shift_sweep(_episodes("null", n=50), "coin")
    with pytest.raises(DataError, match="collect at shifts 0 and 1"):
        shift_sweep(_episodes("null", n=50).query("s == 0"), "goal")
