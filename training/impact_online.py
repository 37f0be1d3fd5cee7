"""The seed's iterative counterfactual on one episode, by simulation, with the effects it charges (seed 002).

`iterative_effects(level, actions)` follows the seed literally: at each step `t` it runs two
simulations from the actual state `s_t` to the episode's last step, the humans acting in both: the
agent's action `a_t` then no-ops, and a no-op then no-ops. An effect `(thing, before → after, at
step k)` is charged to step `t` when it happens only in the first simulation, is not a human's own
act, and happens in the actual episode at step `k`; each is charged once. The number of simulations
is two per step whatever the number of humans (they act inside each simulation);
`per_human=True` adds the alternative that attributes effects to each human separately (one more
simulation per human per step, each with that human held still), for `benchmarks/impact_simulations.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import ConfigError
from envs.impact_world import NOOP, Effect, Level, State

EffectAt = tuple[str, str, str, int]
"""`(thing, before, after, step)`."""


@dataclass(frozen=True)
class OnlineIterative:
    """What the iterative counterfactual charged at each step, and what it cost to find out."""

    charged: tuple[tuple[EffectAt, ...], ...]
    simulations: int
    simulated_steps: int

    @property
    def total(self) -> int:
        """Effects charged over the episode."""
        return sum(len(c) for c in self.charged)


def _simulate(
    level: Level, state: State, first: int, rest: Sequence[int], start: int, idle=frozenset()
) -> set[EffectAt]:
    """Effects (not the humans' own) of `first` then `rest` from `state`, stamped with the step they happen at."""
    out: set[EffectAt] = set()
    for k, a in enumerate([first, *rest]):
        state, _, effects = level.step(state, a, idle_humans=idle)
        out |= {(e.thing, e.before, e.after, start + k) for e in effects if e.actor != "human"}
    return out


def iterative_effects(level: Level, actions: Sequence[int], *, per_human: bool = False) -> OnlineIterative:
    """Run the episode `actions` from the level's start and charge each step the effects only it causes."""
    if not actions:
        raise ConfigError("iterative_effects needs at least one action.")
    states: list[State] = [level.start]
    actual: set[EffectAt] = set()
    for t, a in enumerate(actions):
        nxt, _, effects = level.step(states[-1], int(a))
        actual |= {_key(e, t) for e in effects}
        states.append(nxt)
    horizon = len(actions)
    charged: list[tuple[EffectAt, ...]] = []
    seen: set[EffectAt] = set()
    simulations = steps = 0
    for t, a in enumerate(actions):
        rest = [NOOP] * (horizon - t - 1)
        acting = _simulate(level, states[t], int(a), rest, t)
        idle = _simulate(level, states[t], NOOP, rest, t)
        simulations += 2
        steps += 2 * (horizon - t)
        if per_human:
            for i in range(len(states[t].humans)):
                _simulate(level, states[t], int(a), rest, t, frozenset({i}))
                simulations += 1
                steps += horizon - t
        mine = {e for e in (acting - idle) & actual if e not in seen}
        seen |= mine
        charged.append(tuple(sorted(mine, key=lambda e: (e[3], e[0]))))
    return OnlineIterative(tuple(charged), simulations, steps)


def _key(e: Effect, t: int) -> EffectAt:
    return (e.thing, e.before, e.after, t)
