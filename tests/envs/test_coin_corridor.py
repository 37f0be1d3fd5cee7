import gymnasium as gym
import numpy as np
import pytest

import envs
from envs import CoinCorridorEnv, ConfigError, UnknownNameError

ENV_ID = "mesaprobe/CoinCorridor-v0"


def test_contract_names():
    env = envs.make(ENV_ID).unwrapped
    assert env.channels == ("wall", "agent", "coin", "exit")
    assert env.actions == ("up", "down", "left", "right")
    assert env.candidates == ("coin", "exit")
    assert env.observation_space.shape == (4, 9, 13)


def _rollout(env, seed, actions):
    obs, info = env.reset(seed=seed)
    out = [obs.copy()]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs.copy(), r, term, trunc, info["s"], dict(info["achieved"])))
        if term or trunc:
            break
    return out


def test_deterministic_under_seed():
    actions = np.random.default_rng(0).integers(0, 4, 80)
    a = _rollout(envs.make(ENV_ID, shift=0.5), 123, actions)
    b = _rollout(envs.make(ENV_ID, shift=0.5), 123, actions)
    assert np.array_equal(a[0], b[0])
    for x, y in zip(a[1:], b[1:], strict=True):
        assert np.array_equal(x[0], y[0]) and x[1:] == y[1:]
    c = _rollout(envs.make(ENV_ID, shift=0.5), 124, actions)
    assert not all(np.array_equal(x, y) for x, y in zip(a[:1], c[:1], strict=True))


def test_training_regime_puts_coin_on_exit_and_deployment_elsewhere():
    env = envs.make(ENV_ID, shift=0.0)
    for seed in range(30):
        obs, info = env.reset(seed=seed)
        assert info["s"] == 0
        assert np.array_equal(obs[2], obs[3])  # coin channel == exit channel
    env = envs.make(ENV_ID, shift=1.0)
    moved = 0
    for seed in range(30):
        obs, info = env.reset(seed=seed)
        assert info["s"] == 1
        moved += not np.array_equal(obs[2], obs[3])
    assert moved >= 28


def test_shift_sets_regime_frequency():
    env = envs.make(ENV_ID, shift=0.3)
    s = [env.reset(seed=i)[1]["s"] for i in range(2000)]
    assert 0.26 < np.mean(s) < 0.34


def test_reaching_exit_in_training_pays_and_achieves_both():
    env = CoinCorridorEnv(shift=0.0, n_walls=0)
    obs, info = env.reset(seed=0)
    r0, c0 = info["truth"]["agent_row"], info["truth"]["agent_col"]
    er, ec = info["truth"]["exit_row"], info["truth"]["exit_col"]
    moves = [1 if er > r0 else 0] * abs(er - r0) + [3] * (ec - c0)
    total = 0.0
    for a in moves:
        obs, r, term, trunc, info = env.step(a)
        total += r
    assert term and total == 1.0
    assert info["achieved"] == {"coin": True, "exit": True}


def test_walls_block_and_every_free_cell_is_reachable():
    from envs.grid import maze_distances

    env = CoinCorridorEnv(shift=1.0, n_walls=6)
    for seed in range(50):
        env.reset(seed=seed)
        lay = env._layout
        assert (maze_distances(lay.walls, lay.agent)[~lay.walls] >= 0).all()
    env.reset(seed=0)
    start = env._agent
    env.step(2)  # left of the start column is the border wall
    assert env._agent == start


def test_truncates_at_max_steps_and_refuses_steps_after_the_end():
    env = CoinCorridorEnv(max_steps=5)
    env.reset(seed=0)
    for _ in range(5):
        obs, r, term, trunc, info = env.step(2)
    assert trunc and not term
    with pytest.raises(gym.error.ResetNeeded, match="call reset"):
        env.step(0)


@pytest.mark.parametrize("shift", [-0.1, 1.5, "a lot"])
def test_bad_shift_is_a_clear_error(shift):
    with pytest.raises(ConfigError, match="shift"):
        envs.make(ENV_ID, shift=shift)


def test_unknown_env_id_suggests_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'mesaprobe/CoinCorridor-v0'"):
        envs.make("mesaprobe/CoinCoridor-v0")


def test_list_envs_reports_candidates():
    rows = {r["id"]: r for r in envs.list_envs()}
    assert rows[ENV_ID]["candidates"] == ["coin", "exit"]


def test_render_ansi_marks_objects():
    env = CoinCorridorEnv(shift=1.0, render_mode="ansi")
    env.reset(seed=1)
    text = env.render()
    assert "A" in text and "$" in text and "E" in text
