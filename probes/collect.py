"""Roll an agent out in a regime-aware environment and record steps, truth and activations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from rich.progress import MofNCompleteColumn, Progress

import envs
from core.errors import AgentError, ConfigError
from envs.actions import action_batch, action_value, is_continuous
from probes.dataset import RolloutDataset
from probes.hooks import capture

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


def regime_plan(regimes: Sequence[str]) -> list[tuple[float, str | None]]:
    """`(shift, regime)` per named regime: `train` at shift 0, each deployment regime at shift 1."""
    if isinstance(regimes, str) or not regimes:
        raise ConfigError(f"regimes must be a non-empty list of regime names, got {regimes!r}.")
    if len(set(regimes)) != len(regimes):
        raise ConfigError(f"regimes must not repeat a name, got {list(regimes)}.")
    return [(0.0, None) if name == envs.TRAIN else (1.0, str(name)) for name in regimes]


def collect(
    agent,
    env: EnvSpec,
    *,
    shift: float | Sequence[float] = 0.0,
    regime: str | Sequence[str] | None = None,
    n_episodes: int,
    layers: Sequence[str] = (),
    seed: int = 0,
    n_envs: int = 16,
    deterministic: bool = False,
    run: str = "run",
    env_kwargs: dict[str, Any] | None = None,
    store_obs: bool = True,
    progress: bool | Callable[[int], None] = False,
) -> RolloutDataset:
    """Roll `agent` out for `n_episodes` episodes at regime mixture `shift` and return the dataset.

    `env` is a registered id (e.g. `"mesaprobe/CoinCorridor-v0"`) or a constructor called as
    `env(shift=shift, **env_kwargs)`; the environment must report `info["s"]` and
    `info["achieved"]` (a dict candidate -> bool) like the built-ins. `layers` are dotted module
    names of the agent whose outputs are stored per step (`(n_rows, d)` each); with `store_obs`
    the flattened observation is stored as site `obs`. Episode `i` is reset with a seed derived
    from `seed`, and actions are drawn from a generator seeded by `seed`, so the same seed gives
    the same dataset. Column `reward` is the training reward and `base_reward` the step's
    `info["base_reward"]` (the base objective; equal to `reward` when the environment does not
    report it). Recurrent agents (`agent.recurrent` true) are called as
    `agent.act(batch, ..., slots=slot_ids, episode_start=rows_with_t_0)`, and `agent.reset_state()`
    is called first when it exists. `progress=True` draws a rich progress bar; a callable is called as
    `progress(n_finished_episodes)` as episodes finish.

    `regime` names the deployment regime (`env.unwrapped.regimes`) of the deployment episodes. A
    list of regime names collects `n_episodes` in each: `train` at shift 0 and each deployment
    regime at shift 1 (`shift` is then not used). Column `regime` holds each episode's regime name
    (`info["regime"]`; `train` / `deploy` for environments that do not name them).

    With a list of shifts (or regimes), `n_episodes` are collected at each (the k-th with seed
    `seed * 1000 + k`) and returned as one dataset with unique episode ids.
    """
    if progress is True:
        with Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as bar:
            task = bar.add_task("collect", total=n_episodes * len(_plan(shift, regime)))
            return collect(
                agent,
                env,
                shift=shift,
                regime=regime,
                n_episodes=n_episodes,
                layers=layers,
                seed=seed,
                n_envs=n_envs,
                deterministic=deterministic,
                run=run,
                env_kwargs=env_kwargs,
                store_obs=store_obs,
                progress=lambda n: bar.update(task, completed=n),
            )
    progress = progress or None
    plan = _plan(shift, regime)
    if len(plan) > 1 or not isinstance(regime, (str, type(None))) or isinstance(shift, (list, tuple, np.ndarray)):
        parts = []
        for k, (one, name) in enumerate(plan):
            offset = k * n_episodes
            parts.append(
                collect(
                    agent,
                    env,
                    shift=one,
                    regime=name,
                    n_episodes=n_episodes,
                    layers=layers,
                    seed=seed * 1000 + k,
                    n_envs=n_envs,
                    deterministic=deterministic,
                    run=run,
                    env_kwargs=env_kwargs,
                    store_obs=store_obs,
                    progress=None if progress is None else (lambda n, offset=offset: progress(offset + n)),
                )
            )
        return RolloutDataset.concat(parts)
    shift = envs.check_shift(shift)
    if n_episodes < 1:
        raise ConfigError(f"n_episodes must be >= 1, got {n_episodes}.")
    env_kwargs = dict(env_kwargs or {})
    if not callable(getattr(agent, "act", None)):
        raise AgentError(f"{type(agent).__name__} has no act(obs) method; see training.Agent.")
    n_slots = max(1, min(n_envs, n_episodes))
    slots = [make_env(env, shift, env_kwargs, regime) for _ in range(n_slots)]
    candidates = list(getattr(slots[0].unwrapped, "candidates", ()))
    space = slots[0].action_space
    episode_seeds = np.random.SeedSequence(seed).generate_state(n_episodes, dtype=np.uint32)
    rng = np.random.default_rng([seed, 1])
    recurrent = bool(getattr(agent, "recurrent", False))
    reset_state = getattr(agent, "reset_state", None)
    if callable(reset_state):
        reset_state()

    rows: list[dict[str, Any]] = []
    acts: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    obs_rows: list[np.ndarray] = []
    current_obs: list[np.ndarray | None] = [None] * n_slots
    current_info: list[dict | None] = [None] * n_slots
    slot_episode = [-1] * n_slots
    slot_t = [0] * n_slots
    next_episode = finished = 0

    def start(i: int) -> None:
        nonlocal next_episode
        if next_episode >= n_episodes:
            slot_episode[i] = -1
            return
        obs, info = slots[i].reset(seed=int(episode_seeds[next_episode]))
        _check_info(info, candidates)
        current_obs[i], current_info[i] = obs, info
        slot_episode[i], slot_t[i] = next_episode, 0
        next_episode += 1

    for i in range(n_slots):
        start(i)
    with capture(agent, layers) as cache:
        while True:
            active = [i for i in range(n_slots) if slot_episode[i] >= 0]
            if not active:
                break
            batch = np.stack([current_obs[i] for i in active])
            if recurrent:
                starts = np.array([slot_t[i] == 0 for i in active], dtype=bool)
                out = agent.act(batch, deterministic=deterministic, rng=rng, slots=active, episode_start=starts)
            else:
                out = agent.act(batch, deterministic=deterministic, rng=rng)
            actions = _actions(out, space, len(active))
            step_acts = cache.pop()
            for name in layers:
                if step_acts[name].shape[0] != len(active):
                    raise AgentError(
                        f"layer {name!r} produced {step_acts[name].shape[0]} rows for a batch of {len(active)}; "
                        f"capture needs exactly one forward call per act()."
                    )
                acts[name].append(step_acts[name])
            if store_obs:
                obs_rows.append(batch.reshape(len(active), -1).astype(np.float32))
            for j, i in enumerate(active):
                info = current_info[i]
                obs, reward, terminated, truncated, next_info = slots[i].step(actions[j])
                # The regime of a step is the one its transition ran under, which the step's own info reports
                # (a world that redraws it each round, like OracleWorld's erasure, has moved on by the next obs).
                regime_info = next_info if "s" in next_info else info
                s_step = int(regime_info["s"])
                row = {
                    "run": run,
                    "episode": slot_episode[i],
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
                }
                rows.append(row)
                slot_t[i] += 1
                if terminated or truncated:
                    finished += 1
                    if progress is not None:
                        progress(finished)
                    start(i)
                else:
                    current_obs[i], current_info[i] = obs, next_info
    for e in slots:
        e.close()

    table = pd.DataFrame(rows)
    order = np.lexsort((table["t"].to_numpy(), table["episode"].to_numpy()))
    table = table.iloc[order].reset_index(drop=True)
    # Y_b at a step is the base objective still to come, so it sums base_reward, not the training reward.
    table["return_to_go"] = table.iloc[::-1].groupby("episode")["base_reward"].cumsum().iloc[::-1].to_numpy()
    activations = {name: np.concatenate(chunks)[order] for name, chunks in acts.items()}
    if store_obs:
        activations["obs"] = np.concatenate(obs_rows)[order]
    meta = {
        "run": run,
        "shift": shift,
        "seed": int(seed),
        "n_episodes": int(n_episodes),
        "candidates": candidates,
        "obs_shape": list(slots[0].observation_space.shape),
        "env": env if isinstance(env, str) else getattr(env, "__name__", type(env).__name__),
    }
    return RolloutDataset(table, activations, meta)


def _plan(shift: float | Sequence[float], regime: str | Sequence[str] | None) -> list[tuple[float, str | None]]:
    """The `(shift, regime)` parts of a collection: one per shift, or one per regime of a list."""
    if regime is not None and not isinstance(regime, str):
        return regime_plan(regime)
    if isinstance(shift, (list, tuple, np.ndarray)):
        return [(float(one), regime) for one in shift]
    return [(shift, regime)]


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
