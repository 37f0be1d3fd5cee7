import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from torch import nn

import probes
from envs import ConfigError, UnknownNameError
from probes import RolloutDataset
from training import TorchAgent

ENV_ID = "mesaprobe/CoinCorridor-v0"


def test_dataset_columns_and_alignment(dataset):
    tab = dataset.table
    for col in [
        "run",
        "episode",
        "t",
        "s",
        "shift",
        "action",
        "reward",
        "return_to_go",
        "achieved_coin",
        "achieved_exit",
        "agent_row",
        "coin_col",
    ]:
        assert col in tab
    assert dataset.n_episodes == 80
    assert set(tab["s"]) == {0, 1}
    assert (tab.groupby("episode")["t"].apply(lambda t: (t.diff().dropna() == 1).all())).all()
    for site in ["features_extractor.fc", "mlp_extractor.policy_net", "value_net", "obs"]:
        assert dataset.site(site).shape[0] == len(tab)
    # return-to-go at t=0 is the episode return
    eps = dataset.episodes().set_index("episode")
    first = tab[tab.t == 0].set_index("episode")
    assert np.allclose(first["return_to_go"], eps.loc[first.index, "return"])


def test_observation_site_matches_agent_position(dataset):
    tab = dataset.table
    obs = dataset.site("obs").reshape(len(tab), 4, 9, 13)
    rows = np.arange(len(tab))
    assert (obs[rows, 1, tab["agent_row"].to_numpy(), tab["agent_col"].to_numpy()] == 1).all()


def test_same_seed_same_dataset(agent):
    a = probes.collect(agent, ENV_ID, shift=1.0, n_episodes=10, layers=["value_net"], seed=7)
    b = probes.collect(agent, ENV_ID, shift=1.0, n_episodes=10, layers=["value_net"], seed=7)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert np.array_equal(a.site("value_net"), b.site("value_net"))


def test_save_load_roundtrip_readable_without_mesaprobe(dataset, tmp_path):
    dataset.save(tmp_path / "ds")
    table = pd.read_parquet(tmp_path / "ds" / "table.parquet")
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    fc = np.load(tmp_path / "ds" / meta["sites"]["features_extractor.fc"], allow_pickle=False)
    assert len(table) == len(dataset) and fc.shape == dataset.site("features_extractor.fc").shape
    back = RolloutDataset.load(tmp_path / "ds")
    pd.testing.assert_frame_equal(back.table, dataset.table)
    assert back.sites == dataset.sites


