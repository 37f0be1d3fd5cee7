"""Which torch device a computation runs on."""

from __future__ import annotations

import torch

from core.errors import ConfigError


def resolve_device(device: str) -> str:
    """`"auto"` → `"cuda"` when available, else `"cpu"`; check that a requested CUDA device exists."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available; use device='cpu'.")
    return device
