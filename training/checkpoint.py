"""Agent checkpoints in safe formats: safetensors weights plus a JSON description."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors.torch import load_model, save_model

from core.errors import ConfigError
from core.io import atomic_path, write_json_atomic

WEIGHTS = "policy.safetensors"
META = "agent.json"
AGENT_FORMAT = "mesaprobe-agent/1"
"""The `format` tag of `agent.json`."""
LEGACY_KINDS = {"sb3-ppo": "sb3"}
"""Agent kinds written by earlier versions, and their names now (`core.vocab.AgentKind`)."""


def write_meta(path: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Write `agent.json` (how to rebuild the agent) into directory `path` atomically: the one writer
    of agent descriptions, for trained, planted and torch agents alike."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(path / META, {"format": AGENT_FORMAT, **meta})


def save_checkpoint(agent, path: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Write `agent`'s policy weights and `meta` (how to rebuild it) to directory `path` atomically."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    # Per-file atomic writes (not a directory swap) so that `path/checkpoints/` survives.
    with atomic_path(path / WEIGHTS) as tmp:
        # save_model drops the aliases SB3 keeps for a shared features extractor.
        save_model(agent.policy, str(tmp))
    write_meta(path, meta)
    return path


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the JSON description of a checkpoint directory written by `save_checkpoint`."""
    path = Path(path)
    try:
        meta = json.loads((path / META).read_text()) if (path / META).is_file() else None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path / META} is not valid JSON ({exc.msg} at line {exc.lineno}); it was cut off or edited by hand. "
            f"Delete {path} to retrain the agent, or restore the file."
        ) from None
    if meta is not None and not isinstance(meta, dict):
        raise ConfigError(
            f"{path / META} holds {type(meta).__name__}, not an agent description; delete {path} to retrain."
        )
    if meta is not None and meta.get("kind") in LEGACY_KINDS:
        meta = {**meta, "kind": LEGACY_KINDS[meta["kind"]]}
    # Planted agents carry no weights: their description alone rebuilds them.
    if meta is None or (meta.get("kind") != "planted" and not (path / WEIGHTS).is_file()):
        raise ConfigError(
            f"{path} is not a mesaprobe agent checkpoint (expected {WEIGHTS} and {META} inside). "
            f"Create one with training.train(..., out=DIR) or training.save_agent."
        )
    return meta


def load_weights(module, path: str | os.PathLike[str]) -> None:
    """Load the safetensors weights of checkpoint `path` into `module` (strict: names must match)."""
    load_model(module, str(Path(path) / WEIGHTS), strict=True, device=str(next(module.parameters()).device))
