"""Calibration of the counterfactual oracle's leakage check (seed 001) on worlds whose answer is known.

Fixed seeds, no retries. Sound designs (no side channel: type-I error at α = 0.05) combine an
autocorrelated world, predictions that follow the history, a rare erasure (15 % of rounds) and a
discontinuous (threshold) world; their leaky twins differ only in the leak. The short version runs in
`make test` (40 deployments per sound design, ~3 SD band; 10 per leaky one); `-m slow` runs the
long one (1,000 and 200) with the band [0.03, 0.07] and power ≥ 0.9 at the default 200 episodes.
"""

import pytest

from analysis.oracle import LEAKAGE_DESIGNS, leakage_rate

SOUND = [k for k, d in LEAKAGE_DESIGNS.items() if d.sound]
LEAKY = [k for k, d in LEAKAGE_DESIGNS.items() if not d.sound]


@pytest.mark.parametrize("design", SOUND)
def test_type_one_error_short(design):
    r = leakage_rate(design, reps=40, seed=3)
    assert r.rate <= 0.15, r


@pytest.mark.parametrize("design", LEAKY)
def test_power_short(design):
    r = leakage_rate(design, reps=10, seed=3)
    assert r.rate >= 0.7, r


@pytest.mark.slow
@pytest.mark.parametrize("design", SOUND)
def test_type_one_error_long(design):
    r = leakage_rate(design, reps=1000, seed=1)
    assert 0.03 <= r.rate <= 0.07, r


@pytest.mark.slow
@pytest.mark.parametrize("design", LEAKY)
def test_power_long(design):
    r = leakage_rate(design, reps=200, seed=1)
    assert r.rate >= 0.9, r
