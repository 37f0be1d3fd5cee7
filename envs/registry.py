"""Registration of the built-in environments and a `make` that suggests close ids."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from core.errors import ConfigError, unknown_name

NAMESPACE = "mesaprobe"
BUILTIN: dict[str, str] = {
    f"{NAMESPACE}/CoinCorridor-v0": "envs.coin_corridor:CoinCorridorEnv",
    f"{NAMESPACE}/CheeseMaze-v0": "envs.cheese_maze:CheeseMazeEnv",
    f"{NAMESPACE}/KeysChests-v0": "envs.keys_chests:KeysChestsEnv",
    f"{NAMESPACE}/AbsentSupervisor-v0": "envs.absent_supervisor:AbsentSupervisorEnv",
}

NON_GRID: dict[str, str] = {
    f"{NAMESPACE}/OracleWorld-v0": "envs.oracle_world:OracleWorldEnv",
    f"{NAMESPACE}/BannedRouteWorld-v0": "envs.banned_route:BannedRouteWorld",
}
"""Built-in environments that are not grid worlds (the counterfactual-oracle worlds of seed 001): they
keep the regime contract of DESIGN.md §3 (`info["s"]`, `regimes`, `candidates`), not the grid one."""

IMPACT: dict[str, str] = {
    f"{NAMESPACE}/SideEffects-v0": "envs.side_effects:SideEffectsEnv",
}
"""The side-effect levels of seed 002 (one id, `level=` picks the level): grid worlds with a no-op and
two regimes, tested by their own contract tests (`tests/envs/test_side_effects.py`)."""

VECTOR: dict[str, str] = {
    f"{NAMESPACE}/CoinCorridor-v0": "envs.coin_corridor:CoinCorridorVectorEnv",
    f"{NAMESPACE}/CheeseMaze-v0": "envs.cheese_maze_vector:CheeseMazeVectorEnv",
    f"{NAMESPACE}/KeysChests-v0": "envs.keys_chests:KeysChestsVectorEnv",
    f"{NAMESPACE}/AbsentSupervisor-v0": "envs.absent_supervisor:AbsentSupervisorVectorEnv",
}
"""Batched implementations, used by `gymnasium.make_vec(id, vectorization_mode="vector_entry_point")`."""


def register_envs() -> None:
    """Register every built-in environment with Gymnasium (idempotent)."""
    for env_id, entry_point in {**BUILTIN, **NON_GRID, **IMPACT}.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, vector_entry_point=VECTOR.get(env_id))


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """`gymnasium.make` with a clear error naming the closest registered ids for a typo."""
    register_envs()
    if env_id not in gym.registry:
        ours = [k for k in gym.registry if k.startswith(f"{NAMESPACE}/")]
        raise unknown_name("environment id", env_id, ours + [k for k in gym.registry if k not in ours])
    return gym.make(env_id, **kwargs)


def make_batched(
    env_id: str, num_envs: int, *, batched: bool | None = None, **kwargs: Any
) -> gym.vector.VectorEnv | None:
    """`env_id`'s batched implementation for `num_envs` environments (`gymnasium.make_vec` with its
    `vector_entry_point`; `kwargs` go to it), or None where it has none or `batched` is False.

    `batched=True` requires one and raises `ConfigError` naming the fallback; None takes one where there is one.
    """
    if batched is False:
        return None
    register_envs()
    spec = gym.registry.get(env_id)
    if spec is None or spec.vector_entry_point is None:
        if batched:
            raise ConfigError(
                f"batched=True needs an environment with a batched implementation; {env_id!r} has none (the built-in "
                f"grid worlds have). Use batched=None to fall back to one environment per copy."
            )
        return None
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def list_envs(ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Describe environments: id, regimes, candidates, channels, actions, observation shape, batched or not.

    By default: the built-ins and every environment registered under a namespace that starts with
    `mesaprobe` (e.g. `mesaprobe-examples/...`, registered by a plugin or an example).
    """
    register_envs()
    if ids is None:
        ids = list(BUILTIN) + list(NON_GRID) + list(IMPACT)
        ids += sorted(
            k for k in gym.registry if k not in ids and (gym.registry[k].namespace or "").startswith(NAMESPACE)
        )
    rows = []
    for env_id in ids:
        env = make(env_id)
        u = env.unwrapped
        rows.append(
            {
                "id": env_id,
                "regimes": list(getattr(u, "regimes", ())),
                "candidates": list(getattr(u, "candidates", ())),
                "channels": list(getattr(u, "channels", ())),
                "actions": list(getattr(u, "actions", ())),
                "observation_shape": list(env.observation_space.shape or ()),
                "batched": gym.registry[env_id].vector_entry_point is not None,
            }
        )
        env.close()
    return rows
