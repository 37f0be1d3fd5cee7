"""Agents that learn under an impact penalty (seed 002): tabular Q-learning, and a reward wrapper for any RL library.

- `q_learning(graph, penalty)`: the anchor's agent (Krakovna et al. 2019): tabular Q-learning,
  ε-greedy with optimistic initial values, on the reward minus the penalty, with exact baselines
  (the level is simulated, as in their `exact` mode), its experience replayed to convergence at
  the end. The state is `(t, s)`: the inaction baseline's penalty depends on time. Unlike the
  planner it only knows the transitions it tried.
- `ImpactPenaltyWrapper(env, penalty)`: a `gymnasium.Wrapper` for `mesaprobe/SideEffects-v0` that
  subtracts the penalty from each step's reward (`info["penalty"]`), so a Stable-Baselines3 agent
  trains with any baseline × deviation measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import gymnasium as gym
import numpy as np

from core.errors import ConfigError
from envs.impact_levels import level as make_level
from envs.impact_world import ACTIONS
from training.impact_graph import ObservedGraph, StateGraph
from training.impact_penalty import ImpactPenalty, penalty_table
from training.impact_planning import Plan


@dataclass(frozen=True)
class QLearning:
    """A Q-learning run: the greedy plan it ends with and the penalised return of each training episode."""

    plan: Plan
    returns: np.ndarray
    seed: int


def q_learning(
    graph: StateGraph,
    penalty: ImpactPenalty | None = None,
    *,
    horizon: int = 20,
    episodes: int = 1500,
    lr: float = 1.0,
    epsilon: float = 0.2,
    gamma: float = 0.99,
    optimism: float = 50.0,
    exact: bool = True,
    refit_every: int = 100,
    seed: int = 0,
) -> QLearning:
    """Tabular Q-learning on `graph`'s level for `episodes` episodes; ε decays linearly to 0 over the first 80 %.

    The level is deterministic, so the default learning rate is 1 (each update is exact given the next values).
    `optimism` initialises every Q-value to that value (above the best return, it makes the agent try
    every action before trusting any: exploration for long detours that ε-greedy rarely finds).

    With `exact=False` the agent has no simulator: its penalty is computed on the transitions it has
    observed so far (`ObservedGraph`), recomputed every `refit_every` episodes; the iterative
    baselines need a simulator of the human and are refused.
    """
    if episodes < 1 or not 0 < lr <= 1 or not 0 <= epsilon <= 1 or refit_every < 1:
        raise ConfigError("episodes and refit_every must be >= 1, lr in (0, 1] and epsilon in [0, 1].")
    if not exact and penalty is not None and penalty.baseline.startswith("iterative"):
        raise ConfigError(
            f"baseline {penalty.baseline!r} simulates the human's response and needs exact=True; "
            "without a simulator use start, inaction or stepwise."
        )
    n_actions = len(ACTIONS)
    table = (
        penalty_table(graph, penalty, horizon) if penalty is not None else np.zeros((horizon, len(graph), n_actions))
    )
    n = table.shape[1]
    observed = np.zeros((n, n_actions), dtype=bool)
    learned_model = not exact and penalty is not None
    if learned_model:
        table = penalty_table(ObservedGraph(graph, observed), penalty, horizon)
    T, R, terminal = graph.T[:n], graph.R[:n], graph.terminal()[:n]
    q = np.zeros((horizon + 1, n, n_actions))
    q[:horizon] = optimism
    tried = np.zeros(q.shape, dtype=bool)
    rng = np.random.default_rng(seed)
    returns = np.empty(episodes)
    for ep in range(episodes):
        if learned_model and ep and ep % refit_every == 0:
            table = penalty_table(ObservedGraph(graph, observed), penalty, horizon)
        eps = epsilon * max(0.0, 1.0 - ep / (0.8 * episodes))
        s, total = 0, 0.0
        for t in range(horizon):
            if terminal[s]:
                break
            # Ties broken at random while learning: towards the no-op, an untried state's all-zero row would
            # make waiting look best and every task late.
            row = q[t, s]
            if rng.random() < eps:
                a = int(rng.integers(n_actions))
            else:
                ties = np.flatnonzero(row >= row.max() - 1e-9)
                a = int(ties[0]) if len(ties) == 1 else int(ties[rng.integers(len(ties))])
            nxt = int(T[s, a])
            r = R[s, a] - table[t, s, a]
            target = r + (0.0 if terminal[nxt] else gamma * q[t + 1, nxt].max())
            q[t, s, a] += lr * (target - q[t, s, a])
            tried[t, s, a] = True
            observed[s, a] = True
            total += r
            s = nxt
        returns[ep] = total
    if learned_model:
        table = penalty_table(ObservedGraph(graph, observed), penalty, horizon)
    # Replay the experience to convergence (backwards in time, exact for a deterministic level), trusting
    # only what was tried: an untried action keeps its optimistic start, which must not survive into the policy.
    value = np.zeros(n)
    policy = np.zeros((horizon, n), dtype=np.int64)
    for t in reversed(range(horizon)):
        trusted = np.where(tried[t], R - table[t] + gamma * np.where(terminal[T], 0.0, value[T]), -np.inf)
        best = trusted.max(axis=1)
        policy[t] = np.where(trusted[:, 4] >= best - 1e-9, 4, trusted.argmax(axis=1))
        policy[t][~tried[t].any(axis=1)] = 4
        value = np.where(np.isfinite(best), best, 0.0)
        value[terminal] = 0.0
    return QLearning(Plan(graph, penalty, policy, table, float(gamma)), returns, int(seed))


class ImpactPenaltyWrapper(gym.Wrapper):
    """Subtract an impact penalty from `mesaprobe/SideEffects-v0`'s reward, for any RL library.

    The penalty of the step from the current state (`env.unwrapped.state`) at step `t` is read from
    a table computed once per regime's level (exact baselines). `info["penalty"]` is what was
    subtracted; `info["base_reward"]` the level's own reward.
    """

    def __init__(self, env: gym.Env, penalty: ImpactPenalty) -> None:
        super().__init__(env)
        u = env.unwrapped
        if not isinstance(getattr(u, "levels", None), dict):
            raise ConfigError("ImpactPenaltyWrapper wraps mesaprobe/SideEffects-v0 (it reads the world model's state).")
        self.penalty = penalty
        # One computation per level, penalty and episode length, shared by every copy of the env (a VecEnv's).
        self._graphs, self._tables = _graphs_and_tables(u.level_name, penalty, u.max_steps)
        self._t = 0
        self._moved = False

    def reset(self, **kwargs):
        """Reset the level and the step count."""
        self._t = 0
        obs, info = self.env.reset(**kwargs)
        self._moved = bool(info["s"])
        return obs, info

    def step(self, action):
        """One step, the penalty subtracted from the reward."""
        moved = self._moved
        s = self._graphs[moved].index[self.env.unwrapped.state]
        t = min(self._t, self._tables[moved].shape[0] - 1)
        cost = float(self._tables[moved][t, s, int(action)])
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._t += 1
        info = {**info, "penalty": cost, "base_reward": float(reward)}
        return obs, float(reward) - cost, terminated, truncated, info


@lru_cache(maxsize=16)
def _graphs_and_tables(level_name: str, penalty: ImpactPenalty, horizon: int) -> tuple[dict, dict]:
    """Per regime (`moved` or not), the level's state graph and its penalty table."""
    graphs = {moved: StateGraph(make_level(level_name, moved=moved)) for moved in (False, True)}
    return graphs, {moved: penalty_table(g, penalty, horizon) for moved, g in graphs.items()}
