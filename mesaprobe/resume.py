"""Resume a study that was stopped: the finished stages of each agent are reused when nothing they
depend on has changed.

Every stage that finishes in an agent directory records a key in `agents/<name>/stages.json`: a
hash of everything its output depends on (the stage's config, the seed, the environment, the
package version and the key of the stage before it). The train stage's key covers the agent's
config; a built agent's (planted, torch) covers its weights as well, so a new weights file under an
unchanged config is not mistaken for the old one. On the next run a stage whose key matches is
loaded from disk instead of run again; one whose key differs, or that never finished, runs again,
and with it every stage after it, because their keys chain. Artifacts are written atomically and
the key only after them, so a run killed at any instant leaves either a finished stage with its key
or no key at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.io import write_json_atomic

STAGES_FILE = "stages.json"
"""The file in each agent directory that records its finished stages and their keys."""
KEY_FORMAT = 1
"""Bumped when what a stage writes changes shape, so that older runs are redone, not misread."""


def stage_key(*parts: Any) -> str:
    """A short hash of `parts` (JSON-serialisable values; tuples count as lists)."""
    from mesaprobe import __version__

    text = json.dumps([KEY_FORMAT, __version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def weights_fingerprint(named_modules: Iterable[tuple[str, Any]]) -> str:
    """A hash of every parameter and buffer of an agent's modules (`Agent.named_modules()`), by name."""
    digest = hashlib.sha256()
    for name, module in named_modules:
        tensors = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
        for tname, tensor in tensors:
            digest.update(f"{name}.{tname}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class StageLedger:
    """The finished stages of one agent directory (`stages.json`): which ran, under which key."""

    directory: Path

    @property
    def path(self) -> Path:
        """Where the ledger is kept."""
        return self.directory / STAGES_FILE

    def read(self) -> dict[str, str]:
        """`{stage: key}` of the finished stages; a missing or unreadable ledger is an empty one."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def finished(self, stage: str, key: str) -> bool:
        """Whether `stage` finished under `key` (so its artifacts can be loaded instead of recomputed)."""
        return self.read().get(stage) == key

    def record(self, stage: str, key: str) -> None:
        """Record that `stage` finished under `key` (call only after its artifacts are written)."""
        write_json_atomic(self.path, {**self.read(), stage: key})

    def clear(self) -> None:
        """Forget every finished stage (`--fresh`)."""
        self.path.unlink(missing_ok=True)


__all__ = ["STAGES_FILE", "StageLedger", "stage_key", "weights_fingerprint"]
