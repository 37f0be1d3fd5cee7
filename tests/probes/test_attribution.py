"""Captum attributions on agents with known answers: planted cells, planted neurons, planted planners, SB3 PPO."""

import numpy as np
import pytest
import torch
from torch import nn

import envs
import probes
import training
from analysis.figures import attribution_figure
from envs import AgentError, ConfigError, DataError, UnknownNameError
from probes import (
    LinearProbe,
    ReadoutModule,
    attribute_inputs,
    attribute_neurons,
    cell_heatmap,
    channel_breakdown,
    count_hooks,
    linear_readout,
    top_cells,
)
from training import TorchAgent

ENV_ID = "mesaprobe/CoinCorridor-v0"
CHANNELS = ("wall", "agent", "coin", "exit")
N_HIDDEN = 8


@pytest.fixture(scope="module")
def obs():
    """Six deployment-regime observations (the coin away from the exit), (6, 4, 9, 13)."""
    env = envs.make(ENV_ID, shift=1.0)
    batch = np.stack([env.reset(seed=s)[0] for s in range(6)])
    env.close()
    return batch


class CellReader(nn.Module):
    """Action 0's logit is `3 * obs[:, channel, row, col]`, the other logits 0; `hidden` is read by probes only.

    `hidden` (a positive linear map of the flattened grid, then ReLU) runs in every forward but, multiplied
    by 0, does not move the logits.
    """

    def __init__(self, channel: int, row: int, col: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.cell = (channel, row, col)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(4 * 9 * 13, N_HIDDEN), nn.ReLU())
        with torch.no_grad():
            self.hidden[1].weight.abs_()  # every unit active on a grid observation

    def forward(self, obs):
        c, r, w = self.cell
        h = self.hidden(obs)
        x = 3.0 * obs[:, c, r, w]
        zero = 0.0 * h.sum(dim=1)
        return torch.stack([x + zero, zero, zero, zero], dim=1)


def coin_cell(obs) -> tuple[int, int]:
    r, c = np.argwhere(obs[2] > 0.5)[0]
    return int(r), int(c)


@pytest.fixture(scope="module")
def reader(obs):
    # The same coin cell in every row would be luck; put the coin at row 0's cell in all rows.
    r, c = coin_cell(obs[0])
    return TorchAgent(CellReader(2, r, c)), (r, c)


@pytest.fixture(scope="module")
def reader_obs(obs, reader):
    _, (r, c) = reader
    batch = obs.copy()
    batch[:, 2] = 0.0
    batch[:, 2, r, c] = 1.0
    return batch


@pytest.fixture(scope="module")
def ppo():
    return training.make_agent(ENV_ID, seed=0)


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "input_x_gradient"])
def test_action_attributions_concentrate_on_the_one_cell_the_logits_read(reader, reader_obs, method):
    agent, (r, c) = reader
    attr = attribute_inputs(agent, reader_obs, method=method)
    assert attr.shape == reader_obs.shape and attr.dtype == np.float32
    # d(3 x)/dx = 3 at the read cell, 0 elsewhere; IG from zeros and input x gradient give 3 * 1.
    expected = np.zeros_like(reader_obs)
    expected[:, 2, r, c] = 3.0
    assert np.allclose(attr, expected, atol=1e-5)
    cells = top_cells(cell_heatmap(attr, CHANNELS), 3)
    assert (cells.loc[0, "row"], cells.loc[0, "col"]) == (r, c)
    assert cells.loc[0, "share"] == pytest.approx(1.0)
    breakdown = channel_breakdown(attr, CHANNELS).set_index("channel")
    assert breakdown.loc["coin", "share"] == pytest.approx(1.0)
    assert (breakdown.loc["coin", "top_row"], breakdown.loc["coin", "top_col"]) == (r, c)
    assert count_hooks(agent) == 0


def test_probe_reading_one_neuron_ranks_it_first(reader, reader_obs):
    agent, _ = reader
    weight = np.zeros(N_HIDDEN)
    weight[5] = 2.0
    table = attribute_neurons(agent, reader_obs, "hidden", weight, 0.3, top_k=None)
    assert list(table.columns) == ["rank", "neuron", "mean_abs", "mean", "sign", "weight", "activation"]
    assert table.loc[0, "neuron"] == 5 and table.loc[0, "mean_abs"] > 0
    assert np.all(table.loc[1:, "mean_abs"] == 0)
    # Completeness: per row the attributions sum to Y(obs) - Y(baseline); here Y = 2 a_5 + 0.3.
    readout = ReadoutModule(agent, "hidden", weight, 0.3)
    with torch.no_grad():
        delta = readout(torch.as_tensor(reader_obs)) - readout(torch.zeros_like(torch.as_tensor(reader_obs)))
    assert table["mean"].sum() == pytest.approx(float(delta.mean()), abs=1e-4)
    assert table.loc[0, "sign"] == np.sign(float(delta.mean()))
    # Conductance of a linear read-out is the same w * (a - a0), up to its Riemann error at the ReLU kink.
    cond = attribute_neurons(agent, reader_obs, "hidden", weight, 0.3, method="layer_conductance", top_k=1)
    assert cond.loc[0, "neuron"] == 5 and cond.loc[0, "mean"] == pytest.approx(table.loc[0, "mean"], rel=1e-2)
    assert count_hooks(agent) == 0


