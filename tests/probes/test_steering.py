"""Steering: interventions as serialisable configs, applied through hooks during rollouts."""

import numpy as np
import pytest
import torch
from torch import nn

import envs
from core.errors import ConfigError, DataError, UnknownNameError
from probes import count_hooks
from probes.steering import Intervention, random_control, steer, steering_rate
from training import TorchAgent, planted_agent

ENV = "mesaprobe/CoinCorridor-v0"


def _tiny():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        net[1].weight.copy_(torch.eye(3, 4))
        net[1].bias.zero_()
    return net


def test_add_and_set_edit_only_the_positions_and_hooks_go_away():
    net = _tiny()
    x = torch.ones(2, 1, 2, 2)
    base = net(x)
    with steer(net, Intervention("1", (2.0,), positions=(1,), mode="add")):
        out = net(x)
    assert torch.equal(out[:, [0, 2]], base[:, [0, 2]]) and torch.allclose(out[:, 1], base[:, 1] + 2.0)
    with steer(net, [Intervention("1", (5.0, 6.0, 7.0), scale=2.0, mode="set")]):
        assert torch.allclose(net(x), torch.tensor([[10.0, 12.0, 14.0]] * 2))
    assert count_hooks(net) == 0 and torch.equal(net(x), base)
    with pytest.raises(RuntimeError, match="boom"), steer(net, Intervention("1", (1.0,), positions=(0,))):
        raise RuntimeError("boom")
    assert count_hooks(net) == 0


def test_config_round_trips_through_json(tmp_path):
    iv = Intervention.at_cells("goal", [(2, 3), (4, 5)], (1, 7, 13), scale=0.5, mode="set", name="two cells")
    assert iv.positions == (2 * 13 + 3, 4 * 13 + 5) and iv.norm == pytest.approx(0.5 * np.sqrt(2))
    path = iv.save(tmp_path / "steer.json")
    assert Intervention.load(path) == iv


def test_random_controls_keep_the_norm():
    iv = Intervention("goal", tuple(np.eye(1, 20, 7)[0]), mode="set")
    for kind in ("gaussian", "permute"):
        c = random_control(iv, seed=3, kind=kind)
        assert c.norm == pytest.approx(iv.norm) and c.direction != iv.direction and c.positions == iv.positions
    assert sorted(random_control(iv, kind="permute").direction) == sorted(iv.direction)


def test_retargeting_a_planted_agent_and_its_controls():
    # The exit-seeker's goal map is replaced by "the goal is at (5, 5)": it walks there in nearly
    # every room, while the same edit at random places (same values, shuffled) rarely takes it there.
    env = envs.make(ENV)
    agent = planted_agent(env, "exit")
    _, h, w = env.observation_space.shape
    target = (5, 5)
    onehot = np.zeros(h * w)
    onehot[target[0] * w + target[1]] = 1.0
    iv = Intervention("goal", tuple(onehot), mode="set", name="goal at (5, 5)")

    def reached(ep):
        return bool(((ep["agent_row"] == target[0]) & (ep["agent_col"] == target[1])).any())

    rates = steering_rate(agent, ENV, iv, reached, n_episodes=40, n_controls=3, control="permute", shift=0.0)
    rate = dict(zip(rates["condition"], rates["success_rate"], strict=True))
    assert rate["steered"] >= 0.9
    assert rate["unsteered"] <= 0.25
    controls = [v for k, v in rate.items() if k.startswith("random control")]
    assert np.mean(controls) <= rate["steered"] - 0.4
    assert count_hooks(agent) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"direction": ()}, "at least one value"),
        ({"direction": (1.0,), "mode": "multiply"}, "mode must be one of"),
        ({"direction": (1.0, 2.0), "positions": (0,)}, "one direction value per position"),
        ({"direction": (1.0, 2.0), "positions": (1, 1)}, "distinct"),
        ({"direction": (float("nan"),)}, "finite"),
    ],
)
def test_bad_interventions(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Intervention("1", **kwargs)


def test_bad_sites_and_sizes():
    net = _tiny()
    with pytest.raises(UnknownNameError, match="Did you mean"), steer(net, Intervention("11", (1.0,))):
        pass
    with pytest.raises(DataError, match="output has 3 values per row"), steer(net, Intervention("1", (1.0,) * 4)):
        net(torch.ones(1, 1, 2, 2))
    assert count_hooks(net) == 0
    with pytest.raises(ConfigError, match="unknown intervention fields"):
        Intervention.from_dict({"site": "1", "direction": [1.0], "sclae": 2})
    with pytest.raises(ConfigError, match="outside the output's shape"):
        Intervention.at_cells("goal", [(9, 9)], (1, 7, 13))
    agent = TorchAgent(_tiny())
    with steer(agent, Intervention("1", (1.0,), positions=(2,))):
        assert agent.act(np.ones((1, 1, 2, 2), np.float32), deterministic=True)[0] == 2
