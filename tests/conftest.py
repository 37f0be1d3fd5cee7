"""Shared fixtures: a briefly trained agent and a small rollout dataset (built once per session)."""

from __future__ import annotations

import pytest
import torch

# One thread, as the CLI uses: the tiny networks gain nothing from more, and two threads on a shared
# 2-core machine can slow torch down tenfold.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _dowhy_on_one_job():
    """DoWhy's tests run serially, as the benchmarks run them: its default joblib workers took
    ~11 s to start per test process on this 2-core machine (one `dowhy_kernel` call at 300 rows:
    11.7 s with them, 0.13 s without, the same p-value)."""
    import dowhy.gcm.config

    before = dowhy.gcm.config.default_n_jobs
    dowhy.gcm.config.default_n_jobs = 1
    yield
    dowhy.gcm.config.default_n_jobs = before


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
