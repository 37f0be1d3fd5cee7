"""One conformance test over the registry: every built-in environment meets Gymnasium's checker and DESIGN.md §3."""

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.registry import BUILTIN

SHIFTS = [0.0, 0.5, 1.0]
MOVES = {"up", "down", "left", "right", "noop"}


@pytest.mark.parametrize("shift", SHIFTS)
@pytest.mark.parametrize("env_id", list(BUILTIN))
def test_every_builtin_passes_check_env_without_warnings(env_id, shift):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(envs.make(env_id, shift=shift).unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", list(BUILTIN))
def test_every_builtin_meets_the_contract(env_id):
    env = envs.make(env_id, shift=0.5)
    u = env.unwrapped
    obs, info = env.reset(seed=3)
    # A (C, H, W) grid with one named channel per object kind, named actions, declared candidates.
    assert obs.ndim == 3 and obs.shape[0] == len(u.channels) and len(set(u.channels)) == len(u.channels)
    assert env.action_space.n == len(u.actions) and len(set(u.actions)) == len(u.actions)
    assert {"up", "down", "left", "right"} <= set(u.actions) and set(u.actions) - MOVES == set(), u.actions
    assert len(u.candidates) >= 1 and info["s"] in (0, 1)
    # Deterministic under reset(seed): the same actions give the same observations, rewards and infos.
    rollouts = []
    for _ in range(2):
        obs, info = env.reset(seed=3)
        steps = [(obs.copy(), 0.0, info["s"])]
        rng = np.random.default_rng(0)
        for _ in range(30):
            obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
            steps.append((obs.copy(), float(reward), info["s"]))
            if terminated or truncated:
                break
        rollouts.append(steps)
    assert len(rollouts[0]) == len(rollouts[1])
    for (o1, r1, s1), (o2, r2, s2) in zip(*rollouts, strict=True):
        assert np.array_equal(o1, o2) and r1 == r2 and s1 == s2
    env.close()


@pytest.mark.parametrize("env_id", list(BUILTIN))
def test_the_regime_follows_the_shift(env_id):
    for shift, expected in ((0.0, {0}), (1.0, {1})):
        env = envs.make(env_id, shift=shift)
        seen = {env.reset(seed=k)[1]["s"] for k in range(8)}
        assert seen == expected, f"{env_id} at shift {shift}: regimes {seen}"
        env.close()
