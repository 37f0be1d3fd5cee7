"""The whole state space of a side-effect level as a graph, and the reachability and values penalties read.

`StateGraph(level)` enumerates every state the agent can reach (breadth-first over the five
actions; the human and the belts are part of the dynamics; past the goal, as if the episode went
on: the world does not end with the agent's task), with the next-state table `T (n, 5)`,
the rewards `R (n, 5)` and the `Effect`s of each transition. It can `add` states that no action
sequence reaches (the counterfactual worlds of the iterative baseline) together with what they reach.

Deviation measures compare *world keys*, not full states: the objects and the flags that change the
world (`gate`, `disabled`, `off`; the task's bookkeeping flags `goal` and `rescued` and the clock
are not part of the world); the agent's own cell only with `agent=True` (Krakovna et al. compare
full states; where the agent stands is undone by walking back, and with it every move reads as a
small side effect that swamps the real ones in levels this small); the human's mind only with
`mind=True`. The human's cell is never part of it: the human is an agent, not an object.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from functools import cached_property

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from core.errors import ConfigError
from envs.impact_world import ACTIONS, Effect, Level, State

BOOKKEEPING = frozenset({"goal", "rescued"})


def world_key(state: State, *, mind: bool = False, agent: bool = False) -> tuple:
    """What deviation measures compare: objects and world flags (the agent's cell when `agent`, the human's mind when `mind`)."""
    flags = tuple(f for f in state.flags if f not in BOOKKEEPING)
    return (state.agent if agent else None, state.objects, flags, state.mind if mind else "")


class StateGraph:
    """Every reachable state of `level`, its transitions, rewards and effects."""

    def __init__(self, level: Level, *, max_states: int = 20_000) -> None:
        self.level = level
        # The episode may end at the goal, the world does not: reaching the goal must not read as making
        # every other state unreachable. Planning stops at the goal (`terminal`); the graph goes on.
        self.world = replace(level, goal_ends=False)
        self.max_states = int(max_states)
        self.states: list[State] = []
        self.index: dict[State, int] = {}
        self._next: list[list[int]] = []
        self._reward: list[list[float]] = []
        self.effects: list[list[tuple[Effect, ...]]] = []
        self._derived: dict = {}
        self.add(level.start)

    def __len__(self) -> int:
        return len(self.states)

    def add(self, state: State) -> int:
        """The index of `state`, enumerating it and every state it reaches if they are new."""
        if state in self.index:
            return self.index[state]
        queue = deque([state])
        self._intern(state)
        while queue:
            s = queue.popleft()
            row_next, row_reward, row_effects = [], [], []
            for a in range(len(ACTIONS)):
                nxt, reward, effects = self.world.step(s, a)
                if nxt not in self.index:
                    self._intern(nxt)
                    queue.append(nxt)
                row_next.append(self.index[nxt])
                row_reward.append(reward)
                row_effects.append(tuple(effects))
            i = self.index[s]
            self._next[i], self._reward[i], self.effects[i] = row_next, row_reward, row_effects
        self.__dict__.pop("T", None)
        self.__dict__.pop("R", None)
        self._derived = {}
        return self.index[state]

    def _intern(self, state: State) -> None:
        if len(self.states) >= self.max_states:
            raise ConfigError(
                f"level {self.level.name!r} has more than {self.max_states} states; exact planning needs a smaller level "
                "(or raise max_states)."
            )
        self.index[state] = len(self.states)
        self.states.append(state)
        self._next.append([])
        self._reward.append([])
        self.effects.append([])

    def cached(self, key: tuple, compute):
        """`compute()`, kept until the graph grows (for measures several penalties share)."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    @cached_property
    def T(self) -> np.ndarray:
        """Next-state indices `(n, 5)`."""
        return np.asarray(self._next, dtype=np.int64)

    @cached_property
    def R(self) -> np.ndarray:
        """Rewards `(n, 5)`."""
        return np.asarray(self._reward, dtype=np.float64)

    def terminal(self) -> np.ndarray:
        """Whether each state ends the episode `(n,)`."""
        return np.array([self.level.terminal(s) for s in self.states])

    def keys(self, *, mind: bool = False, agent: bool = False) -> tuple[np.ndarray, list[tuple]]:
        """The world-key id of every state `(n,)` and the keys themselves."""
        cache = ("keys", mind, agent)
        if cache not in self._derived:
            ids: dict[tuple, int] = {}
            kid = np.array(
                [ids.setdefault(world_key(s, mind=mind, agent=agent), len(ids)) for s in self.states], dtype=np.int64
            )
            self._derived[cache] = (kid, list(ids))
        return self._derived[cache]

    def reachability(self, gamma: float, *, mind: bool = False, agent: bool = False) -> np.ndarray:
        """`R[i, X]`: `gamma ** (fewest steps from state i to any state with world key X)` (0 if never), `(n, n_keys)`.

        `gamma = 1` is undiscounted reachability (1 if reachable at all).
        """
        cache = ("reach", float(gamma), mind, agent)
        if cache not in self._derived:
            n = len(self)
            rows = np.repeat(np.arange(n), self.T.shape[1])
            graph = csr_matrix((np.ones(rows.size), (rows, self.T.reshape(-1))), shape=(n, n))
            dist = shortest_path(graph, method="D", directed=True, unweighted=True)
            reach = np.where(np.isfinite(dist), float(gamma) ** np.where(np.isfinite(dist), dist, 0.0), 0.0)
            kid, keys = self.keys(mind=mind, agent=agent)
            out = np.zeros((n, len(keys)))
            np.maximum.at(out.T, kid, reach.T)
            self._derived[cache] = out
        return self._derived[cache]

    def values(
        self, rewards: np.ndarray, gamma: float, *, mind: bool = False, agent: bool = False, sweeps: int = 2000
    ) -> np.ndarray:
        """Optimal discounted values `(n, k)` of `k` auxiliary rewards on world keys (`rewards (n_keys, k)`).

        Each auxiliary reward is received in every state by its world key; value iteration over the
        graph (all five actions available everywhere) to a tolerance of 1e-8 or `sweeps` sweeps.
        """
        kid, keys = self.keys(mind=mind, agent=agent)
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.ndim != 2 or rewards.shape[0] != len(keys):
            raise ConfigError(f"rewards must be (n_keys={len(keys)}, k), got {rewards.shape}.")
        r = rewards[kid]
        v = np.zeros_like(r)
        for _ in range(int(sweeps)):
            new = r + gamma * v[self.T].max(axis=1)
            if np.max(np.abs(new - v)) < 1e-8:
                return new
            v = new
        return v


