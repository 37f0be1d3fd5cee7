"""An agent's output as a batch of actions of an environment's action space, discrete or continuous.

`probes.collect` and `training.check_agent` take both: `Discrete` spaces want `(B,)` integer
actions; `Box` spaces want `(B, *shape)` floats (a `(B,)` batch is accepted for a one-value
action, the oracles' prediction). Anything else gets an `AgentError` that says what was expected.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from core.errors import AgentError


def is_continuous(space: gym.Space) -> bool:
    """Whether `space` takes real-valued actions (a `Box`)."""
    return isinstance(space, gym.spaces.Box)


def action_batch(out, space: gym.Space, n: int) -> np.ndarray:
    """`out` (what `agent.act` returned for a batch of `n`) as `(n,)` integers or `(n, *shape)` floats.

    Raises `AgentError` when the shape, the dtype or a value does not fit `space`.
    """
    actions = np.asarray(out)
    if is_continuous(space):
        shape = tuple(space.shape)
        if actions.shape == (n,) and int(np.prod(shape)) == 1:
            actions = actions.reshape(n, *shape)
        if actions.shape != (n, *shape):
            raise AgentError(
                f"act returned shape {actions.shape} for a batch of {n}; the action space {space} wants {(n, *shape)}."
            )
        if not np.issubdtype(actions.dtype, np.number):
            raise AgentError(f"act returned dtype {actions.dtype}, not real-valued actions for {space}.")
        actions = actions.astype(space.dtype, copy=False)
    else:
        if actions.shape != (n,):
            raise AgentError(f"act returned shape {actions.shape} for a batch of {n}")
        if not np.issubdtype(actions.dtype, np.integer):
            raise AgentError(f"act returned dtype {actions.dtype}, not integer actions")
    bad = [_scalar(a) for a in actions if not _contains(space, a)]
    if bad:
        raise AgentError(f"act returned actions {bad[:5]} outside the action space {space}")
    return actions


def action_value(action: np.ndarray, space: gym.Space) -> int | float | list[float]:
    """One action as a table cell: an int (discrete), a float (one real value) or a list of floats."""
    if not is_continuous(space):
        return int(action)
    flat = np.asarray(action, dtype=np.float64).reshape(-1)
    return float(flat[0]) if flat.size == 1 else flat.tolist()


def _contains(space: gym.Space, a: np.ndarray) -> bool:
    try:
        return bool(space.contains(np.int64(a) if isinstance(space, gym.spaces.Discrete) else a))
    except Exception:
        return False


def _scalar(a: np.ndarray):
    return a.item() if np.ndim(a) == 0 else np.asarray(a).tolist()
