"""The stages of a study, one function each: agent -> collect -> probe -> probe transport -> verdict,
attribution, steering.

Each stage reads typed inputs, writes its artifacts into the run directory and returns a typed
result, so `mesaprobe study` (`mesaprobe.pipeline.run_study`) and the one-stage commands
(`mesaprobe train|collect|probe|test`) share the same code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import pandas as pd

import training
from analysis import figures
from analysis.results import AgentResult
from analysis.retargeting import SteeringSection, retargeting_reading, summarize_retargeting
from analysis.study import analyse_agent
from core.errors import DataError, UnknownNameError
from core.io import write_json_atomic
from core.results import Skipped
from mesaprobe.agents import build_agent, save_agent_description
from mesaprobe.config import (
    AgentConfig,
    CollectConfig,
    ProbeConfig,
    SteeringConfig,
    TransportConfig,
)
from probes import (
    CandidateAttributions,
    CandidateProbes,
    ProbeTransport,
    RegimeProbeTransport,
    RolloutDataset,
    candidate_attributions,
    collect,
    probe_candidates,
    probe_transport,
    probe_transport_by_regime,
    resolve_modules,
)
from probes.retargeting import (
    goal_probe,
    retarget,
    retargeting_rate,
    select_scale,
)

# progress(stage_key, description, completed, total)
ProgressFn = Callable[[str, str, float, float], None]


@dataclass(frozen=True)
class AgentAnalysis:
    """One agent's typed result and the inputs of its figures (probes, attribution heatmaps, steering rates)."""

    result: AgentResult
    probes: CandidateProbes
    attribution_png: bytes | None = None
    steering_rates: pd.DataFrame | None = None
    learning_curve: pd.DataFrame | None = None
    """The trained agent's training episodes with their regimes (`training.learning_curve`)."""


def noop(*_args) -> None:
    """A `ProgressFn` that reports nothing."""
    return None


def train_stage(
    agent_cfg: AgentConfig,
    *,
    env: str,
    env_kwargs: dict[str, Any],
    seed: int,
    device: str,
    out: Path,
    progress: ProgressFn = noop,
) -> training.SB3Agent:
    """Train one agent and save it to `out` (safetensors + JSON)."""
    key, total = f"train:{agent_cfg.name}", agent_cfg.total_timesteps
    progress(key, f"train {agent_cfg.name} (shift {agent_cfg.train_shift:g})", 0, total)
    agent = training.train(
        env,
        shift=agent_cfg.train_shift,
        total_timesteps=total,
        seed=seed if agent_cfg.seed is None else agent_cfg.seed,
        settings=agent_cfg.ppo_settings(),
        env_kwargs=env_kwargs,
        device=device,
        out=out,
        name=agent_cfg.name,
        progress=lambda n, _r: progress(key, "", min(n, total), total),
        reward_from_activations=agent_cfg.activation_reward(),
    )
    progress(key, "", total, total)
    return agent


def agent_stage(
    agent_cfg: AgentConfig,
    *,
    env: str,
    env_kwargs: dict[str, Any],
    seed: int,
    device: str,
    out: Path,
    progress: ProgressFn = noop,
    built: training.Agent | None = None,
) -> training.Agent:
    """The study's agent: trained here (`sb3`), or built and described in `out/agent.json` (planted, torch)."""
    if agent_cfg.trained:
        return train_stage(
            agent_cfg, env=env, env_kwargs=env_kwargs, seed=seed, device=device, out=out, progress=progress
        )
    agent = built or build_agent(agent_cfg, env=env, env_kwargs=env_kwargs, device=device, seed=seed)
    save_agent_description(agent_cfg, out, env=env, env_kwargs=env_kwargs)
    return agent


def collect_stage(
    agent,
    cfg: CollectConfig,
    *,
    env: str,
    env_kwargs: dict[str, Any],
    seed: int,
    name: str,
    out: Path,
    progress: ProgressFn = noop,
) -> RolloutDataset:
    """Collect `cfg.n_episodes` episodes at each shift (or named regime), streamed into the dataset at `out`."""
    key, total = f"collect:{name}", cfg.total_episodes
    progress(key, f"collect {name}", 0, total)
    data = collect(
        agent,
        env,
        shift=list(cfg.shifts),
        regime=None if cfg.regimes is None else list(cfg.regimes),
        n_episodes=cfg.n_episodes,
        layers=cfg.layers,
        seed=seed,
        n_envs=cfg.n_envs,
        run=name,
        env_kwargs=env_kwargs,
        progress=lambda n: progress(key, "", n, total),
        out=out,
    )
    return data


