"""Side-effect penalties (seed 002): a baseline (what the world would have been) × a deviation measure.

Baselines, after Krakovna et al. (2019) and the seed:

- `start`: the starting state.
- `inaction`: the *naive inaction* counterfactual: the world at the same time had the agent done
  nothing from the start (the human and the belts act as they would).
- `stepwise`: stepwise inaction with inaction rollouts: each step, the agent's action against a
  no-op from the same state, both followed by `rollout_steps` no-ops; the human reacts to what
  happened in each rollout, so the human's reactions to the agent count as the agent's effects.
- `iterative`: the seed's iterative counterfactual. As `stepwise`, but the human is an agent, not
  an object: whatever the human changes in the acting rollout is copied into the no-op rollout
  before the two are compared, so the human's own effects are never the agent's, even when the
  agent prompted them. The no-op and the action are compared from the same state each step, so
  each of the agent's effects is counted once (at the step that caused it).
- `iterative_persuasion`: the iterative counterfactual with the human's *mind* as part of the
  world: changing what the human wants (ringing the bell) is the agent's effect; changing what
  the human can do (opening a gate, putting a vase within reach) is not.

Deviation measures (`truncated`: only losses count; otherwise `absolute`, gains count too):
unreachability `1 − R(s; b)`, relative reachability `mean_X f(R(b; X) − R(s; X))` (over the worlds
`X` reachable from either state) and attainable utility `(1 − γ)·mean_r f(V_r(b) − V_r(s))` over
`n_aux` random auxiliary rewards on world keys, with `R(x; X) = gamma_reach ** steps`; the defaults
are Krakovna et al.'s (β = 30, discounts 0.99). Unreachability reads only losses, so its two variants coincide.

Simplifications, stated: penalties are computed for every state and action in advance (the agent
plans with them), so the seed's "effects that match the actual outcome" is not applied (the actual
future is the plan's own); rollouts ignore the episode's end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core.errors import ConfigError, unknown_name
from envs.impact_world import NOOP
from training.impact_graph import StateGraph

BASELINES: tuple[str, ...] = ("start", "inaction", "stepwise", "iterative", "iterative_persuasion")
DEVIATIONS: tuple[str, ...] = ("unreachability", "relative_reachability", "attainable_utility")
SHORT = {"unreachability": "UR", "relative_reachability": "RR", "attainable_utility": "AU"}


@dataclass(frozen=True)
class ImpactPenalty:
    """One penalty: `beta × deviation(current, baseline)` per step (`agent_cell`: compare the agent's cell too)."""

    baseline: str
    deviation: str = "relative_reachability"
    truncated: bool = True
    beta: float = 30.0
    gamma_reach: float = 0.99
    rollout_steps: int = 12
    n_aux: int = 20
    gamma_aux: float = 0.99
    agent_cell: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise unknown_name("baseline", self.baseline, BASELINES)
        if self.deviation not in DEVIATIONS:
            raise unknown_name("deviation measure", self.deviation, DEVIATIONS)
        if self.beta < 0 or not 0 < self.gamma_reach <= 1 or not 0 < self.gamma_aux < 1:
            raise ConfigError("beta must be >= 0, gamma_reach in (0, 1] and gamma_aux in (0, 1).")
        if self.rollout_steps < 0 or self.n_aux < 1:
            raise ConfigError("rollout_steps must be >= 0 and n_aux >= 1.")

    @property
    def name(self) -> str:
        """`baseline/UR|RR|AU/trunc|abs`."""
        return f"{self.baseline}/{SHORT[self.deviation]}/{'trunc' if self.truncated else 'abs'}"

    @property
    def mind(self) -> bool:
        """Whether the human's mind is part of the world this penalty compares."""
        return self.baseline == "iterative_persuasion"


class _Deviation:
    """`d(x, y)` for arrays of state indices (`x` actual, `y` baseline), vectorised."""

    def __init__(self, graph: StateGraph, penalty: ImpactPenalty) -> None:
        self.graph, self.p = graph, penalty
        self._values: np.ndarray | None = None

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        g, p = self.graph, self.p
        where = {"mind": p.mind, "agent": p.agent_cell}
        kid, keys = g.keys(**where)
        clip = (lambda d: np.maximum(d, 0.0)) if p.truncated else np.abs
        if p.deviation == "unreachability":
            return 1.0 - g.reachability(p.gamma_reach, **where)[x, kid[y]]
        if p.deviation == "relative_reachability":
            reach = g.reachability(p.gamma_reach, **where)
            rx, ry = reach[x], reach[y]
            # Averaged over the worlds reachable from either state, as Krakovna et al.'s implementation does:
            # over all worlds, a small level's vase would weigh as much as a large one's.
            either = (rx > 0) | (ry > 0)
            return (clip(ry - rx) * either).sum(axis=-1) / np.maximum(either.sum(axis=-1), 1)
        if self._values is None:

            def values() -> np.ndarray:
                rewards = np.random.default_rng(p.seed).random((len(keys), p.n_aux))
                return g.values(rewards, p.gamma_aux, **where) * (1.0 - p.gamma_aux)  # per-step utility scale

            # Shared by every baseline on this graph.
            self._values = g.cached(("au", p.seed, p.n_aux, p.gamma_aux, p.mind, p.agent_cell), values)
        return clip(self._values[y] - self._values[x]).mean(axis=-1)


def noop_chain(graph: StateGraph, start: np.ndarray, steps: int) -> np.ndarray:
    """`(steps + 1, *start.shape)`: the states after 0, 1, ..., `steps` no-ops from each of `start`."""
    out = [np.asarray(start)]
    for _ in range(int(steps)):
        out.append(graph.T[out[-1], NOOP])
    return np.stack(out)


def _replay(graph: StateGraph, s: int, a: int, act: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """The no-op rollout `rest` from `s` with the human's changes in the acting rollout `act` (`a`, then no-ops) copied in."""
    out = np.empty(len(act), dtype=np.int64)
    changed: set[str] = set()
    effects = graph.effects[s][a]
    for k in range(len(act)):
        if k > 0:
            effects = graph.effects[int(act[k - 1])][NOOP]
        changed |= {e.thing for e in effects if e.actor == "human"}
        acting, idle = graph.states[int(act[k])], graph.states[int(rest[k])]
        state = replace(idle, humans=acting.humans)
        for name in changed:
            if any(n == name for n, _, _ in state.objects):
                cell, status = acting.obj(name)
                state = state.with_object(name, cell, status)
        out[k] = graph.add(state) if state != idle else int(rest[k])
    return out


def penalty_table(graph: StateGraph, penalty: ImpactPenalty, horizon: int) -> np.ndarray:
    """`beta × d` for every time step, state and action: `(horizon, n_states, 5)` (0 after the episode ends)."""
    if horizon < 1:
        raise ConfigError(f"horizon must be >= 1, got {horizon}.")
    n0 = len(graph)
    T = graph.T[:n0]
    K = penalty.rollout_steps
    # Rollouts from the agent's own states, before any counterfactual world is added: those states and their
    # transitions do not change when the graph grows.
    acting = noop_chain(graph, T, K)  # (K + 1, n, 5)
    idle = np.broadcast_to(noop_chain(graph, T[:, NOOP], K)[:, :, None], acting.shape)
    if penalty.baseline in ("iterative", "iterative_persuasion"):
        idle = np.stack(
            [_replay(graph, s, a, acting[:, s, a], idle[:, s, a]) for s in range(n0) for a in range(T.shape[1])],
            axis=1,
        ).reshape(K + 1, n0, T.shape[1])
    d = _Deviation(graph, penalty)  # after the replays: its tables must cover the worlds they added
    if penalty.baseline == "start":
        table = np.broadcast_to(d(T, np.zeros_like(T)), (horizon, *T.shape))
    elif penalty.baseline == "inaction":
        base = noop_chain(graph, np.array(0), horizon)
        table = np.stack([d(T, np.full_like(T, int(base[t + 1]))) for t in range(horizon)])
    else:
        weights = penalty.gamma_reach ** np.arange(K + 1)
        weights /= weights.sum()
        per_step = sum(w * d(acting[k], idle[k]) for k, w in enumerate(weights))  # one rollout step at a time: memory
        table = np.broadcast_to(per_step, (horizon, *T.shape))
    terminal = graph.terminal()[:n0]
    table = np.array(table) * penalty.beta
    table[:, terminal, :] = 0.0
    return table
