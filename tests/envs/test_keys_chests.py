import gymnasium as gym
import numpy as np
import pytest

import envs
from envs import ConfigError
from envs.cheese_maze import maze_distances
from envs.grid import MOVES as _MOVES
from envs.keys_chests import KeysChestsEnv, KeysLayout

ENV_ID = "mesaprobe/KeysChests-v0"


def test_gymnasium_make_and_contract_names():
    env = gym.make(ENV_ID)
    u = env.unwrapped
    assert isinstance(u, KeysChestsEnv)
    assert u.channels == ("wall", "agent", "key", "chest", "inventory")
    assert u.actions == ("up", "down", "left", "right")
    assert u.candidates == ("chests_opened", "keys_collected")
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (5, 9, 11), np.float32)
    rows = {r["id"]: r for r in envs.list_envs()}
    assert rows[ENV_ID]["candidates"] == ["chests_opened", "keys_collected"]


def _rollout(env, seed, actions):
    obs, info = env.reset(seed=seed)
    out = [obs.copy()]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs.copy(), r, term, trunc, info["s"], info["achieved"], info["truth"]))
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
    assert not np.array_equal(a[0], c[0])


def test_shift_sets_regime_frequency_and_counts():
    env = KeysChestsEnv(shift=0.3)
    deployed = []
    for i in range(1000):
        obs, info = env.reset(seed=i)
        s, t = info["s"], info["truth"]
        assert (s, info["regime"]) in ((0, "train"), (2, "plentiful"))  # the default deployment regime
        deployed.append(s > 0)
        assert (t["n_keys"], t["n_chests"]) == ((4, 2) if s else (2, 4))
        assert obs[2].sum() == t["n_keys"] and obs[3].sum() == t["n_chests"] and obs[1].sum() == 1
        assert obs[4].sum() == 0
    assert 0.26 < np.mean(deployed) < 0.34


def test_objects_on_distinct_free_cells_and_room_connected():
    env = KeysChestsEnv(shift=0.5, n_walls=8)
    for seed in range(50):
        env.reset(seed=seed)
        lay = env._layout
        cells = [lay.agent, *lay.keys, *lay.chests]
        assert len(set(cells)) == len(cells)
        assert not any(lay.walls[p] for p in cells)
        assert (maze_distances(lay.walls, lay.agent) >= 0)[~lay.walls].all()
        assert lay.walls.sum() == 2 * (9 + 11) - 4 + 8


# --- scripted agents ---------------------------------------------------------------------------


def _step_towards(walls, agent, targets, avoid):
    """First action of a shortest path from `agent` to the nearest of `targets`, avoiding `avoid` if possible."""
    for blocked in (avoid, set()):
        grid = walls.copy()
        for p in blocked - set(targets):
            grid[p] = True
        dist = maze_distances(grid, agent)
        reach = [t for t in targets if dist[t] >= 0]
        if reach:
            target = min(reach, key=lambda t: (dist[t], t))
            back = maze_distances(grid, target)
            for a, (dr, dc) in enumerate(_MOVES):
                nxt = (agent[0] + int(dr), agent[1] + int(dc))
                if back[nxt] == back[agent] - 1 and back[nxt] >= 0:
                    return a
    raise AssertionError("no target reachable")


def _play(env, seed, policy):
    """Run `policy` ("key_first": all keys, then chests; "alternate": key, chest, key, ...) to the end."""
    obs, info = env.reset(seed=seed)
    total, base = 0.0, 0.0
    while True:
        walls = env._layout.walls
        keys, chests, held = set(env._keys), set(env._chests), env._held
        if policy == "key_first":
            want_key = bool(keys)
        else:
            want_key = held == 0
        targets, avoid = (keys, chests) if want_key else (chests, keys)
        obs, r, term, trunc, info = env.step(_step_towards(walls, env._agent, sorted(targets), avoid))
        total += r
        base += info["base_reward"]
        if term or trunc:
            return total, base, term, info


@pytest.mark.parametrize("policy", ["key_first", "alternate"])
def test_scripted_agents_in_training_achieve_both(policy):
    env = KeysChestsEnv(shift=0.0)
    for seed in range(15):
        total, base, term, info = _play(env, seed, policy)
        assert term and total == base == 2.0
        assert info["achieved"] == {"chests_opened": True, "keys_collected": True}
        t = info["truth"]
        assert (t["chests_opened"], t["keys_collected"], t["keys_held"], t["keys_left"], t["chests_left"]) == (
            2,
            2,
            0,
            0,
            2,
        )


