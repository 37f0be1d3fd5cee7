"""Shared helpers for the benchmarks: interleaved repeated timing, machine info, a table and a JSON writer.

The CPU these run on is small and shared, so every benchmark times its variants side by side
(round-robin, one repeat of each in turn) several times and reports the median and the best.
Compare the *ratios* between variants of one run, not absolute numbers across machines.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TORCH_DEFAULT_THREADS = torch.get_num_threads()  # before any benchmark changes it


def time_interleaved(fns: dict[str, Callable[[], Any]], *, repeats: int = 5, warmup: int = 1) -> dict[str, list[float]]:
    """Wall seconds of each call of each `fn`, `repeats` times, the variants taking turns."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def summarize(seconds: Sequence[float], work: float = 1.0) -> dict[str, Any]:
    """Median/best seconds of the repeats and the matching rates for `work` units per repeat."""
    med, best = statistics.median(seconds), min(seconds)
    return {
        "median_s": med,
        "best_s": best,
        "median_per_s": work / med,
        "best_per_s": work / best,
        "runs_s": list(seconds),
    }


def _git_state() -> str:
    """`<short commit>` plus `+dirty` when tracked files differ from it (the numbers depend on the code)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=root, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if head.returncode == 0 else "unknown"


def machine() -> dict[str, Any]:
    """Where, when and on which code the numbers were taken."""
    return {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "git": _git_state(),
        "cpu_count": os.cpu_count(),
        "torch_default_threads": TORCH_DEFAULT_THREADS,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "loadavg_1_5_15": list(os.getloadavg()),  # other work on the machine while these numbers were taken
    }


def default_threads() -> list[int]:
    """torch's default intra-op thread count, then 1 (deduplicated): the two settings worth comparing."""
    return list(dict.fromkeys([TORCH_DEFAULT_THREADS, 1]))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, left: int = 1) -> None:
    """Print `rows` as a rich table, the first `left` columns left-aligned and the rest right-aligned."""
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i < left else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    Console(width=max(120, Console().width)).print(table)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write `payload` plus machine info to `benchmarks/results/<name>.json` and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **payload}, indent=2) + "\n")
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return path