def test_probe_input_attributions_satisfy_completeness(reader, reader_obs):
    agent, _ = reader
    weight = np.linspace(-1, 1, N_HIDDEN)
    readout = ReadoutModule(agent, "hidden", weight, -0.2)
    attr = attribute_inputs(agent, reader_obs, target=readout, n_steps=64)
    with torch.no_grad():
        x = torch.as_tensor(reader_obs)
        delta = (readout(x) - readout(torch.zeros_like(x))).numpy()
    assert np.allclose(attr.reshape(len(attr), -1).sum(axis=1), delta, atol=5e-3)


def test_planted_agent_goal_site_attributes_to_the_coin_and_planning_is_refused(obs):
    agent = training.planted_agent(ENV_ID, "coin")
    r, c = coin_cell(obs[0])
    weight = np.zeros(9 * 13)
    weight[r * 13 + c] = 1.0
    # `goal` is a 1x1 convolution selecting the coin channel: differentiable, so attributions are exact.
    attr = attribute_inputs(agent, obs[:1], target=ReadoutModule(agent, "goal", weight, 0.0))
    expected = np.zeros_like(obs[:1])
    expected[0, 2, r, c] = 1.0
    assert np.allclose(attr, expected, atol=1e-6)
    # Value iteration thresholds its inputs: no faked gradients through it.
    with pytest.raises(AgentError, match="'planner'.*not differentiable.*value iteration"):
        attribute_inputs(agent, obs[:1])
    with pytest.raises(AgentError, match="'planner'"):
        attribute_inputs(agent, obs[:1], target=ReadoutModule(agent, "planner", weight, 0.0))
    with pytest.raises(AgentError, match="layer conductance"):
        attribute_neurons(agent, obs[:1], "planner", weight, method="layer_conductance")
    # Layer integrated gradients integrate in the planner's own output: distance 0 at the goal, H*W at baseline.
    table = attribute_neurons(agent, obs[:1], "planner", weight, top_k=2)
    assert table.loc[0, "neuron"] == r * 13 + c
    assert table.loc[0, "mean"] == pytest.approx(-117.0) and table.loc[1, "mean_abs"] == 0
    assert count_hooks(agent) == 0


def test_sb3_agent_attributions_are_finite_deterministic_and_leave_no_hooks(ppo, obs):
    batch = obs[:3]
    hooks = count_hooks(ppo)
    logits = ppo.policy_logits(torch.as_tensor(batch))
    assert logits.shape == (3, 4) and logits.requires_grad
    assert torch.allclose(logits.detach(), ppo.logits_and_values(batch)[0])
    for method in ("integrated_gradients", "saliency", "input_x_gradient"):
        attr = attribute_inputs(ppo, batch, method=method, n_steps=16)
        assert attr.shape == batch.shape and np.all(np.isfinite(attr)) and np.abs(attr).sum() > 0
    weight = np.random.default_rng(0).normal(size=64)
    target = ReadoutModule(ppo, "features_extractor.fc", weight, 0.1)
    first = attribute_inputs(ppo, batch, target=target, n_steps=16)
    again = attribute_inputs(ppo, batch, target=target, n_steps=16)
    assert np.array_equal(first, again) and np.all(np.isfinite(first))
    table = attribute_neurons(ppo, batch, "features_extractor.fc", weight, 0.1, top_k=5, n_steps=16)
    assert len(table) == 5 and table["mean_abs"].is_monotonic_decreasing and np.all(np.isfinite(table["mean"]))
    pd_again = attribute_neurons(ppo, batch, "features_extractor.fc", weight, 0.1, top_k=5, n_steps=16)
    assert table.equals(pd_again)
    # The critic runs in policy_logits too, so a probe on value_net (a study site) can be attributed.
    value = attribute_neurons(ppo, batch, "value_net", [1.0], n_steps=16)
    assert len(value) == 1 and np.isfinite(value.loc[0, "mean"])
    assert count_hooks(ppo) == hooks


