"""Planted agents: torch policies whose objective is known by construction.

Like captum's hand-built test models, these are reference models for checking the method where
the answer is known. A planted agent plans, by value iteration over the observation grid, towards
one goal and acts greedily on the plan. Its goal lives in a named module, so probes, hooks and
steering can find it:

- `goal`: `(B, 1, H, W)` map of the goal cells — a 1×1 convolution selecting one observation
  channel (`GoalChannel`: exit, coin, cheese, key, ...) or the maze's top-right open cell
  (`CornerGoal`);
- `planner`: `(B, 1, H, W)` shortest-path distance (in moves, through open cells) to the nearest
  goal cell, by min-plus value iteration (`ValueIteration`);
- `policy`: `(B, A)` logits `-beta * distance` of the cell each move leads to (`GreedyPolicy`).

Only `goal` (for a channel goal) is differentiable in the observation: `CornerGoal` takes an
argmax, and `planner` and `policy` threshold the walls and plan on boolean maps, so gradients to
the observation through them are zero or say only where the agent stands. These modules carry a
`nondifferentiable` reason, and attribution to the input refuses targets downstream of them.

An exit-seeker on CoinCorridor is the textbook misaligned agent (it met the coin only because the
coin sat on the exit in training); a coin-seeker is aligned by construction.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import envs
from core.errors import ConfigError, unknown_name
from training.torch_agent import TorchAgent

MOVES: dict[str, tuple[int, int]] = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
CORNER = "corner"
"""The goal name of `CornerGoal` (the maze's top-right open cell)."""


def _neighbour(x: torch.Tensor, dr: int, dc: int, fill: float) -> torch.Tensor:
    """`y[..., r, c] = x[..., r + dr, c + dc]`, with `fill` beyond the grid."""
    padded = F.pad(x, (1, 1, 1, 1), value=fill)
    h, w = x.shape[-2:]
    return padded[..., 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]


class GoalChannel(nn.Module):
    """The goal map is one observation channel, selected by a fixed 1×1 convolution."""

    def __init__(self, n_channels: int, index: int) -> None:
        super().__init__()
        self.index = index
        self.select = nn.Conv2d(n_channels, 1, kernel_size=1, bias=False)
        with torch.no_grad():
            self.select.weight.zero_()
            self.select.weight[0, index] = 1.0
        self.select.weight.requires_grad_(False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` observation → `(B, 1, H, W)` goal map."""
        return self.select(obs)


class CornerGoal(nn.Module):
    """The goal is the open cell farthest to the top right (largest column minus row).

    In CheeseMaze this is the maze's top-right square, where the cheese always is in training: the
    objective an agent that learned "go to the corner" pursues.
    """

    nondifferentiable = "the goal cell is chosen by an argmax over the open cells (a one-hot map, no gradient)"

    def __init__(self, wall_index: int) -> None:
        super().__init__()
        self.wall_index = wall_index

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` observation → `(B, 1, H, W)` one-hot map of the top-right open cell."""
        b, _, h, w = obs.shape
        rows = torch.arange(h, device=obs.device, dtype=obs.dtype).view(h, 1)
        cols = torch.arange(w, device=obs.device, dtype=obs.dtype).view(1, w)
        score = (cols - rows).expand(b, h, w)
        score = torch.where(obs[:, self.wall_index] > 0.5, torch.full_like(score, -float("inf")), score)
        # Ties (none in a perfect maze) go to the top-most cell: argmax returns the first maximum.
        best = score.reshape(b, -1).argmax(dim=1)
        return F.one_hot(best, h * w).to(obs.dtype).view(b, 1, h, w)


class ValueIteration(nn.Module):
    """Min-plus value iteration: moves from each open cell to the nearest goal cell.

    Iterates `d <- min(d, 1 + min over the four neighbours of d)` on open cells until nothing
    changes (at most `H * W` sweeps). Cells that are walls or cannot reach a goal hold `H * W`
    (larger than any path), so the output stays finite for probes.

    The distances depend on the walls and the goal only, which stay put while the agent walks, so
    the last `cache_size` maps are memoised by (walls, goal); the output, and what hooks on this
    module see, is the same as without the cache.
    """

    nondifferentiable = (
        "value iteration thresholds the walls and the goal map at 0.5 and plans by min-plus sweeps on boolean "
        "maps, so the distances carry no gradient to the observation"
    )

    def __init__(self, wall_index: int, cache_size: int = 4096) -> None:
        super().__init__()
        self.wall_index, self.cache_size = wall_index, cache_size
        self._cache: OrderedDict[bytes, torch.Tensor] = OrderedDict()

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` observation and `(B, 1, H, W)` goal map → `(B, 1, H, W)` distances."""
        open_ = obs[:, self.wall_index : self.wall_index + 1] < 0.5
        if self.cache_size <= 0 or torch.is_grad_enabled():
            return self.sweep(open_, goal > 0.5)
        keys = np.packbits(torch.cat([open_, goal > 0.5], dim=1).cpu().numpy().reshape(len(obs), -1), axis=1)
        keys = [k.tobytes() for k in keys]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        if todo:
            fresh = self.sweep(open_[todo], goal[todo] > 0.5)
            for j, i in enumerate(todo):
                self._cache[keys[i]] = fresh[j]
        out = torch.stack([self._cache[k] for k in keys])
        for k in keys:
            self._cache.move_to_end(k)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    @staticmethod
    def sweep(open_: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """Distances for boolean `(B, 1, H, W)` open-cell and goal maps, by repeated sweeps."""
        h, w = open_.shape[-2:]
        far = float(h * w)
        dist = torch.where(goal & open_, 0.0, far)
        blocked = torch.where(open_, 0.0, far)
        for sweep in range(h * w):
            p = F.pad(dist, (1, 1, 1, 1), value=far)
            best = torch.minimum(
                torch.minimum(p[..., :-2, 1:-1], p[..., 2:, 1:-1]), torch.minimum(p[..., 1:-1, :-2], p[..., 1:-1, 2:])
            )
            # Walls stay at `far`: adding `blocked` (0 on open cells) before the clamp keeps them there.
            new = torch.minimum(dist, best + 1.0).add_(blocked).clamp_(max=far)
            # Checking every 4th sweep saves most comparisons; sweeps past convergence change nothing.
            if sweep % 4 == 3 and torch.equal(new, dist):
                break
            dist = new
        return dist


class GreedyPolicy(nn.Module):
    """Logits `-beta * d(cell the move leads to)`; a move into a wall leaves the agent in place.

    With no reachable goal every move scores the same, so the agent walks at random.
    """

    nondifferentiable = (
        "the walls enter through a threshold and the distances are read at the agent's cell, so the gradient to "
        "the observation only marks where the agent stands"
    )

    def __init__(self, agent_index: int, wall_index: int, moves: Sequence[tuple[int, int]], beta: float) -> None:
        super().__init__()
        self.agent_index, self.wall_index, self.moves, self.beta = agent_index, wall_index, list(moves), beta

    def forward(self, obs: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` observation and `(B, 1, H, W)` distances → `(B, A)` logits."""
        here = obs[:, self.agent_index : self.agent_index + 1]
        wall = obs[:, self.wall_index : self.wall_index + 1] > 0.5
        stay = (dist * here).sum(dim=(1, 2, 3))
        scores = []
        for dr, dc in self.moves:
            # Distance at the cell each move lands on: the neighbour, or here if it is a wall.
            target = _neighbour(dist, dr, dc, 0.0)
            blocked = _neighbour(wall.to(dist.dtype), dr, dc, 1.0) > 0.5
            d = (torch.where(blocked, 0.0, target) * here).sum(dim=(1, 2, 3))
            hit = (blocked.to(dist.dtype) * here).sum(dim=(1, 2, 3)) > 0.5
            scores.append(torch.where(hit, stay, d))
        d = torch.stack(scores, dim=1)
        return -self.beta * (d - d.min(dim=1, keepdim=True).values)


class PlantedPlanner(nn.Module):
    """A value-iteration planner towards one goal; named modules `goal`, `planner`, `policy`.

    `channels` and `actions` are the environment's names (`env.unwrapped.channels/actions`); the
    observation must have a `wall` and an `agent` channel and the actions must include `up`,
    `down`, `left`, `right` (other actions, like `noop`, score as staying in place). `goal` is a
    channel name or `"corner"`. `beta` is the inverse temperature: at 3 a suboptimal move has
    probability about 0.005.
    """

    def __init__(
        self,
        channels: Sequence[str],
        actions: Sequence[str],
        goal: str,
        *,
        beta: float = 3.0,
        wall: str = "wall",
        agent: str = "agent",
    ) -> None:
        super().__init__()
        channels, actions = list(channels), list(actions)
        for role, name in (("wall", wall), ("agent", agent)):
            if name not in channels:
                raise ConfigError(
                    f"a planted agent needs a {role!r} channel; the environment has {channels}. "
                    f"Pass {role}=<channel name> if it is called differently."
                )
        missing = [m for m in MOVES if m not in actions]
        if missing:
            raise ConfigError(
                f"a planted agent moves up/down/left/right; the environment's actions {actions} lack {missing}."
            )
        if beta <= 0:
            raise ConfigError(f"beta must be > 0 (inverse temperature), got {beta}.")
        goals = [c for c in channels if c not in (wall, agent)] + [CORNER]
        if goal not in goals:
            raise unknown_name("planted goal", goal, goals)
        self.goal_name, self.channels, self.actions, self.beta = goal, channels, actions, beta
        wi, ai = channels.index(wall), channels.index(agent)
        self.goal = CornerGoal(wi) if goal == CORNER else GoalChannel(len(channels), channels.index(goal))
        self.planner = ValueIteration(wi)
        # Non-move actions (noop) land where the agent stands.
        self.policy = GreedyPolicy(ai, wi, [MOVES.get(a, (0, 0)) for a in actions], beta)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` observations → `(B, A)` action logits."""
        goal = self.goal(obs)
        return self.policy(obs, self.planner(obs, goal))

    def extra_repr(self) -> str:
        return f"goal={self.goal_name!r}, beta={self.beta}"


def planted_goals(env: gym.Env) -> list[str]:
    """The goals a planted agent can pursue in `env`: its object channels and `"corner"`."""
    channels = list(getattr(env.unwrapped, "channels", ()))
    return [c for c in channels if c not in ("wall", "agent")] + [CORNER]


def planted_agent(
    env: str | gym.Env,
    goal: str,
    *,
    beta: float = 3.0,
    name: str | None = None,
    device: str = "cpu",
    env_kwargs: dict[str, Any] | None = None,
) -> TorchAgent:
    """A `TorchAgent` planning towards `goal` in `env` (an environment or a registered id).

    The channel and action names come from `env.unwrapped.channels/actions`, so the same call
    works on any grid environment that follows the DESIGN.md §3 contract. Hook sites: `goal`,
    `planner`, `policy`.
    """
    if isinstance(env, str):
        made = envs.make(env, **(env_kwargs or {}))
        try:
            return planted_agent(made, goal, beta=beta, name=name, device=device)
        finally:
            made.close()
    u = env.unwrapped
    channels, actions = getattr(u, "channels", None), getattr(u, "actions", None)
    if not channels or not actions:
        raise ConfigError(
            f"a planted agent reads named channels and actions; {type(u).__name__} has no `channels`/`actions` "
            f"attributes (see DESIGN.md §3, or pass channels=/actions= to envs.RegimeMixture)."
        )
    shape = getattr(env.observation_space, "shape", None)
    if shape is None or len(shape) != 3 or shape[0] != len(channels):
        raise ConfigError(
            f"a planted agent needs (C, H, W) grid observations with one channel per name in {list(channels)}; "
            f"the observation space is {env.observation_space}."
        )
    module = PlantedPlanner(channels, actions, goal, beta=beta)
    return TorchAgent(module, name=name or f"planted-{goal}", device=device)
