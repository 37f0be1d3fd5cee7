"""PPO training throughput: the batched `VecEnv` against `DummyVecEnv`, same network, same settings, one run.

For each environment and each `n_envs`, `training.train` learns `--steps` environment steps with the
default network (`GridCNN`) and `PPOSettings` (`n_steps = --rollout / n_envs`, everything else the
defaults), once with `batched=True` (`BatchedVecEnv`: every environment in one numpy step) and once
with `batched=False` (`make_vec_env`'s `DummyVecEnv` of `Monitor`-wrapped copies, what SB3 users
run), interleaved. Both train the same weights (tests/training/test_batched_vec_env.py); only the
time differs. Each run's wall time is split into rollout collection (`PPO.collect_rollouts`:
environment steps and policy forward passes) and the update (`PPO.train`: the network's own
forward and backward passes), so the table shows what the batch can and cannot remove. The update
does not touch the environment and is the same code in both, so a `DummyVecEnv` run's time over its
own update's bounds what any environment could gain at these settings ("bound ×", median over the
runs: an environment and policy forward passes that took no time at all).

With CUDA present (`--device cuda` or `auto`), the batched runs are repeated on the GPU, with
`--gpu-n-envs` environments (default 1,024).

    python benchmarks/train_throughput.py [--steps 32768] [--repeats 3] [--n-envs 16 64 256]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict

import torch
from _common import print_table, summarize, time_interleaved, write_results
from stable_baselines3 import PPO

from training.train import PPOSettings, train

ENVS = ("mesaprobe/CoinCorridor-v0", "mesaprobe/CheeseMaze-v0")
SPLIT: dict[str, float] = {"collect": 0.0, "update": 0.0}


def _timed(method: Callable, key: str) -> Callable:
    def wrapper(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            SPLIT[key] += time.perf_counter() - t0

    return wrapper


PPO.collect_rollouts = _timed(PPO.collect_rollouts, "collect")
PPO.train = _timed(PPO.train, "update")


def run_fn(env_id: str, settings: PPOSettings, steps: int, batched: bool, device: str, splits: list) -> Callable:
    """One training run of `steps` steps; appends its `(collect_s, update_s)` to `splits`."""

    def run() -> None:
        SPLIT.update(collect=0.0, update=0.0)
        train(env_id, shift=0.5, total_timesteps=steps, seed=0, settings=settings, batched=batched, device=device)
        splits.append((SPLIT["collect"], SPLIT["update"]))

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32_768, help="environment steps per training run")
    parser.add_argument("--rollout", type=int, default=4_096, help="n_envs x n_steps of every run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-envs", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CLI's default is 1)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, or auto (GPU rows when CUDA is present)")
    parser.add_argument("--gpu-n-envs", type=int, default=1_024)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())

    rows, results = [], {}
    for env_id in ENVS:
        for n in args.n_envs:
            settings = PPOSettings(n_envs=n, n_steps=max(1, args.rollout // n))
            splits: dict[str, list] = {"batched": [], "DummyVecEnv": []}
            fns = {
                "batched": run_fn(env_id, settings, args.steps, True, "cpu", splits["batched"]),
                "DummyVecEnv": run_fn(env_id, settings, args.steps, False, "cpu", splits["DummyVecEnv"]),
            }
            times = time_interleaved(fns, repeats=args.repeats, warmup=0)
            stats = {k: summarize(v, args.steps) for k, v in times.items()}
            ratio = stats["batched"]["median_per_s"] / stats["DummyVecEnv"]["median_per_s"]
            # Per DummyVecEnv run, its time over its own update's: one run's numbers, immune to the drift between runs.
            bound = statistics.median(
                t / u for t, (_, u) in zip(times["DummyVecEnv"], splits["DummyVecEnv"], strict=True)
            )
            key = f"{env_id} n_envs={n}"
            results[key] = {"settings": asdict(settings), "stats": stats, "splits_s": splits, "batched/dummy": ratio,
                            "bound": bound}  # fmt: skip
            for k, s in stats.items():
                c, u = (sorted(x)[len(x) // 2] for x in zip(*splits[k], strict=True))
                rows.append((env_id.split("/")[1], n, settings.n_steps, k, "cpu", f"{s['median_per_s']:,.0f}",
                             f"{c:.1f}", f"{u:.1f}", f"{ratio:.2f}" if k == "batched" else "",
                             f"{bound:.2f}" if k == "batched" else ""))  # fmt: skip
        if gpu:
            n = args.gpu_n_envs
            settings = PPOSettings(n_envs=n, n_steps=max(1, args.rollout // n))
            splits["batched"] = []
            times = time_interleaved(
                {"batched": run_fn(env_id, settings, max(args.steps, 4 * n), True, "cuda", splits["batched"])},
                repeats=args.repeats,
                warmup=1,
            )
            s = summarize(times["batched"], max(args.steps, 4 * n))
            results[f"{env_id} n_envs={n} cuda"] = {"stats": s, "device": torch.cuda.get_device_name(0)}
            c, u = (sorted(x)[len(x) // 2] for x in zip(*splits["batched"], strict=True))
            rows.append((env_id.split("/")[1], n, settings.n_steps, "batched", "cuda", f"{s['median_per_s']:,.0f}",
                         f"{c:.1f}", f"{u:.1f}", "", ""))  # fmt: skip
    print_table(
        f"PPO env steps/s ({args.steps} steps per run, median of {args.repeats}; torch threads {args.threads})",
        ["env", "n_envs", "n_steps", "vec env", "device", "steps/s", "collect s", "update s", "batched ×", "bound ×"],
        rows,
        left=4,
    )
    write_results("train_throughput", {"settings": vars(args), "results": results})


if __name__ == "__main__":
    main()
