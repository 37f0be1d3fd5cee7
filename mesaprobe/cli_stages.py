"""The `mesaprobe` commands that run one stage of a study: train, collect, probe, test."""

from __future__ import annotations

import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core.errors import MesaprobeWarning
from mesaprobe.cli_progress import progress_bar, stage_progress
from mesaprobe.tables import print_summary


def cmd_train(args, console: Console) -> int:
    """`mesaprobe train`: train one PPO agent and save it."""
    from mesaprobe.config import AgentConfig
    from mesaprobe.stages import train_stage

    cfg = AgentConfig(name=args.name, train_shift=args.shift, total_timesteps=args.timesteps, seed=args.seed)
    with progress_bar(console) as bar:
        train_stage(
            cfg,
            env=args.env,
            env_kwargs={},
            seed=args.seed,
            device=args.device,
            out=Path(args.out),
            progress=stage_progress(bar, console),
        )
    console.print(f"Agent saved to {args.out} (policy.safetensors, agent.json)")
    return 0


def cmd_collect(args, console: Console) -> int:
    """`mesaprobe collect`: roll a saved agent out and write its rollout dataset."""
    from core.device import resolve_device
    from mesaprobe.config import CollectConfig
    from mesaprobe.stages import collect_stage
    from training import load_agent

    cfg = CollectConfig(
        shifts=tuple(args.shifts),
        n_episodes=args.n_episodes,
        layers=tuple(args.layers),
        n_envs=args.n_envs,
        regimes=None if args.regimes is None else tuple(args.regimes),
    )
    agent = load_agent(args.agent, device=resolve_device(args.device))
    with progress_bar(console) as bar:
        data = collect_stage(
            agent,
            cfg,
            env=agent.meta["env_id"],
            env_kwargs=agent.meta.get("env_kwargs", {}),
            seed=args.seed,
            name=agent.name,
            out=Path(args.out),
            progress=stage_progress(bar, console),
        )
    console.print(f"{data!r} saved to {args.out}")
    return 0


def cmd_probe(args, console: Console) -> int:
    """`mesaprobe probe`: fit the candidate probes on a rollout dataset."""
    from mesaprobe.config import ProbeConfig
    from mesaprobe.stages import probe_stage
    from probes import RolloutDataset

    cfg = ProbeConfig(kind=args.kind, alpha=args.alpha, n_folds=args.n_folds, device=args.device)
    probes = probe_stage(RolloutDataset.load(args.rollouts), cfg, seed=args.seed, out=Path(args.out))
    table = Table(title="probe scores (out-of-fold ROC AUC)")
    for col in ("candidate", "site", "score", "obs control"):
        table.add_column(col)
    for r in probes.scores.itertuples():
        table.add_row(r.candidate, r.site, f"{r.score:.3f}", f"{r.control_score:.3f}")
    console.print(table)
    console.print(f"Probes saved to {args.out} (episodes.parquet, probe_scores.parquet, probes.json)")
    return 0


def cmd_test(args, console: Console) -> int:
    """`mesaprobe test`: mesa condition, transport tests and verdict from saved probes."""
    from mesaprobe.config import TransportConfig
    from mesaprobe.report_stage import report_stage
    from mesaprobe.stages import verdict_stage
    from probes import CandidateProbes

    cfg = TransportConfig(
        method=args.method, device=args.device, alpha=args.alpha, margin=args.margin, mesa_threshold=args.mesa_threshold
    )
    probes = CandidateProbes.load(args.probes)
    name = str(probes.meta.get("run", "agent"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MesaprobeWarning)
        analysis = verdict_stage(name, probes, cfg, seed=args.seed)
    out = Path(args.out or args.probes)
    report, paths = report_stage(
        out,
        [analysis],
        study=name,
        env=str(probes.meta.get("env", "?")),
        seed=args.seed,
        mesa_threshold=cfg.mesa_threshold,
    )
    print_summary(console, report)
    console.print(f"Report: {paths['html']}  ·  {paths['json']}")
    return 0


__all__ = ["cmd_collect", "cmd_probe", "cmd_test", "cmd_train"]
