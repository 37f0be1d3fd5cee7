"""Deprecated location: the errors and warnings moved to `core.errors`; this re-export stays for one release."""

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
    "suggest",
    "unknown_name",
]
