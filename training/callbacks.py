"""Stable-Baselines3 callbacks: progress reporting and safe periodic checkpoints."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from stable_baselines3.common.callbacks import BaseCallback


class ProgressCallback(BaseCallback):
    """Calls `update(num_timesteps, mean_episode_return_or_None)` after every rollout."""

    def __init__(self, update: Callable[[int, float | None], None]) -> None:
        super().__init__()
        self._update = update

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buf = self.model.ep_info_buffer
        mean = float(sum(e["r"] for e in buf) / len(buf)) if buf else None
        self._update(self.num_timesteps, mean)


class SafetensorsCheckpointCallback(BaseCallback):
    """Every `every` timesteps, write a safetensors checkpoint to `directory/step_<n>`."""

    def __init__(self, every: int, directory: str | os.PathLike[str], save: Callable[[Path], None]) -> None:
        super().__init__()
        self.every = every
        self.directory = Path(directory)
        self._save = save
        self._next = every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._save(self.directory / f"step_{self.num_timesteps}")
            self._next += self.every
        return True
