"""One conformance test over the registry: every built-in environment meets Gymnasium's checker and DESIGN.md §3."""

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import TRAIN, ConfigError, UnknownNameError
from envs.registry import BUILTIN

SHIFTS = [0.0, 0.5, 1.0]
MOVES = {"up", "down", "left", "right", "noop"}
REGIMES = {env_id: envs.make(env_id).unwrapped.regimes for env_id in BUILTIN}
DEFAULT = {env_id: envs.make(env_id).unwrapped.regime_choice.names[0] for env_id in BUILTIN}
EVERY_REGIME = [(env_id, name) for env_id, regimes in REGIMES.items() for name in regimes[1:]]


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
    assert len(u.candidates) >= 1 and info["s"] in range(len(u.regimes)) and info["regime"] == u.regimes[info["s"]]
    assert u.regimes[0] == TRAIN and len(u.regimes) >= 2 and len(set(u.regimes)) == len(u.regimes)
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
    deployed = REGIMES[env_id].index(DEFAULT[env_id])
    for shift, expected in ((0.0, {0}), (1.0, {deployed})):
        env = envs.make(env_id, shift=shift)
        seen = {env.reset(seed=k)[1]["s"] for k in range(8)}
        assert seen == expected, f"{env_id} at shift {shift}: regimes {seen}"
        env.close()


def _walk(env, seed, n_steps=20):
    """Observations, rewards and infos of one episode under fixed random actions."""
    obs, info = env.reset(seed=seed)
    out = [(obs.copy(), 0.0, info)]
    rng = np.random.default_rng(seed)
    for _ in range(n_steps):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        out.append((obs.copy(), float(reward), info))
        if terminated or truncated:
            break
    return out


@pytest.mark.parametrize(("env_id", "name"), EVERY_REGIME)
def test_every_regime_is_drawn_and_named(env_id, name):
    env = envs.make(env_id, shift=1.0, regime=name)
    index = REGIMES[env_id].index(name)
    for seed in range(8):
        for _, _, info in _walk(env, seed):
            assert (info["s"], info["regime"]) == (index, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
    assert {env.reset(seed=k)[1]["s"] for k in range(8)} == {index}
    training = envs.make(env_id, shift=0.0, regime=name)
    assert {training.reset(seed=k)[1]["regime"] for k in range(8)} == {TRAIN}


@pytest.mark.parametrize("env_id", list(BUILTIN))
def test_a_mapping_of_regimes_draws_each(env_id):
    first, second = REGIMES[env_id][1:3]
    env = envs.make(env_id, shift=1.0, regime={first: 1.0, second: 1.0})
    seen = [env.reset(seed=k)[1]["regime"] for k in range(40)]
    assert set(seen) == {first, second} and 10 <= seen.count(first) <= 30
    env = envs.make(env_id, shift=0.5, regime={first: 0.0, second: 2.0})
    assert {env.reset(seed=k)[1]["regime"] for k in range(40)} == {TRAIN, second}


@pytest.mark.parametrize("env_id", list(BUILTIN))
def test_unknown_or_training_regime_is_a_clear_error(env_id):
    name = REGIMES[env_id][1]
    with pytest.raises(UnknownNameError, match=f"Unknown regime '{name[:-1]}'. Did you mean '{name}'"):
        envs.make(env_id, shift=1.0, regime=name[:-1])
    with pytest.raises(UnknownNameError, match=f"Did you mean '{name}'"):
        envs.make(env_id, regime={name[:-1]: 1.0})
    with pytest.raises(ConfigError, match="'train' is regime 0, chosen by shift: use shift=0"):
        envs.make(env_id, regime=TRAIN)


@pytest.mark.parametrize("env_id", list(BUILTIN))
def test_the_default_regime_is_the_old_deployment(env_id):
    implicit, explicit = envs.make(env_id, shift=0.5), envs.make(env_id, shift=0.5, regime=DEFAULT[env_id])
    for seed in range(6):
        for (o1, r1, i1), (o2, r2, i2) in zip(_walk(implicit, seed), _walk(explicit, seed), strict=True):
            assert np.array_equal(o1, o2) and r1 == r2 and i1 == i2


def test_list_envs_names_the_regimes():
    rows = {r["id"]: r for r in envs.list_envs()}
    for env_id, regimes in REGIMES.items():
        assert rows[env_id]["regimes"] == list(regimes)
