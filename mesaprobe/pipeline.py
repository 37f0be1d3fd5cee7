"""Wire the stages of a study: train -> collect -> probe -> test -> report."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import envs
import training
from analysis import figures
from analysis.report import write_report
from analysis.study import analyse_agent, behaviour_by_regime
from envs.io import write_json_atomic, write_text_atomic
from mesaprobe.config import StudyConfig, dump_config
from probes import collect, probe_candidates, resolve_modules

# progress(stage_key, description, completed, total)
ProgressFn = Callable[[str, str, float, float], None]


@dataclass
class StudyResult:
    """What a study produced: the report dict, where it was written and how long each stage took."""

    report: dict[str, Any]
    out: Path
    paths: dict[str, Path]
    timing: dict[str, float] = field(default_factory=dict)


def _noop(*_args) -> None:
    return None


def run_study(config: StudyConfig, out: str | os.PathLike[str], *, progress: ProgressFn | None = None) -> StudyResult:
    """Run every stage of `config` and write the study into directory `out`.

    Layout: `config.yaml`, `report.json`, `report.html`, `figures/*.png`, `timing.json` and per
    agent `agents/<name>/` (`policy.safetensors`, `agent.json`, `rollouts/`, `episodes.parquet`,
    `probe_scores.parquet`).
    """
    progress = progress or _noop
    out = Path(out)
    # Fail fast, before minutes of training: bad env id or kwargs, layer names that do not exist.
    envs.make(config.env, **config.env_kwargs).close()
    resolve_modules(training.make_agent(config.env, env_kwargs=config.env_kwargs), config.collect.layers)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.yaml", dump_config(config))
    timing: dict[str, float] = {}
    agents, behaviour, scores, panels = [], {}, {}, []
    for agent_cfg in config.agents:
        name = agent_cfg.name
        agent_dir = out / "agents" / name
        seed = config.seed if agent_cfg.seed is None else agent_cfg.seed

        t0 = time.perf_counter()
        key = f"train:{name}"
        progress(key, f"train {name} (shift {agent_cfg.train_shift:g})", 0, agent_cfg.total_timesteps)
        agent = training.train(
            config.env,
            shift=agent_cfg.train_shift,
            total_timesteps=agent_cfg.total_timesteps,
            seed=seed,
            env_kwargs=config.env_kwargs,
            device=config.device,
            out=agent_dir,
            name=name,
            progress=lambda n, _r, key=key, total=agent_cfg.total_timesteps: progress(key, "", min(n, total), total),
        )
        progress(key, "", agent_cfg.total_timesteps, agent_cfg.total_timesteps)
        timing[f"{name}.train_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        key = f"collect:{name}"
        total = config.collect.n_episodes * len(config.collect.shifts)
        progress(key, f"collect {name}", 0, total)
        data = collect(
            agent,
            config.env,
            shift=list(config.collect.shifts),
            n_episodes=config.collect.n_episodes,
            layers=config.collect.layers,
            seed=config.seed,
            n_envs=config.collect.n_envs,
            run=name,
            env_kwargs=config.env_kwargs,
            progress=lambda n, key=key, total=total: progress(key, "", n, total),
        )
        data.save(agent_dir / "rollouts")
        timing[f"{name}.collect_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        key = f"analyse:{name}"
        progress(key, f"probe + test {name}", 0, 2)
        probes = probe_candidates(
            data, kind=config.probe.kind, alpha=config.probe.alpha, n_folds=config.probe.n_folds, seed=config.seed
        )
        timing[f"{name}.probe_s"] = time.perf_counter() - t0
        progress(key, "", 1, 2)
        t0 = time.perf_counter()
        candidates = data.candidates
        entry = analyse_agent(
            name,
            probes.y_m,
            candidates,
            probe_scores=probes.scores,
            best_site=probes.best_site,
            method=config.test.method,
            alpha=config.test.alpha,
            margin=config.test.margin,
            mesa_threshold=config.test.mesa_threshold,
            seed=config.seed,
        )
        entry = {"name": name, "train_shift": agent_cfg.train_shift, **{k: v for k, v in entry.items() if k != "name"}}
        entry["probes"] = probes.scores.to_dict(orient="records")
        agents.append(entry)
        probes.y_m.to_parquet(agent_dir / "episodes.parquet", index=False)
        probes.scores.to_parquet(agent_dir / "probe_scores.parquet", index=False)
        timing[f"{name}.test_s"] = time.perf_counter() - t0
        progress(key, "", 2, 2)

        behaviour[name] = behaviour_by_regime(probes.y_m, candidates)
        scores[name] = probes.scores
        for cand in candidates:
            frame = pd.DataFrame({"y_m": probes.y_m[f"ym_{cand}"], "y_b": probes.y_m["return"], "s": probes.y_m["s"]})
            verdict = next(c["verdict"] for c in entry["candidates"] if c["name"] == cand)
            panels.append((f"{name}: {cand} ({verdict})", frame))

    report = {
        "format": "mesaprobe-report/1",
        "study": config.name,
        "env": config.env,
        "seed": config.seed,
        "config": config.to_dict(),
        "agents": agents,
    }
    figs = {
        "achievement": (
            figures.achievement_figure(behaviour),
            "Reading: a candidate that is the agent's objective is achieved at a high rate in both regimes; "
            "a gap between the bars of one candidate means the agent's behaviour does not carry it into deployment.",
        ),
        "ym_vs_yb": (
            figures.ym_yb_figure(panels, seed=config.seed),
            "Reading: if the two regimes' binned means lie on one curve, Y_b depends on s only through Y_m "
            "(transports); separated curves at the same Y_m mean the regime matters beyond the candidate.",
        ),
        "probe_scores": (
            figures.probe_scores_figure(scores),
            "Reading: a probe earns trust when it beats the raw-observation control (grey); AUC 0.5 is chance.",
        ),
    }
    paths = write_report(out, report, figs)
    write_json_atomic(out / "timing.json", timing)
    return StudyResult(report=report, out=out, paths=paths, timing=timing)
