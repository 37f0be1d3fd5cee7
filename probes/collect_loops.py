"""The stepping loops of `probes.collect`: one environment per slot, or a built-in world stepped as one batch.

Both hand every step's rows and activations to a `probes.rollout_writer.RolloutWriter` and start each
episode from its own seed, so the two give the same dataset (tests/probes/test_collect_batched.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import envs
from core.errors import AgentError, ConfigError
from envs.actions import action_batch, action_value, is_continuous
from probes.hooks import capture
from probes.rollout_writer import RolloutWriter

EnvSpec = str | Callable[..., gym.Env]


def make_env(
    env: EnvSpec, shift: float, env_kwargs: dict[str, Any] | None = None, regime: str | None = None
) -> gym.Env:
    """An environment from an id or a constructor, at regime mixture `shift` (and deployment `regime`, when named)."""
    env_kwargs = dict(env_kwargs or {})
    if regime is not None:
        env_kwargs["regime"] = regime  # only then: constructors without named regimes need not take it
    if isinstance(env, str):
        return envs.make(env, shift=shift, **env_kwargs)
    if callable(env):
        return env(shift=shift, **env_kwargs)
    raise ConfigError(f"env must be an environment id or a constructor taking shift=..., got {type(env).__name__}.")


@dataclass(frozen=True)
class CollectSettings:
    """What every part of one `collect` call shares."""

    agent: Any
    env: EnvSpec
    n_episodes: int
    layers: list[str]
    n_envs: int
    deterministic: bool
    run: str
    env_kwargs: dict[str, Any]
    store_obs: bool
    batched: bool | None


@dataclass(frozen=True)
class Part:
    """One `(shift, regime)` part of a collection: its slots, episode seeds, action generator and episode ids from
    `offset`, the writer its steps go to and the progress callback (finished episodes of this part)."""

    shift: float
    regime: str | None
    n_slots: int
    episode_seeds: np.ndarray
    rng: np.random.Generator
    offset: int
    writer: RolloutWriter
    progress: Callable[[int], None] | None


def _act(cfg: CollectSettings, batch: np.ndarray, rng, active, starts) -> Any:
    if getattr(cfg.agent, "recurrent", False):
        return cfg.agent.act(batch, deterministic=cfg.deterministic, rng=rng, slots=active, episode_start=starts)
    return cfg.agent.act(batch, deterministic=cfg.deterministic, rng=rng)


def _step_acts(cfg: CollectSettings, cache, batch: np.ndarray) -> dict[str, np.ndarray]:
    """This step's activations per site (and the flattened observations as `obs`), checked for one row per slot."""
    step_acts = cache.pop()
    out = {}
    for name in cfg.layers:
        if step_acts[name].shape[0] != len(batch):
            raise AgentError(
                f"layer {name!r} produced {step_acts[name].shape[0]} rows for a batch of {len(batch)}; "
                f"capture needs exactly one forward call per act()."
            )
        out[name] = step_acts[name]
    if cfg.store_obs:
        out["obs"] = batch.reshape(len(batch), -1).astype(np.float32)
    return out


def run_copies(cfg: CollectSettings, _vec: None, part: Part) -> tuple[list[str], tuple[int, ...]]:
    """One environment per slot, stepped one at a time (any environment); the candidates and observation shape."""
    shift, regime, n_slots, episode_seeds, rng, offset = (part.shift, part.regime, part.n_slots, part.episode_seeds,
                                                          part.rng, part.offset)  # fmt: skip
    writer, progress = part.writer, part.progress
    slots = [make_env(cfg.env, shift, cfg.env_kwargs, regime) for _ in range(n_slots)]
    candidates = list(getattr(slots[0].unwrapped, "candidates", ()))
    space = slots[0].action_space
    current_obs: list[np.ndarray | None] = [None] * n_slots
    current_info: list[dict | None] = [None] * n_slots
    slot_episode = [-1] * n_slots
    slot_t = [0] * n_slots
    next_episode = finished = 0

    def start(i: int) -> None:
        nonlocal next_episode
        if next_episode >= cfg.n_episodes:
            slot_episode[i] = -1
            return
        obs, info = slots[i].reset(seed=int(episode_seeds[next_episode]))
        _check_info(info, candidates)
        current_obs[i], current_info[i] = obs, info
        slot_episode[i], slot_t[i] = next_episode, 0
        next_episode += 1

    for i in range(n_slots):
        start(i)
    with capture(cfg.agent, cfg.layers) as cache:
        while True:
            active = [i for i in range(n_slots) if slot_episode[i] >= 0]
            if not active:
                break
            batch = np.stack([current_obs[i] for i in active])
            starts = np.array([slot_t[i] == 0 for i in active], dtype=bool)
            actions = _actions(_act(cfg, batch, rng, active, starts), space, len(active))
            acts = _step_acts(cfg, cache, batch)
            rows = []
            for j, i in enumerate(active):
                info = current_info[i]
                obs, reward, terminated, truncated, next_info = slots[i].step(actions[j])
                # The regime of a step is the one its transition ran under, which the step's own info reports
                # (a world that redraws it each round, like OracleWorld's erasure, has moved on by the next obs).
                regime_info = next_info if "s" in next_info else info
                s_step = int(regime_info["s"])
                rows.append({
                    "run": cfg.run,
                    "episode": offset + slot_episode[i],
                    "t": slot_t[i],
                    "s": s_step,
                    "regime": str(regime_info.get("regime", envs.TRAIN if s_step == 0 else "deploy")),
                    "shift": shift,
                    "action": action_value(actions[j], space),
                    "reward": float(reward),
                    "base_reward": float(next_info.get("base_reward", reward)),
                    "done": bool(terminated or truncated),
                    "terminated": bool(terminated),
                    **{k: v for k, v in info.get("truth", {}).items()},
                    **{f"achieved_{c}": bool(next_info["achieved"][c]) for c in candidates},
                })  # fmt: skip
                slot_t[i] += 1
                if terminated or truncated:
                    finished += 1
                    if progress is not None:
                        progress(finished)
                    start(i)
                else:
                    current_obs[i], current_info[i] = obs, next_info
            writer.add_rows(rows, acts)
            if writer.ready():
                running = [slot_episode[i] for i in range(n_slots) if slot_episode[i] >= 0]
                writer.flush(offset + min(running) if running else None)
    for e in slots:
        e.close()
    return candidates, slots[0].observation_space.shape


