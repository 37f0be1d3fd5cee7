"""The seed's omniscient agent: exact finite-horizon planning on a level's state graph, with a penalty.

`plan(graph, penalty)` runs backward induction over `(t, state)`: `Q_t(s, a) = r(s, a) − p_t(s, a) +
γ·V_{t+1}(T(s, a))`, where `p` is the penalty table (`training.impact_penalty`). Ties go to the no-op
(an agent indifferent between acting and not does not act). `Plan.rollout()` follows the plan from
the start and records each step's state, action, reward, penalty and effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError
from envs.impact_world import ACTIONS, NOOP, Effect, State
from training.impact_graph import StateGraph
from training.impact_penalty import ImpactPenalty, penalty_table

TIE = 1e-9


@dataclass(frozen=True)
class Step:
    """One step of a rollout."""

    t: int
    state: State
    action: str
    reward: float
    penalty: float
    effects: tuple[Effect, ...]
    next_state: State


@dataclass(frozen=True)
class Plan:
    """An optimal policy `policy[t, s]` (action indices) for a penalty, with its graph and penalty table."""

    graph: StateGraph
    penalty: ImpactPenalty | None
    policy: np.ndarray
    table: np.ndarray
    gamma: float

    @property
    def horizon(self) -> int:
        """Steps per episode."""
        return int(self.policy.shape[0])

    @property
    def name(self) -> str:
        """The penalty's name, or `none`."""
        return self.penalty.name if self.penalty is not None else "none"

    def rollout(self) -> list[Step]:
        """The plan followed from the level's start for `horizon` steps (or until the episode ends)."""
        g, s, steps = self.graph, 0, []
        for t in range(self.horizon):
            if g.level.terminal(g.states[s]):
                break
            a = int(self.policy[t, s])
            nxt = int(g.T[s, a])
            steps.append(Step(t, g.states[s], ACTIONS[a], float(g.R[s, a]), float(self.table[t, s, a]),
                              g.effects[s][a], g.states[nxt]))  # fmt: skip
            s = nxt
        return steps


def plan(graph: StateGraph, penalty: ImpactPenalty | None = None, *, horizon: int = 20, gamma: float = 0.99) -> Plan:
    """Backward induction over `horizon` steps with rewards minus `penalty` (none: the unpenalised agent)."""
    if not 0 < gamma <= 1:
        raise ConfigError(f"gamma must be in (0, 1], got {gamma}.")
    n = len(graph)
    table = penalty_table(graph, penalty, horizon) if penalty is not None else np.zeros((horizon, n, len(ACTIONS)))
    n = table.shape[1]  # the states the agent can reach (counterfactual worlds may have been added after them)
    T, R = graph.T[:n], graph.R[:n]
    terminal = graph.terminal()[:n]
    value = np.zeros(n)
    policy = np.zeros((horizon, n), dtype=np.int64)
    for t in reversed(range(horizon)):
        q = R - table[t] + gamma * value[T]
        q[terminal] = 0.0
        best = q.max(axis=1)
        policy[t] = np.where(q[:, NOOP] >= best - TIE, NOOP, q.argmax(axis=1))
        value = best
    return Plan(graph, penalty, policy, table, float(gamma))
