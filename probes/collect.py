"""Roll an agent out in a regime-aware environment and record steps, truth and activations."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import MofNCompleteColumn, Progress

import envs
from core.errors import AgentError, ConfigError
from core.io import atomic_directory
from probes.collect_loops import CollectSettings, EnvSpec, Part, make_env, run_batched, run_copies
from probes.dataset import RolloutDataset
from probes.rollout_writer import RolloutWriter


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
    settings = CollectSettings(agent, env, n_episodes, list(layers), n_envs, deterministic, run, dict(env_kwargs or {}),
                         store_obs, batched)  # fmt: skip

    def parts(writer: RolloutWriter) -> dict[str, Any]:
        metas = []
        for k, (one, name) in enumerate(plan):
            offset = k * n_episodes
            part_progress = None if progress is None else (lambda n, offset=offset: progress(offset + n))
            part_seed = seed * 1000 + k if several else seed
            metas.append(_collect_part(settings, one, name, part_seed, offset, writer, part_progress))
        return metas[0]

    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"out={str(out)!r} is a file; give a directory (new, or a dataset to replace).")
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


def _collect_part(
    cfg: CollectSettings,
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
    run = run_batched if vec is not None else run_copies
    candidates, obs_shape = run(cfg, vec, Part(shift, regime, n_slots, episode_seeds, rng, offset, writer, progress))
    return {
        "run": cfg.run,
        "shift": shift,
        "seed": int(seed),
        "n_episodes": int(cfg.n_episodes),
        "candidates": candidates,
        "obs_shape": list(obs_shape),
        "env": cfg.env if isinstance(cfg.env, str) else getattr(cfg.env, "__name__", type(cfg.env).__name__),
    }


def _batched(cfg: CollectSettings, shift: float, regime: str | None, n: int) -> envs.GridVectorEnv | None:
    """The built-in grid world's batched implementation for `n` slots, or None (copies) where there is none."""
    if not isinstance(cfg.env, str):
        return None
    kwargs = dict(cfg.env_kwargs) if regime is None else {**cfg.env_kwargs, "regime": regime}
    vec = envs.make_batched(cfg.env, n, batched=cfg.batched, shift=shift, **kwargs)
    return vec if isinstance(vec, envs.GridVectorEnv) else None


def _plan(shift: float | Sequence[float], regime: str | Sequence[str] | None) -> list[tuple[float, str | None]]:
    """The `(shift, regime)` parts of a collection: one per shift, or one per regime of a list."""
    if regime is not None and not isinstance(regime, str):
        return regime_plan(regime)
    if isinstance(shift, (list, tuple, np.ndarray)):
        return [(float(one), regime) for one in shift]
    return [(shift, regime)]


__all__ = ["EnvSpec", "collect", "make_env", "regime_plan"]
