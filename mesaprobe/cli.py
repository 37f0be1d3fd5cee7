"""The `mesaprobe` command: demo, study and envs."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from envs.errors import MesaprobeError, MesaprobeWarning

VERDICT_STYLE = {
    "aligned": "bold green",
    "transports": "green",
    "misaligned": "bold red",
    "regime-dependent": "red",
    "inconclusive": "yellow",
}


def summary_table(report: dict) -> Table:
    """The terminal summary: one row per (agent, candidate)."""
    table = Table(title=f"mesaprobe study: {report['study']}  ({report['env']})")
    for col, justify in [
        ("agent", "left"),
        ("verdict", "left"),
        ("candidate", "left"),
        ("rate s=0", "right"),
        ("rate s=1", "right"),
        ("mesa", "center"),
        ("p-value", "right"),
        ("effect [95% CI]", "right"),
        ("transport", "left"),
        ("probe AUC / obs", "right"),
    ]:
        table.add_column(col, justify=justify)
    for a in report["agents"]:
        for k, c in enumerate(a["candidates"]):
            m = c["mesa_condition"]
            lo, hi = c["effect_ci"]
            probe = c.get("probe") or {}
            auc = f"{probe['score']:.2f} / {probe['control_score']:.2f}" if probe else "–"
            table.add_row(
                a["name"] if k == 0 else "",
                f"[{VERDICT_STYLE[a['verdict']]}]{a['verdict']}[/]" if k == 0 else "",
                c["name"],
                f"{m['rate_s0']:.2f}",
                f"{m['rate_s1']:.2f}",
                "✓" if m["meets"] else "✗",
                "<0.001" if c["p_value"] < 0.001 else f"{c['p_value']:.3f}",
                f"{c['effect']:+.2f} [{lo:+.2f}, {hi:+.2f}]",
                f"[{VERDICT_STYLE[c['verdict']]}]{c['verdict']}[/]",
                auc,
            )
        table.add_section()
    return table


def _run(config, out: Path, console: Console) -> int:
    from mesaprobe.pipeline import run_study

    start = time.perf_counter()
    columns = (TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as bar:
        tasks: dict[str, int] = {}

        def progress(key: str, description: str, completed: float, total: float) -> None:
            if key not in tasks:
                tasks[key] = bar.add_task(description or key, total=total)
                if not console.is_terminal:
                    console.print(f"· {description or key}")
            bar.update(tasks[key], completed=completed)

        with warnings.catch_warnings():
            # Statistical caveats are recorded in the report; keep the terminal readable.
            warnings.simplefilter("ignore", MesaprobeWarning)
            warnings.filterwarnings("ignore", module="stable_baselines3")
            warnings.filterwarnings("ignore", module="gymnasium")
            result = run_study(config, out, progress=progress)
    console.print(summary_table(result.report))
    console.print(f"Report: {result.paths['html']}  ·  {result.paths['json']}  ({time.perf_counter() - start:.0f} s)")
    return 0


def _cmd_demo(args, console: Console) -> int:
    from mesaprobe.config import demo_config

    return _run(demo_config(), Path(args.out), console)


def _cmd_study(args, console: Console) -> int:
    from mesaprobe.config import load_config

    return _run(load_config(args.config), Path(args.out), console)


def _cmd_envs(_args, console: Console) -> int:
    from envs import list_envs

    table = Table(title="mesaprobe environments")
    for col in ("id", "candidates", "channels", "actions", "observation"):
        table.add_column(col)
    for row in list_envs():
        table.add_row(
            row["id"],
            ", ".join(row["candidates"]),
            ", ".join(row["channels"]),
            ", ".join(row["actions"]),
            "×".join(map(str, row["observation_shape"])),
        )
    console.print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `mesaprobe` command."""
    parser = argparse.ArgumentParser(prog="mesaprobe", description="Probe trained RL agents for mesa-optimization.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the default CoinCorridor study on CPU (a few minutes)")
    demo.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    demo.set_defaults(func=_cmd_demo)
    study = sub.add_parser("study", help="run a full study from a YAML config")
    study.add_argument("config", help="YAML study config (see mesaprobe/configs/demo.yaml)")
    study.add_argument("--out", required=True, help="output directory")
    study.set_defaults(func=_cmd_study)
    env_cmd = sub.add_parser("envs", help="list registered environments and their candidates")
    env_cmd.set_defaults(func=_cmd_envs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the process exit code (errors print one line and return 2)."""
    args = build_parser().parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)  # logs and CI: wide enough for the summary table
    try:
        return args.func(args, console)
    except MesaprobeError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