def test_key_collector_in_deployment_collects_all_keys_and_opens_both_chests():
    env = KeysChestsEnv(shift=1.0)
    for seed in range(15):
        total, base, term, info = _play(env, seed, "key_first")
        assert term and total == base == 2.0
        assert info["achieved"] == {"chests_opened": True, "keys_collected": True}
        t = info["truth"]
        assert (t["keys_collected"], t["chests_opened"], t["keys_held"], t["chests_left"]) == (4, 2, 2, 0)


def test_chest_opener_in_deployment_leaves_keys_behind():
    env = KeysChestsEnv(shift=1.0)
    left_behind = 0
    for seed in range(15):
        total, base, term, info = _play(env, seed, "alternate")
        assert term and total == 2.0 and info["truth"]["chests_left"] == 0
        assert info["achieved"]["chests_opened"]
        assert info["achieved"]["keys_collected"] == (info["truth"]["keys_collected"] == 4)
        left_behind += not info["achieved"]["keys_collected"]
    assert left_behind >= 13  # a detour-free path could only pick up a spare key when avoidance fails


# --- hand-made rooms ---------------------------------------------------------------------------


class _Fixed(KeysChestsEnv):
    """A 1 x 5 corridor: agent at col 1, then the given objects at cols 2..5."""

    def __init__(self, keys, chests, **kwargs):
        super().__init__(
            height=1, width=5, n_walls=0, n_keys_train=1, n_chests_train=1, n_keys_deploy=1, n_chests_deploy=1, **kwargs
        )
        self._fixed = (tuple((1, c) for c in keys), tuple((1, c) for c in chests))

    def _gen_layout(self):
        walls = np.zeros((3, 7), dtype=bool)
        walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = True
        return KeysLayout(walls=walls, agent=(1, 1), keys=self._fixed[0], chests=self._fixed[1], s=0)


def test_chest_without_key_stays_shut_and_key_then_opens_it():
    env = _Fixed(keys=[3], chests=[2, 5])
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(3)  # onto the chest at col 2 with no key
    assert r == 0.0 and not term and info["truth"]["chests_left"] == 2 and obs[3, 1, 2] == 1
    obs, r, term, trunc, info = env.step(3)  # the key at col 3
    assert r == 0.0 and info["truth"]["keys_held"] == 1 and obs[2].sum() == 0
    assert obs[4, 0, 0] == 1 and obs[4].sum() == 1  # inventory: one key in the top border row
    assert info["achieved"] == {"chests_opened": False, "keys_collected": True}
    obs, r, term, trunc, info = env.step(2)  # back onto the chest at col 2: opens it
    assert r == 1.0 and info["base_reward"] == 1.0
    assert obs[3, 1, 2] == 0 and obs[4].sum() == 0
    # one key, two chests: one opened is the most possible, and with no keys left nothing more can open
    assert term and info["achieved"] == {"chests_opened": True, "keys_collected": True}
    with pytest.raises(gym.error.ResetNeeded, match="call reset"):
        env.step(0)


def test_terminates_when_no_chest_left_even_with_keys_on_the_floor():
    env = _Fixed(keys=[2, 4], chests=[3])
    env.reset(seed=0)
    env.step(3)
    obs, r, term, trunc, info = env.step(3)
    assert r == 1.0 and term
    assert info["achieved"] == {"chests_opened": True, "keys_collected": False}
    assert info["truth"]["keys_left"] == 1


def test_inventory_shows_every_held_key_and_render_marks_it():
    env = _Fixed(keys=[2, 3, 4], chests=[5], render_mode="ansi")
    env.reset(seed=0)
    for _ in range(3):
        obs, *_ = env.step(3)
    assert obs[4, 0].tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert env.render().splitlines() == ["kkk####", "#...AC#", "#######"]
    env = KeysChestsEnv(render_mode="rgb_array")
    env.reset(seed=0)
    assert env.render().shape == (9 * 16, 11 * 16, 3)


def test_truncates_at_max_steps():
    env = KeysChestsEnv(max_steps=3)
    env.reset(seed=0)
    for _ in range(3):
        obs, r, term, trunc, info = env.step(0)  # at most one key picked up: nothing can end the episode
    assert trunc and not term
    with pytest.raises(gym.error.ResetNeeded):
        env.step(0)


