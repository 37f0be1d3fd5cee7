"""Gymnasium environments with a regime indicator `s` (training vs deployment)."""

from envs.coin_corridor import CoinCorridorEnv, Layout, check_shift, generate_layout
from envs.errors import (
    AgentError,
    ConfigError,
    ConstantColumnWarning,
    DataError,
    FewEpisodesWarning,
    MesaprobeError,
    MesaprobeWarning,
    OverlapWarning,
    UnknownNameError,
)
from envs.registry import list_envs, make, register_envs

register_envs()

__all__ = [
    "AgentError",
    "CoinCorridorEnv",
    "ConfigError",
    "ConstantColumnWarning",
    "DataError",
    "FewEpisodesWarning",
    "Layout",
    "MesaprobeError",
    "MesaprobeWarning",
    "OverlapWarning",
    "UnknownNameError",
    "check_shift",
    "generate_layout",
    "list_envs",
    "make",
    "register_envs",
]
