"""Registration of the built-in environments and a `make` that suggests close ids."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from envs.errors import unknown_name

NAMESPACE = "mesaprobe"
BUILTIN: dict[str, str] = {
    f"{NAMESPACE}/CoinCorridor-v0": "envs.coin_corridor:CoinCorridorEnv",
}


def register_envs() -> None:
    """Register every built-in environment with Gymnasium (idempotent)."""
    for env_id, entry_point in BUILTIN.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """`gymnasium.make` with a clear error naming the closest registered ids for a typo."""
    register_envs()
    if env_id not in gym.registry:
        ours = [k for k in gym.registry if k.startswith(f"{NAMESPACE}/")]
        raise unknown_name("environment id", env_id, ours + [k for k in gym.registry if k not in ours])
    return gym.make(env_id, **kwargs)


def list_envs() -> list[dict[str, Any]]:
    """Describe each built-in environment: id, candidates, channels and actions."""
    register_envs()
    rows = []
    for env_id in BUILTIN:
        env = gym.make(env_id)
        u = env.unwrapped
        rows.append(
            {
                "id": env_id,
                "candidates": list(u.candidates),
                "channels": list(u.channels),
                "actions": list(u.actions),
                "observation_shape": list(env.observation_space.shape),
            }
        )
        env.close()
    return rows
