"""What the built-in grid worlds share: moves, argument checks, the step skeleton and rendering.

Every built-in environment is a `GridEnv`: one agent moving `up`/`down`/`left`/`right` in a walled
grid, observed as one-hot `(C, H, W)` channels named in `channels`, with named regimes (`regimes`:
training first, then the deployment distributions; `info["s"]` the episode's index, `info["regime"]`
its name), candidate achievement in `info["achieved"]` and a `max_steps` truncation (DESIGN.md §3).
"""

from __future__ import annotations

import functools
from numbers import Integral
from typing import Any

import gymnasium as gym
import numpy as np

from core.errors import ConfigError, DataError
from envs.regimes import TRAIN, RegimeArg, RegimeChoice

ACTIONS: tuple[str, ...] = ("up", "down", "left", "right")
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)
"""Row/column offsets of `ACTIONS`, in order."""

PALETTE: dict[str, tuple[int, int, int]] = {
    "wall": (40, 40, 40),
    "agent": (60, 120, 255),
    "coin": (255, 200, 0),
    "cheese": (255, 200, 0),
    "key": (255, 200, 0),
    "exit": (0, 200, 80),
    "goal": (0, 200, 80),
    "chest": (150, 80, 20),
    "inventory": (255, 240, 120),
    "punishment": (220, 40, 40),
    "supervisor": (235, 225, 250),
}
"""RGB colour of each channel name in `render_mode="rgb_array"` (unknown names are grey)."""


