"""What paying for the agent's own read-out costs: PPO steps/s with and without `reward_from_activations`.

Side by side in one run, the variants taking turns (`time_interleaved`), each training the same
PPO agent on CoinCorridor for `--timesteps` steps from the same seed:

* `plain`: `training.train` as the demo does;
* `β = 0`: the `ActivationRewardVecEnv` reading `mlp_extractor.policy_net` at every step and a probe
  refitted every 2 rollouts, paying nothing (the same weights as `plain`; tested);
* `β = 0.03 refit` and `β = 0.03 frozen`: the paid variants.

The ratio to `plain` is the overhead of reading the network once more per step (a forward pass of
the 8 environments' next observations) and of the refits.

    python benchmarks/activation_reward.py [--timesteps 8192] [--repeats 3]
"""

from __future__ import annotations

import argparse

import torch
from _common import print_table, summarize, time_interleaved, write_results

from training import ActivationReward, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    specs = {
        "plain": None,
        "β = 0": ActivationReward(0.0),
        "β = 0.03 refit": ActivationReward(0.03, probe="refit"),
        "β = 0.03 frozen": ActivationReward(0.03, probe="frozen"),
    }
    fns = {
        name: (lambda spec=spec: train(total_timesteps=args.timesteps, seed=0, reward_from_activations=spec))
        for name, spec in specs.items()
    }
    times = time_interleaved(fns, repeats=args.repeats, warmup=0)
    stats = {k: summarize(v, args.timesteps) for k, v in times.items()}
    base = stats["plain"]["median_per_s"]
    rows = [
        (k, f"{s['median_per_s']:.0f}", f"{s['median_per_s'] / base:.2f}", f"{s['median_s']:.1f}")
        for k, s in stats.items()
    ]
    print_table(
        f"PPO on CoinCorridor, {args.timesteps} steps, 1 torch thread", ["variant", "steps/s", "× plain", "s"], rows
    )
    write_results(
        "activation_reward",
        {
            "timesteps": args.timesteps,
            "threads": 1,
            "stats": stats,
            "ratio_to_plain": {k: s["median_per_s"] / base for k, s in stats.items()},
        },
    )


if __name__ == "__main__":
    main()
