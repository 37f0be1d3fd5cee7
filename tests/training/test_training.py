import numpy as np
import pytest
import torch

import training
from envs import AgentError, ConfigError, make
from training import Agent, SB3Agent, sample_from_logits

ENV_ID = "mesaprobe/CoinCorridor-v0"


def test_sb3_agent_satisfies_protocol(agent):
    assert isinstance(agent, Agent)
    names = dict(agent.named_modules())
    assert {"features_extractor.fc", "mlp_extractor.policy_net", "value_net", "action_net"} <= set(names)


def test_act_on_a_batch_is_seeded(agent):
    env = make(ENV_ID, shift=1.0)
    obs = np.stack([env.reset(seed=i)[0] for i in range(8)])
    a1 = agent.act(obs, rng=np.random.default_rng(5))
    a2 = agent.act(obs, rng=np.random.default_rng(5))
    assert a1.shape == (8,) and np.array_equal(a1, a2)
    assert set(np.unique(a1)) <= {0, 1, 2, 3}


def test_sample_from_logits_follows_probabilities():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1, 0.0]])).repeat(20000, 1)
    a = sample_from_logits(logits, deterministic=False, rng=np.random.default_rng(0))
    freq = np.bincount(a, minlength=4) / len(a)
    assert np.allclose(freq, [0.7, 0.2, 0.1, 0.0], atol=0.015)
    assert (sample_from_logits(logits[:3], deterministic=True, rng=None) == 0).all()


def test_same_seed_same_weights():
    a = training.train(ENV_ID, total_timesteps=1024, seed=3)
    b = training.train(ENV_ID, total_timesteps=1024, seed=3)
    for (ka, va), (kb, vb) in zip(a.policy.state_dict().items(), b.policy.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_checkpoint_roundtrip_is_safetensors(tmp_path):
    calls = []
    agent = training.train(
        ENV_ID,
        total_timesteps=2048,
        seed=1,
        out=tmp_path / "a",
        checkpoint_every=1024,
        progress=lambda n, r: calls.append(n),
    )
    assert (tmp_path / "a" / "policy.safetensors").is_file()
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir()) == ["step_1024", "step_2048"]
    assert calls and calls[-1] >= 2048
    loaded = training.load_agent(tmp_path / "a")
    obs = np.stack([make(ENV_ID, shift=1.0).reset(seed=i)[0] for i in range(4)])
    l1, v1 = agent.logits_and_values(obs)
    l2, v2 = loaded.logits_and_values(obs)
    assert torch.allclose(l1, l2) and torch.allclose(v1, v2)
    assert loaded.meta["train_shift"] == 0.0


def test_load_rejects_non_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="not a mesaprobe agent checkpoint"):
        training.load_agent(tmp_path)


def test_load_names_settings_from_another_version(agent, tmp_path):
    import json

    training.save_agent(agent, tmp_path / "a")
    meta_path = tmp_path / "a" / "agent.json"
    meta = json.loads(meta_path.read_text())
    meta["settings"]["network"] = "planner"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=r"does not know: \['network'\]"):
        training.load_agent(tmp_path / "a")


def test_bad_training_inputs():
    with pytest.raises(ConfigError, match="shift"):
        training.train(ENV_ID, shift=1.2, total_timesteps=10)
    with pytest.raises(ConfigError, match="total_timesteps"):
        training.train(ENV_ID, total_timesteps=0)
    with pytest.raises(AgentError):
        SB3Agent(object())
