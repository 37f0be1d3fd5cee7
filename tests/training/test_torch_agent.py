import numpy as np
import pytest
import torch
from torch import nn

import probes
from envs import AgentError, make
from training import Agent, TorchAgent

ENV_ID = "mesaprobe/CoinCorridor-v0"
OBS_SHAPE = (4, 9, 13)
N_ACTIONS = 4


class SmallCNN(nn.Module):
    """A feed-forward policy on CoinCorridor observations: `features` -> `body` -> `policy` logits."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.body = nn.Linear(8 * 9 * 13, hidden)
        self.policy = nn.Linear(hidden, N_ACTIONS)

    def forward(self, obs):
        return self.policy(torch.relu(self.body(self.features(obs))))


class ActorCritic(SmallCNN):
    """Returns `(logits, value)`, like most actor-critic networks."""

    def __init__(self) -> None:
        super().__init__()
        self.value = nn.Linear(32, 1)

    def forward(self, obs):
        h = torch.relu(self.body(self.features(obs)))
        return self.policy(h), self.value(h).squeeze(-1)


class CountingGRU(nn.Module):
    """A recurrent policy whose state is `(h, count)`: a GRU memory and a step counter.

    The logits strongly favour action `count % 4` (count = steps since the state was fresh), with a
    small GRU-dependent term, so with `deterministic=True` the action at episode step t is `t % 4`
    exactly when the state was re-initialised at the episode's start.
    """

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.hidden = hidden
        self.encode = nn.Sequential(nn.Flatten(), nn.Linear(4 * 9 * 13, hidden))
        self.gru = nn.GRUCell(hidden, hidden)
        self.head = nn.Linear(hidden, N_ACTIONS)

    def initial_state(self, batch_size: int):
        return torch.zeros(batch_size, self.hidden), torch.zeros(batch_size, 1)

    def forward(self, obs, state):
        h, count = state
        h = self.gru(self.encode(obs), h)
        favoured = nn.functional.one_hot(count[:, 0].long() % N_ACTIONS, N_ACTIONS).float()
        logits = 10.0 * favoured + 0.1 * torch.tanh(self.head(h))
        return logits, (h, count + 1)


def observations(n: int, shift: float = 1.0) -> np.ndarray:
    env = make(ENV_ID, shift=shift)
    return np.stack([env.reset(seed=i)[0] for i in range(n)])


def test_feedforward_agent_acts_and_is_seeded():
    agent = TorchAgent(SmallCNN())
    assert isinstance(agent, Agent)
    obs = observations(6)
    a1 = agent.act(obs, rng=np.random.default_rng(3))
    a2 = agent.act(obs, rng=np.random.default_rng(3))
    assert a1.shape == (6,) and np.issubdtype(a1.dtype, np.integer) and np.array_equal(a1, a2)
    assert set(np.unique(a1)) <= set(range(N_ACTIONS))
    logits = agent.module(torch.as_tensor(obs))
    assert np.array_equal(agent.act(obs, deterministic=True), logits.argmax(-1).numpy())
    # slots / episode_start are accepted and ignored by feed-forward agents
    assert np.array_equal(agent.act(obs, rng=np.random.default_rng(3), slots=range(6)), a1)


def test_names_device_repr_and_modes():
    net = SmallCNN()
    net.train()
    agent = TorchAgent(net, name="cnn")
    assert {"features.0", "body", "policy"} <= {n for n, _ in agent.named_modules()}
    assert agent.device == torch.device("cpu")
    assert repr(agent).startswith("TorchAgent(name='cnn', module=SmallCNN, device='cpu', recurrent=False")
    seen = []
    net.register_forward_pre_hook(lambda m, i: seen.append((m.training, torch.is_grad_enabled())))
    agent.act(observations(2))
    assert seen == [(False, False)]  # eval mode, no grad while acting
    assert net.training  # the caller's mode is restored


def test_tuple_output_and_preprocess():
    agent = TorchAgent(ActorCritic())
    obs = observations(4)
    assert agent.act(obs, rng=np.random.default_rng(0)).shape == (4,)
    calls = []

    def prep(batch):
        calls.append(batch.shape)
        return torch.as_tensor(batch, dtype=torch.float32) * 0

    zeroed = TorchAgent(ActorCritic(), preprocess=prep)
    actions = zeroed.act(obs, deterministic=True)
    assert calls == [(4, *OBS_SHAPE)] and len(set(actions.tolist())) == 1  # all rows see the same input


def test_clear_errors():
    with pytest.raises(AgentError, match="needs a torch.nn.Module"):
        TorchAgent(object())
    with pytest.raises(AgentError, match="initial_state"):
        TorchAgent(SmallCNN(), recurrent=True)

    class Flat(SmallCNN):
        def forward(self, obs):
            return super().forward(obs).reshape(-1)

    with pytest.raises(AgentError, match=r"returned a tensor of shape \(12,\).*\(B, A\) = \(3, n_actions\)"):
        TorchAgent(Flat()).act(observations(3))

    class NoState(CountingGRU):
        def forward(self, obs, state):
            return super().forward(obs, state)[0]

    with pytest.raises(AgentError, match=r"expected \(logits, new_state\)"):
        TorchAgent(NoState(), recurrent=True).act(observations(2))


def test_recurrent_state_per_slot():
    agent = TorchAgent(CountingGRU(), recurrent=True)
    obs = observations(3)
    det = dict(deterministic=True)
    assert agent.act(obs, **det).tolist() == [0, 0, 0]  # fresh state: count 0
    assert agent.act(obs, **det).tolist() == [1, 1, 1]  # slots 0..2 continue
    # slot 1 restarts, slot 7 is new, slot 2 continues
    out = agent.act(obs, **det, slots=[1, 7, 2], episode_start=[True, False, False])
    assert out.tolist() == [0, 0, 2]
    assert agent.act(obs[:1], **det, slots=[7]).tolist() == [1]
    assert "slots_with_state=4" in repr(agent)
    agent.reset_state()
    assert agent.act(obs[:2], **det, slots=[2, 7]).tolist() == [0, 0]
    with pytest.raises(AgentError, match="distinct slots"):
        agent.act(obs[:2], slots=[4, 4])
    # seeded sampling is reproducible once the state is reset
    agent.reset_state()
    a1 = agent.act(obs, rng=np.random.default_rng(1))
    agent.reset_state()
    assert np.array_equal(agent.act(obs, rng=np.random.default_rng(1)), a1)


def test_feedforward_agent_in_collect_with_layers():
    agent = TorchAgent(SmallCNN())
    ds = probes.collect(agent, ENV_ID, shift=1.0, n_episodes=4, n_envs=2, layers=["features", "body", "policy"], seed=1)
    n = len(ds)
    assert ds.site("features").shape == (n, 8 * 9 * 13)
    assert ds.site("body").shape == (n, 32)
    assert ds.site("policy").shape == (n, N_ACTIONS)
    # the captured logits are those the agent acted on
    obs = ds.site("obs").reshape(n, *OBS_SHAPE)
    with torch.no_grad():
        assert np.allclose(ds.site("policy"), agent.module(torch.as_tensor(obs)).numpy(), atol=1e-5)
    again = probes.collect(agent, ENV_ID, shift=1.0, n_episodes=4, n_envs=2, layers=["policy"], seed=1)
    assert np.array_equal(again.table["action"], ds.table["action"])
    assert probes.count_hooks(agent) == 0


def test_recurrent_agent_in_collect_resets_state_at_episode_starts():
    agent = TorchAgent(CountingGRU(), recurrent=True)
    agent.act(observations(3))  # stale state that collect must clear
    ds = probes.collect(
        agent,
        ENV_ID,
        shift=0.0,
        n_episodes=7,
        n_envs=3,
        layers=["gru", "head"],
        seed=0,
        deterministic=True,
        env_kwargs={"max_steps": 6},
    )
    tab = ds.table
    assert ds.n_episodes == 7 and (tab.groupby("episode")["t"].max() == 5).all()
    # every episode, also those started in a reused slot, begins from a fresh state
    assert (tab["action"] == tab["t"] % N_ACTIONS).all()
    assert ds.site("gru").shape == (len(tab), 16) and ds.site("head").shape == (len(tab), N_ACTIONS)
    # the GRU memory at t=0 is a function of the first observation only (fresh h)
    first = ds.first_steps()
    obs = torch.as_tensor(first.site("obs").reshape(len(first), *OBS_SHAPE))
    with torch.no_grad():
        fresh = agent.module.gru(agent.module.encode(obs), torch.zeros(len(first), 16))
    assert np.allclose(first.site("gru"), fresh.numpy(), atol=1e-5)
