"""`reward_from_activations`: PPO's reward reads the agent's own network (seed 003 §6)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

import envs
from core.errors import ConfigError, UnknownNameError
from training import PPOSettings, make_agent, train
from training.activation_reward import (
    ActivationReward,
    ActivationRewardVecEnv,
    ProbeSchedule,
    Readout,
    site_activations,
)

SMALL_ROOM = {"height": 3, "width": 5, "n_walls": 0, "max_steps": 20}
"""A room small enough that a random policy reaches the exit in most episodes: both outcomes come early."""


def test_beta_zero_trains_exactly_the_plain_agent():
    plain = train(total_timesteps=1024, seed=5)
    paid_nothing = train(total_timesteps=1024, seed=5, reward_from_activations=ActivationReward(0.0, warmup_episodes=1))
    a, b = plain.policy.state_dict(), paid_nothing.policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert paid_nothing.meta["reward_from_activations"]["beta"] == 0.0


def test_each_step_is_paid_beta_times_the_read_out_of_the_state_reached():
    agent = make_agent(seed=0, env_kwargs=SMALL_ROOM)
    spec = ActivationReward(0.5, site="features_extractor.fc", neurons=(0, 3, 7))
    plain = make_vec_env(lambda: envs.make("mesaprobe/CoinCorridor-v0", **SMALL_ROOM), n_envs=3, seed=2)
    paid = ActivationRewardVecEnv(
        make_vec_env(lambda: envs.make("mesaprobe/CoinCorridor-v0", **SMALL_ROOM), n_envs=3, seed=2), spec
    )
    paid.attach(agent.model)
    plain.reset(), paid.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        actions = rng.integers(0, 4, size=3)
        obs, r0, dones, infos = plain.step(actions)
        _, r1, _, infos1 = paid.step(actions)
        reached = np.array(
            [i.get("terminal_observation", o) if d else o for o, d, i in zip(obs, dones, infos, strict=True)]
        )
        want = site_activations(agent, "features_extractor.fc", reached)[:, [0, 3, 7]].mean(1)
        assert np.allclose(r1 - r0, 0.5 * want, atol=1e-5)
        assert np.allclose([i["y_m"] for i in infos1], want, atol=1e-6)


@pytest.mark.parametrize(("probe", "fits"), [("frozen", 1), ("refit", 4)])
def test_the_probe_is_fitted_once_or_on_its_schedule(probe, fits):
    spec = ActivationReward(0.05, probe=probe, refit_every=1, warmup_episodes=3)
    # Four rollouts of 8 x 128 steps: the warm-up episodes end within the first, so each rollout refits.
    settings = PPOSettings(n_envs=8, n_steps=128)
    agent = train(
        total_timesteps=4 * 8 * 128, seed=1, env_kwargs=SMALL_ROOM, reward_from_activations=spec, settings=settings
    )
    meta = agent.meta["reward_from_activations"]
    assert meta["n_fits"] == fits and meta["probe"] == probe
    readout = Readout.from_dict(json.loads(json.dumps(meta["readout"])))
    assert readout.site == "mlp_extractor.policy_net" and len(readout.w) == 64
    y = readout(np.zeros((2, 64)))
    assert y.shape == (2,) and np.all((0 < y) & (y < 1))


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="beta"):
        ActivationReward(-1.0)
    with pytest.raises(ConfigError, match="refit"):
        ActivationReward(0.1, probe="sometimes")
    with pytest.raises(ConfigError, match="neurons"):
        ActivationReward(0.1, neurons=())
    with pytest.raises(ConfigError, match="exceed"):
        Readout("fc", neurons=(70,))(np.zeros((1, 64)))
    vec = ActivationRewardVecEnv(
        make_vec_env(lambda: envs.make("mesaprobe/CoinCorridor-v0"), n_envs=1), ActivationReward(0.1, site="polcy_net")
    )
    with pytest.raises(UnknownNameError, match="polcy_net"):
        vec.attach(make_agent().model)
    assert isinstance(ProbeSchedule(vec).env, ActivationRewardVecEnv)
