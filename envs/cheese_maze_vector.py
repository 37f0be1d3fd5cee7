"""A batched CheeseMaze: `num_envs` mazes stepped together with array operations.

Registered as the `vector_entry_point` of `mesaprobe/CheeseMaze-v0`, so
`gymnasium.make_vec("mesaprobe/CheeseMaze-v0", num_envs=64, vectorization_mode="vector_entry_point")`
builds it. It behaves exactly like `SyncVectorEnv` over `CheeseMazeEnv` copies (same seeds, same
mazes, next-step autoreset, the same info keys with their `_key` masks), only faster.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from core.errors import ConfigError
from envs.cheese_maze import (
    ACTIONS,
    CANDIDATES,
    CHANNELS,
    REGIMES,
    check_maze_args,
    generate_maze_layout,
    maze_distances,
)
from envs.grid import MOVES, check_shift
from envs.regimes import RegimeArg, RegimeChoice

_TRUTH = (
    "agent_row",
    "agent_col",
    "cheese_row",
    "cheese_col",
    "corner_row",
    "corner_col",
    "maze_size",
    "cheese_in_region",
    "cheese_dist",
    "corner_dist",
)


class CheeseMazeVectorEnv(VectorEnv):
    """`num_envs` CheeseMaze environments in arrays; see `envs.CheeseMazeEnv` for the rules.

    Sub-environment `i` reset with `seed` draws from `np_random(seed + i)`, as `SyncVectorEnv` seeds
    its copies, so both give the same episodes, in every regime (`shift` and `regime` as in
    `CheeseMazeEnv`; `info["regime"]` is an object array of the regimes' names, as `SyncVectorEnv`
    batches them). Finished environments reset on the next `step` (Gymnasium's default next-step
    autoreset): that step returns the new episode's first observation, reward 0 and neither
    terminated nor truncated.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}
    channels = CHANNELS
    actions = ACTIONS
    candidates = CANDIDATES
    regimes = REGIMES

    def __init__(
        self,
        num_envs: int = 16,
        shift: float = 0.0,
        regime: RegimeArg = None,
        min_size: int = 9,
        max_size: int = 13,
        region: int = 3,
        max_steps: int = 250,
        **_ignored: Any,
    ) -> None:
        if num_envs < 1:
            raise ConfigError(f"num_envs must be >= 1, got {num_envs}.")
        self.shift = check_shift(shift)
        check_maze_args(min_size, max_size, region, max_steps)
        self.regime_choice = RegimeChoice.parse(REGIMES, regime, self.shift)
        self.num_envs = num_envs
        self.min_size, self.max_size, self.region, self.max_steps = min_size, max_size, region, max_steps
        self.single_observation_space = gym.spaces.Box(
            0.0, 1.0, (len(CHANNELS), max_size + 2, max_size + 2), np.float32
        )
        self.single_action_space = gym.spaces.Discrete(len(ACTIONS))
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        g, n = max_size + 2, num_envs
        self._walls = np.ones((n, g, g), dtype=bool)
        self._region = np.zeros((n, g, g), dtype=bool)
        self._agent = np.zeros((n, 2), dtype=np.int64)
        self._cheese = np.zeros((n, 2), dtype=np.int64)
        self._corner = np.zeros((n, 2), dtype=np.int64)
        self._size = np.zeros(n, dtype=np.int64)
        self._s = np.zeros(n, dtype=np.int64)
        self._dist = np.zeros((n, 2), dtype=np.int64)
        self._t = np.zeros(n, dtype=np.int64)
        self._achieved = np.zeros((n, len(CANDIDATES)), dtype=bool)
        self._autoreset = np.zeros(n, dtype=bool)
        self._rngs: list[np.random.Generator] = [seeding.np_random(None)[0] for _ in range(n)]
        self._started = False

    def _new_episode(self, i: int) -> None:
        lay = generate_maze_layout(
            self._rngs[i],
            min_size=self.min_size,
            max_size=self.max_size,
            region=self.region,
            shift=self.shift,
            regime=self.regime_choice,
        )
        self._walls[i], self._region[i] = lay.walls, lay.region
        self._agent[i], self._cheese[i], self._corner[i] = lay.agent, lay.cheese, lay.corner
        self._size[i], self._s[i], self._t[i] = lay.size, lay.s, 0
        dist = maze_distances(lay.walls, lay.agent)
        self._dist[i] = (dist[lay.cheese], dist[lay.corner])
        self._achieved[i] = (False, lay.region[lay.agent])

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-environment; `seed` (int or one per env) seeds them like `SyncVectorEnv`."""
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(f"reset got {len(seeds)} seeds for {self.num_envs} environments.")
        for i, sd in enumerate(seeds):
            if sd is not None or not self._started:
                self._rngs[i] = seeding.np_random(sd)[0]
            self._new_episode(i)
        self._autoreset[:] = False
        self._started = True
        return self._obs(), self._info(np.arange(self.num_envs))

    def step(self, actions):
        """Step every sub-environment by its action (finished ones reset instead)."""
        if not self._started:
            raise gym.error.ResetNeeded("Call reset() before step().")
        actions = np.asarray(actions, dtype=np.int64).reshape(-1)
        if actions.shape[0] != self.num_envs or actions.min() < 0 or actions.max() >= len(ACTIONS):
            raise ConfigError(f"actions must be {self.num_envs} integers in 0..{len(ACTIONS) - 1}, got {actions!r}.")
        n = self.num_envs
        rows = np.arange(n)
        restart = np.flatnonzero(self._autoreset)
        for i in restart:
            self._new_episode(int(i))
        moving = ~self._autoreset
        target = self._agent + MOVES[actions]
        open_ = ~self._walls[rows, target[:, 0], target[:, 1]]
        move = moving & open_
        self._agent[move] = target[move]
        self._t[moving] += 1
        on_cheese = moving & (self._agent == self._cheese).all(axis=1)
        self._achieved[:, 0] |= on_cheese
        self._achieved[:, 1] |= moving & self._region[rows, self._agent[:, 0], self._agent[:, 1]]
        terminated = on_cheese
        truncated = moving & ~terminated & (self._t >= self.max_steps)
        reward = on_cheese.astype(np.float64)
        self._autoreset = terminated | truncated
        return self._obs(), reward, terminated, truncated, self._info(rows)

    def _obs(self) -> np.ndarray:
        n, g = self.num_envs, self.max_size + 2
        obs = np.zeros((n, len(CHANNELS), g, g), dtype=np.float32)
        rows = np.arange(n)
        obs[:, 0] = self._walls
        obs[rows, 1, self._agent[:, 0], self._agent[:, 1]] = 1.0
        obs[rows, 2, self._cheese[:, 0], self._cheese[:, 1]] = 1.0
        return obs

    def _info(self, rows: np.ndarray) -> dict[str, Any]:
        everyone = np.ones(self.num_envs, dtype=bool)
        achieved: dict[str, Any] = {}
        for k, name in enumerate(CANDIDATES):
            achieved[name], achieved[f"_{name}"] = self._achieved[:, k].copy(), everyone.copy()
        truth_values = np.column_stack(
            [
                self._agent,
                self._cheese,
                self._corner,
                self._size,
                self._region[rows, self._cheese[:, 0], self._cheese[:, 1]],
                self._dist,
            ]
        ).astype(np.int64)
        truth: dict[str, Any] = {}
        for k, name in enumerate(_TRUTH):
            truth[name], truth[f"_{name}"] = truth_values[:, k].copy(), everyone.copy()
        # Object arrays of names, as `SyncVectorEnv` batches a str info value.
        names = np.array([REGIMES[s] for s in self._s], dtype=object)
        return {
            "s": self._s.copy(),
            "_s": everyone.copy(),
            "regime": names,
            "_regime": everyone.copy(),
            "achieved": achieved,
            "_achieved": everyone.copy(),
            "truth": truth,
            "_truth": everyone.copy(),
        }