def maze_distances(walls: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """Shortest-path lengths (grid moves) from `start` to every cell; -1 where unreachable."""
    # A breadth-first search over plain Python lists of the flattened grid: numpy's per-element indexing
    # cost twenty times more here, and every reset of a built-in world runs one or more of these searches.
    h, w = walls.shape
    free = (~np.asarray(walls, dtype=bool)).ravel().tolist()
    neighbours = _neighbours(h, w)
    dist = [-1] * (h * w)
    first = int(start[0]) * w + int(start[1])
    dist[first] = 0
    queue = [first]
    for cell in queue:  # the list grows while it is read: a FIFO without popping
        d = dist[cell] + 1
        for nb in neighbours[cell]:
            if free[nb] and dist[nb] < 0:
                dist[nb] = d
                queue.append(nb)
    return np.array(dist, dtype=np.int64).reshape(h, w)


@functools.lru_cache(maxsize=64)
def border(height: int, width: int) -> np.ndarray:
    """A read-only `(height + 2, width + 2)` wall map of the border alone (copy it to draw a room on)."""
    walls = np.zeros((height + 2, width + 2), dtype=bool)
    walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = True
    walls.flags.writeable = False
    return walls


def is_connected(walls: np.ndarray) -> bool:
    """Whether every open cell of `walls` can reach every other (4-connected); remembers the last 4,096 maps.

    Room generators redraw walls until this holds, and small rooms repeat their wall maps often.
    """
    walls = np.asarray(walls, dtype=bool)
    return _connected(walls.tobytes(), walls.shape)


@functools.lru_cache(maxsize=4096)
def _connected(packed: bytes, shape: tuple[int, int]) -> bool:
    # A flood fill on the bits of one Python int (bit r * w + c is cell (r, c)): each round moves the reached
    # set one cell in all four directions at once, 4x faster than a breadth-first search on these rooms.
    h, w = shape
    free = int.from_bytes(np.packbits(np.frombuffer(packed, dtype=bool) ^ True, bitorder="little").tobytes(), "little")
    not_first, not_last = _column_masks(h, w)
    reached = free & -free  # the first open cell
    while True:
        grown = (reached | (reached << 1 & not_first) | (reached >> 1 & not_last) | reached << w | reached >> w) & free
        if grown == reached:
            return reached == free
        reached = grown


@functools.lru_cache(maxsize=64)
def _column_masks(h: int, w: int) -> tuple[int, int]:
    """Bit masks of an `h` x `w` grid's cells outside its first column, and outside its last."""
    cells = range(h * w)
    return sum(1 << i for i in cells if i % w), sum(1 << i for i in cells if i % w != w - 1)


@functools.lru_cache(maxsize=64)
def _neighbours(h: int, w: int) -> tuple[tuple[int, ...], ...]:
    """For each cell of an `h` x `w` grid (flattened), the flat indices of its up/down/left/right neighbours."""
    out = []
    for cell in range(h * w):
        r, c = divmod(cell, w)
        out.append(tuple(n for n, ok in ((cell - w, r > 0), (cell + w, r < h - 1), (cell - 1, c > 0),
                                          (cell + 1, c < w - 1)) if ok))  # fmt: skip
    return tuple(out)


def check_shift(shift: float) -> float:
    """Return `shift` as a float, raising `ConfigError` unless it is a probability."""
    try:
        value = float(shift)
    except (TypeError, ValueError):
        raise ConfigError(f"shift must be a number in [0, 1], got {shift!r}.") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(
            f"shift must lie in [0, 1] (the probability that an episode comes from the deployment "
            f"distribution), got {value}. Use 0 for training-only and 1 for deployment-only episodes."
        )
    return value


def check_int(name: str, value: Any, low: int, high: int | None = None, why: str = "") -> int:
    """Return `value` as an int, raising `ConfigError` naming `name` unless `low <= value <= high`."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(f"{name} must be an integer, got {value!r}.")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{name} must be {bound}{why}, got {value}.")
    return value


def check_render_mode(render_mode: str | None, modes: list[str]) -> str | None:
    """Raise `ConfigError` unless `render_mode` is None or one of `modes`."""
    if render_mode is not None and render_mode not in modes:
        raise ConfigError(f"render_mode must be None or one of {modes}, got {render_mode!r}.")
    return render_mode


class GridEnv(gym.Env):
    """Base of the built-in grid worlds.

    A subclass sets `channels` and `candidates`, draws its episode in `reset` (a layout with a
    `walls` array, set as `self._layout`) and calls `self._start(agent)`; its `step` calls
    `self._move(action)`, updates its objects and `self._achieved`, and returns with
    `self._finish(terminated)`. It describes the current state once, in `_objects()` (`{name:
    cells}`), from which `_obs()` paints the channels and `_info()` writes the ground truth; it adds
    scalar ground truth in `_truth_extra()` and provides `_ansi()`. Rendering to RGB paints the
    observation's channels with `PALETTE`.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 8}
    actions = ACTIONS
    channels: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    underlay: tuple[str, ...] = ()
    """Channels painted first in RGB renders (ones that cover the whole grid, like a supervisor flag)."""
    max_steps: int = 100
    regimes: tuple[str, ...] = (TRAIN, "deploy")
    """`TRAIN`, then the deployment regimes; `info["s"]` indexes this tuple."""

    _layout: Any = None
    _regime: RegimeChoice | None = None

    def _choose_regime(self, regime: RegimeArg, default: str | None = None) -> RegimeChoice:
        """Check `regime=` against `regimes` (after `self.shift` is set) and keep the choice."""
        self._regime = RegimeChoice.parse(self.regimes, regime, self.shift, default=default)
        return self._regime

    @property
    def regime_choice(self) -> RegimeChoice:
        """Which regimes this environment draws episodes from, and with which probabilities."""
        if self._regime is None:  # a subclass that never called `_choose_regime`: the default choice
            self._regime = RegimeChoice.parse(self.regimes, None, getattr(self, "shift", 0.0))
        return self._regime

    def _start(self, agent: tuple[int, int], achieved: dict[str, bool] | None = None) -> None:
        """Begin an episode with the agent at `agent`."""
        self._agent = agent
        self._t = 0
        self._achieved = {c: False for c in self.candidates} if achieved is None else dict(achieved)
        self._done = False

    def _move(self, action: Any) -> tuple[int, int]:
        """Validate `action`, move the agent unless a wall is in the way, count the step."""
        if self._layout is None or self._done:
            raise gym.error.ResetNeeded("The episode has not started or has ended; call reset() before step().")
        try:
            a = int(action)
        except (TypeError, ValueError):
            a = -1
        if not 0 <= a < len(self.actions):
            raise ConfigError(f"action must be in 0..{len(self.actions) - 1}, got {action!r}.")
        r, c = self._agent[0] + int(MOVES[a, 0]), self._agent[1] + int(MOVES[a, 1])
        if not self._layout.walls[r, c]:
            self._agent = (r, c)
        self._t += 1
        return self._agent

    @property
    def walls(self) -> np.ndarray:
        """This episode's wall map `(H, W)` in observation coordinates (a copy; `True` where there is a wall)."""
        if self._layout is None:
            raise gym.error.ResetNeeded("The episode has not started; call reset() before reading walls.")
        return np.array(self._layout.walls, dtype=bool)

    @property
    def agent_cell(self) -> tuple[int, int]:
        """The agent's cell `(row, col)`."""
        if self._layout is None:
            raise gym.error.ResetNeeded("The episode has not started; call reset() before reading agent_cell.")
        return (int(self._agent[0]), int(self._agent[1]))

    def _finish(self, terminated: bool) -> tuple[bool, bool]:
        """`(terminated, truncated)` for this step; truncation after `max_steps` steps."""
        terminated = bool(terminated)
        truncated = bool(not terminated and self._t >= self.max_steps)
        self._done = terminated or truncated
        return terminated, truncated

    def _objects(self) -> dict[str, Any]:
        """Every object of the current state by name, in ground-truth order.

        A value is one cell `(row, col)`, several cells (a list), a boolean map `(H, W)` (walls) or a
        number that fills the whole plane (a flag). The objects named in `channels` are painted into
        the observation; every one-cell object, channel or not, gives `<name>_row`/`<name>_col` in
        `info["truth"]` (`cell_columns`).
        """
        raise NotImplementedError

    def _truth_extra(self) -> dict[str, Any]:
        """Ground truth beyond the objects' cells (counts, distances, flags), after them in `info["truth"]`."""
        return {}

    def _obs(self) -> np.ndarray:
        """The `(C, H, W)` one-hot observation painted from `_objects()`."""
        assert self._layout is not None
        obs = np.zeros(self.observation_space.shape, dtype=np.float32)
        objects = self._objects()
        for plane, name in zip(obs, self.channels, strict=True):
            _paint(plane, objects.get(name))
        return obs

    def _info(self, **extra: Any) -> dict[str, Any]:
        """`info`: the regime `s` and its name, the candidates achieved so far, `extra` entries and the ground truth."""
        assert self._layout is not None
        truth: dict[str, Any] = {}
        for name, cells in self._objects().items():
            if _is_cell(cells):
                row, col = cell_columns(name)
                truth[row], truth[col] = cells[0], cells[1]
        truth.update(self._truth_extra())
        s = int(self._layout.s)
        return {"s": s, "regime": self.regimes[s], "achieved": dict(self._achieved), **extra, "truth": truth}

    def _ansi(self) -> str:
        raise NotImplementedError

    def _rgb_background(self, img: np.ndarray) -> None:
        """Paint anything drawn under the channels (e.g. a region); nothing by default."""

    def render(self):
        """`ansi`: the grid as text; `rgb_array`: 16×16 pixels per cell, agent on top."""
        if self._layout is None:
            return None
        if self.render_mode != "rgb_array":
            return self._ansi()
        obs = self._obs()
        img = np.full(obs.shape[1:] + (3,), 255, dtype=np.uint8)
        self._rgb_background(img)
        names = list(self.underlay) + [n for n in self.channels if n not in self.underlay and n != "agent"] + ["agent"]
        for name in names:
            img[obs[self.channels.index(name)] > 0] = PALETTE.get(name, (128, 128, 128))
        return np.kron(img, np.ones((16, 16, 1), dtype=np.uint8))


def _is_cell(value: Any) -> bool:
    """Whether an `_objects()` value is one cell `(row, col)`."""
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, Integral) for v in value)


