"""Collection on the batched grid worlds, and streamed to disk: the same dataset as one environment per slot in memory."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from torch import nn

import envs
import probes
import probes.rollout_writer as writer_module
from envs import ConfigError
from probes import RolloutDataset
from training import make_agent

REGIMES = {
    "mesaprobe/CoinCorridor-v0": ["train", "anywhere", "off_path"],
    "mesaprobe/CheeseMaze-v0": ["train", "other_corner"],
    "mesaprobe/KeysChests-v0": ["train", "glut"],
    "mesaprobe/AbsentSupervisor-v0": ["train", "absent"],
}
LAYERS = ["features_extractor.fc", "value_net"]


def _assert_same_dataset(a: RolloutDataset, b: RolloutDataset) -> None:
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    assert a.sites == b.sites and all(np.array_equal(a.site(s), b.site(s)) for s in a.sites)
    assert dict(a.meta) == dict(b.meta)


@pytest.mark.parametrize("env_id", sorted(REGIMES))
def test_batched_collection_equals_one_environment_per_slot(env_id):
    agent = make_agent(env_id, env_kwargs={"max_steps": 30} if "Cheese" in env_id else None)
    kwargs = {"regime": REGIMES[env_id], "n_episodes": 9, "n_envs": 4, "layers": LAYERS, "seed": 3}
    if "Cheese" in env_id:
        kwargs["env_kwargs"] = {"min_size": 5, "max_size": 7, "max_steps": 30}
        agent = make_agent(env_id, env_kwargs=kwargs["env_kwargs"])
    copies = probes.collect(agent, env_id, batched=False, **kwargs)
    batch = probes.collect(agent, env_id, **kwargs)
    _assert_same_dataset(copies, batch)
    assert set(batch.table["regime"]) == set(REGIMES[env_id]) and batch.table["done"].sum() == 9 * len(REGIMES[env_id])


@pytest.mark.parametrize("batched", [True, False], ids=["batch", "copies"])
def test_streamed_collection_equals_the_one_in_memory(agent, tmp_path, monkeypatch, batched):
    """Flushed in chunks far smaller than the dataset, written to `.npy` as it goes, read back memory-mapped."""
    kwargs = {"shift": [0.0, 1.0], "n_episodes": 24, "n_envs": 6, "layers": LAYERS, "seed": 5, "batched": batched}
    memory = probes.collect(agent, "mesaprobe/CoinCorridor-v0", **kwargs)
    writers = []

    class Recorded(writer_module.RolloutWriter):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            writers.append(self)

    monkeypatch.setattr(writer_module, "CHUNK_ROWS", 40)
    monkeypatch.setattr(sys.modules["probes.collect"], "RolloutWriter", Recorded)
    streamed = probes.collect(agent, "mesaprobe/CoinCorridor-v0", out=tmp_path / "ds", **kwargs)
    _assert_same_dataset(memory, streamed)
    assert isinstance(streamed.site("value_net"), np.memmap) and not streamed.site("value_net").flags.writeable
    # the buffer never held more than a chunk plus the episodes still running (6 slots x at most 100 steps)
    assert len(memory) > 10 * 40 and writers[0].peak_rows <= 40 + 6 * 100
    # plain .npy files: numpy reads them without mesaprobe
    plain = np.load(tmp_path / "ds" / "activations" / "features_extractor.fc.npy", allow_pickle=False)
    assert np.array_equal(plain, memory.site("features_extractor.fc"))
    _assert_same_dataset(RolloutDataset.load(tmp_path / "ds", mmap=False), memory)


def test_a_failed_collection_keeps_the_old_dataset_and_leaves_nothing_behind(agent, tmp_path):
    first = probes.collect(agent, "mesaprobe/CoinCorridor-v0", n_episodes=4, out=tmp_path / "ds", seed=1)
    before = (tmp_path / "ds" / "table.parquet").read_bytes()

    class Failing(nn.Module):
        calls = 0

        def act(self, obs, **kwargs):
            self.calls += 1
            if self.calls > 5:
                raise RuntimeError("agent crashed")
            return np.zeros(len(obs), dtype=np.int64)

    with pytest.raises(RuntimeError, match="agent crashed"):
        probes.collect(Failing(), "mesaprobe/CoinCorridor-v0", n_episodes=4, out=tmp_path / "ds")
    assert (tmp_path / "ds" / "table.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]
    assert len(RolloutDataset.load(tmp_path / "ds")) == len(first)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is a file"):
        probes.collect(agent, "mesaprobe/CoinCorridor-v0", n_episodes=2, out=tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"


class _SometimesLessTruth(gym.Wrapper):
    """CoinCorridor whose odd-seeded episodes report no `coin_row`: the table's columns change between chunks."""

    def reset(self, *, seed=None, options=None):
        self._odd = bool(seed is not None and seed % 2)
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, self._strip(info)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self._strip(info)

    def _strip(self, info):
        return {**info, "truth": {k: v for k, v in info["truth"].items() if k != "coin_row"}} if self._odd else info


def _sometimes_less_truth(shift: float = 0.0, **kwargs):
    return _SometimesLessTruth(envs.make("mesaprobe/CoinCorridor-v0", shift=shift, **kwargs))


def test_a_streamed_table_whose_columns_change_between_chunks(agent, tmp_path, monkeypatch):
    kwargs = {"shift": 0.5, "n_episodes": 30, "n_envs": 4, "layers": ["value_net"], "seed": 2}
    memory = probes.collect(agent, _sometimes_less_truth, **kwargs)
    assert memory.table["coin_row"].isna().any() and memory.table["coin_row"].notna().any()
    monkeypatch.setattr(writer_module, "CHUNK_ROWS", 30)
    streamed = probes.collect(agent, _sometimes_less_truth, out=tmp_path / "ds", **kwargs)
    _assert_same_dataset(memory, streamed)
