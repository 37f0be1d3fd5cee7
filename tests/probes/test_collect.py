import json

import numpy as np
import pandas as pd
import pytest

import probes
from envs import ConfigError, UnknownNameError
from probes import RolloutDataset

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
