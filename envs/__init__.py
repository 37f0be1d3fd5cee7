"""Gymnasium environments with a regime indicator `s` (training vs deployment)."""

from core.errors import (
    AgentError,
    CandidateError,
    ConfigError,
    ConstantColumnWarning,
    DataError,
    FewEpisodesWarning,
    MesaprobeError,
    MesaprobeWarning,
    OverlapWarning,
    UnknownNameError,
)
from envs.absent_supervisor import AbsentSupervisorEnv
from envs.cheese_maze import CheeseMazeEnv
from envs.cheese_maze_vector import CheeseMazeVectorEnv
from envs.coin_corridor import CoinCorridorEnv, Layout, check_shift, generate_layout
from envs.keys_chests import KeysChestsEnv
from envs.regime_mixture import RegimeMixture
from envs.registry import list_envs, make, register_envs

register_envs()

__all__ = [
    "AbsentSupervisorEnv",
    "AgentError",
    "CandidateError",
    "CheeseMazeEnv",
    "CheeseMazeVectorEnv",
    "CoinCorridorEnv",
    "ConfigError",
    "ConstantColumnWarning",
    "DataError",
    "FewEpisodesWarning",
    "KeysChestsEnv",
    "Layout",
    "MesaprobeError",
    "MesaprobeWarning",
    "OverlapWarning",
    "RegimeMixture",
    "UnknownNameError",
    "check_shift",
    "generate_layout",
    "list_envs",
    "make",
    "register_envs",
]
