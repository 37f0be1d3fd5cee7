"""The response test for banned routes (seed 001): change the banned route's mechanism, see whose policy follows.

A factored agent acts as if the banned variable `b` were set by the default action, so how `b`
responds to its actions cannot matter to it; a classical agent's policy follows that mechanism.
`mechanism_response` learns both agents from exploration under the training mechanism and again
under a changed one (`resistant`: persuasion works less; the default action's `P(b | â, h)` is
kept) and measures how far each policy moves (total variation between the action distributions,
averaged over contexts), how far each agent moves `b` from its default-action distribution, and
what each scores, in total and on the allowed (direct) route, with the world's ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from envs.banned_route import ACTIONS, DIRECT, REGIMES, BannedRouteWorld
from training.factored import KINDS, fit_route_agents, route_episodes


@dataclass(frozen=True)
class MechanismResponse:
    """One row per agent kind: its policy under each mechanism, how far it moved, what it scores.

    `table` columns: `agent`, `policy_train` / `policy_changed` (action names per context),
    `tv` (total variation between the two policies, mean over contexts), and per mechanism
    (`train`, `resistant`): `score_*` (`E[S]` of the policy learned there, by the world's ground
    truth), `direct_*` (its mean direct score, the allowed route) and `b_shift_*` (how much it
    raises `P(b = 1)` above the default action's).
    """

    table: pd.DataFrame
    n_episodes: int
    seed: int

    def row(self, agent: str) -> pd.Series:
        """The row of `agent` (`classical` or `factored`)."""
        return self.table.set_index("agent").loc[agent]

    def to_dict(self) -> dict:
        """Plain JSON."""
        return {
            "n_episodes": self.n_episodes,
            "seed": self.seed,
            "agents": [
                {k: (list(v) if isinstance(v, tuple) else v) for k, v in row.items()}
                for row in self.table.to_dict(orient="records")
            ],
        }


def _evaluate(world: BannedRouteWorld, regime: str, policy: np.ndarray) -> dict[str, float]:
    contexts = range(len(policy))
    return {
        "score": float(np.mean([world.expected_score(regime, int(policy[h]), h) for h in contexts])),
        "direct": float(np.mean([DIRECT[int(policy[h]), h] for h in contexts])),
        "b_shift": float(
            np.mean([world.p_b(regime, int(policy[h])) - world.p_b(regime, world.default_action) for h in contexts])
        ),
    }


def mechanism_response(*, n_episodes: int = 4000, seed: int = 0, n_contexts: int = 4) -> MechanismResponse:
    """Learn both agents under the training mechanism and under `resistant`, and compare (see the module)."""
    world = BannedRouteWorld(n_contexts=n_contexts)
    learned = {}
    for k, regime in enumerate(REGIMES):
        kwargs = {"n_contexts": n_contexts, "shift": float(k > 0)} | ({"regime": regime} if k else {})
        episodes = route_episodes(n_episodes=n_episodes, seed=seed + 1_000_003 * k, env_kwargs=kwargs)
        learned[regime] = {
            kind: agent.policy() for kind, agent in fit_route_agents(episodes, n_contexts=n_contexts).items()
        }
    rows = []
    for kind in KINDS:
        before, after = learned[REGIMES[0]][kind], learned[REGIMES[1]][kind]
        row = {
            "agent": kind,
            "policy_train": tuple(ACTIONS[a] for a in before),
            "policy_changed": tuple(ACTIONS[a] for a in after),
            "tv": float(np.mean(before != after)),
        }
        for regime, policy in ((REGIMES[0], before), (REGIMES[1], after)):
            row.update({f"{key}_{regime}": value for key, value in _evaluate(world, regime, policy).items()})
        rows.append(row)
    return MechanismResponse(pd.DataFrame(rows), n_episodes, seed)
