"""The CLI's rich progress bars: one bar per stage of a study, one log line per stage off a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def progress_bar(console: Console):
    columns = (TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())  # fmt: skip
    return Progress(*columns, console=console, transient=False, disable=not console.is_terminal)


def stage_progress(bar: Progress, console: Console | None = None):
    """A pipeline progress function drawing one bar per stage (one log line per stage off a terminal)."""
    tasks: dict[str, int] = {}

    def progress(key: str, description: str, completed: float, total: float) -> None:
        if key not in tasks:
            tasks[key] = bar.add_task(description or key, total=total)
            if console is not None and not console.is_terminal:
                console.print(f"· {description or key}")
        bar.update(tasks[key], completed=completed)

    return progress


def staged_progress(bar: Progress, console: Console, label: str):
    """A staged study's `progress(stage, done=None, total=None)`: one bar per stage, with an ETA where the stage
    counts its steps; a stage is complete when the next one starts (one log line per stage off a terminal)."""
    tasks: dict[str, int] = {}
    totals: dict[str, float] = {}

    def progress(stage: str, done: int | None = None, total: int | None = None) -> None:
        if stage not in tasks:
            for before, task in tasks.items():
                bar.update(task, total=totals.get(before, 1), completed=totals.get(before, 1))
            tasks[stage] = bar.add_task(f"{label}: {stage}", total=total)
            if not console.is_terminal:
                console.print(f"· {label}: {stage}")
        if total is not None:
            totals[stage] = total
            bar.update(tasks[stage], total=total, completed=done or 0)

    return progress


__all__ = ["progress_bar", "stage_progress", "staged_progress"]