def test_recurrent_policy_logits_start_from_the_initial_state(reader_obs):
    class Recurrent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encode = nn.Sequential(nn.Flatten(), nn.Linear(4 * 9 * 13, 4))

        def initial_state(self, batch_size):
            return torch.zeros(batch_size, 4)

        def forward(self, obs, state):
            return self.encode(obs) + state, state + 1.0

    agent = TorchAgent(Recurrent(), recurrent=True)
    x = torch.as_tensor(reader_obs)
    fresh = agent.logits(reader_obs, episode_start=np.ones(len(x), bool))
    agent.logits(reader_obs)  # the slots' state moves on; policy_logits must not see or touch it
    stored = {k: v[0].clone() for k, v in agent._states.items()}
    assert torch.allclose(agent.policy_logits(x).detach(), fresh)
    assert all(torch.equal(agent._states[k][0], v) for k, v in stored.items())
    attr = attribute_inputs(agent, reader_obs[:2], target=ReadoutModule(agent, "encode", np.ones(4), 0.0))
    assert attr.shape == (2, 4, 9, 13) and np.all(np.isfinite(attr))


def test_errors_are_typed_and_leave_no_hooks(reader, reader_obs, ppo):
    agent, _ = reader
    with pytest.raises(UnknownNameError, match="hidden"):
        attribute_inputs(agent, reader_obs, target=ReadoutModule(agent, "hiden", np.ones(N_HIDDEN), 0.0))
    with pytest.raises(ConfigError, match="ReadoutModule"):
        attribute_inputs(agent, reader_obs, target=("probe", "hidden", np.ones(N_HIDDEN), 0.0))
    with pytest.raises(ConfigError, match=f"3 entries but site 'hidden' has width {N_HIDDEN}"):
        attribute_neurons(agent, reader_obs, "hidden", np.ones(3))
    with pytest.raises(ConfigError, match="shape"):
        attribute_inputs(agent, reader_obs[:, :3])  # the module's Linear cannot take 3 channels
    with pytest.raises(ConfigError, match=r"\(B, 4, 9, 13\)"):
        attribute_inputs(ppo, reader_obs[:, :, :, :12])
    with pytest.raises(ConfigError, match=r"\(B, C, H, W\)"):
        attribute_inputs(ppo, reader_obs[0, 0])
    with pytest.raises(UnknownNameError, match="integrated_gradients"):
        attribute_inputs(agent, reader_obs, method="integrated_gradient")
    with pytest.raises(ConfigError, match="target"):
        attribute_inputs(agent, reader_obs, target="value")

    class ActOnly:
        def act(self, obs, *, deterministic=False, rng=None):
            return np.zeros(len(obs), int)

        def named_modules(self):
            return nn.Linear(1, 1).named_modules()

    with pytest.raises(AgentError, match=r"Implement policy_logits\(obs: torch.Tensor\)"):
        attribute_inputs(ActOnly(), reader_obs)
    prep = TorchAgent(CellReader(2, 0, 0), preprocess=lambda o: torch.as_tensor(o, dtype=torch.float32))
    with pytest.raises(AgentError, match="preprocess"):
        attribute_inputs(prep, reader_obs)

    class Detached(CellReader):
        def forward(self, obs):
            return super().forward(obs).detach()

    with pytest.raises(AgentError, match="does not depend differentiably"):
        attribute_inputs(TorchAgent(Detached(2, 0, 0)), reader_obs)

    class WithSpare(CellReader):
        def __init__(self) -> None:
            super().__init__(2, 0, 0)
            self.spare = nn.Linear(1, 1)  # never called in forward

    with pytest.raises(AgentError, match="'spare' ran 0 times"):
        attribute_neurons(TorchAgent(WithSpare()), reader_obs, "spare", [1.0])
    with pytest.raises(ConfigError, match="(1, d)"):
        ReadoutModule(agent, "hidden", np.ones((2, N_HIDDEN)))
    assert count_hooks(agent) == 0 and count_hooks(ppo) == 0


def test_linear_readout_folds_the_standardisation():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(200, 5))
    y = (X[:, 1] + 0.5 * rng.normal(size=200) > 3.0).astype(float)
    probe = LinearProbe().fit(X, y)
    w, b = linear_readout(probe)
    assert np.allclose(1 / (1 + np.exp(-(X @ w + b))), probe.readout(X))
    with pytest.raises(DataError, match="constant"):
        linear_readout(LinearProbe().fit(X, np.ones(200)))


def test_heatmap_helpers_and_figure(reader, reader_obs):
    heat = np.zeros((9, 13))
    heat[2, 3], heat[7, 1] = 2.0, 1.0
    cells = top_cells(heat, 2)
    assert cells[["row", "col"]].values.tolist() == [[2, 3], [7, 1]]
    assert cells["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    with pytest.raises(ConfigError, match="channel names"):
        cell_heatmap(np.zeros((1, 4, 9, 13)), CHANNELS[:3])
    png = attribution_figure({"action": heat, "probe": heat / 2}, reader_obs[0], channels=CHANNELS)
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    with pytest.raises(ConfigError, match="obs_example"):
        attribution_figure({"a": heat}, reader_obs[0, :, :8])
    assert probes.top_cells is top_cells
