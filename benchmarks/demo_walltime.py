"""Wall time of the demo study: `mesaprobe.run_study(mesaprobe.demo_config())`, per stage, optionally against a baseline.

Runs the full default study (two PPO agents, collection, probes, transport tests, report) into a
temporary directory and prints the total wall seconds and the stage seconds from
`StudyResult.timing`, with `os.cpu_count()` and `torch.get_num_threads()`. Takes two to three
minutes on 2 cores.

With `--baseline REV` (a git revision), the demo of that revision (its own code and its own demo
config, checked out into a temporary worktree) runs too, each run in a fresh process, the two taking
turns `--repeats` times; the table gives the medians and the ratio, measured in one run on the same
machine (this CPU's speed drifts by ±30 % within minutes, so two separate runs do not compare).

    python benchmarks/demo_walltime.py [--threads N] [--keep DIR] [--baseline REV --repeats 2]

With `--threads N` the results go to `results/demo_walltime_threadsN.json`; with `--baseline`, to
`results/demo_walltime_vs_<REV>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import print_table, write_results

ROOT = Path(__file__).resolve().parents[1]


def run(out: Path) -> tuple[float, dict[str, float]]:
    """Run the demo study into `out`; return (total wall seconds, per-stage seconds)."""
    import dowhy.gcm.config

    import mesaprobe

    dowhy.gcm.config.default_n_jobs = 1  # as `mesaprobe demo` sets it (DoWhy's own workers take ~11 s to start)
    t0 = time.perf_counter()
    result = mesaprobe.run_study(mesaprobe.demo_config(), out=out)
    return time.perf_counter() - t0, dict(result.timing)


def run_in_process(tree: Path, threads: int | None) -> tuple[float, dict[str, float]]:
    """The demo of the code in `tree`, in a fresh Python process (that tree's modules first on the path)."""
    code = (
        "import json, sys, tempfile, time, pathlib, torch\n"
        f"{'' if not threads else f'torch.set_num_threads({threads})'}\n"
        "import dowhy.gcm.config\n"
        "dowhy.gcm.config.default_n_jobs = 1\n"  # as `mesaprobe demo` sets it
        "import mesaprobe\n"
        "with tempfile.TemporaryDirectory(prefix='mesaprobe-demo-') as tmp:\n"
        "    t0 = time.perf_counter()\n"
        "    r = mesaprobe.run_study(mesaprobe.demo_config(), out=pathlib.Path(tmp))\n"
        "    print(json.dumps([time.perf_counter() - t0, dict(r.timing)]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, check=True)
    total, timing = json.loads(out.stdout.strip().splitlines()[-1])
    return total, timing


def compare(baseline: str, repeats: int, threads: int | None) -> None:
    """This tree's demo against `baseline`'s, taking turns; prints and writes medians and their ratio."""
    rev = subprocess.run(["git", "rev-parse", "--short", baseline], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mesaprobe-baseline-") as tmp:
        tree = Path(tmp) / rev
        subprocess.run(["git", "worktree", "add", "--detach", "-f", str(tree), rev], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        try:
            runs: dict[str, list] = {"baseline": [], "this tree": []}
            for _ in range(repeats):
                runs["baseline"].append(run_in_process(tree, threads))
                runs["this tree"].append(run_in_process(ROOT, threads))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)

    def median(xs: list[float]) -> float:
        xs = sorted(xs)
        return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2

    summary = {}
    for name, rs in runs.items():
        stages: dict[str, list[float]] = {}  # train_s, collect_s, ... of both agents, per run
        for i, (_, timing) in enumerate(rs):
            for k, v in timing.items():
                stages.setdefault(k.split(".", 1)[1], [0.0] * len(rs))[i] += v
        summary[name] = {"total_s": [t for t, _ in rs], "median_total_s": median([t for t, _ in rs]),
                         "median_stage_s": {k: median(v) for k, v in stages.items()}}  # fmt: skip
    ratio = summary["this tree"]["median_total_s"] / summary["baseline"]["median_total_s"]
    stages = list(summary["this tree"]["median_stage_s"])
    rows = [
        (stage, f"{summary['baseline']['median_stage_s'].get(stage, float('nan')):.1f}",
         f"{summary['this tree']['median_stage_s'][stage]:.1f}")
        for stage in stages
    ]  # fmt: skip
    rows.append(("total wall", f"{summary['baseline']['median_total_s']:.1f}",
                 f"{summary['this tree']['median_total_s']:.1f}"))  # fmt: skip
    print_table(
        f"demo wall time, median of {repeats} (both agents per stage; torch threads {threads or 'default'}): "
        f"{rev} vs this tree = {ratio:.2f}",
        ["stage", f"baseline {rev} (s)", "this tree (s)"],
        rows,
    )
    write_results(f"demo_walltime_vs_{rev}", {"baseline": rev, "repeats": repeats, "threads": threads,
                                               "runs": summary, "ratio": ratio})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--keep", type=Path, default=None, help="write the study here instead of a temp dir")
    parser.add_argument("--baseline", default=None, help="a git revision whose demo runs too, taking turns")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each with --baseline")
    args = parser.parse_args()
    if args.baseline:
        compare(args.baseline, args.repeats, args.threads)
        return
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
