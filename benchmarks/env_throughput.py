"""Environment throughput: CoinCorridor vs MiniGrid Empty-8x8 vs a bare numpy grid loop.

Steps/second with random actions (drawn up front, so the sampler is not timed), resetting on
done, for `mesaprobe/CoinCorridor-v0` (via `envs.make`, wrappers included, and its unwrapped
env), `MiniGrid-Empty-8x8-v0` (`gymnasium.make` after `import minigrid`) and a bare numpy loop
doing CoinCorridor's move logic (position update with a wall check) on one fixed room without
gymnasium, with and without building the one-hot observation. `env.reset` is timed separately,
with a seed (as `probes.collect` calls it for every episode) and without; the unseeded reset time
gives an estimate of the step cost without the resets folded into the step loop.

In the same run, each built-in grid world's batched implementation (`envs.GridVectorEnv`, built by
`gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`) steps `--batch` environments at
once with random actions and Gymnasium's next-step autoreset (every reset draws a new layout, as in
training); its environment steps per second (vector steps × batch) are compared with the bare numpy
loop's and MiniGrid's single-env rate (targets: ≥ 30 % of the bare loop, ≥ 100× MiniGrid at 256).

    python benchmarks/env_throughput.py [--steps 20000] [--resets 2000] [--repeats 5] [--batch 256]
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
BATCHED = sorted(envs.registry.VECTOR)


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


def batched_loop(env_id: str, batch: int, n_steps: int) -> Callable[[], None]:
    """`n_steps` environment steps (`n_steps // batch` vector steps) of `env_id`'s batched implementation."""
    vec = gym.make_vec(env_id, num_envs=batch, vectorization_mode="vector_entry_point", shift=0.5)
    actions = np.random.default_rng(0).integers(4, size=(max(1, n_steps // batch), batch))

    def run() -> None:
        vec.reset(seed=0)
        for a in actions:
            vec.step(a)

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
    parser.add_argument("--batch", type=int, default=256, help="environments per batched step")
    parser.add_argument("--batched-steps", type=int, default=1_024_000, help="environment steps per batched repeat")
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
            **{f"{k} batched ×{args.batch}": batched_loop(k, args.batch, args.batched_steps) for k in BATCHED},
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
    batched_work = (args.batched_steps // args.batch) * args.batch
    step = {k: summarize(v, batched_work if "batched" in k else args.steps) for k, v in step_times.items()}
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
    for k in BATCHED:
        name = f"{k} batched ×{args.batch}"
        ratios[f"{name}/bare (steps/s; target >= 0.3)"] = rate[name] / rate[BARE]
        ratios[f"{name}/MiniGrid (steps/s; target >= 100)"] = rate[name] / rate[MG]

    print_table(
        f"env.step throughput ({args.steps} random steps/repeat, median and best of {args.repeats})",
        ["variant", "episodes", "steps/s (median)", "steps/s (best)", "µs/step (median)", "× CoinCorridor"],
        [
            (k, episodes.get(k, "-"), f"{s['median_per_s']:,.0f}", f"{s['best_per_s']:,.0f}",
             f"{1e6 / s['median_per_s']:.3f}", f"{s['median_per_s'] / rate[CC]:.2f}")
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
