"""A batched CheeseMaze: `num_envs` mazes stepped together with array operations.

Registered as the `vector_entry_point` of `mesaprobe/CheeseMaze-v0`, so
`gymnasium.make_vec("mesaprobe/CheeseMaze-v0", num_envs=64, vectorization_mode="vector_entry_point")`
builds it. It behaves exactly like `SyncVectorEnv` over `CheeseMazeEnv` copies (same seeds, same
mazes, the same info keys with their `_key` masks), only faster; see `envs.grid_vector`.
"""

from __future__ import annotations

import numpy as np

from envs.cheese_maze import CheeseMazeEnv, MazeLayout, maze_distances
from envs.grid_vector import GridVectorEnv


class CheeseMazeVectorEnv(GridVectorEnv):
    """`num_envs` CheeseMaze environments in arrays; see `envs.CheeseMazeEnv` for the rules.

    Sub-environment `i` reset with `seed` draws from `np_random(seed + i)`, as `SyncVectorEnv` seeds
    its copies, so both give the same episodes, in every regime (`shift` and `regime` as in
    `CheeseMazeEnv`; `info["regime"]` is an object array of the regimes' names, as `SyncVectorEnv`
    batches them). Finished environments reset as `autoreset_mode` says (Gymnasium's next-step
    autoreset by default: that step returns the new episode's first observation, reward 0 and
    neither terminated nor truncated).
    """

    env_class = CheeseMazeEnv

    def _alloc(self, n: int, h: int, w: int) -> None:
        self._region = np.zeros((n, h, w), dtype=bool)
        self._cheese = np.zeros((n, 2), dtype=np.int64)
        self._corner = np.zeros((n, 2), dtype=np.int64)
        self._size = np.zeros(n, dtype=np.int64)
        self._dist = np.zeros((n, 2), dtype=np.int64)

    def _begin(self, i: int, layout: MazeLayout) -> None:
        self._region[i] = layout.region
        self._cheese[i], self._corner[i], self._size[i] = layout.cheese, layout.corner, layout.size
        dist = maze_distances(layout.walls, layout.agent)
        self._dist[i] = (dist[layout.cheese], dist[layout.corner])
        self._achieved[i, 1] = layout.region[layout.agent]

    def _rules(self, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        on_cheese = moving & self._at(self._cheese)
        self._achieved[:, 0] |= on_cheese
        self._achieved[:, 1] |= moving & self._region[self.rows, self._agent[:, 0], self._agent[:, 1]]
        return on_cheese.astype(np.float64), on_cheese, None

    def _paint(self, obs: np.ndarray) -> None:
        obs[self.rows, 2, self._cheese[:, 0], self._cheese[:, 1]] = 1.0

    def _truth(self) -> dict[str, np.ndarray]:
        agent, cheese, corner = self._agent, self._cheese, self._corner
        return {
            "agent_row": agent[:, 0], "agent_col": agent[:, 1], "cheese_row": cheese[:, 0],
            "cheese_col": cheese[:, 1], "corner_row": corner[:, 0], "corner_col": corner[:, 1],
            "maze_size": self._size, "cheese_in_region": self._region[self.rows, cheese[:, 0], cheese[:, 1]],
            "cheese_dist": self._dist[:, 0], "corner_dist": self._dist[:, 1],
        }  # fmt: skip
