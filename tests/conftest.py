"""Shared fixtures: a briefly trained agent and a small rollout dataset (built once per session)."""

from __future__ import annotations

import pytest

ENV_ID = "mesaprobe/CoinCorridor-v0"
LAYERS = ["features_extractor.fc", "mlp_extractor.policy_net", "value_net"]


@pytest.fixture(scope="session")
def agent():
    import training

    return training.train(ENV_ID, shift=0.0, total_timesteps=2048, seed=0)


@pytest.fixture(scope="session")
def dataset(agent):
    import probes

    return probes.collect(agent, ENV_ID, shift=[0.0, 1.0], n_episodes=40, layers=LAYERS, seed=0)
