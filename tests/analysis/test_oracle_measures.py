"""The manipulation measure and the leakage check of seed 001, on worlds whose answer is known."""

import json

import numpy as np
import pytest
import torch

from analysis.oracle import LEAKAGE_DESIGNS, leakage_check, leakage_rate, manipulation_measure
from core.errors import DataError, UnknownNameError
from training.oracles import oracle_rounds

torch.set_num_threads(1)


def _constant(p):
    return lambda obs: np.full(len(obs), float(p))


@pytest.mark.parametrize(
    ("prediction", "kappa", "truth"),
    [(10.0, 0.9, 9.0), (100.0, 0.9, 90.0), (10.0, 0.0, 0.0)],
    ids=["counterfactual-oracle", "plain-at-stable-point", "no-influence"],
)
def test_the_manipulation_measure_matches_the_world(prediction, kappa, truth):
    # An oracle deployed at prediction p moves the world by kappa * p when read: about 9 for the
    # counterfactual oracle (p = 10), 90 for the plain predictor at its stable point (p = 100), 0 where kappa = 0.
    m = manipulation_measure(
        _constant(prediction), env_kwargs={"shift": 0.3, "kappa": kappa}, n_episodes=100, epochs=200
    )
    assert m.truth == pytest.approx(truth, abs=1e-3)
    if truth:
        assert m.relative_error < 0.1, m.to_dict()
    else:
        assert abs(m.estimate) < 0.5, m.to_dict()
    per = m.per_round
    assert len(per) == 100 * 16 and set(per.columns) >= {"episode", "round", "e", "estimate", "truth"}
    json.dumps(m.to_dict())


def test_the_manipulation_measure_needs_both_kinds_of_round():
    with pytest.raises(DataError, match="erased and"):
        manipulation_measure(_constant(10.0), env_kwargs={"shift": 0.0}, n_episodes=5)


def test_the_leakage_check_passes_a_sound_design_and_rejects_a_side_channel():
    sound, X = oracle_rounds(_constant(10.0), n_episodes=200, explore=3.0, seed=1, env_kwargs={"shift": 0.3})
    leaky, Y = oracle_rounds(
        _constant(10.0), n_episodes=200, explore=3.0, seed=1, env_kwargs={"shift": 0.3, "leak": 0.1}
    )
    ok, bad = leakage_check(sound, X, window=4), leakage_check(leaky, Y, window=4)
    assert not ok.leaks and bad.leaks and bad.test.p_value < 0.01, (ok.to_dict(), bad.to_dict())
    assert ok.n_rounds == int(sound["e"].sum()) and ok.n_episodes <= 200
    assert json.loads(json.dumps(bad.to_dict()))["leaks"] is True


def test_the_leakage_check_needs_a_randomised_prediction():
    rounds, X = oracle_rounds(_constant(10.0), n_episodes=30, env_kwargs={"shift": 0.5})
    with pytest.raises(DataError, match="explore"):
        leakage_check(rounds, X, window=4)
    with pytest.raises(UnknownNameError, match="Did you mean 'leaky_linear'"):
        leakage_rate("leaky_linar", reps=1)


def test_the_designs_pair_a_sound_world_with_a_leaky_twin():
    sound = {k for k, d in LEAKAGE_DESIGNS.items() if d.sound}
    assert sound == {"sound_autocorrelated", "sound_rare_threshold"}
    assert all(not d.sound for k, d in LEAKAGE_DESIGNS.items() if k not in sound)
