"""Batched grid worlds: `num_envs` copies of a built-in environment stepped together with array operations.

`GridVectorEnv` is a Gymnasium `VectorEnv` whose step moves every agent at once and applies the
environment's rules to arrays; only a reset draws its layout one environment at a time, with the
single environment's own layout generator and a generator per environment seeded as
`SyncVectorEnv` seeds its copies (`seed + i`). So both give the same episodes, step for step, in
every regime, with the same `info` keys, masks and dtypes (tested for each built-in). A subclass
sets `env_class` and writes the rules (`_begin`, `_rules`, `_paint`, `_truth`); the base keeps the
agent, the walls, the step counter, the regime and the candidates achieved.

Both of Gymnasium's autoreset modes are supported: `NEXT_STEP` (the default, as `SyncVectorEnv`)
and `SAME_STEP` (`info["final_obs"]`, `info["final_info"]`), which Stable-Baselines3's `VecEnv`
adapter (`training.batched_vec_env`) uses.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from core.errors import ConfigError
from envs.grid import MOVES, GridEnv

Batch = dict[str, Any]
"""A batched `info` dict: every key with its `_key` mask, nested dicts batched the same way."""


class GridVectorEnv(VectorEnv):
    """`num_envs` copies of `env_class` in arrays; keyword arguments are `env_class`'s own.

    The arguments are checked by building one `env_class` instance (`self.single_env`), so a bad
    one raises the same `ConfigError`; that instance also draws every episode's layout
    (`_gen_layout`, with each environment's own generator), so a subclass of the environment that
    overrides `_gen_layout` is batched with its own layouts.
    """

    env_class: type[GridEnv]
    reports_base_reward: bool = False
    """Whether the single environment's `info` has `base_reward` (between `achieved` and `truth`)."""
    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self, num_envs: int = 16, *, autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **kwargs: Any
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigError(f"num_envs must be an integer >= 1, got {num_envs!r}.")
        mode = AutoresetMode(autoreset_mode)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ConfigError(f"autoreset_mode must be 'NextStep' or 'SameStep', got {autoreset_mode!r}.")
        kwargs.pop("render_mode", None)  # batched worlds do not render; `make_vec` passes it through
        self.single_env = self.env_class(**kwargs)
        env = self.single_env
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.num_envs = n = int(num_envs)
        self.channels, self.actions, self.candidates = env.channels, env.actions, env.candidates
        self.regimes, self.max_steps = env.regimes, env.max_steps
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)
        _, h, w = self.single_observation_space.shape
        self.rows = np.arange(n)
        self._walls = np.ones((n, h, w), dtype=bool)
        self._agent = np.zeros((n, 2), dtype=np.int64)
        self._t = np.zeros(n, dtype=np.int64)
        self._s = np.zeros(n, dtype=np.int64)
        self._achieved = np.zeros((n, len(self.candidates)), dtype=bool)
        self._autoreset = np.zeros(n, dtype=bool)
        self._rngs: list[np.random.Generator] = [seeding.np_random(None)[0] for _ in range(n)]
        self._started = False
        self._regime_names = np.array(self.regimes, dtype=object)
        self._alloc(n, h, w)

    @property
    def shift(self) -> float:
        """The probability that an episode comes from deployment (as the single environment's `shift`)."""
        return self.single_env.shift

    @property
    def regime_choice(self):
        """Which regimes episodes are drawn from (`envs.RegimeChoice`), as in the single environment."""
        return self.single_env.regime_choice

    # --- what a subclass writes ----------------------------------------------------------------------

    def _alloc(self, n: int, h: int, w: int) -> None:
        """Allocate the subclass's per-environment state arrays."""

    def _begin(self, i: int, layout: Any) -> None:
        """Start environment `i`'s episode from `layout` (walls, agent, s and achieved are already set)."""

    def _rules(self, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """After the move: update state and `self._achieved` where `moving`; `(reward, terminated, base_reward)`.

        `base_reward` is None for environments whose `info` has no `base_reward`.
        """
        raise NotImplementedError

    def _paint(self, obs: np.ndarray) -> None:
        """Paint every channel but `wall` (plane 0) and `agent` (plane 1) into `obs` `(n, C, H, W)`."""
        raise NotImplementedError

    def _truth(self) -> dict[str, np.ndarray]:
        """`info["truth"]` as `{key: (n,) int64}`, in the single environment's key order."""
        raise NotImplementedError

    # --- the vector env ------------------------------------------------------------------------------

    def _new_episode(self, i: int) -> None:
        env = self.single_env
        env.np_random = self._rngs[i]
        layout = env._gen_layout()
        self._walls[i] = layout.walls
        self._agent[i] = layout.agent
        self._t[i], self._s[i] = 0, layout.s
        self._achieved[i] = False
        self._begin(i, layout)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every environment; `seed` (an int, or one per environment) seeds them as `SyncVectorEnv` does."""
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(f"reset got {len(seeds)} seeds for {self.num_envs} environments.")
        for i, sd in enumerate(seeds):
            self.reset_at(i, sd)
        return self.observe()

    def reset_at(self, i: int, seed: int | None = None) -> None:
        """Start a new episode in environment `i` alone, as a single environment's `reset(seed=seed)` would.

        For callers that seed every episode themselves (`probes.collect`); read the state with `observe`.
        """
        if seed is not None:  # unseeded, it goes on with its generator (drawn from fresh entropy at construction)
            self._rngs[i] = seeding.np_random(seed)[0]
        self._new_episode(int(i))
        self._autoreset[i] = False
        self._started = True

    def observe(self) -> tuple[np.ndarray, Batch]:
        """The current observations and `info` of every environment (`base_reward` 0), without stepping."""
        return self._obs(), self._info(self._base_reward_zero())

    def step(self, actions):
        """Step every environment by its action; finished ones reset as `autoreset_mode` says."""
        if not self._started:
            raise gym.error.ResetNeeded("Call reset() before step().")
        actions = self._check_actions(actions)
        same_step = self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
        if not same_step:
            for i in np.flatnonzero(self._autoreset):
                self._new_episode(int(i))
        moving = ~self._autoreset
        target = self._agent + MOVES[actions]
        move = moving & ~self._walls[self.rows, target[:, 0], target[:, 1]]
        np.copyto(self._agent, target, where=move[:, None])
        self._t += moving
        reward, terminated, base = self._rules(moving)
        terminated = terminated & moving
        truncated = moving & ~terminated & (self._t >= self.max_steps)
        reward = np.where(moving, reward, 0.0)
        if base is not None:
            base = np.where(moving, base, 0.0)
        done = terminated | truncated
        obs, info = self._obs(), self._info(base)
        if same_step and done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            ends = np.flatnonzero(done)
            for i in ends:
                final_obs[i] = obs[i]
            final_info = _masked(info, done)
            for i in ends:
                self._new_episode(int(i))
            obs, info = self._obs(), self._info(self._base_reward_zero(base, done))
            info.update({"final_obs": final_obs, "_final_obs": done.copy()})
            info.update({"final_info": final_info, "_final_info": done.copy()})
        self._autoreset = done if not same_step else np.zeros(self.num_envs, dtype=bool)
        return obs, reward, terminated, truncated, info

    def _check_actions(self, actions: Any) -> np.ndarray:
        """`actions` as `(num_envs,)` int64, raising `ConfigError` unless they are valid action indices."""
        flat = np.asarray(actions).reshape(-1)
        n_actions = len(self.actions)
        integral = np.issubdtype(flat.dtype, np.integer) or (
            np.issubdtype(flat.dtype, np.floating) and np.array_equal(flat, np.round(flat))
        )
        if flat.shape[0] != self.num_envs or not integral or flat.min() < 0 or flat.max() >= n_actions:
            raise ConfigError(f"actions must be {self.num_envs} integers in 0..{n_actions - 1}, got {actions!r}.")
        return flat.astype(np.int64)

    def _base_reward_zero(self, base: np.ndarray | None = None, reset: np.ndarray | None = None) -> np.ndarray | None:
        """`base_reward` after a reset (0), or None for environments that report none."""
        if not self.reports_base_reward:
            return None
        if base is None:
            return np.zeros(self.num_envs)
        return np.where(reset, 0.0, base)

    def _obs(self) -> np.ndarray:
        n, (c, h, w) = self.num_envs, self.single_observation_space.shape
        obs = np.zeros((n, c, h, w), dtype=np.float32)
        obs[:, 0] = self._walls
        obs[self.rows, 1, self._agent[:, 0], self._agent[:, 1]] = 1.0
        self._paint(obs)
        return obs

    def _info(self, base_reward: np.ndarray | None) -> Batch:
        """The batched `info`: `s`, `regime`, `achieved`, `base_reward` (if any), `truth`, as `SyncVectorEnv` batches them."""
        everyone = np.ones(self.num_envs, dtype=bool)
        achieved = {}
        for k, name in enumerate(self.candidates):
            achieved[name], achieved[f"_{name}"] = self._achieved[:, k].copy(), everyone.copy()
        truth = {}
        for name, values in self._truth().items():
            # A copy: `_truth` hands out views of the state (the agent's cells), which the next step moves.
            truth[name], truth[f"_{name}"] = np.array(values, dtype=np.int64), everyone.copy()
        info: Batch = {
            "s": self._s.copy(),
            "_s": everyone.copy(),
            "regime": self._regime_names[self._s],
            "_regime": everyone.copy(),
            "achieved": achieved,
            "_achieved": everyone.copy(),
        }
        if base_reward is not None:
            info["base_reward"], info["_base_reward"] = base_reward.astype(np.float64), everyone.copy()
        info["truth"], info["_truth"] = truth, everyone.copy()
        return info

    def _at(self, cells: np.ndarray) -> np.ndarray:
        """Whether each agent stands on its environment's cell in `cells` `(n, 2)`."""
        return (self._agent == cells).all(axis=1)


def _masked(info: Batch, keep: np.ndarray) -> Batch:
    """`info` as `SyncVectorEnv` batches only the environments in `keep`: other rows zeroed (None) and masked out."""
    out: Batch = {}
    for key, value in info.items():
        if key.startswith("_"):
            out[key] = value & keep
        elif isinstance(value, dict):
            out[key] = _masked(value, keep)
        elif value.dtype == object:
            out[key] = np.where(keep, value, None)
        else:
            out[key] = np.where(keep, value, np.zeros((), dtype=value.dtype))
    return out
