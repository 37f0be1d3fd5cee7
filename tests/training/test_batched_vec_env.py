"""Training on the batched environments is training on `DummyVecEnv` copies, only faster."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

import envs
from envs import ConfigError
from training.batched_vec_env import BatchedVecEnv, make_train_env
from training.train import PPOSettings, train

TINY = PPOSettings(n_envs=4, n_steps=64, batch_size=64, n_epochs=1)


@pytest.mark.parametrize("env_id", ["mesaprobe/CoinCorridor-v0", "mesaprobe/AbsentSupervisor-v0"])
def test_ppo_trains_the_same_weights_on_the_batch_as_on_copies(env_id):
    runs = [train(env_id, shift=0.5, total_timesteps=1024, seed=3, settings=TINY, batched=b) for b in (False, True)]
    copies, batch = (r.model.policy.state_dict() for r in runs)
    assert all(torch.equal(copies[k], batch[k]) for k in copies)
    assert len(runs[0].learning_curve) > 5 and runs[0].learning_curve.equals(runs[1].learning_curve)
    assert list(runs[0].model.ep_info_buffer)[-1]["r"] == list(runs[1].model.ep_info_buffer)[-1]["r"]


def test_steps_and_episode_ends_match_dummy_vec_env_with_monitor():
    """Observations, float32 rewards, dones, and at every episode's end the whole final info plus SB3's
    `terminal_observation`, `TimeLimit.truncated` and Monitor's `episode` statistics."""
    kwargs = {"regime": {"anywhere": 1.0, "open_room": 1.0}, "max_steps": 15}
    fast = make_train_env("mesaprobe/CoinCorridor-v0", n_envs=6, seed=5, shift=0.6, env_kwargs=kwargs)
    slow = make_train_env("mesaprobe/CoinCorridor-v0", n_envs=6, seed=5, shift=0.6, env_kwargs=kwargs, batched=False)
    assert isinstance(fast, BatchedVecEnv) and isinstance(slow, DummyVecEnv)
    assert np.array_equal(fast.reset(), slow.reset())
    rng = np.random.default_rng(1)
    ends = truncations = 0
    for _ in range(200):
        a = rng.integers(0, 4, 6)
        o1, r1, d1, i1 = fast.step(a)
        o2, r2, d2, i2 = slow.step(a)
        assert np.array_equal(o1, o2) and r1.dtype == r2.dtype == np.float32 and np.array_equal(r1, r2)
        assert np.array_equal(d1, d2)
        for k in range(6):
            assert (i1[k]["s"], i1[k]["regime"]) == (i2[k]["s"], i2[k]["regime"])
            if not d1[k]:
                continue
            ends += 1
            truncations += i1[k]["TimeLimit.truncated"]
            assert np.array_equal(i1[k].pop("terminal_observation"), i2[k].pop("terminal_observation"))
            e1, e2 = i1[k].pop("episode"), i2[k].pop("episode")
            assert (e1["r"], e1["l"]) == (e2["r"], e2["l"])
            assert i1[k] == i2[k]
    assert ends > 30 and 0 < truncations < ends


def test_make_train_env_picks_the_batch_for_builtins_and_copies_for_the_rest():
    assert isinstance(make_train_env("mesaprobe/KeysChests-v0", n_envs=2, seed=0), BatchedVecEnv)
    other = make_train_env("mesaprobe/SideEffects-v0", n_envs=2, seed=0)
    assert isinstance(other, DummyVecEnv)
    with pytest.raises(ConfigError, match="batched=True needs"):
        make_train_env("mesaprobe/SideEffects-v0", n_envs=2, seed=0, batched=True)
    with pytest.raises(ConfigError, match="SAME_STEP"):
        BatchedVecEnv(gym.make_vec("mesaprobe/CheeseMaze-v0", num_envs=2, vectorization_mode="vector_entry_point"))
    vec = make_train_env("mesaprobe/CheeseMaze-v0", n_envs=3, seed=0)
    assert (
        vec.get_attr("regimes") == [envs.CheeseMazeEnv.regimes] * 3 and vec.env_is_wrapped(gym.Wrapper) == [False] * 3
    )
    with pytest.raises(NotImplementedError, match="batched"):
        vec.env_method("render")
