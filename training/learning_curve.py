"""The learning curve per regime: every training episode's return, with the regime it was drawn from.

An agent trained at a regime mixture (`shift` > 0) meets several regimes; one mean return over all
of them hides an agent that learns one and not the other. `EpisodeLog` is a Stable-Baselines3
`VecEnvWrapper` that records each finished episode (`timesteps`, `s`, `regime`, `return`,
`length`) from the environments' own `info`; `RegimeReturnLogger` is the callback that writes the
mean return of each regime to SB3's logger after every rollout, so TensorBoard shows one curve
per regime (`regime/<name>/ep_rew_mean`) beside SB3's own `rollout/ep_rew_mean`.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

COLUMNS = ("timesteps", "s", "regime", "return", "length")
"""The columns of a learning curve, one row per finished training episode."""


class EpisodeLog(VecEnvWrapper):
    """Records every finished episode of the wrapped environments: its end (in environment steps over all
    environments), its regime (`info["s"]`, `info["regime"]`), its return and length.

    Returns are summed here from the rewards the wrapped environments give (the training reward, before any
    reward a wrapper outside this one adds), so the curve needs no `Monitor`.
    """

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self.steps = 0
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.rows: list[tuple] = []

    def reset(self):
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        self.steps += self.num_envs
        self._returns += rewards
        self._lengths += 1
        for i in np.flatnonzero(dones):
            info = infos[i]
            self.rows.append(
                (self.steps, int(info.get("s", 0)), str(info.get("regime", "train")), float(self._returns[i]),
                 int(self._lengths[i]))
            )  # fmt: skip
            self._returns[i], self._lengths[i] = 0.0, 0
        return obs, rewards, dones, infos

    def frame(self) -> pd.DataFrame:
        """The curve so far: one row per finished episode (`COLUMNS`)."""
        return pd.DataFrame(self.rows, columns=list(COLUMNS))


class RegimeReturnLogger(BaseCallback):
    """After every rollout, logs each regime's mean return over its last `window` episodes
    (`regime/<name>/ep_rew_mean`, and `regime/<name>/episodes`) to Stable-Baselines3's logger."""

    def __init__(self, log: EpisodeLog, window: int = 100) -> None:
        super().__init__()
        self.log, self.window = log, window
        self._seen = 0
        self._recent: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        # Only the episodes finished since the last rollout: the log grows for the whole run.
        for _, _, regime, ret, _ in self.log.rows[self._seen :]:
            self._recent.setdefault(regime, deque(maxlen=self.window)).append(ret)
            self._counts[regime] = self._counts.get(regime, 0) + 1
        self._seen = len(self.log.rows)
        for regime, returns in self._recent.items():
            self.logger.record(f"regime/{regime}/ep_rew_mean", float(np.mean(returns)))
            self.logger.record(f"regime/{regime}/episodes", self._counts[regime])


__all__ = ["COLUMNS", "EpisodeLog", "RegimeReturnLogger"]
