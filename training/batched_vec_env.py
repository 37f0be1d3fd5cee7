"""A Gymnasium vector environment as a Stable-Baselines3 `VecEnv`, and the training environments built from it.

`BatchedVecEnv` drives a `gymnasium.vector.VectorEnv` in `SAME_STEP` autoreset mode (the built-in
grid worlds' batched implementations, `envs.grid_vector`) and speaks SB3's `VecEnv` API, so PPO steps
every environment with one call instead of `DummyVecEnv`'s loop over copies. It gives what
`make_vec_env` (`DummyVecEnv` over `Monitor`-wrapped copies) gives, observation for observation: the
same seeds (`seed + i`), float32 rewards, `terminal_observation` and `TimeLimit.truncated` at an
episode's end, and Monitor's `episode` statistics, so PPO trains the same weights from the same seed
on either (tested).

Its per-step `infos` are lighter than `DummyVecEnv`'s: every step carries `s`, `regime` and
`base_reward` (when the environment reports it); the last step of an episode carries that step's
whole `info` (`achieved`, `truth`, ...). `make_train_env` picks it for any id registered with a
`vector_entry_point` and keeps `make_vec_env` for the rest (users' environments).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices

import envs
from core.errors import ConfigError

_EVERY_STEP = ("s", "regime", "base_reward")
"""The `info` keys every step's per-environment `info` carries (the whole `info` at an episode's end)."""


class BatchedVecEnv(VecEnv):
    """Stable-Baselines3's `VecEnv` over a Gymnasium vector environment that resets finished episodes in the same step."""

    def __init__(self, venv: gym.vector.VectorEnv) -> None:
        if venv.metadata.get("autoreset_mode") != AutoresetMode.SAME_STEP:
            raise ConfigError(
                f"BatchedVecEnv needs a vector environment with autoreset_mode=SAME_STEP, got "
                f"{venv.metadata.get('autoreset_mode')!r}; build it with gymnasium.make_vec(..., "
                f"autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP)."
            )
        self.venv = venv
        self.render_mode = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._t0 = time.time()

    def reset(self) -> np.ndarray:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        options = self._options[0] if any(self._options) else None
        obs, info = self.venv.reset(seed=seeds, options=options)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [unbatch(info, i) for i in range(self.num_envs)]
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        done = terminated | truncated
        self._returns += reward
        self._lengths += 1
        columns = [(k, info[k].tolist()) for k in _EVERY_STEP if k in info]
        infos: list[dict[str, Any]] = [{k: v[i] for k, v in columns} for i in range(self.num_envs)]
        for i in np.flatnonzero(done):
            final = unbatch(info["final_info"], i)
            final["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            final["terminal_observation"] = info["final_obs"][i]
            # What SB3's Monitor adds, rounded as it rounds: PPO's ep_info_buffer and the CLI's bar read it.
            final["episode"] = {
                "r": round(float(self._returns[i]), 6),
                "l": int(self._lengths[i]),
                "t": round(time.time() - self._t0, 6),
            }
            infos[i] = final
            self.reset_infos[i] = {k: v[i] for k, v in columns}
            self._returns[i], self._lengths[i] = 0.0, 0
        return obs, reward.astype(np.float32), done, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The vector environment's attribute, once per environment asked for (they share it)."""
        return [getattr(self.venv, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the vector environment (shared by all its environments)."""
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Not available: the environments are one batched object; call `self.venv.<method>` on it instead."""
        raise NotImplementedError(
            f"a batched environment has no per-environment {method_name!r}; call it on BatchedVecEnv.venv, or train "
            f"with batched=False for DummyVecEnv copies."
        )

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


def unbatch(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Environment `i`'s `info` out of a batched one (`SyncVectorEnv`'s layout: `key` with its `_key` mask)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key.startswith("_") or key in ("final_obs", "final_info"):
            continue
        mask = info.get(f"_{key}")
        if mask is not None and not mask[i]:
            continue
        if isinstance(value, dict):
            out[key] = unbatch(value, i)
        else:
            item = value[i]
            out[key] = item.item() if isinstance(item, np.generic) else item
    return out


def make_train_env(
    env_id: str,
    *,
    n_envs: int,
    seed: int,
    shift: float = 0.0,
    env_kwargs: dict[str, Any] | None = None,
    batched: bool | None = None,
) -> VecEnv:
    """The training environments for `env_id`: one `BatchedVecEnv` where the id has a batched implementation, else
    `make_vec_env`'s `DummyVecEnv` of `Monitor`-wrapped copies; both seeded `seed + i`.

    `batched=None` picks the batched one when there is one; `True` requires it, `False` never uses it.
    """
    env_kwargs = dict(env_kwargs or {})
    mode = AutoresetMode.SAME_STEP
    venv = envs.make_batched(env_id, n_envs, batched=batched, autoreset_mode=mode, shift=shift, **env_kwargs)
    if venv is None:
        return make_vec_env(lambda: envs.make(env_id, shift=shift, **env_kwargs), n_envs=n_envs, seed=seed)
    vec = BatchedVecEnv(venv)
    vec.seed(seed)
    return vec


__all__: Sequence[str] = ("BatchedVecEnv", "make_train_env", "unbatch")
