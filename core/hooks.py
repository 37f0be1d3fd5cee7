"""The one place forward hooks are registered: a context manager that removes them all in `finally`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

from torch import nn

ForwardHook = Callable[[nn.Module, tuple, object], object]
"""`hook(module, inputs, output)`; a return value other than `None` replaces the module's output."""


@contextlib.contextmanager
def forward_hooks(hooks: Iterable[tuple[nn.Module, ForwardHook]]) -> Iterator[None]:
    """Register each `(module, hook)` as a forward hook while the block runs.

    Every hook registered is removed when the block exits, also when the block raises and when a
    later registration fails, so no hook outlives the block (capture, steering, attribution and
    `check_agent` all go through here).
    """
    handles = []
    try:
        for module, hook in hooks:
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()
