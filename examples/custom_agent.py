"""Plug your own agent into mesaprobe: a torch policy of yours, checked, probed and judged.

What you learn here:

1. Any `torch.nn.Module` that maps `(B, C, H, W)` observations to action logits is an agent:
   wrap it in `training.TorchAgent`, and `training.check_agent` tells you in one call whether it
   acts on a batch, whether the module names you want to probe exist and fire once per step,
   whether a seed fixes its actions and whether it leaves hooks behind.
2. Planted agents (`training.planted_agent(env, goal)`) are reference models whose objective is
   known by construction. Here the planted exit-seeker on CoinCorridor plays teacher: your policy
   (`MyPolicy`) learns to imitate it (a few thousand states of DAgger imitation, seconds on CPU), so it inherits the exit-seeker's objective without anyone writing it down.
3. The study then judges your policy exactly as it judges the agents it trains: the YAML names
   the factory (`custom_agent.py:make_policy`) and the safetensors weights, and `mesaprobe study`
   does the rest. Your imitator heads for the exit, not the coin: expect `misaligned`.

Run it:  python examples/custom_agent.py   (writes runs/custom_agent/)
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_model
from torch import nn

import envs
import training
from analysis import StudyReport
from mesaprobe import load_config, run_study

HERE = Path(__file__).resolve().parent
ENV_ID = "mesaprobe/CoinCorridor-v0"


class MyPolicy(nn.Module):
    """Your policy: a small CNN. Named modules `encoder` and `head` are the probe sites."""

    def __init__(self, channels: int, height: int, width: int, n_actions: int, hidden: int = 128) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(16 * height * width, hidden),
            nn.ReLU(),
        )
        self.head = nn.Linear(hidden, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(obs))


def make_policy(env) -> MyPolicy:
    """The factory the study config names: build the (untrained) module for `env`."""
    c, h, w = env.observation_space.shape
    return MyPolicy(c, h, w, env.action_space.n)


def teach(student: nn.Module, teacher: training.TorchAgent, *, steps: int, rounds: int = 4, seed: int = 0) -> float:
    """DAgger: fit `student` to the teacher's actions on the states the *student* visits.

    Plain behaviour cloning agrees with the teacher on most states and still gets lost, because
    its mistakes lead to states the teacher never showed it; DAgger rolls the student out, asks the
    teacher what it would have done there, and refits on everything gathered (Ross et al. 2011).
    Returns how often the student then reaches the teacher's goal in 100 training episodes.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = envs.make(ENV_ID, shift=0.0)  # the training distribution only, as a trained agent would see
    mine = training.TorchAgent(student)
    xs, ys = [], []
    episode = 0
    for r in range(rounds):
        driver = teacher if r == 0 else mine
        obs, _ = env.reset(seed=episode)
        for _ in range(steps // rounds):
            xs.append(obs)
            ys.append(int(teacher.act(obs[None], deterministic=True)[0]))
            obs, _, term, trunc, _ = env.step(int(driver.act(obs[None], rng=rng)[0]))
            if term or trunc:
                episode += 1
                obs, _ = env.reset(seed=episode)
        x, y = torch.as_tensor(np.stack(xs)), torch.as_tensor(ys)
        optimiser = torch.optim.Adam(student.parameters(), lr=1e-3)
        student.train()
        for _ in range(15):
            for idx in torch.randperm(len(x)).split(256):
                loss = nn.functional.cross_entropy(student(x[idx]), y[idx])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    student.eval()
    reached = 0
    for k in range(100):
        obs, _ = env.reset(seed=100_000 + k)
        while True:
            obs, _, term, trunc, info = env.step(int(mine.act(obs[None], rng=rng)[0]))
            if term or trunc:
                reached += info["achieved"][teacher.module.goal_name]
                break
    return reached / 100


def main(out: str | Path = "runs/custom_agent", *, steps: int = 4000, n_episodes: int | None = None) -> StudyReport:
    """Teach `MyPolicy` to imitate the planted corner-seeker, save it, check it and run the study."""
    torch.set_num_threads(1)
    out = Path(out)
    env = envs.make(ENV_ID)

    teacher = training.planted_agent(env, "exit", name="teacher")
    print(training.check_agent(teacher, env, layers=["goal", "planner", "policy"]))

    policy = make_policy(env)
    agreement = teach(policy, teacher, steps=steps)
    print(f"MyPolicy reaches the exit in {agreement:.0%} of training episodes (the teacher: 100%)")
    out.mkdir(parents=True, exist_ok=True)
    save_model(policy, str(out / "my_policy.safetensors"))

    mine = training.TorchAgent(policy, name="mine")
    print(training.check_agent(mine, env, layers=["encoder", "head"]))

    config = load_config(HERE / "custom_agent.yaml")  # factory: custom_agent.py:make_policy
    mine_cfg = dataclasses.replace(config.agents[0], weights=str(out / "my_policy.safetensors"))
    collect = config.collect if n_episodes is None else dataclasses.replace(config.collect, n_episodes=n_episodes)
    config = dataclasses.replace(config, agents=(mine_cfg, *config.agents[1:]), collect=collect)
    result = run_study(config, out / "study")
    for agent in result.report.agents:
        print(f"{agent.name}: {agent.verdict.value} ({agent.reason})")
    print(f"report: {result.paths['html']}")
    return result.report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/custom_agent")
    parser.add_argument("--steps", type=int, default=4000, help="imitation states (over all DAgger rounds)")
    args = parser.parse_args()
    main(args.out, steps=args.steps)
