"""Peak memory of a collection: streamed to disk (`collect(..., out=)`) against held in memory, at 10⁵ and 10⁶ steps.

Each measurement runs in a fresh process (peak RSS is a process's high-water mark) that builds an
untrained PPO agent whose `features_extractor.fc` is 256 wide and collects CoinCorridor episodes
(random-ish policy, batched environments, no observation site) until about `steps` steps, with
that 256-wide site recorded. Reported per run: steps, wall seconds, steps/s, the process's RSS
before collecting (torch, Stable-Baselines3 and pandas loaded, agent built), its peak while
collecting (streamed: up to the moment `collect` reads the written dataset back), its peak with the
returned dataset's table loaded, and the bytes of the activations and of the table. Streaming keeps
the collecting peak flat (target: within 20 % from 10⁵ to 10⁶ steps) while the activations grow to
1 GB on disk (10⁶ × 256 float32); the table, one row per step, is what the returned dataset holds in
memory (about 150 bytes a row).

    python benchmarks/collect_memory.py [--steps 100000 1000000] [--in-memory-up-to 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import print_table, write_results

STEPS_PER_EPISODE = 72
"""About how many steps an untrained agent's CoinCorridor episode lasts (measured: 70-75)."""


def child(steps: int, streamed: bool) -> dict:
    """Collect about `steps` steps in this process; return the measurements."""
    import numpy as np
    import torch

    from probes import RolloutDataset, collect
    from training.train import PPOSettings, make_agent

    torch.set_num_threads(1)
    # The peak before `collect(out=)` reads its dataset back: the collection's own memory, apart from the table
    # that the returned dataset holds (one row per step, in memory by design).
    load, marks = RolloutDataset.load.__func__, {}

    def marked_load(cls, path, **kwargs):
        marks["collect_peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return load(cls, path, **kwargs)

    RolloutDataset.load = classmethod(marked_load)
    agent = make_agent("mesaprobe/CoinCorridor-v0", settings=PPOSettings(features_dim=256))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with tempfile.TemporaryDirectory(prefix="mesaprobe-mem-") as tmp:
        t0 = time.perf_counter()
        data = collect(
            agent, "mesaprobe/CoinCorridor-v0", shift=0.5, n_episodes=max(1, steps // STEPS_PER_EPISODE),
            layers=["features_extractor.fc"], store_obs=False, n_envs=64, out=Path(tmp) / "ds" if streamed else None,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        fc = data.site("features_extractor.fc")
        checksum = float(np.asarray(fc[-1000:], dtype=np.float64).sum())  # read through the map: the data is there
        return {
            "steps": len(data),
            "seconds": seconds,
            "steps_per_s": len(data) / seconds,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "collect_peak_rss_bytes": marks.get("collect_peak"),
            "table_bytes": int(data.table.memory_usage(deep=True).sum()),
            "rss_before_bytes": before,
            "activation_bytes": int(fc.nbytes),
            "memmap": type(fc).__name__,
            "checksum_last_rows": checksum,
        }


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--in-memory-up-to", type=int, default=1_000_000, help="skip in-memory runs above this")
    parser.add_argument("--child", nargs=2, metavar=("STEPS", "STREAMED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1] == "1")))
        return

    results, rows = [], []
    for steps in args.steps:
        for streamed in (True, False):
            if not streamed and steps > args.in_memory_up_to:
                continue
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(steps), "1" if streamed else "0"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1]) | {"target_steps": steps, "streamed": streamed}
            results.append(r)
            rows.append((f"{r['steps']:,}", "streamed (out=)" if streamed else "in memory", f"{r['seconds']:.0f}",
                         f"{r['steps_per_s']:,.0f}", *(_mib(r[k]) for k in ("rss_before_bytes",
                         "collect_peak_rss_bytes", "peak_rss_bytes", "activation_bytes", "table_bytes"))))  # fmt: skip
    streamed = [r for r in results if r["streamed"]]
    growth = {
        key: streamed[-1][key] / streamed[0][key] - 1 if len(streamed) > 1 else float("nan")
        for key in ("collect_peak_rss_bytes", "peak_rss_bytes")
    }
    print_table(
        "collect: peak memory (fresh process per row; 256-wide site, no observations)",
        ["steps", "mode", "seconds", "steps/s", "RSS before MiB", "peak collecting MiB", "peak with table MiB",
         "activations MiB", "table MiB"],
        rows,
        left=2,
    )  # fmt: skip
    print(
        f"streamed, from {streamed[0]['steps']:,} to {streamed[-1]['steps']:,} steps: peak RSS while collecting "
        f"{growth['collect_peak_rss_bytes']:+.1%} (target: within 20 %), with the returned table loaded "
        f"{growth['peak_rss_bytes']:+.1%}"
    )
    write_results("collect_memory", {"settings": vars(args), "runs": results, "streamed_peak_growth": growth})


if __name__ == "__main__":
    main()
