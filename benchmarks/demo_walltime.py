"""Wall time of the demo study: `mesaprobe.run_study(mesaprobe.demo_config())`, once, per stage.

Runs the full default study (two PPO agents, collection, probes, transport tests, report) into a
temporary directory and prints the total wall seconds and the stage seconds from
`StudyResult.timing`, with `os.cpu_count()` and `torch.get_num_threads()`. Takes about two minutes
on 2 cores.

    python benchmarks/demo_walltime.py [--threads N] [--keep DIR]

With `--threads N` the results go to `results/demo_walltime_threadsN.json`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from _common import print_table, write_results

import mesaprobe


def run(out: Path) -> tuple[float, dict[str, float]]:
    """Run the demo study into `out`; return (total wall seconds, per-stage seconds)."""
    t0 = time.perf_counter()
    result = mesaprobe.run_study(mesaprobe.demo_config(), out=out)
    return time.perf_counter() - t0, dict(result.timing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--keep", type=Path, default=None, help="write the study here instead of a temp dir")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.keep is not None:
        total, timing = run(args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="mesaprobe-demo-") as tmp:
            total, timing = run(Path(tmp))
    staged = sum(timing.values())
    rows = [(k, f"{v:.1f}", f"{100 * v / total:.0f}%") for k, v in timing.items()]
    rows += [
        ("(not in timing)", f"{total - staged:.1f}", f"{100 * (total - staged) / total:.0f}%"),
        ("total wall", f"{total:.1f}", "100%"),
    ]
    print_table(
        f"demo study wall time (cpu_count={os.cpu_count()}, torch threads={torch.get_num_threads()})",
        ["stage", "seconds", "share"],
        rows,
    )
    write_results(
        "demo_walltime" if not args.threads else f"demo_walltime_threads{args.threads}",
        {
            "total_s": total,
            "timing_s": timing,
            "untimed_s": total - staged,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
    )


if __name__ == "__main__":
    main()
