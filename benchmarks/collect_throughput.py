"""Collection throughput: `probes.collect` vs a plain single-env rollout loop of the same agent.

An untrained agent (`training.make_agent()`) is rolled out on `mesaprobe/CoinCorridor-v0` at
shifts 0 and 1, `--episodes` episodes each, with the episode seeds `probes.collect` uses. Variants,
timed side by side:

* `collect`: `probes.collect(agent, ENV, shift=[0.0, 1.0], n_episodes=N, layers=LAYERS)` (16 envs
  batched per `act`, hooks, per-step rows, obs stored, the pandas table built);
* `collect (no layers, no obs)`: the same with `layers=()` and `store_obs=False`;
* `plain loop`: one env at a time, `env.step(agent.act(obs[None])[0])`, no hooks, no dataset;
* with CUDA present, `collect (cuda, N envs)`: `collect` with the agent on the GPU and 16 or 256
  batched environments (the device's name goes into the results).

Step counts differ a little between variants (actions come from differently ordered draws), so
compare steps/second. torch runs on 1 thread by default (`--threads 2 1` to compare): with
torch's default of 2 threads on a 2-core machine that something else is also using, the
single-observation `act` of the plain loop gets about 50x slower (see `hook_overhead.py`) and one
repeat takes minutes.

    python benchmarks/collect_throughput.py [--episodes 200] [--threads 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from _common import print_table, summarize, time_interleaved, write_results

import envs
import probes
import training

ENV = "mesaprobe/CoinCorridor-v0"
SHIFTS = [0.0, 1.0]
LAYERS = ["features_extractor.fc", "mlp_extractor.policy_net", "value_net"]


def plain_rollout(agent: training.SB3Agent, n_episodes: int, seed: int = 0) -> int:
    """Roll out `n_episodes` per shift one env at a time; return the number of steps taken."""
    rng, steps = np.random.default_rng([seed, 1]), 0
    for k, shift in enumerate(SHIFTS):
        env = envs.make(ENV, shift=shift)
        for ep_seed in np.random.SeedSequence(seed * 1000 + k).generate_state(n_episodes, dtype=np.uint32):
            obs, _ = env.reset(seed=int(ep_seed))
            done = False
            while not done:
                obs, _, terminated, truncated, _ = env.step(agent.act(obs[None], rng=rng)[0])
                done, steps = terminated or truncated, steps + 1
        env.close()
    return steps


def variants(agent: training.SB3Agent, n_episodes: int, steps: dict[str, int]) -> dict[str, Callable[[], None]]:
    """The timed closures; each records its step count in `steps`."""

    def run_collect(name: str, **kwargs) -> Callable[[], None]:
        def run() -> None:
            steps[name] = len(probes.collect(agent, ENV, shift=SHIFTS, n_episodes=n_episodes, **kwargs).table)

        return run

    def plain() -> None:
        steps["plain loop"] = plain_rollout(agent, n_episodes)

    out = {
        "collect": run_collect("collect", layers=LAYERS),
        "collect (no layers, no obs)": run_collect("collect (no layers, no obs)", layers=(), store_obs=False),
        "plain loop": plain,
    }
    if torch.cuda.is_available():  # the same collection with the agent on the GPU, 16 and 256 batched envs
        gpu = training.make_agent(device="cuda")
        for n in (16, 256):

            def run(n: int = n, name: str = f"collect (cuda, {n} envs)") -> None:
                table = probes.collect(gpu, ENV, shift=SHIFTS, n_episodes=n_episodes, layers=LAYERS, n_envs=n).table
                steps[name] = len(table)

            out[f"collect (cuda, {n} envs)"] = run
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200, help="episodes per shift")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="torch thread counts")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    agent = training.make_agent()
    results, rows = {}, []
    for threads in args.threads:
        torch.set_num_threads(threads)
        steps: dict[str, int] = {}
        for fn in variants(agent, 2, {}).values():  # cheap warm-up (imports, first forward passes)
            fn()
        times = time_interleaved(variants(agent, args.episodes, steps), repeats=args.repeats, warmup=0)
        stats = {k: summarize(v, steps[k]) for k, v in times.items()}
        plain_rate = stats["plain loop"]["median_per_s"]
        ratios = {
            "collect/plain": stats["collect"]["median_per_s"] / plain_rate,
            "collect no-layers/plain": stats["collect (no layers, no obs)"]["median_per_s"] / plain_rate,
            "collect/collect no-layers": stats["collect"]["median_per_s"]
            / stats["collect (no layers, no obs)"]["median_per_s"],
        }
        results[f"threads={threads}"] = {"threads": threads, "steps": steps, "stats": stats, "ratios": ratios}
        rows += [
            (
                threads,
                k,
                steps[k],
                f"{s['median_s']:.2f}",
                f"{s['median_per_s']:,.0f}",
                f"{s['best_per_s']:,.0f}",
                f"{s['median_per_s'] / plain_rate:.2f}",
            )
            for k, s in stats.items()
        ]
    print_table(
        f"{ENV}, {args.episodes} episodes x shifts {SHIFTS} (median and best of {args.repeats})",
        ["threads", "variant", "steps", "s (median)", "steps/s (median)", "steps/s (best)", "× plain loop"],
        rows,
        left=2,
    )
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    write_results("collect_throughput", {"settings": vars(args), "layers": LAYERS, "gpu": gpu, "results": results})


if __name__ == "__main__":
    main()