def test_failed_save_leaves_previous_dataset_intact(dataset, tmp_path, monkeypatch):
    dataset.save(tmp_path / "ds")
    before = (tmp_path / "ds" / "table.parquet").read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", boom)
    with pytest.raises(OSError):
        dataset.select(np.arange(10)).save(tmp_path / "ds")
    assert (tmp_path / "ds" / "table.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_split_is_by_episode(dataset):
    train, test = dataset.split(0.25, seed=0)
    assert set(train.table.episode).isdisjoint(test.table.episode)
    assert len(train) + len(test) == len(dataset)


def test_unknown_layer_in_collect(agent):
    with pytest.raises(UnknownNameError, match="features_extractor.fc"):
        probes.collect(agent, ENV_ID, shift=0.0, n_episodes=2, layers=["features_extractor.fcc"])


def test_bad_collect_inputs(agent):
    with pytest.raises(ConfigError, match="shift"):
        probes.collect(agent, ENV_ID, shift=-1, n_episodes=2)
    with pytest.raises(ConfigError, match="n_episodes"):
        probes.collect(agent, ENV_ID, shift=0.0, n_episodes=0)


class PaidToWait(gym.Env):
    """Three steps per episode; the training reward pays 1 per step, the base objective costs 2 per step."""

    candidates = ("waited",)

    def __init__(self, shift: float = 0.0):
        self.shift = shift
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def _info(self, base_reward=None):
        info = {"s": int(self.shift > 0.5), "achieved": {"waited": self._t >= 3}, "truth": {"clock": self._t}}
        if base_reward is not None:
            info["base_reward"] = base_reward
        return info

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return np.zeros(2, np.float32), self._info()

    def step(self, action):
        self._t += 1
        return np.full(2, self._t / 3, np.float32), 1.0, self._t >= 3, False, self._info(base_reward=-2.0)


def test_base_reward_column_and_episode_return():
    agent = TorchAgent(nn.Linear(2, 2))
    ds = probes.collect(agent, PaidToWait, shift=1.0, n_episodes=4, n_envs=2, seed=0)
    tab = ds.table
    assert (tab["base_reward"] == -2.0).all() and (tab["reward"] == 1.0).all()
    eps = ds.episodes()
    assert (eps["return"] == -6.0).all()  # the base objective Y_b
    assert (eps["train_return"] == 3.0).all()
    assert (tab[tab.t == 0]["return_to_go"] == -6.0).all()  # return-to-go follows the base objective
    assert eps["achieved_waited"].all() and set(tab["clock"]) == {0, 1, 2}


def test_base_reward_defaults_to_reward_and_old_datasets_still_work(dataset):
    assert np.array_equal(dataset.table["base_reward"], dataset.table["reward"])
    eps = dataset.episodes()
    assert np.array_equal(eps["return"], eps["train_return"])
    old = RolloutDataset(dataset.table.drop(columns=["base_reward"]), {}, dict(dataset.meta))
    old_eps = old.episodes()
    assert np.array_equal(old_eps["return"], eps["return"])
    assert np.array_equal(old_eps["train_return"], eps["train_return"])


class RecordingRecurrentAgent:
    """A stand-in recurrent agent that records how collect calls it."""

    recurrent = True

    def __init__(self, module):
        self.module = module
        self.calls = []
        self.resets = 0

    def named_modules(self):
        return self.module.named_modules()

    def reset_state(self):
        self.resets += 1

    def act(self, obs, *, deterministic=False, rng=None, slots=None, episode_start=None):
        self.calls.append((list(slots), np.asarray(episode_start, bool).tolist()))
        return np.zeros(len(obs), np.int64)


def test_recurrent_agent_gets_slots_and_episode_starts():
    agent = RecordingRecurrentAgent(nn.Linear(2, 2))
    probes.collect(agent, PaidToWait, shift=0.0, n_episodes=3, n_envs=2, seed=0)
    assert agent.resets == 1
    # two slots run episodes 0 and 1 (3 steps each), then slot 0 runs episode 2 alone
    assert agent.calls == [
        ([0, 1], [True, True]),
        ([0, 1], [False, False]),
        ([0, 1], [False, False]),
        ([0], [True]),
        ([0], [False]),
        ([0], [False]),
    ]


def test_continuous_actions_and_a_regime_redrawn_each_step():
    # An oracle's action is one real number; OracleWorld redraws the erasure (its regime) every round,
    # so each row's s must be the round's own erasure, which the step's info reports.
    from training.oracles import SequenceOracle

    oracle = SequenceOracle(13, hidden=(8,), p_max=200.0, init_prediction=20.0)
    data = probes.collect(oracle, "mesaprobe/OracleWorld-v0", shift=0.4, n_episodes=6, layers=["body.1"], seed=3)
    assert data.table["action"].dtype == np.float64 and np.allclose(data.table["action"], 0.1, atol=1e-6)
    assert data.site("body.1").shape == (len(data.table), 8)
    message = data.site("obs")[:, 12]  # the round's erasure message, as the oracle was told it
    assert np.array_equal(data.table["s"].to_numpy(), message.astype(int)) and 0 < message.mean() < 1
    assert set(data.table["regime"]) == {"read", "erased"}


def test_continuous_actions_of_the_wrong_shape_are_refused():
    from core.errors import AgentError
    from training.oracles import SequenceOracle

    class TwoValues(SequenceOracle):
        def act(self, obs, *, deterministic=True, rng=None):
            return np.zeros((len(obs), 2), np.float32)

    with pytest.raises(AgentError, match=r"wants \(\d+, 1\)"):
        probes.collect(TwoValues(13, hidden=(4,)), "mesaprobe/OracleWorld-v0", shift=0.3, n_episodes=2)
