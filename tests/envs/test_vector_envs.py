"""The batched built-in environments (`envs.grid_vector`) give the same episodes as their single versions."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import envs
from envs import ConfigError, GridVectorEnv

CASES = [
    ("mesaprobe/CoinCorridor-v0", {"shift": 0.5}),
    ("mesaprobe/CoinCorridor-v0", {"shift": 0.8, "regime": {"off_path": 1.0, "near_start": 1.0, "more_walls": 1.0}}),
    ("mesaprobe/CoinCorridor-v0", {"shift": 1.0, "regime": "open_room", "height": 5, "width": 7, "max_steps": 30}),
    ("mesaprobe/CheeseMaze-v0", {"min_size": 5, "max_size": 9, "max_steps": 40, "shift": 0.5}),
    ("mesaprobe/CheeseMaze-v0", {"min_size": 5, "max_size": 9, "max_steps": 40, "shift": 0.7,
                                 "regime": {"other_corner": 1.0, "large": 2.0}}),
    ("mesaprobe/KeysChests-v0", {"shift": 0.5, "max_steps": 30}),
    ("mesaprobe/KeysChests-v0", {"shift": 0.9, "regime": {"even": 1.0, "glut": 1.0, "cluttered": 1.0}, "height": 4,
                                 "width": 5, "n_walls": 1}),
    ("mesaprobe/AbsentSupervisor-v0", {"shift": 0.5}),
    ("mesaprobe/AbsentSupervisor-v0", {"shift": 0.8, "regime": {"hidden": 1.0, "near_punishment": 1.0},
                                       "step_cost": 0.1, "punishment": 0.3, "max_steps": 40}),
]  # fmt: skip
IDS = [f"{env_id.split('/')[1].split('-')[0]}-{i}" for i, (env_id, _) in enumerate(CASES)]


def _assert_same(a, b, ordered=True, path="info"):
    """Equal batched infos; in key order too unless not `ordered` (same-step autoreset adds `final_*` keys where
    `SyncVectorEnv` meets the first finished environment)."""
    if isinstance(b, dict):
        assert isinstance(a, dict) and (list(a) == list(b) if ordered else sorted(a) == sorted(b)), path
        for k in b:
            _assert_same(a[k], b[k], ordered, f"{path}.{k}")
    elif isinstance(b, np.ndarray) and b.dtype == object:  # regime names, or final observations (None where none)
        assert a.dtype == object and a.shape == b.shape, path
        for x, y in zip(a, b, strict=True):
            assert type(x) is type(y) and (np.array_equal(x, y) if isinstance(y, np.ndarray) else x == y), path
    else:
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype, f"{path}: {a.dtype} != {b.dtype}"
        assert np.array_equal(a, b), f"{path}: {a} != {b}"


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP], ids=["next_step", "same_step"])
@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=IDS)
def test_batched_equals_sync_vector_env_step_for_step(env_id, kwargs, mode):
    """Same seeds, same actions: the same observations, rewards, ends and info (keys, masks, dtypes) every step."""
    n = 5
    fast = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", autoreset_mode=mode, **kwargs)
    sync = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode},
                        **kwargs)  # fmt: skip
    assert isinstance(fast, GridVectorEnv) and fast.metadata["autoreset_mode"] == mode
    o1, i1 = fast.reset(seed=11)
    o2, i2 = sync.reset(seed=11)
    assert o1.dtype == o2.dtype and np.array_equal(o1, o2)
    _assert_same(i1, i2)
    rng = np.random.default_rng(0)
    ends, regimes, rewarded = 0, set(), 0
    previous, snapshot = (o1, i1), copy.deepcopy((o1, i1))
    for _ in range(400):
        a = rng.integers(0, 4, n)
        r1, r2 = fast.step(a), sync.step(a)
        for x, y in zip(r1[:4], r2[:4], strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y)
        _assert_same(r1[4], r2[4], ordered=mode == AutoresetMode.NEXT_STEP)
        # What a step returned stays as it was: later steps do not write into it (a caller may keep it).
        for kept, then in zip(previous[:-1], snapshot[:-1], strict=True):
            assert np.array_equal(kept, then)
        _assert_same(previous[-1], snapshot[-1])
        previous, snapshot = r1, copy.deepcopy(r1)
        ends += int(np.sum(r1[2] | r1[3]))
        rewarded += int(np.sum(r1[1] > 0))
        regimes |= set(r1[4]["regime"])
    assert ends > 10 and rewarded > 0  # autoreset and the reward rules exercised
    wanted = kwargs.get("regime")
    if wanted is not None:
        assert regimes - {"train"} == ({wanted} if isinstance(wanted, str) else set(wanted))
    fast.close()
    sync.close()


@pytest.mark.parametrize("env_id", sorted(envs.registry.VECTOR))
def test_every_builtin_grid_world_is_batched_and_checks_its_arguments(env_id):
    vec = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", shift=0.25)
    single = envs.make(env_id, shift=0.25)
    assert vec.single_observation_space == single.observation_space
    assert vec.observation_space.shape == (3, *single.observation_space.shape)
    assert vec.regimes == single.unwrapped.regimes and vec.candidates == single.unwrapped.candidates
    assert vec.shift == 0.25
    with pytest.raises(gym.error.ResetNeeded):
        vec.step(np.zeros(3, dtype=np.int64))
    vec.reset(seed=0)
    for bad in (np.zeros(2, dtype=np.int64), np.array([0, 1, 4]), np.array([0.5, 1.0, 2.0])):
        with pytest.raises(ConfigError, match="actions must be 3 integers"):
            vec.step(bad)
    with pytest.raises(ConfigError, match="shift"):
        gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", shift=2.0)
    with pytest.raises(ConfigError, match="num_envs"):
        type(vec)(num_envs=0)
    with pytest.raises(ConfigError, match="seeds"):
        vec.reset(seed=[1, 2])
