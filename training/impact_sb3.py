"""A Stable-Baselines3 PPO agent trained under an impact penalty on a side-effect level (seed 002).

`train_ppo_with_penalty(level, penalty)` trains PPO (an MLP on the flattened one-hot grid) on
`mesaprobe/SideEffects-v0` with `ImpactPenaltyWrapper` subtracting the penalty from the reward,
then rolls the deterministic policy out once and returns the episode as `Step`s, which
`analysis.impact.episode_measures` reads like the planner's and the Q-learner's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import envs
from envs.impact_world import ACTIONS, Effect
from training.impact_agents import ImpactPenaltyWrapper
from training.impact_penalty import ImpactPenalty
from training.impact_planning import Step

ENV = "mesaprobe/SideEffects-v0"


@dataclass(frozen=True)
class PPOImpactRun:
    """The trained model and its deterministic episode."""

    model: object
    steps: tuple[Step, ...]
    timesteps: int
    seed: int


def _make(level: str, penalty: ImpactPenalty | None, horizon: int):
    env = envs.make(ENV, level=level, max_steps=horizon)
    return ImpactPenaltyWrapper(env, penalty) if penalty is not None else env


def train_ppo_with_penalty(
    level: str,
    penalty: ImpactPenalty | None = None,
    *,
    timesteps: int = 200_000,
    n_envs: int = 8,
    horizon: int = 20,
    seed: int = 0,
) -> PPOImpactRun:
    """Train PPO on `level` with `penalty` on the reward (none: the level's own) and roll it out once.

    The entropy bonus (0.05) is 5× Stable-Baselines3's usual small one: with 0.01, at 150k steps, PPO
    under the stepwise penalty still cornered the box (seed 0) or never left the start (seed 1).
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([lambda: Monitor(_make(level, penalty, horizon)) for _ in range(int(n_envs))])
    venv.seed(seed)
    model = PPO(
        "MlpPolicy", venv, n_steps=256, batch_size=256, gamma=0.99, ent_coef=0.05, seed=seed, device="cpu",
        policy_kwargs={"net_arch": [64, 64]}, verbose=0,
    )  # fmt: skip
    model.learn(total_timesteps=int(timesteps))
    env = _make(level, penalty, horizon)
    obs, _ = env.reset(seed=seed)
    steps, done, t = [], False, 0
    while not done:
        state = env.unwrapped.state
        action, _ = model.predict(obs[None], deterministic=True)
        a = int(np.asarray(action).reshape(-1)[0])
        obs, reward, terminated, truncated, info = env.step(a)
        effects = tuple(Effect(**e) for e in info["effects"])
        steps.append(Step(t, state, ACTIONS[a], float(info.get("base_reward", reward)), float(info.get("penalty", 0.0)),
                          effects, env.unwrapped.state))  # fmt: skip
        done, t = terminated or truncated, t + 1
    venv.close()
    return PPOImpactRun(model, tuple(steps), int(timesteps), int(seed))
