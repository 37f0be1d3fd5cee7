"""Wire the stages of a study (`mesaprobe.stages`) into one run: every agent through every stage, then the report.

`run_study` checks the config before minutes of training, runs the stages per agent (reusing those an
earlier run of the same config finished: `mesaprobe.resume`), and writes `report.json`, `report.html`,
the figures and `timing.json`; `mesaprobe.report_stage` renders the typed results into them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium

import envs
import training
from analysis.results import AgentResult
from analysis.study_report import StudyReport
from core.device import resolve_device
from core.errors import ConfigError, MesaprobeError, suggest, unknown_name
from core.io import write_json_atomic, write_text_atomic
from mesaprobe.agents import build_agent
from mesaprobe.config import AgentConfig, StudyConfig, dump_config
from mesaprobe.plugins import load_plugins
from mesaprobe.report_stage import report_stage
from mesaprobe.resume import StageLedger, stage_key, weights_fingerprint
from mesaprobe.schema import plain
from mesaprobe.stages import (
    AgentAnalysis,
    ProgressFn,
    agent_stage,
    attribution_stage,
    collect_stage,
    noop,
    probe_stage,
    probe_transport_stage,
    regime_probe_transport_stage,
    steering_stage,
    verdict_stage,
)
from mesaprobe.workers import check_workers, cpu_count, run_in_processes
from probes import (
    CandidateProbes,
    RolloutDataset,
    resolve_modules,
)
from probes.retargeting import (
    cell_objects,
)


@dataclass(frozen=True)
class StudyResult:
    """What a study produced: its typed `report` (`report.json` is `report.to_dict()`), where it was
    written and how long each stage took."""

    report: StudyReport
    out: Path
    paths: dict[str, Path]
    timing: dict[str, float] = field(default_factory=dict)
    reused: tuple[str, ...] = ()
    """The stages loaded from an earlier run of the same config instead of run again (`agent/stage`)."""

    def agent(self, name: str) -> AgentResult:
        """The result of agent `name`."""
        return self.report.agent(name)

    def _repr_html_(self) -> str:
        return f"{self.report._repr_html_()}<p>Written to <code>{self.out}</code>.</p>"


def _resumable(ledger: StageLedger, stage: str, key: str, load, run, reused: list[str]):
    """`load()` when `stage` finished under `key` in an earlier run, else `run()` and record it as finished.

    Artifacts that cannot be read back (deleted or damaged by hand) are made again rather than trusted.
    """
    if ledger.finished(stage, key):
        try:
            value = load()
        except (MesaprobeError, OSError, ValueError, KeyError):
            pass
        else:
            reused.append(f"{ledger.directory.name}/{stage}")
            return value
    value = run()
    ledger.record(stage, key)
    return value


def _agent_data_probes(
    config: StudyConfig,
    agent_cfg: AgentConfig,
    ledger: StageLedger,
    *,
    built: training.Agent | None,
    progress: ProgressFn,
    timing: dict[str, float],
    reused: list[str],
) -> tuple[training.Agent, RolloutDataset, CandidateProbes]:
    """The resumable stages of one agent: train (or build), collect, fit probes; each reused when finished before."""
    name, agent_dir = agent_cfg.name, ledger.directory
    common = {"env": config.env, "env_kwargs": config.env_kwargs, "seed": config.seed, "progress": progress}
    where = [plain(dataclasses.asdict(agent_cfg)), config.env, config.env_kwargs, config.seed, config.device]

    t0 = time.perf_counter()
    if agent_cfg.trained:
        agent_key, total = stage_key("train", *where), agent_cfg.total_timesteps

        def reuse_agent() -> training.Agent:
            agent = training.load_agent(agent_dir, device=config.device)
            progress(f"train:{name}", f"train {name} (reused)", total, total)
            return agent

        agent = _resumable(
            ledger, "train", agent_key, reuse_agent,
            lambda: agent_stage(agent_cfg, device=config.device, out=agent_dir, **common), reused,
        )  # fmt: skip
    else:
        agent = agent_stage(agent_cfg, device=config.device, out=agent_dir, built=built, **common)
        # A built agent's weights come from files the config only names: the key covers the weights themselves.
        agent_key = stage_key("build", *where, weights_fingerprint(agent.named_modules()))
    timing[f"{name}.{'train' if agent_cfg.trained else 'build'}_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    collect_cfg = dataclasses.replace(config.collect, layers=agent_cfg.layers_or(config.collect.layers))
    collect_key = stage_key("collect", agent_key, plain(dataclasses.asdict(collect_cfg)))

    def reuse_data() -> RolloutDataset:
        data = RolloutDataset.load(agent_dir / "rollouts")
        total = collect_cfg.total_episodes
        progress(f"collect:{name}", f"collect {name} (reused)", total, total)
        return data

    data = _resumable(
        ledger, "collect", collect_key, reuse_data,
        lambda: collect_stage(agent, collect_cfg, name=name, out=agent_dir / "rollouts", **common), reused,
    )  # fmt: skip
    timing[f"{name}.collect_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress(f"analyse:{name}", f"probe + test {name}", 0, 2)
    pc = config.probe
    # The device (resolved: "auto" is a GPU on one machine and scikit-learn's solver on another) joins the key only
    # off the CPU, so runs from before it existed keep their probes.
    on = () if (device := resolve_device(pc.device)) == "cpu" else (device,)
    probe_key = stage_key("probe", collect_key, pc.kind, pc.alpha, pc.n_folds, pc.estimator, pc.estimator_params, *on)
    probes = _resumable(
        ledger, "probe", probe_key,
        lambda: CandidateProbes.load(agent_dir).refit(data, pc.build_estimator(), kind=pc.kind, alpha=pc.alpha),
        lambda: probe_stage(data, pc, seed=config.seed, out=agent_dir), reused,
    )  # fmt: skip
    timing[f"{name}.probe_s"] = time.perf_counter() - t0
    return agent, data, probes


@dataclass(frozen=True)
class _AgentRun:
    """One agent's finished stages: its analysis, its stage seconds, the stages reused from an earlier run."""

    analysis: AgentAnalysis
    timing: dict[str, float]
    reused: tuple[str, ...]


