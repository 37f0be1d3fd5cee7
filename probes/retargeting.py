"""Retargeting: move the goal the agent represents and see whether the agent follows.

A probe that reads the cheese's cell out of an agent's activations says the cheese is
*represented*; it does not say the agent *pursues* it. Retargeting asks the causal question: edit
the activations along the probe so that it reads a different cell (`retarget`), roll the agent out
in mazes where that cell is off its way, and count how often it walks there — next to random
edits of the same norm at the same places, the unsteered agent, and the goal moved in the
observation itself (the ceiling: what the agent does when the goal really is there).

`goal_probe` fits the `SpatialProbe`, `pick_target` chooses the target cell of a maze (reachable,
off every shortest path from the start to the goal), `retargeting_rate` runs every condition as
one batched rollout per condition (each maze its own edit, through `steer_rows`), and
`analysis.figures.retargeting_figure` plots success against edit strength.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.errors import ConfigError, DataError
from envs.grid import cell_columns, cell_objects, goal_cell, pick_target
from probes.collect import EnvSpec, collect, make_env
from probes.spatial import SpatialProbe, site_grid
from probes.steering import Intervention, random_control, steer_rows

UNSTEERED = "unsteered"
STEERED = "steered"
CONTROL = "random control"
MOVED = "goal moved in the input"


def is_control(conditions: pd.Series) -> pd.Series:
    """Which rows of a `retargeting_rate` table's `condition` column are random controls (`"random control {k}"`)."""
    return conditions.astype(str).str.startswith(CONTROL)


def _grid_env(env) -> Any:
    base = env.unwrapped
    if not (hasattr(type(base), "walls") and hasattr(type(base), "agent_cell")):
        raise DataError(
            f"retargeting needs a grid environment that exposes `walls` and `agent_cell` (envs.GridEnv does); "
            f"{type(base).__name__} does not."
        )
    return base


@dataclass(frozen=True)
class GoalProbe:
    """A fitted `SpatialProbe` of `goal`'s cell at `site`, with its held-out accuracy and the chance level."""

    probe: SpatialProbe
    site: str
    goal: str
    accuracy: float
    chance: float
    n_train: int
    n_test: int