def run_batched(cfg: CollectSettings, vec: envs.GridVectorEnv, part: Part) -> tuple[list[str], tuple[int, ...]]:
    """Every slot in one `GridVectorEnv`, stepped together: the rows `run_copies` gives; the candidates and shape."""
    shift, n_slots, episode_seeds, rng, offset = part.shift, part.n_slots, part.episode_seeds, part.rng, part.offset
    writer, progress = part.writer, part.progress  # the regime is the vector env's own
    space, candidates = vec.single_action_space, list(vec.candidates)
    slot_episode = np.full(n_slots, -1, dtype=np.int64)
    slot_t = np.zeros(n_slots, dtype=np.int64)
    next_episode = finished = 0

    def start(i: int) -> None:
        nonlocal next_episode
        if next_episode < cfg.n_episodes:
            vec.reset_at(i, int(episode_seeds[next_episode]))
            slot_episode[i], slot_t[i] = next_episode, 0
            next_episode += 1
        else:
            slot_episode[i] = -1

    for i in range(n_slots):
        start(i)
    obs, info = vec.observe()
    run_col = np.array([cfg.run], dtype=object)
    all_actions = np.zeros(n_slots, dtype=np.int64)
    with capture(cfg.agent, cfg.layers) as cache:
        while True:
            active = np.flatnonzero(slot_episode >= 0)
            if not len(active):
                break
            batch = obs[active]
            actions = _actions(_act(cfg, batch, rng, active.tolist(), slot_t[active] == 0), space, len(active))
            acts = _step_acts(cfg, cache, batch)
            truth = {k: v[active] for k, v in info["truth"].items() if not k.startswith("_")}
            all_actions[:] = 0
            all_actions[active] = actions
            obs, reward, terminated, truncated, info = vec.step(all_actions)
            done = (terminated | truncated)[active]
            base = info.get("base_reward", reward)
            columns = {
                "run": np.repeat(run_col, len(active)),
                "episode": offset + slot_episode[active],
                "t": slot_t[active].copy(),
                "s": info["s"][active],
                "regime": info["regime"][active],
                "shift": np.full(len(active), shift),
                "action": np.asarray(actions, dtype=np.int64),
                "reward": reward[active].astype(np.float64),
                "base_reward": np.asarray(base, dtype=np.float64)[active],
                "done": done,
                "terminated": terminated[active],
                **truth,
                **{f"achieved_{c}": info["achieved"][c][active] for c in candidates},
            }
            writer.add_columns(columns, acts)
            slot_t[active] += 1
            ended = active[done]
            for i in ended:
                finished += 1
                if progress is not None:
                    progress(finished)
                start(int(i))
            if len(ended):
                obs, info = vec.observe()
            if writer.ready():
                running = slot_episode[slot_episode >= 0]
                writer.flush(offset + int(running.min()) if len(running) else None)
    vec.close()
    return candidates, vec.single_observation_space.shape


def _actions(out, space, n: int) -> np.ndarray:
    """The agent's output as `n` actions of `space`; discrete agents may return any `(n, 1)`-like shape."""
    if not is_continuous(space):
        flat = np.asarray(out).reshape(-1)
        if flat.shape[0] != n:
            raise AgentError(f"agent.act returned {flat.shape[0]} actions for a batch of {n}.")
        return flat
    return action_batch(out, space, n)


def _check_info(info: dict, candidates: list[str]) -> None:
    if "s" not in info:
        raise ConfigError(
            "the environment's info has no 's' (regime indicator). Wrap your environment with "
            "envs.RegimeMixture or report info['s'] yourself."
        )
    missing = [c for c in candidates if c not in info.get("achieved", {})]
    if missing:
        raise ConfigError(f"info['achieved'] lacks candidates {missing}; report each declared candidate.")
