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

Torch runs `--threads` threads (default 1, as the CLI), and the agents run side by side as `mesaprobe demo`
runs them (`mesaprobe.pipeline.default_workers`; `--workers N` to choose). With `--threads N` other
than 1 the results go to `results/demo_walltime_threadsN.json`; with `--baseline`, to
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


def run(out: Path, workers: int | None) -> tuple[float, dict[str, float]]:
    """Run the demo study into `out` as `mesaprobe demo` does; return (total wall seconds, per-stage seconds)."""
    import dowhy.gcm.config

    import mesaprobe
    from mesaprobe.pipeline import default_workers

    dowhy.gcm.config.default_n_jobs = torch.get_num_threads()  # as `mesaprobe demo` sets it
    config = mesaprobe.demo_config()
    workers = workers or default_workers(config, threads=torch.get_num_threads())
    t0 = time.perf_counter()
    result = mesaprobe.run_study(config, out=out, workers=workers)
    return time.perf_counter() - t0, dict(result.timing)


def run_in_process(tree: Path, threads: int) -> tuple[float, dict[str, float]]:
    """The demo of the code in `tree`, in a fresh Python process (that tree's modules first on the path), with the
    agents `mesaprobe demo` runs at once in that tree (one at a time before `run_study` had `workers`)."""
    code = (
        "import inspect, json, sys, tempfile, time, pathlib, torch\n"
        f"torch.set_num_threads({threads})\n"
        "import dowhy.gcm.config\n"
        f"dowhy.gcm.config.default_n_jobs = {threads}\n"  # as `mesaprobe demo` sets it
        "import mesaprobe, mesaprobe.pipeline as p\n"
        "config = mesaprobe.demo_config()\n"
        "kw = {'workers': p.default_workers(config, threads=torch.get_num_threads())} "
        "if hasattr(p, 'default_workers') else {}\n"
        "if __name__ == '__main__':\n"
        "    with tempfile.TemporaryDirectory(prefix='mesaprobe-demo-') as tmp:\n"
        "        t0 = time.perf_counter()\n"
        "        r = mesaprobe.run_study(config, out=pathlib.Path(tmp), **kw)\n"
        "        print(json.dumps([time.perf_counter() - t0, dict(r.timing)]))\n"
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
    parser.add_argument("--threads", type=int, default=1, help="torch threads and DoWhy jobs (default 1, as the CLI)")
    parser.add_argument("--workers", type=int, default=None, help="agents at once (default: as `mesaprobe demo`)")
    parser.add_argument("--keep", type=Path, default=None, help="write the study here instead of a temp dir")
    parser.add_argument("--baseline", default=None, help="a git revision whose demo runs too, taking turns")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each with --baseline")
    args = parser.parse_args()
    if args.baseline:
        compare(args.baseline, args.repeats, args.threads)
        return
    torch.set_num_threads(args.threads)
    if args.keep is not None:
        total, timing = run(args.keep, args.workers)
    else:
        with tempfile.TemporaryDirectory(prefix="mesaprobe-demo-") as tmp:
            total, timing = run(Path(tmp), args.workers)
    staged = sum(timing.values())
    rows = [(k, f"{v:.1f}", f"{100 * v / total:.0f}%") for k, v in timing.items()]
    rows += [("sum of stages", f"{staged:.1f}", f"{100 * staged / total:.0f}%"), ("total wall", f"{total:.1f}", "100%")]
    print_table(
        f"demo study wall time (cpu_count={os.cpu_count()}, torch threads={torch.get_num_threads()}; agents run side "
        "by side, so the stages can add up to more than the wall time)",
        ["stage", "seconds", "share"],
        rows,
    )
    write_results(
        "demo_walltime" if args.threads == 1 else f"demo_walltime_threads{args.threads}",
        {
            "total_s": total,
            "timing_s": timing,
            "stages_s": staged,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
    )


if __name__ == "__main__":
    main()
