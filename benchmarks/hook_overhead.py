"""Hook overhead: `SB3Agent.act` plain vs inside `probes.capture` vs a bare `agent.policy` forward.

An untrained agent (`training.make_agent()`) acts on batches of 1, 16 and 256 real CoinCorridor
observations. Variants, timed side by side:

* `policy forward`: `agent.policy(obs_tensor)` under `torch.no_grad()` (SB3's own forward, tensor in);
* `act`: `agent.act(obs, rng=rng)` (numpy in, numpy actions out);
* `act + capture`: the same inside `probes.capture(agent, LAYERS)`, popping the cache after every
  call as `probes.collect` does.

Each batch size is measured at torch's default thread count and at 1 thread (`--threads`): on a
small shared CPU, torch's intra-op threads wait on each other when another process holds a core,
which can make a tiny forward pass tens of times slower.

    python benchmarks/hook_overhead.py [--batches 1 16 256] [--threads 2 1] [--seconds 0.4] [--repeats 7]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from _common import default_threads, print_table, summarize, time_interleaved, write_results

import envs
import probes
import training

LAYERS = ["features_extractor.fc", "mlp_extractor.policy_net", "value_net"]


def observations(n: int) -> np.ndarray:
    """`n` first observations of CoinCorridor episodes (seeds 0..n-1, both regimes)."""
    env = envs.make("mesaprobe/CoinCorridor-v0", shift=0.5)
    obs = np.stack([env.reset(seed=i)[0] for i in range(n)])
    env.close()
    return obs


def variants(agent: training.SB3Agent, obs: np.ndarray, n_calls: int) -> dict[str, Callable[[], None]]:
    """The three timed closures, each making `n_calls` calls on the batch `obs`."""
    obs_t = torch.as_tensor(obs)
    rng = np.random.default_rng(0)

    def forward() -> None:
        with torch.no_grad():
            for _ in range(n_calls):
                agent.policy(obs_t)

    def act() -> None:
        for _ in range(n_calls):
            agent.act(obs, rng=rng)

    def act_capture() -> None:
        with probes.capture(agent, LAYERS) as cache:
            for _ in range(n_calls):
                agent.act(obs, rng=rng)
                cache.pop()

    return {"policy forward": forward, "act": act, "act + capture": act_capture}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--threads", type=int, nargs="+", default=default_threads(), help="torch thread counts")
    parser.add_argument("--seconds", type=float, default=0.4, help="target seconds per timed repeat")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    agent = training.make_agent()
    agent.policy.set_training_mode(False)
    all_obs = observations(max(args.batches))
    results, rows = {}, []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for b in args.batches:
            obs = all_obs[:b]
            for _ in range(5):  # warm up, then size the loop so one repeat takes about --seconds
                agent.act(obs)
            t0 = time.perf_counter()
            agent.act(obs)
            n_calls = max(10, int(args.seconds / (time.perf_counter() - t0)))
            times = time_interleaved(variants(agent, obs, n_calls), repeats=args.repeats)
            stats = {k: summarize(v, n_calls) for k, v in times.items()}
            us = {k: 1e6 * s["median_s"] / n_calls for k, s in stats.items()}
            ratios = {
                "capture/plain": us["act + capture"] / us["act"],
                "capture/plain (best of repeats)": stats["act + capture"]["best_s"] / stats["act"]["best_s"],
                "plain/forward": us["act"] / us["policy forward"],
                "capture/forward": us["act + capture"] / us["policy forward"],
            }
            results[f"threads={threads},batch={b}"] = {
                "threads": threads,
                "batch": b,
                "n_calls": n_calls,
                "us_per_call_median": us,
                "stats": stats,
                "ratios": ratios,
            }
            rows.append(
                (
                    threads,
                    b,
                    n_calls,
                    f"{us['policy forward']:.0f}",
                    f"{us['act']:.0f}",
                    f"{us['act + capture']:.0f}",
                    f"{us['act + capture'] - us['act']:+.0f}",
                    f"{ratios['capture/plain']:.2f}",
                    f"{ratios['capture/plain (best of repeats)']:.2f}",
                    f"{ratios['plain/forward']:.2f}",
                )
            )
    print_table(
        f"µs per call (median of {args.repeats}); capture on {', '.join(LAYERS)}",
        [
            "threads",
            "batch",
            "calls",
            "forward µs",
            "act µs",
            "act+capture µs",
            "Δ µs",
            "capture/plain",
            "(best)",
            "act/forward",
        ],
        rows,
        left=2,
    )
    write_results("hook_overhead", {"settings": vars(args), "layers": LAYERS, "results": results})


if __name__ == "__main__":
    main()