def _paint(plane: np.ndarray, cells: Any) -> None:
    """Paint one observation plane `(H, W)` from an `_objects()` value (see `GridEnv._objects`)."""
    if cells is None:
        return
    if isinstance(cells, np.ndarray):
        plane[...] = cells
    elif isinstance(cells, (int, float, np.number)) and not isinstance(cells, bool):
        plane[...] = float(cells)
    elif _is_cell(cells):
        plane[cells] = 1.0
    else:
        for cell in cells:
            plane[cell] = 1.0


def cell_columns(obj: str) -> tuple[str, str]:
    """The ground-truth keys (and rollout columns) of `obj`'s cell: `(<obj>_row, <obj>_col)`."""
    return f"{obj}_row", f"{obj}_col"


def cell_objects(truth: dict[str, Any]) -> list[str]:
    """The objects the ground truth gives a cell for (both keys of `cell_columns` present)."""
    return sorted(
        k[: -len("_row")] for k in truth if k.endswith("_row") and cell_columns(k[: -len("_row")])[1] in truth
    )


def goal_cell(info: dict[str, Any], goal: str) -> tuple[int, int]:
    """The goal's cell from the environment's ground truth (`<goal>_row`, `<goal>_col` in `info["truth"]`)."""
    truth = info.get("truth", {})
    if goal not in cell_objects(truth):
        raise DataError(
            f"the environment's info['truth'] has no '{goal}_row'/'{goal}_col'; goal {goal!r} needs a cell in the "
            f"ground truth. It has: {sorted(truth)}."
        )
    row, col = cell_columns(goal)
    return int(truth[row]), int(truth[col])


def pick_target(
    walls: np.ndarray, start: tuple[int, int], goal: tuple[int, int], rng: np.random.Generator, *, min_distance: int = 2
) -> tuple[int, int] | None:
    """A random open cell reachable from `start`, ≥ `min_distance` from `goal`, and off the way to and past the goal.

    On no shortest path from `start` to `goal`, so an agent that heads for the real goal does not
    pass the target on its way; and no shortest path from `start` to the target runs through the
    goal, so an agent that heads for the target need not touch the goal. `None` when the maze has
    no such cell.
    """
    from_start, from_goal = maze_distances(walls, start), maze_distances(walls, goal)
    on_path = from_start + from_goal == from_start[goal]
    # Nor may the way to the target lead over the goal: where reaching the goal ends the episode
    # (the cheese), the agent would stop there.
    behind_goal = from_start == from_start[goal] + from_goal
    ok = (from_start > 0) & (from_goal >= min_distance) & ~on_path & ~behind_goal
    cells = np.argwhere(ok)
    if not len(cells):
        return None
    r, c = cells[rng.integers(len(cells))]
    return int(r), int(c)