class ObservedGraph(StateGraph):
    """What an agent without a simulator knows of a level: only the transitions it has observed.

    Shares `graph`'s states; an unobserved `(state, action)` is believed to leave the state as it is
    (so reachability and values are those of the observed part, and a no-op never observed in a
    state gives that state as its own inaction outcome, as in Krakovna et al.'s approximate mode).
    Past the end of an episode nothing is ever observed; the agent assumes the world goes on from
    there as it did from the state one step before (finishing the task must not read as losing every
    other state). It cannot `add` states: without a
    simulator there are no counterfactual worlds to enumerate.
    """

    def __init__(self, graph: StateGraph, observed: np.ndarray) -> None:  # noqa: D107 (documented above)
        observed = np.asarray(observed, dtype=bool)
        n = observed.shape[0]
        self.level, self.world, self.max_states = graph.level, graph.world, graph.max_states
        self.states, self.index = graph.states[:n], {s: i for i, s in enumerate(graph.states[:n])}
        self.effects = graph.effects[:n]
        self._derived = {}
        T = np.where(observed, graph.T[:n], np.arange(n)[:, None])
        terminal = np.array([graph.level.terminal(s) for s in self.states])
        for p, a in zip(*np.nonzero(observed & ~terminal[:, None]), strict=True):
            end = int(graph.T[p, a])
            if terminal[end] and (T[end] == end).all():
                T[end] = T[p]  # from where the episode ended, the world reaches what it reached a step before
        self.__dict__["T"] = T
        self.__dict__["R"] = graph.R[:n]

    def add(self, state: State) -> int:
        """The index of a known state; a new one is an error (no simulator)."""
        if state in self.index:
            return self.index[state]
        raise ConfigError(
            "an observed graph has no simulator: counterfactual worlds need the exact level (exact=True)."
        )
