"""Activation capture by dotted module name, with every hook removed in `finally`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from core.errors import AgentError
from core.hooks import forward_hooks
from core.modules import count_hooks, resolve_modules

__all__ = ["ActivationCache", "capture", "count_hooks", "first_tensor", "flatten_rows", "resolve_modules"]


def first_tensor(output, site: str | None = None) -> torch.Tensor:
    """A module's output as probes see it: the first element of a tuple, a tensor with a batch dimension."""
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    if not isinstance(output, torch.Tensor) or output.ndim < 1:
        who = "hooked module" if site is None else f"site {site!r}"
        raise AgentError(f"{who} returned {type(output).__name__}; only tensor outputs can be captured.")
    return output


def flatten_rows(output, site: str | None = None) -> torch.Tensor:
    """`first_tensor(output)` flattened per row (graph kept)."""
    output = first_tensor(output, site)
    return output.reshape(output.shape[0], -1)


def _flatten_output(output) -> torch.Tensor:
    return flatten_rows(output).detach().to("cpu", torch.float32)


class ActivationCache:
    """Outputs recorded by `capture`, one list of `(B, d)` arrays per site, in call order."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(names)
        self._chunks: dict[str, list[np.ndarray]] = {n: [] for n in self.names}

    def record(self, name: str, value: torch.Tensor) -> None:
        """Append one batch of flattened activations for `name`."""
        self._chunks[name].append(value.numpy())

    def pop(self) -> dict[str, np.ndarray]:
        """Return the activations of the calls since the last `pop`, concatenated per site, and clear."""
        out = {}
        for name, chunks in self._chunks.items():
            out[name] = np.concatenate(chunks, axis=0) if chunks else np.zeros((0, 0), np.float32)
            chunks.clear()
        return out


@contextlib.contextmanager
def capture(model, names: Iterable[str]) -> Iterator[ActivationCache]:
    """Record the outputs of the named modules of `model` while the block runs.

    `model` is an `Agent` or a `torch.nn.Module`; names are full dotted module paths as given by
    `named_modules()`. Each forward call appends a `(B, d)` float32 array (outputs flattened
    per row). Hooks are removed when the block exits, also on an exception.
    """
    names = list(dict.fromkeys(names))
    modules = resolve_modules(model, names)
    cache = ActivationCache(names)
    hooks = [
        (module, lambda _m, _i, out, name=name: cache.record(name, _flatten_output(out)))
        for name, module in modules.items()
    ]
    with forward_hooks(hooks):
        yield cache
