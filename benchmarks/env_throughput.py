"""Environment throughput: CoinCorridor vs MiniGrid Empty-8x8 vs a bare numpy grid loop.

Steps/second with random actions (drawn up front, so the sampler is not timed), resetting on
done, for `mesaprobe/CoinCorridor-v0` (via `envs.make`, wrappers included, and its unwrapped
env), `MiniGrid-Empty-8x8-v0` (`gymnasium.make` after `import minigrid`) and a bare numpy loop
doing CoinCorridor's move logic (position update with a wall check) on one fixed room without
gymnasium, with and without building the one-hot observation. `env.reset` is timed separately,
with a seed (as `probes.collect` calls it for every episode) and without; the unseeded reset time
gives an estimate of the step cost without the resets folded into the step loop.

    python benchmarks/env_throughput.py [--steps 20000] [--resets 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid-* ids)
import numpy as np
from _common import print_table, summarize, time_interleaved, write_results

import envs

CC_ID, MG_ID = "mesaprobe/CoinCorridor-v0", "MiniGrid-Empty-8x8-v0"
CC, CC_RAW, MG = "CoinCorridor (envs.make)", "CoinCorridor (unwrapped)", "MiniGrid Empty-8x8"
BARE, BARE_OBS = "bare numpy (moves only)", "bare numpy (moves + one-hot obs)"
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)


def gym_loop(env: gym.Env, n_steps: int, episodes: dict[str, int], name: str) -> Callable[[], None]:
    """Step `env` `n_steps` times with random actions, resetting on done; count episodes."""
    actions = np.random.default_rng(0).integers(env.action_space.n, size=n_steps).tolist()

    def run() -> None:
        env.reset(seed=0)
        n = 0
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
                n += 1
        episodes[name] = n

    return run


def bare_loop(n_steps: int, episodes: dict[str, int], name: str, *, with_obs: bool) -> Callable[[], None]:
    """CoinCorridor's move logic in plain numpy: one fixed room, no gymnasium, no info dicts."""
    layout = envs.generate_layout(np.random.default_rng(0), height=7, width=11, n_walls=3, shift=0.0)
    walls, start, goal = layout.walls, np.array(layout.agent), np.array(layout.exit)
    actions = np.random.default_rng(0).integers(4, size=n_steps)

    def run() -> None:
        pos, t, n = start.copy(), 0, 0
        for a in actions:
            new = pos + MOVES[a]
            if not walls[new[0], new[1]]:
                pos = new
            t += 1
            if with_obs:
                obs = np.zeros((4, *walls.shape), dtype=np.float32)
                obs[0] = walls
                obs[1, pos[0], pos[1]] = obs[2, goal[0], goal[1]] = obs[3, goal[0], goal[1]] = 1.0
            if (pos == goal).all() or t >= 64:
                pos, t, n = start.copy(), 0, n + 1
        episodes[name] = n

    return run


def reset_loop(env: gym.Env, n_resets: int, *, seeded: bool) -> Callable[[], None]:
    """`n_resets` resets of `env`, seeded 0..n-1 (as `probes.collect` does) or unseeded."""

    def run() -> None:
        for i in range(n_resets):
            env.reset(seed=i if seeded else None)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="steps per timed repeat")
    parser.add_argument("--resets", type=int, default=2_000, help="resets per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    cc, mg = envs.make(CC_ID), gym.make(MG_ID)
    episodes: dict[str, int] = {}
    step_times = time_interleaved(
        {
            CC: gym_loop(cc, args.steps, episodes, CC),
            CC_RAW: gym_loop(cc.unwrapped, args.steps, episodes, CC_RAW),
            MG: gym_loop(mg, args.steps, episodes, MG),
            BARE: bare_loop(args.steps, episodes, BARE, with_obs=False),
            BARE_OBS: bare_loop(args.steps, episodes, BARE_OBS, with_obs=True),
        },
        repeats=args.repeats,
    )
    reset_times = time_interleaved(
        {
            f"{CC}, reset(seed=i)": reset_loop(cc, args.resets, seeded=True),
            f"{CC}, reset()": reset_loop(cc, args.resets, seeded=False),
            f"{MG}, reset(seed=i)": reset_loop(mg, args.resets, seeded=True),
            f"{MG}, reset()": reset_loop(mg, args.resets, seeded=False),
        },
        repeats=args.repeats,
    )
    step = {k: summarize(v, args.steps) for k, v in step_times.items()}
    reset = {k: summarize(v, args.resets) for k, v in reset_times.items()}
    # Step cost with the (unseeded) resets of the loop taken out: an estimate, for the gym envs only.
    step_only_us = {
        k: 1e6 * (step[k]["median_s"] - episodes[k] * reset[f"{env}, reset()"]["median_s"] / args.resets) / args.steps
        for k, env in ((CC, CC), (MG, MG))
    }
    rate = {k: s["median_per_s"] for k, s in step.items()}
    ratios = {
        "CoinCorridor/MiniGrid (steps/s)": rate[CC] / rate[MG],
        "CoinCorridor/bare (steps/s)": rate[CC] / rate[BARE],
        "CoinCorridor/bare+obs (steps/s)": rate[CC] / rate[BARE_OBS],
        "CoinCorridor wrapped/unwrapped (steps/s)": rate[CC] / rate[CC_RAW],
        "CoinCorridor/MiniGrid (reset(seed=i)/s)": reset[f"{CC}, reset(seed=i)"]["median_per_s"]
        / reset[f"{MG}, reset(seed=i)"]["median_per_s"],
        "CoinCorridor/MiniGrid (step excl. resets, est.)": step_only_us[MG] / step_only_us[CC],
        "CoinCorridor/bare (step excl. resets, est.)": (1e6 / rate[BARE]) / step_only_us[CC],
    }

    print_table(
        f"env.step throughput ({args.steps} random steps/repeat, median and best of {args.repeats})",
        ["variant", "episodes", "steps/s (median)", "steps/s (best)", "µs/step (median)", "× CoinCorridor"],
        [
            (k, episodes[k], f"{s['median_per_s']:,.0f}", f"{s['best_per_s']:,.0f}",
             f"{1e6 / s['median_per_s']:.1f}", f"{s['median_per_s'] / rate[CC]:.2f}")
            for k, s in step.items()
        ],
    )  # fmt: skip
    print_table(
        f"env.reset ({args.resets} resets/repeat)",
        ["env", "resets/s (median)", "resets/s (best)", "µs/reset (median)"],
        [
            (k, f"{s['median_per_s']:,.0f}", f"{s['best_per_s']:,.0f}", f"{1e6 / s['median_per_s']:.1f}")
            for k, s in reset.items()
        ],
    )
    print_table(
        "ratios (medians; > 1 = CoinCorridor faster)",
        ["ratio", "value"],
        [(k, f"{v:.3f}") for k, v in ratios.items()],
    )
    write_results(
        "env_throughput",
        {
            "settings": vars(args),
            "episodes_per_repeat": episodes,
            "step": step,
            "reset": reset,
            "step_excl_resets_us_est": step_only_us,
            "ratios": ratios,
        },
    )
    cc.close()
    mg.close()


if __name__ == "__main__":
    main()
