"""The foundation every layer shares and nothing domain-specific.

Errors and warnings (`core.errors`), atomic writers (`core.io`), device resolution
(`core.device`), module resolution by dotted name (`core.modules`), the one forward-hook context
manager (`core.hooks`) and the vocabularies several layers use (`core.vocab`). The layers are
`core → envs → training → probes → analysis → mesaprobe`; `core` imports none of them.
"""

from core.device import resolve_device
from core.errors import (
    AgentError,
    CandidateError,
    ConfigError,
    ConstantColumnWarning,
    DataError,
    FewEpisodesWarning,
    FitError,
    MesaprobeError,
    MesaprobeWarning,
    OverlapWarning,
    UnknownNameError,
    suggest,
    unknown_name,
)
from core.hooks import forward_hooks
from core.io import atomic_directory, atomic_path, write_bytes_atomic, write_json_atomic, write_text_atomic
from core.modules import count_hooks, module_table, resolve_modules

__all__ = [
    "AgentError",
    "CandidateError",
    "ConfigError",
    "ConstantColumnWarning",
    "DataError",
    "FewEpisodesWarning",
    "FitError",
    "MesaprobeError",
    "MesaprobeWarning",
    "OverlapWarning",
    "UnknownNameError",
    "atomic_directory",
    "atomic_path",
    "count_hooks",
    "forward_hooks",
    "module_table",
    "resolve_device",
    "resolve_modules",
    "suggest",
    "unknown_name",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
