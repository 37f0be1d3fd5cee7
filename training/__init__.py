"""Agents: the `Agent` protocol, the Stable-Baselines3 adapter, PPO training and checkpoints."""

from training.agent import Agent, SB3Agent, sample_from_logits
from training.networks import GridCNN, default_policy_kwargs
from training.train import PPOSettings, evaluate, load_agent, make_agent, resolve_device, save_agent, train

__all__ = [
    "Agent",
    "GridCNN",
    "PPOSettings",
    "SB3Agent",
    "default_policy_kwargs",
    "evaluate",
    "load_agent",
    "make_agent",
    "sample_from_logits",
    "save_agent",
    "resolve_device",
    "train",
]
