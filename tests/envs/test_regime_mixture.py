import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from torch import nn

import probes
from core.errors import CandidateError, ConfigError, UnknownNameError
from envs.regime_mixture import RegimeMixture
from training import TorchAgent


class Line(gym.Env):
    """A corridor of `length` cells; the agent starts at cell 0 and the goal ends the episode.

    `goal=None` draws the goal uniformly from cells 1..length-1 at each reset (the "deployment"
    distribution); otherwise the goal is fixed at that cell.
    """

    metadata = {"render_modes": ["ansi"]}
    channels = ("agent", "goal")
    actions = ("left", "right")

    def __init__(self, goal=None, length=5, max_steps=12, render_mode=None, base_reward=False):
        self.fixed_goal, self.length, self.max_steps = goal, length, max_steps
        self.render_mode, self.report_base = render_mode, base_reward
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2, 1, length), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.closed = False

    def _obs(self):
        obs = np.zeros(self.observation_space.shape, np.float32)
        obs[0, 0, self.pos] = obs[1, 0, self.goal] = 1.0
        return obs

    def _info(self):
        info = {"truth": {"goal_cell": self.goal}}
        if self.report_base:
            info["base_reward"] = -1.0
        return info

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.goal = self.fixed_goal if self.fixed_goal is not None else int(self.np_random.integers(1, self.length))
        self.pos, self.t = 0, 0
        return self._obs(), self._info()

    def step(self, action):
        self.pos = int(np.clip(self.pos + (1 if int(action) == 1 else -1), 0, self.length - 1))
        self.t += 1
        terminated = self.pos == self.goal
        return self._obs(), float(terminated), terminated, self.t >= self.max_steps, self._info()

    def render(self):
        return "".join("A" if i == self.pos else "G" if i == self.goal else "." for i in range(self.length))

    def close(self):
        self.closed = True


CANDIDATES = {
    "goal": lambda env, obs, info: env.pos == env.goal,
    "right_end": lambda env, obs, info: env.pos == env.length - 1,
    "middle": lambda env, obs, info: env.pos == 2,
}


def mixture(shift=0.0, **kwargs):
    kwargs.setdefault("candidates", CANDIDATES)
    return RegimeMixture(lambda: Line(goal=4), lambda: Line(goal=None), shift=shift, **kwargs)


@pytest.mark.filterwarnings("ignore:.*alternative render modes")
@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0])
def test_passes_gymnasium_check_env(shift):
    check_env(mixture(shift, truth=lambda env, obs, info: {"agent_cell": env.pos}))


def test_names_and_spaces():
    env = mixture(0.5)
    u = env.unwrapped
    assert u is env
    assert u.candidates == ("goal", "right_end", "middle")
    assert u.channels == ("agent", "goal") and u.actions == ("left", "right")  # taken from the inner env
    assert env.observation_space == Line().observation_space and env.action_space == gym.spaces.Discrete(2)
    assert env.metadata["render_modes"] == ["ansi"]
    given = mixture(channels=["a", "g"], actions=["l", "r"])
    assert given.channels == ("a", "g") and given.actions == ("l", "r")


def test_names_default_to_empty_without_inner_names():
    class Bare(Line):
        channels = None
        actions = None

    env = RegimeMixture(Bare, Bare, candidates=CANDIDATES)
    assert env.channels == () and env.actions == ()


def test_shift_sets_regime_frequency_and_regime_picks_the_environment():
    env = mixture(0.3)
    s, goals = [], []
    for i in range(2000):
        obs, info = env.reset(seed=i)
        s.append(info["s"])
        goals.append(info["truth"]["goal_cell"])
        assert env.active is (env.deploy_env if info["s"] else env.train_env)
    s, goals = np.array(s), np.array(goals)
    assert 0.26 < s.mean() < 0.34
    assert (goals[s == 0] == 4).all()
    assert len(set(goals[s == 1])) == 4
    assert {mixture(0.0).reset(seed=i)[1]["s"] for i in range(50)} == {0}
    assert {mixture(1.0).reset(seed=i)[1]["s"] for i in range(50)} == {1}


def _episodes(env, seed, n=5):
    """`n` episodes after one seeded reset, with actions from a fixed generator."""
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        obs, info = env.reset(seed=seed if k == 0 else None)
        out.append((obs.tobytes(), info["s"], info["truth"]["goal_cell"]))
        done = False
        while not done:
            obs, r, term, trunc, info = env.step(int(rng.integers(2)))
            out.append((obs.tobytes(), r, term, trunc, tuple(info["achieved"].items())))
            done = term or trunc
    return out


def test_deterministic_under_reset_seed():
    a = _episodes(mixture(0.5), 123)
    assert a == _episodes(mixture(0.5), 123)
    assert a != _episodes(mixture(0.5), 124)


