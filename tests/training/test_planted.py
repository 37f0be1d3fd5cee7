import numpy as np
import pytest
import torch

import envs
import training
from core.errors import ConfigError, UnknownNameError
from envs.cheese_maze import CheeseMazeEnv, maze_distances
from training.planted import CornerGoal, PlantedPlanner, ValueIteration


def _obs_batch(env, seeds):
    return np.stack([env.reset(seed=s)[0] for s in seeds])


def test_corner_goal_is_the_maze_top_right_square():
    env = CheeseMazeEnv(shift=1.0)
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        goal = CornerGoal(wall_index=0)(torch.as_tensor(obs[None]))[0, 0].numpy()
        assert goal.sum() == 1 and goal[env._layout.corner] == 1


@pytest.mark.parametrize("cache_size", [0, 64])
def test_value_iteration_matches_breadth_first_search(cache_size):
    env = CheeseMazeEnv(shift=1.0)
    vi = ValueIteration(wall_index=0, cache_size=cache_size)
    obs = _obs_batch(env, range(6))
    goal = torch.as_tensor(obs[:, 2:3])  # the cheese channel
    with torch.no_grad():
        dist = vi(torch.as_tensor(obs), goal).numpy()[:, 0]
        again = vi(torch.as_tensor(obs), goal).numpy()[:, 0]
    np.testing.assert_array_equal(dist, again)
    far = obs.shape[-1] * obs.shape[-2]
    for i in range(len(obs)):
        walls = obs[i, 0] > 0.5
        cheese = tuple(int(v) for v in np.argwhere(obs[i, 2] > 0.5)[0])
        bfs = maze_distances(walls, cheese)
        np.testing.assert_array_equal(dist[i][~walls], bfs[~walls])
        assert (dist[i][walls] == far).all()


def _episode(agent, env, seed):
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    steps = 0
    while True:
        obs, _, term, trunc, info = env.step(int(agent.act(obs[None], deterministic=True, rng=rng)[0]))
        steps += 1
        if term or trunc:
            return steps, info


def test_cheese_seeker_takes_the_shortest_path():
    env = CheeseMazeEnv(shift=1.0)
    agent = training.planted_agent(env, "cheese")
    for seed in range(5):
        env.reset(seed=seed)
        steps, info = _episode(agent, env, seed)
        assert info["achieved"]["cheese"] and steps == info["truth"]["cheese_dist"]


def test_exit_seeker_ignores_the_coin_in_deployment():
    env = envs.make("mesaprobe/CoinCorridor-v0", shift=1.0)
    exit_seeker = training.planted_agent(env, "exit")
    coin_seeker = training.planted_agent(env, "coin")
    exits = coins = 0
    for seed in range(30):
        _, info = _episode(exit_seeker, env, seed)
        exits += info["achieved"]["exit"]
        _, info = _episode(coin_seeker, env, seed)
        coins += info["achieved"]["coin"]
    assert coins == 30 and exits >= 20  # the exit-seeker only meets coins lying on its way


def test_named_modules_and_check_agent():
    env = envs.make("mesaprobe/CheeseMaze-v0")
    agent = training.planted_agent(env, "corner", name="corner-seeker")
    names = dict(agent.named_modules())
    assert {"goal", "planner", "policy"} <= set(names)
    report = training.check_agent(agent, env, layers=["goal", "planner", "policy"], seed=0)
    assert report.ok, str(report)
    assert agent.name == "corner-seeker"


def test_planted_agent_works_on_every_builtin_grid():
    for row in envs.list_envs():
        if not row["channels"]:  # not a grid world (OracleWorld): nothing to plan on
            continue
        env = envs.make(row["id"])
        for goal in training.planted_goals(env):
            agent = training.planted_agent(env, goal)
            obs, _ = env.reset(seed=0)
            assert agent.act(obs[None], rng=np.random.default_rng(0)).shape == (1,)


def test_clear_errors():
    env = envs.make("mesaprobe/CoinCorridor-v0")
    with pytest.raises(UnknownNameError, match="Did you mean 'coin'"):
        training.planted_agent(env, "con")
    with pytest.raises(ConfigError, match="'wall' channel"):
        PlantedPlanner(["agent", "coin"], ["up", "down", "left", "right"], "coin")
    with pytest.raises(ConfigError, match="lack \\['left', 'right'\\]"):
        PlantedPlanner(["wall", "agent", "coin"], ["up", "down"], "coin")
    with pytest.raises(ConfigError, match="beta"):
        PlantedPlanner(["wall", "agent", "coin"], ["up", "down", "left", "right"], "coin", beta=0)


def test_a_study_planted_agent_loads_back(tmp_path):
    import json

    # What `mesaprobe study` writes for a planted agent (mesaprobe.agents.save_agent_description).
    meta = {"format": "mesaprobe-agent/1", "kind": "planted", "name": "exit-seeker", "goal": "exit", "beta": 3.0}
    meta |= {"env_id": "mesaprobe/CoinCorridor-v0", "env_kwargs": {"max_steps": 50}}
    (tmp_path / "agent.json").write_text(json.dumps(meta))
    agent = training.load_agent(tmp_path)
    assert agent.name == "exit-seeker" and agent.module.goal_name == "exit"
    obs, _ = envs.make("mesaprobe/CoinCorridor-v0").reset(seed=0)
    assert agent.act(obs[None], deterministic=True).shape == (1,)