def _run_agent(
    config: StudyConfig,
    agent_cfg: AgentConfig,
    out: Path,
    *,
    fresh: bool,
    built: training.Agent | None,
    obs_space: gymnasium.Space,
    channels: tuple[str, ...],
    progress: ProgressFn,
) -> _AgentRun:
    """Every stage of one agent, from training (or building) to steering, in `out/agents/<name>/`."""
    timing: dict[str, float] = {}
    reused: list[str] = []
    name = agent_cfg.name
    agent_dir = out / "agents" / name
    ledger = StageLedger(agent_dir)
    if fresh:
        ledger.clear()
    key = f"analyse:{name}"
    agent, data, probes = _agent_data_probes(
        config, agent_cfg, ledger, built=built, progress=progress, timing=timing, reused=reused
    )
    t0 = time.perf_counter()
    transport = probe_transport_stage(data, config.probe, seed=config.seed, out=agent_dir, probes=probes)
    by_regime = regime_probe_transport_stage(data, config.probe, seed=config.seed, out=agent_dir, probes=probes)
    timing[f"{name}.probe_s"] += time.perf_counter() - t0
    progress(key, "", 1, 2)

    t0 = time.perf_counter()
    train_shift = agent_cfg.train_shift if agent_cfg.trained else None
    analysis = verdict_stage(
        name, probes, config.test, seed=config.seed, train_shift=train_shift, transport=transport,
        regime_transport=by_regime,
    )  # fmt: skip
    timing[f"{name}.test_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    attribution, png = attribution_stage(agent, data, probes, config.probe, obs_space, channels, seed=config.seed)
    timing[f"{name}.attribution_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    steering, rates = steering_stage(
        agent, config.probe.steering, name=name, planted=agent_cfg.kind == "planted", env=config.env,
        env_kwargs=config.env_kwargs, seed=config.seed, out=agent_dir,
    )  # fmt: skip
    timing[f"{name}.steering_s"] = time.perf_counter() - t0
    result = analysis.result.with_sections(
        attribution=attribution,
        steering=steering,
        kind=agent_cfg.kind,
        planted_goal=agent_cfg.goal if agent_cfg.kind == "planted" else None,
    )
    analysis = dataclasses.replace(
        analysis, result=result, attribution_png=png, steering_rates=rates,
        learning_curve=getattr(agent, "learning_curve", None),
    )  # fmt: skip
    progress(key, "", 2, 2)
    return _AgentRun(analysis, timing, tuple(reused))


def default_workers(config: StudyConfig, threads: int = 1) -> int:
    """The agents `mesaprobe study` runs at once: one per agent, as many as the CPU has cores for `threads` threads
    each, when at least two agents train; else 1 (built agents finish in less time than a worker takes to start)."""
    if sum(agent_cfg.trained for agent_cfg in config.agents) < 2:
        return 1
    return max(1, min(len(config.agents), cpu_count() // max(1, threads)))


def _build(config: StudyConfig, agent_cfg: AgentConfig) -> training.Agent:
    """The agent `agent_cfg` describes that the study builds instead of training (planted, torch)."""
    return build_agent(agent_cfg, env=config.env, env_kwargs=config.env_kwargs, device=config.device, seed=config.seed)


def _training_steps(agent_cfg: AgentConfig) -> int:
    return agent_cfg.total_timesteps if agent_cfg.trained else 0


def _run_agent_task(task: tuple[StudyConfig, int, Path, bool, gymnasium.Space, tuple[str, ...]], progress) -> _AgentRun:
    """`_run_agent` in a worker process: the config's plugins loaded and its built agent built there."""
    config, index, out, fresh, obs_space, channels = task
    load_plugins(config.plugins)
    agent_cfg = config.agents[index]
    built = None if agent_cfg.trained else _build(config, agent_cfg)
    return _run_agent(
        config, agent_cfg, out, fresh=fresh, built=built, obs_space=obs_space, channels=channels, progress=progress
    )


def run_study(
    config: StudyConfig,
    out: str | os.PathLike[str],
    *,
    progress: ProgressFn | None = None,
    fresh: bool = False,
    workers: int = 1,
    threads: int | None = None,
) -> StudyResult:
    """Run every stage of `config` and write the study into directory `out`.

    Layout: `config.yaml`, `report.json`, `report.html`, `figures/*.png`, `timing.json` and per
    agent `agents/<name>/` (`policy.safetensors`, `agent.json`, `tensorboard/`, `rollouts/`,
    `episodes.parquet`, `probe_scores.parquet`, `stages.json`).

    A study run again into the same `out` (after a crash or a kill) reuses each agent's trained
    weights, rollouts and probes whose config is unchanged (`mesaprobe.resume`); `fresh=True` redoes everything.

    `workers > 1` runs that many agents at once, each in a spawned process with `threads` CPU threads
    (default: an equal share of this process's torch threads; `mesaprobe.workers`), with the same
    results as one after the other on as many threads. A worker knows the environments and agents
    that `config.plugins` registers, not ones registered only in this session (a notebook cell): run
    those with `workers=1`. `timing` keeps each stage's own seconds, so with workers its sum exceeds
    the wall time.
    """
    progress = progress or noop
    out = Path(out)
    check_workers(workers)
    load_plugins(config.plugins)
    # Fail fast, before minutes of training: a device this machine lacks, bad env id or kwargs, layer names that
    # do not exist, agents that fail check_agent.
    resolve_device(config.device)
    resolve_device(config.probe.device)
    probe_env = envs.make(config.env, **config.env_kwargs)
    obs_space, channels = probe_env.observation_space, getattr(probe_env.unwrapped, "channels", ())
    if config.probe.steering is not None:
        cells = cell_objects(probe_env.reset(seed=config.seed)[1].get("truth", {}))
        goal = config.probe.steering.goal
        if goal not in cells:
            probe_env.close()
            raise ConfigError(
                f"probe.steering.goal {goal!r} has no cell in {config.env}'s ground truth; objects with a cell: "
                f"{cells}.{suggest(goal, cells)}"
            )
    regimes = tuple(getattr(probe_env.unwrapped, "regimes", ()))
    probe_env.close()
    for name in config.collect.regimes or ():
        if name not in regimes:
            raise unknown_name(f"regime of {config.env} in collect.regimes", name, regimes or ("train",))
    built: dict[str, training.Agent] = {}
    steering = config.probe.steering
    for agent_cfg in config.agents:
        if agent_cfg.trained:
            untrained = training.make_agent(config.env, env_kwargs=config.env_kwargs, settings=agent_cfg.ppo_settings())
            resolve_modules(untrained, agent_cfg.layers_or(config.collect.layers))
        else:
            built[agent_cfg.name] = _build(config, agent_cfg)
        # A steering site the user named, or the default site of a PPO agent, must exist: a typo
        # should stop the study here, not skip a section after minutes of training.
        if steering is not None and (agent_cfg.trained or agent_cfg.name in steering.sites):
            site = steering.site_for(agent_cfg.name, agent_cfg.kind == "planted")
            resolve_modules(untrained if agent_cfg.trained else built[agent_cfg.name], [site])
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.yaml", dump_config(config))
    workers = min(workers, len(config.agents))
    if workers == 1:
        runs = [
            _run_agent(
                config,
                agent_cfg,
                out,
                fresh=fresh,
                built=built.get(agent_cfg.name),
                obs_space=obs_space,
                channels=channels,
                progress=progress,
            )  # fmt: skip
            for agent_cfg in config.agents
        ]
    else:
        # The longest training starts first, so the last agent to start is not the one everyone waits for.
        order = sorted(range(len(config.agents)), key=lambda i: -_training_steps(config.agents[i]))
        tasks = [(config, i, out, fresh, obs_space, tuple(channels)) for i in order]
        finished = run_in_processes(
            _run_agent_task, tasks, workers=workers, threads=threads, on_progress=lambda _task, *args: progress(*args)
        )
        runs = [run for _, run in sorted(zip(order, finished, strict=True), key=lambda pair: pair[0])]
    analyses = [run.analysis for run in runs]
    timing = {key: value for run in runs for key, value in run.timing.items()}
    reused = [stage for run in runs for stage in run.reused]

    report, paths = report_stage(
        out,
        analyses,
        study=config.name,
        env=config.env,
        seed=config.seed,
        config=config.to_dict(),
        mesa_threshold=config.test.mesa_threshold,
    )
    write_json_atomic(out / "timing.json", timing)
    return StudyResult(report=report, out=out, paths=paths, timing=timing, reused=tuple(reused))
