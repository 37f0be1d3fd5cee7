"""Steering rollouts: every maze its own edit in one batch (`steer_rows`) vs one maze at a time under `steer`.

Retargeting gives each maze its own intervention (the target cell differs), so the plain way to
run it with `probes.steer` is one episode at a time: enter `steer(agent, iv)`, step the maze with
batches of one observation, leave. `probes.retargeting` instead steps all mazes together, one
forward pass per step, each row edited by its own intervention through one `steer_rows` hook.
Variants, timed side by side on the same mazes, edits and seeds (an untrained PPO agent with the
study's network on 5-7-cell CheeseMazes, 1 torch thread, so episodes mostly run to `max_steps`):

* `steer_rows, batched`: `probes.retargeting`'s batched rollout with one edit per maze;
* `steer, one maze at a time`: the same edits, `steer()` around each episode, batches of one;
* `unsteered, batched`: the batched rollout without edits (the cost of the hook itself).

    python benchmarks/steering_throughput.py [--mazes 25 100] [--repeats 5]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import print_table, summarize, time_interleaved, write_results

import envs
import training
from probes import goal_probe, retarget, steer
from probes.retargeting import _mazes, _rollout

ENV = "mesaprobe/CheeseMaze-v0"
KW = {"min_size": 5, "max_size": 7, "max_steps": 60}
SITE = "features_extractor.conv.0"


def one_at_a_time(agent, mazes, ivs) -> int:
    """Each maze under its own `steer()`, stepped with batches of one; returns the steps taken."""
    steps = 0
    rng = np.random.default_rng(0)
    for maze, iv in zip(mazes, ivs, strict=True):
        env = envs.make(ENV, shift=1.0, **KW)
        obs, _ = env.reset(seed=maze.seed)
        with steer(agent, iv):
            done = False
            while not done:
                obs, _, term, trunc, _ = env.step(agent.act(obs[None], rng=rng)[0])
                steps += 1
                done = term or trunc or env.unwrapped.agent_cell == maze.target
        env.close()
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mazes", type=int, nargs="+", default=[25, 100])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    agent = training.make_agent(ENV, env_kwargs=KW)
    gp = goal_probe(agent, ENV, SITE, "cheese", n_episodes=80, env_kwargs=KW)

    def env_fn():
        return envs.make(ENV, shift=1.0, **KW)

    results, rows = {}, []
    for n in args.mazes:
        probe_env = env_fn()
        mazes = _mazes(probe_env, n, "cheese", 0, 2)
        probe_env.close()
        ivs = [retarget(gp.probe, SITE, source=m.goal, target=m.target) for m in mazes]
        run = {"env_fn": env_fn, "mazes": mazes, "seed": 0, "deterministic": False, "move_goal": None}
        fns = {
            "steer_rows, batched": lambda run=run, ivs=ivs: _rollout(agent, ivs=ivs, **run),
            "steer, one maze at a time": lambda mazes=mazes, ivs=ivs: one_at_a_time(agent, mazes, ivs),
            "unsteered, batched": lambda run=run, n=n: _rollout(agent, ivs=[None] * n, **run),
        }
        times = time_interleaved(fns, repeats=args.repeats)
        stats = {k: summarize(v, n) for k, v in times.items()}
        base = stats["steer, one maze at a time"]["median_s"]
        results[f"mazes={n}"] = {
            "mazes": n,
            "stats": stats,
            "speedup_vs_one_at_a_time": {k: base / s["median_s"] for k, s in stats.items()},
        }
        for k, s in stats.items():
            rows.append((n, k, f"{s['median_per_s']:.1f}", f"{s['median_s']:.2f}", f"{base / s['median_s']:.1f}×"))
    print_table(
        f"episodes/s (median of {args.repeats}), untrained PPO on 5-7-cell CheeseMazes, 1 thread",
        ["mazes", "variant", "episodes/s", "seconds", "× one at a time"],
        rows,
        left=2,
    )
    write_results("steering_throughput", {"settings": vars(args), "site": SITE, "results": results})


if __name__ == "__main__":
    main()
