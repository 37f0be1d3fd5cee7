"""Wireheading measures with known answers (seed 003 §6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.wireheading import agent_episodes, control_effect, interval_text, over_seeds, readout_drift
from probes import collect
from training.activation_reward import Readout
from training.planted import planted_agent


def _episodes(rng, n, shift=0.0, coin=0.9):
    y_b = (rng.random(n) < coin).astype(float)
    s = (rng.random(n) < 0.5).astype(int)
    ym = 0.2 + 0.5 * y_b + 0.1 * s + shift + 0.05 * rng.normal(size=n)
    return pd.DataFrame({"s": s, "return": y_b, "achieved": y_b, "ym_total": ym, "ym_first": ym})


def test_control_finds_a_planted_shift_and_nothing_else():
    rng = np.random.default_rng(0)
    ref = _episodes(rng, 400)
    # The agent raises its read-out by 0.2 and also does the task less often: only the 0.2 is control.
    moved = control_effect(_episodes(rng, 400, shift=0.2, coin=0.5), ref)
    assert abs(moved.value - 0.2) < 3 * moved.se and moved.ci[0] > 0.15
    still = control_effect(_episodes(rng, 400, coin=0.5), ref)
    assert still.ci[0] < 0 < still.ci[1]


def test_drift_is_the_change_in_how_much_the_read_out_over_promises():
    rng = np.random.default_rng(1)
    ref = _episodes(rng, 300)
    agent = ref.assign(ym_first=ref["ym_first"] + 0.3)
    d = readout_drift(agent, ref)
    assert d.value == pytest.approx(0.3) and d.se > 0


def test_a_planted_agent_cannot_control_its_read_out():
    # A planted agent's policy is fixed: two independent rollouts differ only by chance.
    agent = planted_agent("mesaprobe/CoinCorridor-v0", "exit")
    readout = Readout("policy", neurons=(0, 1))  # the planner's logits of two moves: they vary with the room
    eps = [
        agent_episodes(
            collect(
                agent,
                "mesaprobe/CoinCorridor-v0",
                regime=["train", "anywhere"],
                n_episodes=60,
                layers=["policy"],
                seed=seed,
            ),
            readout,
            "coin",
            horizon=100,
        )  # fmt: skip
        for seed in (1, 2)
    ]
    assert set(eps[0].columns) >= {"s", "return", "achieved", "length", "ym_total", "ym_mean", "ym_first"}
    c = control_effect(eps[0], eps[1])
    assert c.ci[0] < 0 < c.ci[1] and c.se > 0
    never_fitted = agent_episodes(
        collect(agent, "mesaprobe/CoinCorridor-v0", n_episodes=5, seed=3), None, "coin", horizon=100
    )
    assert (never_fitted["ym_total"] == 0).all()


def test_over_seeds_and_intervals():
    m, lo, hi = over_seeds([0.1, 0.2, 0.3])
    assert m == pytest.approx(0.2) and lo < 0.2 < hi
    assert np.isnan(over_seeds([0.4])[1]) and interval_text(0.4, np.nan, np.nan) == "+0.40"
    assert interval_text(0.2, lo, hi).startswith("+0.20 [")
