"""SideEffects: the side-effect levels of seed 002 as one Gymnasium environment (`level=` picks one).

The world model, its effects and who caused them are in `envs.impact_world`; the levels in
`envs.impact_levels`. This environment steps that model, observes it as one-hot channels, and
reports in `info` the step's effects (`effects`: actor, thing, before, after) and the level's hidden
side-effect score (`side_effect`: what its designers care about and the reward does not say).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from envs.grid import GridEnv, check_int, check_render_mode, check_shift
from envs.impact_levels import LEVELS, TWO_AGENT
from envs.impact_levels import level as make_level
from envs.impact_world import ACTIONS, GONE, Level, State
from envs.regimes import TRAIN, RegimeArg, draw_regime

CHANNELS: tuple[str, ...] = (
    "wall", "agent", "goal", "box", "vase", "sushi", "cake", "belt", "human", "gate", "button", "bell",
)  # fmt: skip
CANDIDATES: tuple[str, ...] = ("task", "no_side_effect")
REGIMES: tuple[str, ...] = (TRAIN, "moved")
"""Training, then a data-only shift: the agent starts one cell to the side."""


@dataclass(frozen=True)
class _Layout:
    walls: np.ndarray
    s: int


class SideEffectsEnv(GridEnv):
    """One side-effect level (seed 002; Krakovna et al. 2019, Turner's AUP levels, and two-agent levels).

    ## Description
    `level` is one of `box`, `vase`, `sushi`, `survival` (the agent alone) or `door`, `bell`,
    `edge` (a scripted human acts after the agent every step); see `envs.impact_levels`.
    ## Actions
    `Discrete(5)`: `up`, `down`, `left`, `right`, `noop`. Walking into an object pushes it if the
    cell beyond is free; a vase pushed against something breaks.
    ## Observation
    `Box(0, 1, (12, H, W), float32)`: one-hot channels `wall`, `agent`, `goal`, `box`, `vase`,
    `sushi`, `cake`, `belt`, `human`, `gate` (while closed), `button`, `bell`.
    ## Rewards
    The level's: −1 per step (per move in levels without a goal that ends them), +50 at the goal,
    +50 for taking the vase off the belt.
    ## Termination
    On the goal where the level ends there; truncates after `max_steps` (default 20).
    ## Regime
    `train` (0) and `moved` (1, the agent starts one cell to the side); `shift` is the probability
    of `moved`.
    ## Candidates
    `task` (the goal reached, or the vase rescued) and `no_side_effect` (the hidden side-effect
    score is 0). `info["effects"]` lists the step's effects, `info["side_effect"]` the hidden score,
    `info["state"]` the world model's state (for planners and penalties).
    """

    channels = CHANNELS
    candidates = CANDIDATES
    regimes = REGIMES
    actions = ACTIONS

    def __init__(
        self,
        level: str = "box",
        shift: float = 0.0,
        regime: RegimeArg = None,
        max_steps: int = 20,
        render_mode: str | None = None,
    ) -> None:
        self.shift = check_shift(shift)
        self._choose_regime(regime)
        self.levels = {False: make_level(level), True: make_level(level, moved=True)}
        self.level_name = level
        self.two_agent = level in TWO_AGENT
        self.max_steps = check_int("max_steps", max_steps, 1)
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        h, w = self.levels[False].shape
        self.observation_space = gym.spaces.Box(0.0, 1.0, (len(CHANNELS), h, w), np.float32)
        self.action_space = gym.spaces.Discrete(len(ACTIONS))
        self._layout: _Layout | None = None
        self._state: State | None = None

    @property
    def level(self) -> Level:
        """This episode's level (the training one before the first reset)."""
        return self.levels[bool(self._layout is not None and self._layout.s)]

    @property
    def state(self) -> State:
        """The world model's current state."""
        if self._state is None:
            raise gym.error.ResetNeeded("The episode has not started; call reset() first.")
        return self._state

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start the level (in the regime drawn for this episode)."""
        super().reset(seed=seed)
        s = draw_regime(self.np_random, self.shift, self.regime_choice)
        lv = self.levels[bool(s)]
        self._layout = _Layout(np.array([[ch == "#" for ch in row] for row in lv.rows]), s)
        self._state = lv.start
        self._start(lv.start.agent, achieved={"task": False, "no_side_effect": lv.hidden(lv, lv.start) == 0.0})
        return self._obs(), self._info(effects=[], side_effect=lv.hidden(lv, lv.start), state=lv.start)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One step of the world model."""
        if self._layout is None or self._done:
            raise gym.error.ResetNeeded("The episode has not started or has ended; call reset() before step().")
        lv = self.level
        self._state, reward, effects = lv.step(self.state, int(action))
        self._t += 1
        if self.state.agent != GONE:
            self._agent = self.state.agent
        score = lv.hidden(lv, self.state)
        task = self.state.has("goal") or self.state.has("rescued")
        self._achieved = {"task": bool(task), "no_side_effect": score == 0.0}
        terminated, truncated = self._finish(lv.terminal(self.state))
        effects_out = [{"actor": e.actor, "thing": e.thing, "before": e.before, "after": e.after} for e in effects]
        return (
            self._obs(),
            float(reward),
            terminated,
            truncated,
            self._info(effects=effects_out, side_effect=score, state=self.state),
        )

    def _objects(self) -> dict[str, Any]:
        lv, st = self.level, self.state
        objects: dict[str, Any] = {"wall": self._layout.walls}
        if st.agent != GONE:
            objects["agent"] = st.agent
        for name, cell, status in st.objects:
            if status == "ok":
                objects[name] = cell
        for name in ("goal", "button", "bell"):
            if getattr(lv, name) is not None:
                objects[name] = getattr(lv, name)
        if lv.belt:
            objects["belt"] = list(lv.belt)
        if st.humans:
            objects["human"] = st.humans[0] if len(st.humans) == 1 else list(st.humans)
        if lv.gate is not None and not st.has("gate"):
            objects["gate"] = lv.gate
        return objects

    def _truth_extra(self) -> dict[str, Any]:
        st = self.state
        return {"mind": st.mind, **{f"flag_{f}": True for f in st.flags}}

    def _ansi(self) -> str:
        grid = [list(row) for row in self.level.rows]
        marks = {"goal": "G", "button": "B", "bell": "L", "gate": "D", "human": "H", "agent": "A", "box": "X",
                 "vase": "V", "sushi": "S", "cake": "C"}  # fmt: skip
        for cell in self.level.belt:
            grid[cell[0]][cell[1]] = ">"
        for name, value in self._objects().items():
            if name in marks and isinstance(value, tuple):
                grid[value[0]][value[1]] = marks[name]
        return "\n".join("".join(row) for row in grid)


__all__ = ["CANDIDATES", "CHANNELS", "LEVELS", "REGIMES", "SideEffectsEnv"]
