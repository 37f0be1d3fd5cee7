"""Agents: the `Agent` protocol, adapters (Stable-Baselines3, torch modules), planted agents, PPO training."""

from training.activation_reward import ActivationReward, ActivationRewardVecEnv, Readout
from training.agent import Agent, SB3Agent, sample_from_logits
from training.check import AgentCheck, CheckResult, check_agent
from training.factored import RouteAgent, RouteModel, fit_route_agents, route_episodes
from training.impact_agents import ImpactPenaltyWrapper, QLearning, q_learning
from training.impact_graph import StateGraph
from training.impact_penalty import BASELINES, DEVIATIONS, ImpactPenalty, penalty_table
from training.impact_planning import Plan, plan
from training.model_based_oracle import ModelBasedOracle, train_model_based_oracle
from training.networks import GridCNN, default_policy_kwargs
from training.oracles import (
    OracleTraining,
    RewardOracle,
    SequenceOracle,
    fit_oracle,
    oracle_rounds,
    train_counterfactual_oracle,
    train_plain_predictor,
    train_reward_oracle,
)
from training.planted import PlantedPlanner, planted_agent, planted_goals
from training.torch_agent import TorchAgent
from training.train import PPOSettings, evaluate, load_agent, make_agent, resolve_device, save_agent, train

__all__ = [
    "ActivationReward",
    "ActivationRewardVecEnv",
    "Readout",
    "Agent",
    "AgentCheck",
    "check_agent",
    "CheckResult",
    "default_policy_kwargs",
    "evaluate",
    "fit_oracle",
    "GridCNN",
    "load_agent",
    "make_agent",
    "oracle_rounds",
    "OracleTraining",
    "planted_agent",
    "planted_goals",
    "PlantedPlanner",
    "PPOSettings",
    "resolve_device",
    "sample_from_logits",
    "save_agent",
    "SB3Agent",
    "SequenceOracle",
    "TorchAgent",
    "train",
    "train_counterfactual_oracle",
    "train_plain_predictor",
    "RewardOracle",
    "train_reward_oracle",
    "ModelBasedOracle",
    "train_model_based_oracle",
    "RouteAgent",
    "RouteModel",
    "fit_route_agents",
    "route_episodes",
    "BASELINES",
    "DEVIATIONS",
    "ImpactPenalty",
    "ImpactPenaltyWrapper",
    "Plan",
    "QLearning",
    "StateGraph",
    "penalty_table",
    "plan",
    "q_learning",
]
