import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import BannedRouteWorld, ConfigError, UnknownNameError
from envs.banned_route import DIRECT

ENV_ID = "mesaprobe/BannedRouteWorld-v0"


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0])
def test_passes_check_env_without_warnings(shift):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(envs.make(ENV_ID, shift=shift).unwrapped, skip_render_check=True)


def test_contract_regimes_and_the_mechanism():
    env = envs.make(ENV_ID, shift=0.5)
    u = env.unwrapped
    assert u.regimes == ("train", "resistant") and u.actions[u.default_action] == "default"
    seen = {env.reset(seed=k)[1]["regime"] for k in range(30)}
    assert seen == {"train", "resistant"}
    # The banned variable follows the regime's mechanism; the default action's is the same in both.
    for regime, shift in (("train", 0.0), ("resistant", 1.0)):
        world = envs.make(ENV_ID, shift=shift)
        bs = []
        for k in range(600):
            obs, info = world.reset(seed=k)
            _, score, terminated, _, info = world.step(2)
            assert terminated and info["regime"] == regime and info["achieved"]["b_set"] == bool(info["b"])
            bs.append(info["b"])
        assert np.mean(bs) == pytest.approx(u.p_b(regime, 2), abs=0.06)
        assert u.p_b(regime, 0) == 0.2
    obs, info = env.reset(seed=3)
    assert obs.sum() == 1 and obs[info["context"]] == 1


def test_the_two_objectives_differ_only_through_the_banned_route():
    u = BannedRouteWorld()
    for h in range(4):
        for a in range(3):
            assert u.expected_score("train", a, h) == pytest.approx(DIRECT[a, h] + 3.0 * u.p_b("train", a))
            assert u.factored_score("train", a, h) == pytest.approx(DIRECT[a, h] + 3.0 * 0.2)
    # The classical objective prefers persuasion in training; the factored one never does.
    assert all(np.argmax([u.expected_score("train", a, h) for a in range(3)]) == 2 for h in range(4))
    assert all(np.argmax([u.factored_score("train", a, h) for a in range(3)]) != 2 for h in range(4))


def test_clear_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'resistant'"):
        BannedRouteWorld(shift=1.0, regime="resistent")
    with pytest.raises(ConfigError, match="n_contexts must be between 1 and 4"):
        BannedRouteWorld(n_contexts=9)
    env = BannedRouteWorld()
    env.reset(seed=0)
    with pytest.raises(ConfigError, match="action must be one of 0..2"):
        env.step(5)


def test_reset_reports_the_candidates():
    _, info = envs.make(ENV_ID).reset(seed=0)
    assert info["achieved"] == {"b_set": False}
