"""Small networks that learn the built-in grid worlds on CPU in a minute."""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class GridCNN(BaseFeaturesExtractor):
    """Two 3x3 convolutions over the `(C, H, W)` grid, then one dense layer.

    Named modules (hook sites): `conv` (the convolutional stack, flattened output) and `fc`
    (the `features_dim`-wide feature vector after ReLU).
    """

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 64, channels: int = 16) -> None:
        super().__init__(observation_space, features_dim)
        c, h, w = observation_space.shape
        self.conv = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(channels * h * w, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(observations))


def default_policy_kwargs(features_dim: int = 64, channels: int = 16, hidden: int = 64) -> dict:
    """Policy kwargs for PPO with `GridCNN` and one hidden layer per head."""
    return {
        "features_extractor_class": GridCNN,
        "features_extractor_kwargs": {"features_dim": features_dim, "channels": channels},
        "net_arch": {"pi": [hidden], "vf": [hidden]},
    }
