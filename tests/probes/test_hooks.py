import numpy as np
import pytest
import torch
from torch import nn

from envs import UnknownNameError
from probes import capture, count_hooks


class Planted(nn.Module):
    """A network with analytically known activations: `twice` = 2x, `block.0` = relu(2x)."""

    def __init__(self):
        super().__init__()
        self.twice = nn.Linear(3, 3, bias=False)
        with torch.no_grad():
            self.twice.weight.copy_(2 * torch.eye(3))
        self.block = nn.Sequential(nn.ReLU())

    def forward(self, x):
        return self.block(self.twice(x))


def test_capture_records_exact_outputs():
    net = Planted()
    x = torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, -3.0]])
    with capture(net, ["twice", "block.0"]) as cache:
        net(x)
        net(x[:1])
    acts = cache.pop()
    assert np.allclose(acts["twice"], np.concatenate([2 * x.numpy(), 2 * x[:1].numpy()]))
    assert np.allclose(acts["block.0"], np.maximum(acts["twice"], 0))
    assert count_hooks(net) == 0


def test_no_hook_survives_an_exception():
    net = Planted()
    with pytest.raises(RuntimeError, match="boom"):
        with capture(net, ["twice", "block"]):
            assert count_hooks(net) == 2
            raise RuntimeError("boom")
    assert count_hooks(net) == 0


def test_unknown_layer_suggests_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'block.0'"):
        with capture(Planted(), ["blok.0"]):
            pass


def test_agent_layers_are_captured(agent):
    obs = np.zeros((5, 4, 9, 13), np.float32)
    with capture(agent, ["features_extractor.fc", "value_net"]) as cache:
        agent.act(obs, rng=np.random.default_rng(0))
    acts = cache.pop()
    assert acts["features_extractor.fc"].shape == (5, 64)
    assert acts["value_net"].shape == (5, 1)
    assert count_hooks(agent.policy) == 0