def probe_stage(data: RolloutDataset, cfg: ProbeConfig, *, seed: int, out: Path) -> CandidateProbes:
    """Fit the candidate probes and save them (`episodes.parquet`, `probe_scores.parquet`, `probes.json`) to `out`."""
    probes = probe_candidates(
        data, probe=cfg.build_estimator(), kind=cfg.kind, alpha=cfg.alpha, n_folds=cfg.n_folds, seed=seed
    )
    probes.save(out)
    return probes


def probe_transport_stage(
    data: RolloutDataset, cfg: ProbeConfig, *, seed: int, out: Path, probes: CandidateProbes | None = None
) -> ProbeTransport | None:
    """Score every probe at every shift (`probes.probe_transport`) and save `probe_transport.json` to `out`.

    With the study's `probes`, their read-outs are reused where probe transport would fit the same probes again.
    """
    if not cfg.transport or data.table["shift"].nunique() < 2:
        return None
    result = probe_transport(data, n_folds=cfg.n_folds, alpha=cfg.alpha, seed=seed, probes=probes, device=cfg.device)
    write_json_atomic(out / "probe_transport.json", result.to_dict())
    return result


def regime_probe_transport_stage(
    data: RolloutDataset, cfg: ProbeConfig, *, seed: int, out: Path, probes: CandidateProbes | None = None
) -> RegimeProbeTransport | None:
    """Score every probe on every regime (`probes.probe_transport_by_regime`) and save `probe_transport_regimes.json`.

    Runs in studies over two or more deployment regimes, with probe transport on.
    """
    if not cfg.transport or data.table["s"].nunique() < 3:
        return None
    result = probe_transport_by_regime(
        data, n_folds=cfg.n_folds, alpha=cfg.alpha, seed=seed, probes=probes, device=cfg.device
    )
    write_json_atomic(out / "probe_transport_regimes.json", result.to_dict())
    return result


def attribution_stage(
    agent, data: RolloutDataset, probes: CandidateProbes, cfg: ProbeConfig, obs_space: gym.Space, channels, *, seed: int
) -> tuple[CandidateAttributions | Skipped, bytes | None]:
    """Captum heatmaps of where each candidate's read-out and the action look (`probes.candidate_attributions`), and their figure."""
    shape = obs_space.shape
    if not cfg.attribution or shape is None or len(shape) != 3:
        return Skipped("off, or the observation is not a (C, H, W) grid"), None
    channels = list(channels) or [f"channel {k}" for k in range(shape[0])]
    section = candidate_attributions(agent, data, probes, shape, channels, seed=seed)
    if isinstance(section, Skipped) or not section.heatmaps:
        return section, None
    return section, figures.attribution_figure(section.heatmaps, section.example_obs, channels=channels)