def test_achieved_is_cumulative_and_truth_merges():
    env = mixture(0.0, truth=lambda env, obs, info: {"agent_cell": env.pos})
    obs, info = env.reset(seed=0)
    assert info["achieved"] == {"goal": False, "right_end": False, "middle": False}
    assert info["truth"] == {"goal_cell": 4, "agent_cell": 0}
    for _ in range(2):
        obs, r, term, trunc, info = env.step(1)
    assert info["achieved"]["middle"] and info["truth"]["agent_cell"] == 2
    obs, r, term, trunc, info = env.step(1)
    assert info["achieved"]["middle"], "achievement stays once reached"
    obs, r, term, trunc, info = env.step(1)
    assert term and r == 1.0
    assert info["achieved"] == {"goal": True, "right_end": True, "middle": True}
    obs, info = env.reset(seed=1)
    assert not any(info["achieved"].values()), "a new episode starts with nothing achieved"


def test_inner_info_and_base_reward_pass_through():
    env = RegimeMixture(lambda: Line(goal=4, base_reward=True), lambda: Line(base_reward=True), candidates=CANDIDATES)
    env.reset(seed=0)
    *_, info = env.step(1)
    assert info["base_reward"] == -1.0 and info["s"] == 0


def test_step_before_reset_and_after_the_end_needs_reset():
    env = mixture()
    with pytest.raises(gym.error.ResetNeeded, match="call reset"):
        env.step(0)
    env.reset(seed=0)
    for _ in range(4):
        *_, term, trunc, _ = env.step(1)
    assert term
    with pytest.raises(gym.error.ResetNeeded):
        env.step(0)


def test_spaces_mismatch_names_both_spaces():
    with pytest.raises(ConfigError, match=r"observation spaces \(train: Box.*\(2, 1, 5\).*deploy: Box.*\(2, 1, 6\)"):
        RegimeMixture(lambda: Line(4), lambda: Line(length=6), candidates=CANDIDATES)

    class ThreeActions(Line):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.action_space = gym.spaces.Discrete(3)

    with pytest.raises(ConfigError, match=r"action spaces \(train: Discrete\(2\), deploy: Discrete\(3\)\).*wrap"):
        RegimeMixture(lambda: Line(4), ThreeActions, candidates=CANDIDATES)


def test_candidate_that_raises_is_named_and_chained():
    def broken(env, obs, info):
        return env.no_such_attribute > 0

    env = mixture(candidates={"goal": CANDIDATES["goal"], "broken": broken})
    with pytest.raises(CandidateError, match="candidate 'broken' raised AttributeError.*no_such_attribute") as exc:
        env.reset(seed=0)
    assert isinstance(exc.value.__cause__, AttributeError)