def test_step_before_reset_needs_reset():
    with pytest.raises(gym.error.ResetNeeded):
        KeysChestsEnv().step(0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"shift": 1.5}, "shift"),
        ({"shift": "a lot"}, "shift"),
        ({"height": 0}, "height"),
        ({"width": 2.5}, "width"),
        ({"n_walls": -1}, "n_walls"),
        ({"n_walls": 40}, "n_walls"),
        ({"n_keys_train": 0}, "n_keys_train"),
        ({"n_chests_train": 0}, "n_chests_train"),
        ({"n_keys_deploy": 12}, "n_keys_deploy"),
        ({"n_chests_deploy": True}, "n_chests_deploy"),
        ({"n_chests_deploy": 60}, "n_chests_deploy"),
        ({"max_steps": 0}, "max_steps"),
        pytest.param({"render_mode": "bogus"}, "render_mode", marks=pytest.mark.filterwarnings("ignore:.*render_mode")),
    ],
)
def test_bad_args_name_the_argument(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        KeysChestsEnv(**kwargs)
    with pytest.raises(ConfigError, match=name):
        envs.make(ENV_ID, **kwargs)


# --- named regimes -----------------------------------------------------------------------------


def test_regimes_and_default():
    env = KeysChestsEnv(shift=1.0)
    assert env.regimes == ("train", "even", "plentiful", "glut", "cluttered")
    assert env.regime_choice.names == ("plentiful",)


BORDER = 2 * (9 + 11) - 4


@pytest.mark.parametrize(
    ("regime", "keys", "chests", "walls"),
    [("even", 3, 3, 2), ("plentiful", 4, 2, 2), ("glut", 5, 1, 2), ("cluttered", 2, 4, 8)],
)
def test_each_regime_has_its_counts(regime, keys, chests, walls):
    env = KeysChestsEnv(shift=1.0, regime=regime)
    assert env.counts(regime) == (keys, chests, walls) and env.counts("train") == (2, 4, 2)
    for seed in range(30):
        obs, info = env.reset(seed=seed)
        lay, t = env._layout, info["truth"]
        assert info["regime"] == regime and (t["n_keys"], t["n_chests"]) == (keys, chests)
        assert obs[2].sum() == keys and obs[3].sum() == chests and obs.shape == env.observation_space.shape
        assert lay.walls.sum() == BORDER + walls
        assert (maze_distances(lay.walls, lay.agent) >= 0)[~lay.walls].all()


def test_cluttered_walls_are_capped_at_a_quarter_of_the_interior():
    env = KeysChestsEnv(shift=1.0, regime="cluttered", height=5, width=5, n_walls=5)
    assert env.counts("cluttered") == (2, 4, 6)  # 3 * 5 + 2 = 17, capped at 25 // 4
    env.reset(seed=0)
    assert env._layout.walls.sum() == 2 * (7 + 7) - 4 + 6


def test_a_key_collector_in_glut_collects_keys_it_cannot_use():
    env = KeysChestsEnv(shift=1.0, regime="glut")
    for seed in range(5):
        total, base, term, info = _play(env, seed, "key_first")
        assert term and total == base == 1.0
        assert info["truth"]["keys_collected"] == 5 and info["truth"]["keys_held"] == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"regime": "glut", "width": 2}, "regime 'glut' has 5 keys, more than the inventory row shows"),
        (
            {"regime": "even", "height": 2, "width": 3, "n_walls": 0, "n_keys_train": 1, "n_chests_train": 1},
            "regime 'even' has 3 keys \\+ 3 chests, which plus the agent and 0 interior walls exceed the 2x3",
        ),
        # Training (2 keys, 4 chests, no walls) fits 2x4; cluttered adds 2 walls, which do not.
        ({"regime": {"glut": 1, "cluttered": 1}, "height": 2, "width": 4, "n_walls": 0}, "regime 'cluttered'"),
        ({"regime": "plentiful", "n_chests_deploy": 60}, "n_chests_deploy"),
    ],
)
def test_every_chosen_regime_must_fit_the_room(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        KeysChestsEnv(**kwargs)


def test_regimes_not_chosen_need_not_fit():
    small = {"height": 1, "width": 5, "n_walls": 0, "n_keys_train": 1, "n_chests_train": 1}
    env = KeysChestsEnv(shift=1.0, n_keys_deploy=2, n_chests_deploy=1, **small)  # even and glut would not fit
    assert env.reset(seed=0)[1]["truth"]["n_keys"] == 2
    with pytest.raises(ConfigError, match="regime 'glut'"):
        KeysChestsEnv(shift=0.0, regime="glut", **small)  # a chosen regime must fit even at shift 0
