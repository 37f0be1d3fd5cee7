"""The `mesaprobe` command: demo, study, sweep and envs, and the parser of every subcommand (the stage commands
are in `mesaprobe.cli_stages`)."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from analysis.ci import CI_METHODS
from core.errors import ConfigError, MesaprobeError, MesaprobeWarning
from mesaprobe.cli_progress import progress_bar, stage_progress, staged_progress
from mesaprobe.cli_stages import cmd_collect, cmd_probe, cmd_test, cmd_train
from mesaprobe.tables import feasibility_table, impact_table, oracle_table, print_summary


def _run(config, out: Path, console: Console, *, fresh: bool = False, workers: int | None = None) -> int:
    import torch

    from mesaprobe.pipeline import default_workers, run_study

    if workers is None:
        workers = default_workers(config, threads=torch.get_num_threads())
    start = time.perf_counter()
    with progress_bar(console) as bar:
        progress = stage_progress(bar, console)

        with warnings.catch_warnings():
            # Statistical caveats are recorded in the report; keep the terminal readable.
            warnings.simplefilter("ignore", MesaprobeWarning)
            warnings.filterwarnings("ignore", module="stable_baselines3")
            warnings.filterwarnings("ignore", module="gymnasium")
            result = run_study(
                config, out, progress=progress, fresh=fresh, workers=workers, threads=torch.get_num_threads()
            )
    if result.reused:
        reused = ", ".join(result.reused)
        console.print(f"Reused from an earlier run (--fresh redoes them): {reused}", soft_wrap=True, highlight=False)
    print_summary(console, result.report)
    console.print(f"Report: {result.paths['html']}  ·  {result.paths['json']}  ({time.perf_counter() - start:.0f} s)")
    return 0


def _cmd_demo(args, console: Console) -> int:
    _check_out(args.out)
    from mesaprobe.config import demo_config

    return _run(demo_config(), Path(args.out), console, fresh=args.fresh, workers=args.workers)


FRESH_HELP = (
    "redo every stage; without it a run into the directory of an earlier (or killed) run of the same config reuses "
    "its trained agents, rollouts and probes"
)

WORKERS_HELP = (
    "agent studies: agents run at once, each in its own process with --threads threads (default: one per agent when at "
    "least two agents train, up to the CPU cores / --threads; else 1, since a worker takes seconds to start)"
)


def _check_out(out: str) -> None:
    """A run directory that is an existing file is refused before anything runs."""
    if Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory (new, or one of an earlier run to reuse).")


def _cmd_study(args, console: Console) -> int:
    _check_out(args.out)
    from mesaprobe.config import load_config
    from mesaprobe.feasibility_config import FeasibilityStudyConfig
    from mesaprobe.impact_config import ImpactStudyConfig
    from mesaprobe.oracle_config import OracleStudyConfig

    config = load_config(args.config)
    staged = (OracleStudyConfig, ImpactStudyConfig, FeasibilityStudyConfig)
    if args.workers is not None and isinstance(config, staged):
        raise ConfigError(
            f"--workers runs the agents of an agent study side by side; {args.config} is a kind: {config.kind} study. "
            "Drop --workers."
        )
    if isinstance(config, OracleStudyConfig):
        from mesaprobe.oracle_pipeline import run_oracle_study

        return _run_staged(config, Path(args.out), console, "oracle study", run_oracle_study, oracle_table)
    if isinstance(config, ImpactStudyConfig):
        from mesaprobe.impact_pipeline import run_impact_study

        return _run_staged(config, Path(args.out), console, "impact study", run_impact_study, impact_table)
    if isinstance(config, FeasibilityStudyConfig):
        from mesaprobe.feasibility_pipeline import run_feasibility_study

        return _run_staged(
            config, Path(args.out), console, "feasibility study", run_feasibility_study, feasibility_table
        )
    return _run(config, Path(args.out), console, fresh=args.fresh, workers=args.workers)


def _cmd_sweep(args, console: Console) -> int:
    from mesaprobe.sweep import run_sweep

    start = time.perf_counter()
    columns = (TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore", MesaprobeWarning)
        warnings.filterwarnings("ignore", module="stable_baselines3")
        task = bar.add_task("sweep cells", total=None)
        report, paths = run_sweep(
            args.config, Path(args.out), backend=args.backend, workers=args.workers, fresh=args.fresh,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    console.print(escape(report.reading()))
    console.print(f"Sweep: {paths['html']}  ·  {paths['parquet']}  ({time.perf_counter() - start:.0f} s)")
    return 0


def _run_staged(config, out: Path, console: Console, label: str, run, table) -> int:
    """An oracle, impact or feasibility study: its stages as they run, then its table."""
    start = time.perf_counter()
    with progress_bar(console) as bar, warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="stable_baselines3")
        warnings.simplefilter("ignore", MesaprobeWarning)
        result = run(config, out, progress=staged_progress(bar, console, label))
        for task in bar.tasks:  # the last stage ends with the study
            bar.update(task.id, total=task.total or 1, completed=task.total or 1)
    console.print(table(result.report))
    console.print(f"Report: {result.paths['html']}  ·  {result.paths['json']}  ({time.perf_counter() - start:.0f} s)")
    return 0


def _cmd_envs(args, console: Console) -> int:
    from envs import list_envs
    from mesaprobe.plugins import load_plugins

    load_plugins(args.plugin)
    table = Table(title="mesaprobe environments")
    table.add_column("id", no_wrap=True)
    for col in ("candidates", "regimes", "channels", "actions", "observation", "batched"):
        table.add_column(col)
    for row in list_envs():
        table.add_row(
            row["id"],
            ", ".join(row["candidates"]),
            ", ".join(row.get("regimes", ())),
            ", ".join(row["channels"]),
            ", ".join(row["actions"]),
            "×".join(map(str, row["observation_shape"])),
            "yes" if row["batched"] else "no",
        )
    console.print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `mesaprobe` command."""
    from mesaprobe.config import CollectConfig

    parser = argparse.ArgumentParser(prog="mesaprobe", description="Probe trained RL agents for mesa-optimization.")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads and DoWhy jobs (default 1: the small networks gain nothing from more, one thread "
        "cannot be slowed by oversubscription on a shared machine, and results match across machines)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the default CoinCorridor study on CPU (a few minutes)")
    demo.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    demo.add_argument("--fresh", action="store_true", help=FRESH_HELP)
    demo.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    demo.set_defaults(func=_cmd_demo)
    study = sub.add_parser("study", help="run a full study from a YAML config")
    study.add_argument("config", help="YAML study config (see mesaprobe/configs/demo.yaml)")
    study.add_argument("--out", required=True, help="output directory")
    study.add_argument("--fresh", action="store_true", help=FRESH_HELP)
    study.add_argument("--workers", type=int, default=None, help=WORKERS_HELP)
    study.set_defaults(func=_cmd_study)
    sw = sub.add_parser("sweep", help="run a study over a grid of config values and seeds (the config's sweep: block)")
    sw.add_argument("config", help="study YAML with a sweep: block (grid of dotted paths, repeats)")
    sw.add_argument("--out", default="runs/sweep", help="directory: cells/<cell>/ per study, sweep.{parquet,json,html}")
    sw.add_argument(
        "--backend", default="local", choices=["local", "ray"],
        help="local: cells in parallel processes; ray: Ray Tune trials (pip install 'mesaprobe[ray]'; a local Ray "
        "with --workers CPUs, or the cluster at RAY_ADDRESS)",
    )  # fmt: skip
    sw.add_argument("--workers", type=int, default=1, help="cells run at once (one torch thread each)")
    sw.add_argument("--fresh", action="store_true", help="rerun every cell instead of reusing finished ones")
    sw.set_defaults(func=_cmd_sweep)
    env_cmd = sub.add_parser("envs", help="list registered environments and their candidates")
    env_cmd.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE_OR_MODULE",
        help="import a plugin first (a .py file or module that registers environments); repeatable",
    )
    env_cmd.set_defaults(func=_cmd_envs)

    tr = sub.add_parser("train", help="stage 1: train one PPO agent and save it (safetensors)")
    tr.add_argument("--out", required=True, help="agent directory to write")
    tr.add_argument("--env", default="mesaprobe/CoinCorridor-v0", help="registered environment id")
    tr.add_argument("--shift", type=float, default=0.0, help="regime mixture during training (0..1)")
    tr.add_argument("--timesteps", type=int, default=40_000, help="PPO environment steps")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    tr.add_argument("--name", default="agent", help="agent name used in reports")
    tr.set_defaults(func=cmd_train)

    co = sub.add_parser("collect", help="stage 2: roll a saved agent out at several shifts, recording activations")
    co.add_argument("agent", help="agent directory written by `mesaprobe train`")
    co.add_argument("--out", required=True, help="rollout dataset directory to write")
    co.add_argument("--shifts", type=float, nargs="+", default=[0.0, 1.0])
    co.add_argument(
        "--regimes", nargs="+", default=None,
        help="named regimes to collect instead of --shifts, e.g. train anywhere more_walls (see `mesaprobe envs`)",
    )  # fmt: skip
    co.add_argument("--n-episodes", type=int, default=300, help="episodes per shift (or regime)")
    co.add_argument("--layers", nargs="+", default=list(CollectConfig.layers), help="dotted module names to record")
    co.add_argument("--n-envs", type=int, default=16)
    co.add_argument("--device", default="cpu", help="torch device of the agent's forward passes: cpu, cuda or auto")
    co.add_argument("--seed", type=int, default=0)
    co.set_defaults(func=cmd_collect)

    pr = sub.add_parser("probe", help="stage 3: fit candidate probes on a rollout dataset")
    pr.add_argument("rollouts", help="rollout dataset directory written by `mesaprobe collect`")
    pr.add_argument("--out", required=True, help="directory for episodes.parquet, probe_scores.parquet, probes.json")
    pr.add_argument("--kind", default="logistic", help="logistic or ridge")
    pr.add_argument("--alpha", type=float, default=1.0, help="L2 penalty")
    pr.add_argument("--n-folds", type=int, default=5)
    pr.add_argument(
        "--device",
        default="cpu",
        help="cpu (scikit-learn's solvers), or cuda / auto: the same objectives solved by torch",
    )
    pr.add_argument("--seed", type=int, default=0)
    pr.set_defaults(func=cmd_probe)

    te = sub.add_parser("test", help="stage 4: mesa condition, transport tests and verdict from saved probes")
    te.add_argument("probes", help="directory written by `mesaprobe probe`")
    te.add_argument("--out", help="report directory (default: the probes directory)")
    te.add_argument("--method", default="auto", help=f"CI test: {', '.join(CI_METHODS)}")
    te.add_argument("--device", default="auto", help="torch device of the own CI tests: cpu, cuda or auto")
    te.add_argument("--alpha", type=float, default=0.05)
    te.add_argument("--margin", type=float, default=0.1, help="equivalence margin on the return scale")
    te.add_argument("--mesa-threshold", type=float, default=0.7)
    te.add_argument("--seed", type=int, default=0)
    te.set_defaults(func=cmd_test)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the process exit code (errors print one line and return 2)."""
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] --threads must be >= 1, got {args.threads}.")
        return 2
    import torch

    torch.set_num_threads(args.threads)
    if args.command in ("demo", "study", "test", "sweep"):  # the commands whose reports run DoWhy
        import dowhy.gcm.config

        # DoWhy's own joblib workers took ~11 s to start on a 2-core machine, and their summation
        # order moved its bootstrap numbers in the 12th digit; its jobs follow --threads instead.
        dowhy.gcm.config.default_n_jobs = args.threads
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)  # logs and CI: wide enough for the summary table
    try:
        return args.func(args, console)
    except MesaprobeError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
