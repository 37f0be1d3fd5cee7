"""Finding an agent's torch modules by dotted name, and counting the hooks registered on them.

One resolver with the same did-you-mean errors for `training.check_agent`, `probes.capture`,
steering and attribution.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from core.errors import AgentError, suggest, unknown_name

HOOK_DICTS: tuple[str, ...] = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
"""The per-module hook tables `count_hooks` sums (forward, forward-pre, backward, backward-pre)."""


def module_table(model) -> dict[str, nn.Module]:
    """`{dotted_name: module}` for every named submodule of `model` (the unnamed root left out).

    `model` is an `Agent` or a `torch.nn.Module`; raises `AgentError` if it has no `named_modules()`.
    """
    if not callable(getattr(model, "named_modules", None)):
        raise AgentError(f"{type(model).__name__} has no named_modules(); an Agent must expose its torch modules.")
    return {name: module for name, module in model.named_modules() if name}


def resolve_modules(model, names: Iterable[str]) -> dict[str, nn.Module]:
    """Map each dotted name to its module in `model.named_modules()`.

    Raises `UnknownNameError` naming the closest existing module names for a typo.
    """
    table = module_table(model)
    out = {}
    for name in names:
        if name not in table:
            raise unknown_name("layer", name, table)
        out[name] = table[name]
    return out


def missing_module_reason(name: str, choices: Iterable[str]) -> str:
    """One clause saying that `name` is not a module, with the closest names: "'polcy' is not a module
    (did you mean 'policy'?)"."""
    choices = sorted(choices)
    hint = suggest(name, choices).strip()
    if hint:
        return f"{name!r} is not a module ({hint[0].lower()}{hint[1:]})"
    listing = ", ".join(repr(c) for c in choices[:8]) + (" ..." if len(choices) > 8 else "")
    return f"{name!r} is not a module (modules: {listing or 'none'})"


def hooks_per_module(model) -> dict[str, int]:
    """Number of hooks (forward, forward-pre, backward, backward-pre) on each module, root named ''."""
    return {name: sum(len(getattr(module, attr, ())) for attr in HOOK_DICTS) for name, module in model.named_modules()}


def count_hooks(model) -> int:
    """Total number of forward, forward-pre, backward and backward-pre hooks on all modules of `model`."""
    return sum(hooks_per_module(model).values())
