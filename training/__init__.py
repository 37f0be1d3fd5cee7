"""Agents: the `Agent` protocol, adapters (Stable-Baselines3, torch modules), planted agents, PPO training."""

from training.agent import Agent, SB3Agent, sample_from_logits
from training.check import AgentCheck, CheckResult, check_agent
from training.networks import GridCNN, default_policy_kwargs
from training.planted import PlantedPlanner, planted_agent, planted_goals
from training.torch_agent import TorchAgent
from training.train import PPOSettings, evaluate, load_agent, make_agent, resolve_device, save_agent, train

__all__ = [
    "Agent",
    "AgentCheck",
    "CheckResult",
    "GridCNN",
    "PPOSettings",
    "PlantedPlanner",
    "SB3Agent",
    "TorchAgent",
    "check_agent",
    "default_policy_kwargs",
    "evaluate",
    "load_agent",
    "make_agent",
    "planted_agent",
    "planted_goals",
    "sample_from_logits",
    "save_agent",
    "resolve_device",
    "train",
]
