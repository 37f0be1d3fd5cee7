"""Roll an agent out in a regime-aware environment and record steps, truth and activations."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from rich.progress import MofNCompleteColumn, Progress

import envs
from core.errors import AgentError, ConfigError
from core.io import atomic_directory
from envs.actions import action_batch, action_value, is_continuous
from probes.dataset import RolloutDataset
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
    out: str | os.PathLike[str] | None = None,
    batched: bool | None = None,
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

    The `n_envs` environments of a built-in grid world are stepped as one batch
    (`envs.GridVectorEnv`; the same dataset as single copies, tested); `batched=False` uses copies.
    With `out`, the dataset is written to that directory as it is collected (activations streamed to
    `.npy` files, `probes.rollout_writer`; `out` is replaced only when the collection finishes) and
    returned with memory-mapped activations, so memory does not grow with the activations collected.
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
                out=out,
                batched=batched,
            )
    progress = progress or None
    plan = _plan(shift, regime)
    several = len(plan) > 1 or not isinstance(regime, (str, type(None))) or isinstance(shift, (list, tuple, np.ndarray))
    if not callable(getattr(agent, "act", None)):
        raise AgentError(f"{type(agent).__name__} has no act(obs) method; see training.Agent.")
    sites = [*layers, "obs"] if store_obs else list(layers)
    settings = _Settings(agent, env, n_episodes, list(layers), n_envs, deterministic, run, dict(env_kwargs or {}),
                         store_obs, batched)  # fmt: skip

    def parts(writer: RolloutWriter) -> dict[str, Any]:
        metas = []
        for k, (one, name) in enumerate(plan):
            offset = k * n_episodes
            part_progress = None if progress is None else (lambda n, offset=offset: progress(offset + n))
            part_seed = seed * 1000 + k if several else seed
            metas.append(_collect_part(settings, one, name, part_seed, offset, writer, part_progress))
        return metas[0]

    if out is None:
        writer = RolloutWriter(sites)
        data = writer.finish(parts(writer))
        assert data is not None
        return data
    with atomic_directory(out) as tmp:
        writer = RolloutWriter(sites, tmp)
        try:
            writer.finish(parts(writer))
        finally:
            writer.close()
    return RolloutDataset.load(out)


@dataclass(frozen=True)
class _Settings:
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


def _collect_part(
    cfg: _Settings,
    shift: float,
    regime: str | None,
    seed: int,
    offset: int,
    writer: RolloutWriter,
    progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    """Collect `cfg.n_episodes` episodes at one `(shift, regime)` into `writer` (episode ids from `offset`); its meta."""
    shift = envs.check_shift(shift)
    if cfg.n_episodes < 1:
        raise ConfigError(f"n_episodes must be >= 1, got {cfg.n_episodes}.")
    n_slots = max(1, min(cfg.n_envs, cfg.n_episodes))
    reset_state = getattr(cfg.agent, "reset_state", None)
    if callable(reset_state):
        reset_state()
    episode_seeds = np.random.SeedSequence(seed).generate_state(cfg.n_episodes, dtype=np.uint32)
    rng = np.random.default_rng([seed, 1])
    vec = _batched(cfg, shift, regime, n_slots)
    run = _run_batched if vec is not None else _run_copies
    candidates, obs_shape = run(cfg, vec, shift, regime, n_slots, episode_seeds, rng, offset, writer, progress)
    return {
        "run": cfg.run,
        "shift": shift,
        "seed": int(seed),
        "n_episodes": int(cfg.n_episodes),
        "candidates": candidates,
        "obs_shape": list(obs_shape),
        "env": cfg.env if isinstance(cfg.env, str) else getattr(cfg.env, "__name__", type(cfg.env).__name__),
    }


def _batched(cfg: _Settings, shift: float, regime: str | None, n: int) -> envs.GridVectorEnv | None:
    """The built-in grid world's batched implementation for `n` slots, or None (copies) where there is none."""
    if cfg.batched is False or not isinstance(cfg.env, str):
        return None
    envs.register_envs()
    spec = gym.registry.get(cfg.env)
    if spec is None or spec.vector_entry_point is None:
        if cfg.batched:
            raise ConfigError(f"batched=True needs an environment with a batched implementation; {cfg.env!r} has none.")
        return None
    kwargs = dict(cfg.env_kwargs)
    if regime is not None:
        kwargs["regime"] = regime
    vec = gym.make_vec(cfg.env, num_envs=n, vectorization_mode="vector_entry_point", shift=shift, **kwargs)
    return vec if isinstance(vec, envs.GridVectorEnv) else None


def _act(cfg: _Settings, batch: np.ndarray, rng, active, starts) -> Any:
    if getattr(cfg.agent, "recurrent", False):
        return cfg.agent.act(batch, deterministic=cfg.deterministic, rng=rng, slots=active, episode_start=starts)
    return cfg.agent.act(batch, deterministic=cfg.deterministic, rng=rng)


def _step_acts(cfg: _Settings, cache, batch: np.ndarray) -> dict[str, np.ndarray]:
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


def _run_copies(cfg, _vec, shift, regime, n_slots, episode_seeds, rng, offset, writer, progress):
    """One environment per slot, stepped one at a time (any environment)."""
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


def _run_batched(cfg, vec, shift, regime, n_slots, episode_seeds, rng, offset, writer, progress):
    """Every slot in one `GridVectorEnv`, stepped together; the same rows as `_run_copies` gives."""
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
