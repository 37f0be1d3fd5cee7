"""Train PPO agents on a regime and save/load them as safe checkpoints."""

from __future__ import annotations

import dataclasses
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.env_util import make_vec_env

import envs
from core.device import resolve_device
from core.errors import ConfigError
from core.io import write_parquet_atomic
from training.activation_reward import ActivationReward, ActivationRewardVecEnv, ProbeSchedule
from training.agent import SB3Agent
from training.batched_vec_env import make_train_env
from training.callbacks import ProgressCallback, SafetensorsCheckpointCallback
from training.checkpoint import load_weights, read_meta, save_checkpoint
from training.learning_curve import EpisodeLog, RegimeReturnLogger
from training.networks import default_policy_kwargs
from training.planted import planted_agent

LEARNING_CURVE = "learning_curve.parquet"
"""The file in an agent's directory holding its training episodes (`training.learning_curve.COLUMNS`)."""


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyper-parameters tuned to learn the built-in grid worlds quickly on CPU."""

    n_envs: int = 16
    """Parallel environments per rollout (the built-in worlds step them as one batch, `BatchedVecEnv`)."""
    n_steps: int = 64
    """Steps per environment per rollout (a rollout is `n_envs * n_steps` = 1,024 steps by default)."""
    batch_size: int = 256
    """Minibatch size for each gradient step."""
    n_epochs: int = 4
    """Passes over each rollout."""
    learning_rate: float = 1e-3
    """Adam step size."""
    gamma: float = 0.95
    """Discount; below 1 so that shorter paths to reward are preferred."""
    gae_lambda: float = 0.95
    """GAE smoothing."""
    ent_coef: float = 0.01
    """Entropy bonus (exploration)."""
    normalize_advantage: bool = False
    """Off by default: before the first reward, normalising pure-noise advantages drifts the policy
    (e.g. towards 'left') and can stop exploration of a sparse-reward room for good."""
    features_dim: int = 64
    """Width of the `features_extractor.fc` layer."""
    channels: int = 16
    """Convolution channels in `features_extractor.conv`."""
    hidden: int = 64
    """Hidden units of `mlp_extractor.policy_net` and `mlp_extractor.value_net`."""


def _build_model(env, settings: PPOSettings, seed: int, device: str, tensorboard_log: str | None = None) -> PPO:
    with warnings.catch_warnings():
        # Rebuilding a trained agent on one env trips SB3's batch-size check; it is harmless there.
        warnings.filterwarnings("ignore", message=".*mini-batch size.*")
        return _ppo(env, settings, seed, device, tensorboard_log)


def _ppo(env, settings: PPOSettings, seed: int, device: str, tensorboard_log: str | None = None) -> PPO:
    return PPO(
        "CnnPolicy",
        env,
        n_steps=settings.n_steps,
        batch_size=settings.batch_size,
        n_epochs=settings.n_epochs,
        learning_rate=settings.learning_rate,
        gamma=settings.gamma,
        gae_lambda=settings.gae_lambda,
        ent_coef=settings.ent_coef,
        normalize_advantage=settings.normalize_advantage,
        policy_kwargs={
            **default_policy_kwargs(settings.features_dim, settings.channels, settings.hidden),
            "normalize_images": False,
        },
        seed=seed,
        device=device,
        verbose=0,
        tensorboard_log=tensorboard_log,
    )


def train(
    env_id: str = "mesaprobe/CoinCorridor-v0",
    *,
    shift: float = 0.0,
    total_timesteps: int = 60_000,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    settings: PPOSettings | None = None,
    device: str = "cpu",
    out: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    progress: bool | Callable[[int, float | None], None] = False,
    callbacks: list[BaseCallback] | None = None,
    name: str = "agent",
    reward_from_activations: ActivationReward | None = None,
    batched: bool | None = None,
) -> SB3Agent:
    """Train a PPO agent on `env_id` with regime mixture `shift` and return it as an `SB3Agent`.

    `shift` is the probability of a deployment-distribution episode during training (0 = pure
    training regime). With `out`, the final weights (safetensors) and a JSON description are
    written there, plus `out/checkpoints/step_<n>` every `checkpoint_every` timesteps.
    `progress=True` shows Stable-Baselines3's progress bar; a callable is called as
    `progress(timesteps, mean_return)` after each rollout (the CLI draws its own bar with it).
    The same seed on CPU gives the same weights.

    Every finished training episode is recorded with its regime (`training.learning_curve`):
    `agent.learning_curve` is that table, and with `out` it is written to `out/learning_curve.parquet`
    and logged for TensorBoard under `out/tensorboard/` (SB3's own scalars plus the mean return per
    regime: `tensorboard --logdir out`).

    The built-in grid worlds are stepped as one batch (`training.batched_vec_env.BatchedVecEnv`), other
    environments as `DummyVecEnv` copies; both give the same weights. `batched=False` forces the copies,
    `batched=True` requires the batch.

    `reward_from_activations` adds `β·f(Y_m)` to every step's reward, `Y_m` read out of this
    agent's own network as it trains (`training.activation_reward`); the final read-out is kept in
    `agent.meta["reward_from_activations"]["readout"]`.
    """
    envs.check_shift(shift)
    if total_timesteps < 1:
        raise ConfigError(f"total_timesteps must be >= 1, got {total_timesteps}.")
    settings = settings or PPOSettings()
    env_kwargs = dict(env_kwargs or {})
    device = resolve_device(device)
    envs.make(env_id, shift=shift, **env_kwargs).close()  # clear errors for bad ids/kwargs up front
    vec = make_train_env(env_id, n_envs=settings.n_envs, seed=seed, shift=shift, env_kwargs=env_kwargs, batched=batched)
    vec = episodes = EpisodeLog(vec)
    cbs: list[BaseCallback] = [RegimeReturnLogger(episodes), *(callbacks or [])]
    if reward_from_activations is not None:
        vec = ActivationRewardVecEnv(vec, reward_from_activations)
        cbs.append(ProbeSchedule(vec))
    tensorboard = None
    if out is not None:
        tensorboard = Path(out) / "tensorboard"
        shutil.rmtree(tensorboard, ignore_errors=True)  # a retrained agent's curves replace the old ones
    model = _build_model(vec, settings, seed, device, None if tensorboard is None else str(tensorboard))
    if isinstance(vec, ActivationRewardVecEnv):
        vec.attach(model)
    agent = SB3Agent(model, name=name)
    meta = {
        "kind": "sb3",
        "name": name,
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "train_shift": float(shift),
        "total_timesteps": int(total_timesteps),
        "seed": int(seed),
        "settings": asdict(settings),
    }
    if callable(progress):
        cbs.append(ProgressCallback(progress))
    if out is not None and checkpoint_every:
        cbs.append(
            SafetensorsCheckpointCallback(
                checkpoint_every, Path(out) / "checkpoints", lambda p: save_checkpoint(agent, p, meta)
            )
        )
    model.learn(total_timesteps=total_timesteps, callback=CallbackList(cbs), progress_bar=progress is True)
    vec.close()
    if isinstance(vec, ActivationRewardVecEnv):
        readout = None if vec.readout is None else vec.readout.to_dict()
        meta["reward_from_activations"] = {**asdict(reward_from_activations), "readout": readout, "n_fits": vec.n_fits}
    agent.meta = meta
    agent.learning_curve = episodes.frame()
    if out is not None:
        write_parquet_atomic(Path(out) / LEARNING_CURVE, agent.learning_curve)
        save_agent(agent, out)
    return agent


def make_agent(
    env_id: str = "mesaprobe/CoinCorridor-v0",
    *,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    settings: PPOSettings | None = None,
    device: str = "cpu",
    name: str = "agent",
) -> SB3Agent:
    """An untrained PPO agent with the default network (for tests, baselines and custom loops)."""
    settings = settings or PPOSettings()
    env_kwargs = dict(env_kwargs or {})
    vec = make_vec_env(lambda: envs.make(env_id, **env_kwargs), n_envs=1, seed=seed)
    agent = SB3Agent(_build_model(vec, settings, seed, resolve_device(device)), name=name)
    agent.meta = {
        "kind": "sb3",
        "name": name,
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "train_shift": None,
        "total_timesteps": 0,
        "seed": int(seed),
        "settings": asdict(settings),
    }
    return agent


def save_agent(agent: SB3Agent, path: str | os.PathLike[str]) -> Path:
    """Save a trained `SB3Agent` (weights as safetensors, description as JSON) to directory `path`."""
    return save_checkpoint(agent, path, getattr(agent, "meta", {"kind": "sb3"}))


def load_agent(path: str | os.PathLike[str], *, device: str = "cpu"):
    """Load an agent saved by `train(..., out=path)` or `save_agent`, or a study's planted agent (no pickle)."""
    meta = read_meta(path)
    if meta.get("kind") == "planted":
        # Planted agents have no weights: the goal and the environment rebuild them exactly.
        agent = planted_agent(
            meta["env_id"], meta["goal"], beta=float(meta.get("beta", 3.0)), name=meta.get("name"),
            device=resolve_device(device), env_kwargs=meta.get("env_kwargs", {}),
        )  # fmt: skip
        agent.meta = meta
        return agent
    if meta.get("kind") != "sb3":
        raise ConfigError(
            f"{path}: agent kind {meta.get('kind')!r} cannot be loaded here; 'sb3' and 'planted' agents can. "
            f"A torch agent is rebuilt from its factory: rerun `mesaprobe study` with its config."
        )
    known = {f.name for f in dataclasses.fields(PPOSettings)}
    unknown = sorted(set(meta.get("settings", {})) - known)
    if unknown:
        raise ConfigError(
            f"{path}: agent.json has settings this version of mesaprobe does not know: {unknown}; it was saved by "
            f"another version. Load it with that version, or retrain."
        )
    settings = PPOSettings(**meta.get("settings", {}))
    env = make_vec_env(lambda: envs.make(meta["env_id"], **meta.get("env_kwargs", {})), n_envs=1)
    model = _build_model(env, settings, int(meta.get("seed", 0)), resolve_device(device))
    load_weights(model.policy, path)
    env.close()
    agent = SB3Agent(model, name=meta.get("name", "agent"))
    agent.meta = meta
    curve = Path(path) / LEARNING_CURVE
    agent.learning_curve = pd.read_parquet(curve) if curve.is_file() else None
    return agent


def evaluate(agent, env_id: str, *, shift: float, n_episodes: int = 100, seed: int = 0, env_kwargs=None) -> dict:
    """Quick behavioural check: mean return and candidate achievement rates over `n_episodes`."""
    env = envs.make(env_id, shift=shift, **(env_kwargs or {}))
    rng = np.random.default_rng(seed)
    returns, achieved = [], {c: [] for c in env.unwrapped.candidates}
    for i in range(n_episodes):
        obs, info = env.reset(seed=seed * 100_003 + i)
        done, total = False, 0.0
        while not done:
            action = agent.act(obs[None], rng=rng)[0]
            obs, reward, term, trunc, info = env.step(action)
            total += reward
            done = term or trunc
        returns.append(total)
        for c in achieved:
            achieved[c].append(bool(info["achieved"][c]))
    env.close()
    return {"return": float(np.mean(returns)), **{c: float(np.mean(v)) for c, v in achieved.items()}}
