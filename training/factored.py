"""Classical and factored agents for BannedRouteWorld (seed 001), learned from episodes.

Both agents estimate the world from exploration episodes: `P(b = β | a, h)` and
`E[S | b = β, a, h]` (`RouteModel`, tabular, smoothed towards the overall means). The *classical*
agent then maximises `E[S | a, h] = Σ_β P(b = β | a, h)·E[S | b = β, a, h]`; the *factored* agent
maximises `Σ_β P(b = β | â, h)·E[S | b = β, a, h]`, acting as if the banned variable `b` were set
by the default action `â`, so moving `b` earns it nothing (the seed's "factoring out certain routes";
the counterfactually uninfluenceable agent).

Both are `training.Agent`s: a bias-free linear layer `values` from the one-hot context to one value
per action (the table the agent maximises), so probes and hooks read them like any network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

import envs
from core.errors import ConfigError, DataError
from envs.banned_route import ACTIONS, BannedRouteWorld

KINDS: tuple[str, ...] = ("classical", "factored")


@dataclass(frozen=True)
class RouteModel:
    """Tabular estimates of the banned route's mechanism and of the score given it.

    `p_b (A, C)`: `P(b = 1 | a, h)`; `score (2, A, C)`: `E[S | b = β, a, h]`; `counts (2, A, C)`:
    the episodes behind each cell. Cells are shrunk towards the pooled mean with `prior` pseudo-episodes.
    """

    p_b: np.ndarray
    score: np.ndarray
    counts: np.ndarray

    @classmethod
    def fit(cls, episodes: pd.DataFrame, *, n_actions: int, n_contexts: int, prior: float = 1.0) -> RouteModel:
        """Estimate from episodes with columns `context`, `action` (index), `b`, `score`."""
        missing = {"context", "action", "b", "score"} - set(episodes.columns)
        if missing:
            raise DataError(f"episodes lack the columns {sorted(missing)}; use training.factored.route_episodes.")
        if len(episodes) < n_actions * n_contexts:
            raise DataError(
                f"{len(episodes)} episodes for {n_actions * n_contexts} (action, context) cells; collect more."
            )
        a, h = episodes["action"].to_numpy(int), episodes["context"].to_numpy(int)
        b, s = episodes["b"].to_numpy(int), episodes["score"].to_numpy(float)
        n_ah = np.zeros((n_actions, n_contexts))
        np.add.at(n_ah, (a, h), 1.0)
        pb = np.zeros((n_actions, n_contexts))
        np.add.at(pb, (a, h), b)
        p_b = (pb + prior * b.mean()) / (n_ah + prior)
        counts = np.zeros((2, n_actions, n_contexts))
        sums = np.zeros((2, n_actions, n_contexts))
        np.add.at(counts, (b, a, h), 1.0)
        np.add.at(sums, (b, a, h), s)
        pooled = np.array([s[b == k].mean() if (b == k).any() else s.mean() for k in (0, 1)])[:, None, None]
        score = (sums + prior * pooled) / (counts + prior)
        return cls(p_b, score, counts)

    def classical_values(self) -> np.ndarray:
        """`E[S | a, h]` `(A, C)`."""
        return (1 - self.p_b) * self.score[0] + self.p_b * self.score[1]

    def factored_values(self, default_action: int) -> np.ndarray:
        """`Σ_β P(b = β | â, h)·E[S | b = β, a, h]` `(A, C)`."""
        q = self.p_b[default_action][None, :]
        return (1 - q) * self.score[0] + q * self.score[1]


class RouteAgent(nn.Module):
    """An agent that takes, in each context, the action of highest value in its table (`values`)."""

    def __init__(self, values: np.ndarray, kind: str) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}.")
        n_actions, n_contexts = values.shape
        self.kind = kind
        self.values = nn.Linear(n_contexts, n_actions, bias=False).double()
        with torch.no_grad():
            self.values.weight.copy_(torch.as_tensor(values, dtype=torch.float64))

    @property
    def table(self) -> np.ndarray:
        """The values `(A, C)` the agent maximises."""
        return self.values.weight.detach().numpy().copy()

    def policy(self) -> np.ndarray:
        """The action the agent takes in each context `(C,)`."""
        return self.table.argmax(axis=0)

    def act(self, obs: np.ndarray, *, deterministic: bool = True, rng: np.random.Generator | None = None) -> np.ndarray:
        """Actions `(B,)` for one-hot contexts `(B, C)` (greedy; the tables hold expected scores)."""
        with torch.no_grad():
            return self.values(torch.as_tensor(np.asarray(obs, dtype=np.float64))).argmax(dim=-1).numpy()


def route_episodes(
    *, n_episodes: int, seed: int = 0, env_kwargs: dict | None = None, policy: RouteAgent | None = None
) -> pd.DataFrame:
    """Episodes of BannedRouteWorld: `context`, `action`, `b`, `score`, `s`, `regime`, `p_b`.

    Actions are uniform at random (exploration) unless `policy` is given. Episode `k` is reset
    with seed `seed + k`; actions are drawn from `seed` alone.
    """
    if n_episodes < 1:
        raise ConfigError(f"n_episodes must be >= 1, got {n_episodes}.")
    world = envs.make("mesaprobe/BannedRouteWorld-v0", **(env_kwargs or {}))
    rng = np.random.default_rng([seed, 7])
    rows = []
    for k in range(int(n_episodes)):
        obs, _ = world.reset(seed=seed + k)
        a = int(policy.act(obs[None])[0]) if policy is not None else int(rng.integers(world.action_space.n))
        _, score, _, _, info = world.step(a)
        rows.append(
            {
                "context": info["context"],
                "action": a,
                "b": info["b"],
                "score": score,
                "s": info["s"],
                "regime": info["regime"],
                "p_b": info["p_b"],
            }
        )
    world.close()
    return pd.DataFrame(rows)


def fit_route_agents(
    episodes: pd.DataFrame, *, n_contexts: int | None = None, prior: float = 1.0
) -> dict[str, RouteAgent]:
    """The classical and the factored agent learned from the same exploration `episodes`.

    `n_contexts` defaults to the contexts the episodes show (`max(context) + 1`); give it when
    some contexts never occurred.
    """
    if n_contexts is None:
        n_contexts = int(episodes["context"].max()) + 1
    model = RouteModel.fit(episodes, n_actions=len(ACTIONS), n_contexts=n_contexts, prior=prior)
    return {
        "classical": RouteAgent(model.classical_values(), "classical"),
        "factored": RouteAgent(model.factored_values(BannedRouteWorld.default_action), "factored"),
    }