def test_candidate_that_returns_a_non_bool():
    env = mixture(candidates={"goal": lambda env, obs, info: int(env.pos == env.goal)})
    with pytest.raises(CandidateError, match=r"candidate 'goal' returned 0 \(int\), not a bool"):
        env.reset(seed=0)
    env = mixture(candidates={"goal": lambda env, obs, info: np.bool_(env.pos == env.goal)})
    assert env.reset(seed=0)[1]["achieved"] == {"goal": False}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"candidates": {}}, "non-empty mapping"),
        ({"candidates": ["goal"]}, "non-empty mapping"),
        ({"candidates": {"goal": True}}, "candidate 'goal' must be a function"),
        ({"shift": 1.5}, "shift must lie in"),
        ({"truth": {"x": 1}}, "truth=...\\) must be a function"),
        ({"channels": ["agent"]}, "names 1 channels but observations have shape \\(2, 1, 5\\)"),
        ({"actions": ["left", "right", "jump"]}, "names 3 actions"),
        ({"channels": "agent"}, "sequence of names"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        mixture(**kwargs)


def test_constructors_not_instances():
    with pytest.raises(ConfigError, match=r"takes an environment constructor.*lambda: MyEnv"):
        RegimeMixture(Line(4), lambda: Line(), candidates=CANDIDATES)
    with pytest.raises(ConfigError, match="returned int, not a gymnasium.Env"):
        RegimeMixture(lambda: Line(4), lambda: 3, candidates=CANDIDATES)


def test_render_and_close_delegate():
    env = mixture(1.0)
    env.reset(seed=0)
    assert env.render() == env.deploy_env.render()
    env.close()
    assert env.train_env.closed and env.deploy_env.closed


def test_collect_reads_regime_and_candidates():
    torch.manual_seed(0)
    agent = TorchAgent(nn.Sequential(nn.Flatten(), nn.Linear(10, 2)))

    def make(shift):
        return mixture(shift, truth=lambda env, obs, info: {"agent_cell": env.pos})

    ds = probes.collect(agent, make, shift=[0.0, 1.0], n_episodes=12, layers=["1"], n_envs=4, seed=0)
    tab = ds.table
    assert set(tab["s"]) == {0, 1}
    assert (tab.groupby("episode")["shift"].first() == tab.groupby("episode")["s"].first()).all()
    for col in ("achieved_goal", "achieved_right_end", "achieved_middle", "goal_cell", "agent_cell"):
        assert col in tab
    assert (tab.loc[tab.s == 0, "goal_cell"] == 4).all()
    eps = ds.episodes()
    reached = eps[eps["return"] > 0]
    assert reached["achieved_goal"].all()
    assert ds.site("1").shape == (len(tab), 2)
    assert ds.meta["candidates"] == ["goal", "right_end", "middle"]


# --- named deployment regimes --------------------------------------------------------------------


def named(shift=1.0, **kwargs):
    """Training: goal at 4; deployment regimes `near` (goal at 1) and `anywhere` (goal drawn)."""
    deploy = {"near": lambda: Line(goal=1), "anywhere": lambda: Line(goal=None)}
    return RegimeMixture(lambda: Line(goal=4), deploy, shift=shift, candidates=CANDIDATES, **kwargs)


def test_single_constructor_is_the_regime_deploy_with_the_old_random_stream():
    env = mixture(0.5)
    assert env.regimes == ("train", "deploy") and set(env.deploy_envs) == {"deploy"}
    assert env.deploy_env is env.deploy_envs["deploy"]
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        # As before regimes had names: s from one uniform draw, then the inner seed.
        rng = np.random.default_rng(seed)
        s = int(rng.random() < 0.5)
        inner = Line(goal=4 if s == 0 else None)
        expected, _ = inner.reset(seed=int(rng.integers(0, 2**31 - 1)))
        assert (info["s"], info["regime"]) == (s, ("train", "deploy")[s]) and np.array_equal(obs, expected)


def test_named_deployment_regimes():
    env = named()
    assert env.regimes == ("train", "near", "anywhere") and env.regime_choice.names == ("near",)
    assert list(env.deploy_envs) == ["near", "anywhere"] and env.deploy_env is env.deploy_envs["near"]
    for seed in range(10):  # the first deployment regime by default
        _, info = env.reset(seed=seed)
        assert (info["s"], info["regime"], info["truth"]["goal_cell"]) == (1, "near", 1)
        assert env.active is env.deploy_envs["near"]
    env = named(regime="anywhere")
    goals = {env.reset(seed=seed)[1]["truth"]["goal_cell"] for seed in range(40)}
    assert goals == {1, 2, 3, 4} and env.active is env.deploy_envs["anywhere"]
    _, info = env.reset(seed=0)
    *_, info = env.step(1)
    assert (info["s"], info["regime"]) == (2, "anywhere")


def test_a_regime_mapping_draws_both_and_training_by_shift():
    env = named(shift=0.6, regime={"near": 1.0, "anywhere": 3.0})
    seen = [env.reset(seed=seed)[1]["regime"] for seed in range(1000)]
    frac = {name: seen.count(name) / len(seen) for name in env.regimes}
    assert abs(frac["train"] - 0.4) < 0.05 and abs(frac["near"] - 0.15) < 0.04 and abs(frac["anywhere"] - 0.45) < 0.05


@pytest.mark.filterwarnings("ignore:.*alternative render modes")
def test_named_regimes_pass_gymnasium_check_env():
    check_env(named(shift=0.5, regime={"near": 1, "anywhere": 1}))


def test_a_deployment_regime_with_other_spaces_is_named():
    deploy = {"near": lambda: Line(goal=1), "long": lambda: Line(length=6)}
    with pytest.raises(ConfigError, match=r"deployment regime 'long' have different observation spaces.*long: Box"):
        RegimeMixture(lambda: Line(goal=4), deploy, candidates=CANDIDATES)


def test_building_stops_at_the_first_bad_constructor_and_closes_the_others():
    built = []

    def make():
        built.append(Line())
        return built[-1]

    with pytest.raises(ConfigError, match=r"RegimeMixture\(deploy\['bad'\]=...\) returned int"):
        RegimeMixture(make, {"ok": make, "bad": lambda: 3}, candidates=CANDIDATES)
    assert len(built) == 2 and all(env.closed for env in built)


@pytest.mark.parametrize(
    ("deploy", "kwargs", "error", "message"),
    [
        ({}, {}, ConfigError, "non-empty mapping of regime name"),
        ({"": Line}, {}, ConfigError, "regime names must be non-empty strings"),
        ({1: Line}, {}, ConfigError, "regime names must be non-empty strings, got 1"),
        ({"train": Line}, {}, ConfigError, "'train' is regime 0"),
        ({"near": Line}, {"regime": "nears"}, UnknownNameError, "Did you mean 'near'"),
        ({"near": Line}, {"regime": "train"}, ConfigError, "use shift=0"),
        ({"near": Line}, {"regime": {"near": -1}}, ConfigError, "finite number >= 0"),
    ],
)
def test_bad_deployment_regimes_are_config_errors(deploy, kwargs, error, message):
    with pytest.raises(error, match=message):
        RegimeMixture(Line, deploy, candidates=CANDIDATES, **kwargs)
