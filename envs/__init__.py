"""Gymnasium environments with named regimes: training (`s = 0`) and deployment distributions (`s = 1, 2, ...`)."""

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
from envs.absent_supervisor import AbsentSupervisorEnv, AbsentSupervisorVectorEnv
from envs.banned_route import BannedRouteWorld
from envs.cheese_maze import CheeseMazeEnv
from envs.cheese_maze_vector import CheeseMazeVectorEnv
from envs.coin_corridor import CoinCorridorEnv, CoinCorridorVectorEnv, Layout, check_shift, generate_layout
from envs.grid_vector import GridVectorEnv
from envs.keys_chests import KeysChestsEnv, KeysChestsVectorEnv
from envs.oracle_world import OracleWorldEnv
from envs.regime_mixture import RegimeMixture
from envs.regimes import TRAIN, RegimeChoice
from envs.registry import list_envs, make, make_batched, register_envs
from envs.side_effects import SideEffectsEnv

register_envs()

__all__ = [
    "AbsentSupervisorEnv",
    "AbsentSupervisorVectorEnv",
    "BannedRouteWorld",
    "AgentError",
    "CandidateError",
    "CheeseMazeEnv",
    "CheeseMazeVectorEnv",
    "CoinCorridorEnv",
    "CoinCorridorVectorEnv",
    "ConfigError",
    "ConstantColumnWarning",
    "DataError",
    "FewEpisodesWarning",
    "GridVectorEnv",
    "KeysChestsEnv",
    "KeysChestsVectorEnv",
    "Layout",
    "MesaprobeError",
    "MesaprobeWarning",
    "OracleWorldEnv",
    "OverlapWarning",
    "RegimeChoice",
    "RegimeMixture",
    "SideEffectsEnv",
    "TRAIN",
    "UnknownNameError",
    "check_shift",
    "generate_layout",
    "list_envs",
    "make",
    "make_batched",
    "register_envs",
]