def goal_probe(
    agent: Any,
    env: EnvSpec,
    site: str,
    goal: str,
    *,
    n_episodes: int = 300,
    kernel: int = 3,
    alpha: float = 10.0,
    shift: float = 1.0,
    test_fraction: float = 0.25,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> GoalProbe:
    """Fit a `SpatialProbe` of `goal`'s cell on `site` at each episode's first step; score it on held-out episodes.

    Where the environment has a `wall` channel, the probe tells the goal's cell from the other open
    cells (`SpatialProbe.fit(cells=...)`), so "this cell is open" stays out of its direction, and
    `chance` is one over the number of open cells.

    `alpha` is the probe's L2 penalty: a strong one (the default) keeps the accuracy on grid
    activations and turns the weights towards the mean difference of the activations with and
    without the goal at a cell, which steers better than the sharpest discriminating direction.
    """
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    data = collect(agent, env, shift=shift, n_episodes=n_episodes, layers=[site], seed=seed, env_kwargs=env_kwargs)
    first = data.first_steps()
    cols = list(cell_columns(goal))
    missing = [c for c in cols if c not in first.table]
    if missing:
        raise DataError(f"the rollouts have no ground-truth columns {missing}; goal {goal!r} needs a cell.")
    y = first.table[cols].to_numpy()
    raw = first.site(site)
    obs = first.site("obs").reshape(len(raw), *data.meta["obs_shape"])
    X = raw.reshape(len(raw), *site_grid(agent, site, obs[0]))
    n_test = max(1, int(round(test_fraction * len(X))))
    if len(X) - n_test < 2:
        raise ConfigError(f"n_episodes={n_episodes} leaves too few episodes to fit the probe; use at least 10.")
    cells = _open_cells(env, shift, env_kwargs, obs)
    train, test = slice(None, -n_test), slice(-n_test, None)
    probe = SpatialProbe(alpha=alpha, kernel=kernel).fit(X[train], y[train], None if cells is None else cells[train])
    n_cells = X.shape[2] * X.shape[3] if cells is None else cells[test].reshape(n_test, -1).sum(axis=1)
    return GoalProbe(
        probe=probe,
        site=site,
        goal=goal,
        accuracy=probe.score(X[test], y[test], None if cells is None else cells[test]),
        chance=float(np.mean(1.0 / n_cells)),
        n_train=len(X) - n_test,
        n_test=n_test,
    )


def _open_cells(env: EnvSpec, shift: float, env_kwargs: dict[str, Any] | None, obs: np.ndarray) -> np.ndarray | None:
    """Cells not under a wall in each observation (None when the environment names no `wall` channel)."""
    made = make_env(env, shift, env_kwargs)
    channels = list(getattr(made.unwrapped, "channels", ()))
    made.close()
    return None if "wall" not in channels else obs[:, channels.index("wall")] < 0.5


def retarget(
    probe: SpatialProbe,
    site: str,
    *,
    source: tuple[int, int],
    target: tuple[int, int],
    scale: float = 1.0,
    name: str | None = None,
) -> Intervention:
    """Add `a · (pattern[target] − pattern[source])` at `site`: the probe's read-out moves from `source` to `target`.

    The pattern is `SpatialProbe.cell_pattern`, the activation change the probe reads as the goal.
    `scale` is in units of the probe's own margin: at `scale = 1` the edit raises
    `logit[target] − logit[source]` by twice `probe.margin_` (the mean amount by which the true
    cell's logit beats the mean of the other cells' on the fitting data, biases left out), which
    roughly swaps the two cells' read-outs (the footprint also touches the target's neighbours).
    Positions are the kernel's footprint around both cells.
    """
    if tuple(source) == tuple(target):
        raise ConfigError(f"source and target are the same cell {tuple(source)}; retargeting needs two cells.")
    d = (probe.cell_pattern(target) - probe.cell_pattern(source)).reshape(-1)
    g = (probe.cell_direction(target) - probe.cell_direction(source)).reshape(-1)
    positions = np.flatnonzero(d)
    gain = float(d @ g)  # how far one unit of the pattern moves logit[target] - logit[source]
    if not len(positions) or gain <= 0.0:
        raise DataError("the probe's weights are all zero; it reads no goal and gives no direction to steer along.")
    if probe.margin_ <= 0:
        raise DataError(
            f"the probe's margin is {probe.margin_:.3g}: it does not single out the goal's cell, so its direction is no "
            f"representation of the goal to steer along. Fit it on more episodes or at another site."
        )
    a = float(scale) * 2.0 * probe.margin_ / gain
    return Intervention(
        site=site,
        direction=tuple(float(v) for v in d[positions]),
        scale=a,
        positions=tuple(int(p) for p in positions),
        mode="add",
        name=name or f"{tuple(source)} -> {tuple(target)} x{scale:g}",
    )


@dataclass(frozen=True)
class _Maze:
    seed: int
    goal: tuple[int, int]
    target: tuple[int, int]


def _mazes(env, n: int, goal: str, seed: int, min_distance: int) -> list[_Maze]:
    base = _grid_env(env)
    out: list[_Maze] = []
    i = 0
    while len(out) < n:
        if i >= 20 * n:
            raise DataError(f"found only {len(out)} of {n} mazes with a target cell off the way to the goal.")
        reset_seed = seed * 100_003 + i
        _, info = env.reset(seed=reset_seed)
        g = goal_cell(info, goal)
        t = pick_target(base.walls, base.agent_cell, g, np.random.default_rng([seed, i]), min_distance=min_distance)
        if t is not None:
            out.append(_Maze(reset_seed, g, t))
        i += 1
    return out


def _rollout(
    agent: Any,
    env_fn: Callable[[], Any],
    mazes: Sequence[_Maze],
    ivs: Sequence[Intervention | None],
    *,
    move_goal: int | None,
    seed: int,
    deterministic: bool,
) -> np.ndarray:
    """One batched rollout, maze `i` in row `i`; `True` where the agent stood on its target before the episode ended."""
    envs_: list[Any] = []
    try:
        envs_ = [env_fn() for _ in mazes]
        obs = np.stack([e.reset(seed=m.seed)[0] for e, m in zip(envs_, mazes, strict=True)])
        hit = np.zeros(len(mazes), dtype=bool)
        live = np.ones(len(mazes), dtype=bool)
        rng = np.random.default_rng(seed)
        if move_goal is not None:
            rows = np.arange(len(mazes))
            src, dst = np.array([m.goal for m in mazes]), np.array([m.target for m in mazes])
        with steer_rows(agent, ivs):
            while live.any():
                batch = obs.copy()
                if move_goal is not None:
                    batch[rows, move_goal, src[:, 0], src[:, 1]] = 0.0
                    batch[rows, move_goal, dst[:, 0], dst[:, 1]] = 1.0
                actions = agent.act(batch, deterministic=deterministic, rng=rng)
                for i in np.flatnonzero(live):
                    o, _, term, trunc, _ = envs_[i].step(actions[i])
                    obs[i] = o
                    if envs_[i].unwrapped.agent_cell == mazes[i].target:
                        hit[i], live[i] = True, False
                    elif term or trunc:
                        live[i] = False
    finally:
        for e in envs_:
            e.close()
    return hit


def _sub_seed(*keys: int) -> int:
    """An integer seed derived from `keys` (independent streams for distinct keys)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def _interval(hits: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Clopper–Pearson interval of a success rate."""
    from scipy.stats import binomtest

    ci = binomtest(int(hits), int(n)).proportion_ci(confidence_level=1 - alpha, method="exact")
    return float(ci.low), float(ci.high)


def retargeting_rate(
    agent: Any,
    env: EnvSpec,
    probe: SpatialProbe,
    site: str,
    *,
    goal: str,
    scales: Sequence[float] = (1.0,),
    n_episodes: int = 50,
    n_controls: int = 3,
    shift: float = 1.0,
    min_distance: int = 2,
    seed: int = 0,
    deterministic: bool = False,
    env_kwargs: dict[str, Any] | None = None,
    references: bool = True,
) -> pd.DataFrame:
    """How often does steering along `probe` take the agent to a target cell it would not visit?

    For `n_episodes` mazes at `shift`, each with its own target (`pick_target`), the agent is
    rolled out unsteered, with the goal moved in the observation (when `goal` is one of the
    environment's channels), and for every scale: steered (`retarget` from the goal's cell to the
    target) and under `n_controls` random controls (`random_control`, Gaussian directions of the
    same norm at the same positions). Success: the agent stands on the target before the episode
    ends (CheeseMaze ends at the real cheese). All conditions share mazes and action noise. Returns
    one row per (scale, condition): `scale` (NaN for the two scale-free rows), `condition`,
    `success_rate` with its 95 % Clopper–Pearson interval `ci_low`/`ci_high`, `n_episodes`,
    `success_rate_solvable` and `n_solvable` (the same over the mazes where the agent reached the
    target with the goal moved in the input, in a separate rollout with its own action noise:
    steering measured where the agent can do what it is steered to; None without that condition),
    `norm` (mean edit norm); `attrs["mazes"]` lists each maze's reset seed, goal and target cell.
    `references=False` leaves out the unsteered and goal-moved rollouts (and the solvable columns).
    """
    if n_episodes < 1 or n_controls < 0:
        raise ConfigError(f"n_episodes must be >= 1 and n_controls >= 0, got {n_episodes}, {n_controls}.")
    if not scales or not all(np.isfinite(s) and s > 0 for s in scales):
        raise ConfigError(f"scales must be positive numbers, got {list(scales)}.")
    if not hasattr(probe, "coef_"):
        raise DataError("the probe is not fitted; fit it (or use goal_probe) first.")
    if getattr(agent, "recurrent", False):
        raise ConfigError(
            "retargeting rolls out feed-forward agents (one act() call per step, no memory slots); "
            "steer a recurrent agent with probes.steer and your own rollout loop."
        )

    def env_fn():
        return make_env(env, shift, env_kwargs)

    probe_env = env_fn()
    try:
        channels = tuple(getattr(_grid_env(probe_env), "channels", ()))
        mazes = _mazes(probe_env, n_episodes, goal, seed, min_distance)
    finally:
        probe_env.close()
    run = dict(env_fn=env_fn, mazes=mazes, deterministic=deterministic)
    rows: list[dict[str, Any]] = []
    solvable: np.ndarray | None = None

    def add(scale: float, condition: str, hits: np.ndarray, ivs: Sequence[Intervention | None]) -> None:
        norms = [iv.norm for iv in ivs if iv is not None]
        lo, hi = _interval(hits.sum(), len(hits))
        some = solvable is not None and solvable.any()
        rows.append(
            {
                "scale": scale,
                "condition": condition,
                "success_rate": float(hits.mean()),
                "ci_low": lo,
                "ci_high": hi,
                "n_episodes": len(hits),
                "success_rate_solvable": float(hits[solvable].mean()) if some else None,
                "n_solvable": None if solvable is None else int(solvable.sum()),
                "norm": float(np.mean(norms)) if norms else 0.0,
            }
        )

    none = [None] * len(mazes)
    movable = references and goal in channels
    if movable:
        # Which mazes the agent solves with the goal really moved, from a rollout with its own
        # action noise: choosing mazes by a run whose noise the other conditions share would favour
        # any condition that repeats that run's steps.
        solvable = _rollout(agent, ivs=none, move_goal=channels.index(goal), seed=_sub_seed(seed, 1), **run)
    if references:
        add(np.nan, UNSTEERED, _rollout(agent, ivs=none, move_goal=None, seed=seed, **run), none)
    if movable:
        add(np.nan, MOVED, _rollout(agent, ivs=none, move_goal=channels.index(goal), seed=seed, **run), none)
    for scale in scales:
        ivs = [retarget(probe, site, source=m.goal, target=m.target, scale=scale) for m in mazes]
        add(float(scale), STEERED, _rollout(agent, ivs=ivs, move_goal=None, seed=seed, **run), ivs)
        for k in range(n_controls):
            ctl = [random_control(iv, seed=_sub_seed(seed, 2, k, i)) for i, iv in enumerate(ivs)]
            add(float(scale), f"{CONTROL} {k}", _rollout(agent, ivs=ctl, move_goal=None, seed=seed, **run), ctl)
    out = pd.DataFrame(rows)
    out.attrs["mazes"] = [{"seed": m.seed, "goal": list(m.goal), "target": list(m.target)} for m in mazes]
    return out


def best_scale(rates: pd.DataFrame) -> float:
    """The scale with the highest steered rate (ties to the smaller scale)."""
    steered = rates[rates["condition"] == STEERED].sort_values(["success_rate", "scale"], ascending=[False, True])
    if steered.empty:
        raise DataError("the table has no 'steered' rows.")
    return float(steered.iloc[0]["scale"])


def select_scale(
    agent: Any,
    env: EnvSpec,
    probe: SpatialProbe,
    site: str,
    *,
    goal: str,
    scales: Sequence[float],
    n_episodes: int = 50,
    seed: int = 0,
    **kwargs: Any,
) -> tuple[float, pd.DataFrame]:
    """Choose the edit strength on mazes of its own (seed `seed + 1`), steered only; returns `(scale, rates)`.

    Report the steered rate at that scale on other mazes (`retargeting_rate(seed=seed)`,
    `analysis.summarize_retargeting(rates, scale)`), so that picking the best of several strengths does not
    inflate it.
    """
    rates = retargeting_rate(
        agent, env, probe, site, goal=goal, scales=scales, n_episodes=n_episodes, n_controls=0, seed=seed + 1,
        references=False, **kwargs,
    )  # fmt: skip
    return best_scale(rates), rates


__all__ = [
    "CONTROL",
    "MOVED",
    "STEERED",
    "UNSTEERED",
    "GoalProbe",
    "cell_objects",
    "goal_cell",
    "is_control",
    "goal_probe",
    "pick_target",
    "retarget",
    "select_scale",
    "best_scale",
    "retargeting_rate",
    "site_grid",
]