def steering_stage(
    agent: training.Agent,
    cfg: SteeringConfig | None,
    *,
    name: str,
    planted: bool,
    env: str,
    env_kwargs: dict[str, Any],
    seed: int,
    out: Path,
) -> tuple[SteeringSection | Skipped, pd.DataFrame | None]:
    """Retarget `agent` along a spatial probe of `cfg.goal` (`probes.retargeting`); write `steering.json` and an example edit.

    The strength is chosen on `cfg.n_select_episodes` mazes of their own and reported on
    `cfg.n_episodes` others. What the data cannot support (no module, a site that is not maps on
    the grid, a probe that reads no goal, no maze with a target) is a skipped section with the
    reason, not a failed study.
    """
    if cfg is None:
        return Skipped("off; set probe.steering.goal to an object with a cell (e.g. cheese) to retarget agents"), None
    site = cfg.site_for(name, planted)
    try:
        resolve_modules(agent, [site])
    except UnknownNameError:
        return Skipped(f"the agent has no module {site!r}; name one in probe.steering.sites", {"site": site}), None
    if getattr(agent, "recurrent", False):
        return Skipped("a recurrent agent; retargeting rolls out feed-forward agents", {"site": site}), None
    common = {"shift": cfg.shift, "env_kwargs": env_kwargs}
    try:
        gp = goal_probe(
            agent, env, site, cfg.goal, n_episodes=cfg.probe_episodes, kernel=cfg.kernel, alpha=cfg.probe_alpha,
            seed=seed, **common,
        )  # fmt: skip
        head = {
            "goal": cfg.goal,
            "site": site,
            "kernel": cfg.kernel,
            "probe_accuracy": gp.accuracy,
            "chance": gp.chance,
        }
        if gp.accuracy < cfg.min_accuracy:
            why = f"held-out accuracy {gp.accuracy:.2f} < probe.steering.min_accuracy {cfg.min_accuracy:g}"
        elif gp.probe.margin_ <= 0:
            why = f"its weights single out no cell: margin {gp.probe.margin_:.3g}"
        else:
            why = ""
        if why:
            reason = f"the probe reads no {cfg.goal} ({why}; chance {gp.chance:.3f}): no represented {cfg.goal} to move"
            return Skipped(reason, head), None
        scale, _ = select_scale(
            agent, env, gp.probe, site, goal=cfg.goal, scales=cfg.scales, n_episodes=cfg.n_select_episodes, seed=seed,
            **common,
        )  # fmt: skip
        rates = retargeting_rate(
            agent, env, gp.probe, site, goal=cfg.goal, scales=cfg.scales, n_episodes=cfg.n_episodes,
            n_controls=cfg.n_controls, seed=seed, **common,
        )  # fmt: skip
    except DataError as err:
        return Skipped(str(err), {"site": site}), None
    summary = summarize_retargeting(rates, scale)
    maze = rates.attrs["mazes"][0]
    example = retarget(gp.probe, site, source=tuple(maze["goal"]), target=tuple(maze["target"]), scale=scale)
    example.save(out / "steering_example.json")
    section = SteeringSection(
        **head,
        margin=gp.probe.margin_,
        n_select_episodes=cfg.n_select_episodes,
        summary=summary,
        rates=rates,
        mazes=tuple(rates.attrs["mazes"]),
        example={"file": f"agents/{name}/steering_example.json", "maze_seed": maze["seed"]},
        reading=retargeting_reading(name, cfg.goal, site, gp.accuracy, summary),
    )
    write_json_atomic(out / "steering.json", section.to_dict())
    return section, rates


def verdict_stage(
    name: str,
    probes: CandidateProbes,
    cfg: TransportConfig,
    *,
    seed: int,
    train_shift: float | None = None,
    transport: ProbeTransport | None = None,
    regime_transport: RegimeProbeTransport | None = None,
) -> AgentAnalysis:
    """Mesa condition, transport test per candidate and the agent verdict.

    With `transport`, each candidate's probe gets `flags`: the reasons (if any) to distrust
    conclusions that condition on it, and the result gets `probe_transport` (scores per shift).
    With `regime_transport`, each per-regime verdict is marked where its read-out fails
    (`AgentResult.with_regime_probe_transport`).
    """
    choices = {}
    for cand in probes.candidates:
        choice = probes.choice(cand)
        if choice is not None and transport is not None:
            choice = dataclasses.replace(choice, flags=tuple(transport.flagged(cand, choice.site)))
        if choice is not None:
            choices[cand] = choice
    result = analyse_agent(
        name,
        probes.y_m,
        probes.candidates,
        probe_choices=choices,
        method=cfg.method,
        device=cfg.device,
        alpha=cfg.alpha,
        margin=cfg.margin,
        mesa_threshold=cfg.mesa_threshold,
        diagram=cfg.diagram(),
        sweep_grid=cfg.sweep_grid,
        sweep_repeats=cfg.sweep_repeats,
        seed=seed,
    )
    result = result.with_sections(train_shift=train_shift, probe_scores=probes.scores, probe_transport=transport)
    if regime_transport is not None:
        result = result.with_regime_probe_transport(regime_transport)
    return AgentAnalysis(result=result, probes=probes)
