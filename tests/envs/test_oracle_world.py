import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import ConfigError, OracleWorldEnv, UnknownNameError
from envs.oracle_world import fixed_points

ENV_ID = "mesaprobe/OracleWorld-v0"


def _rounds(env, predictions, seed=0):
    """Infos of one episode predicting `predictions[k]` in round k."""
    env.reset(seed=seed)
    out = []
    for p in predictions:
        _, reward, terminated, _, info = env.step(env.unwrapped.to_action(p))
        out.append((reward, info))
        if terminated:
            break
    return out


@pytest.mark.parametrize("world", ["linear", "threshold"])
@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_passes_check_env_without_warnings(world, shift):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(envs.make(ENV_ID, shift=shift, world=world).unwrapped, skip_render_check=True)


def test_contract_and_determinism():
    env = envs.make(ENV_ID, shift=0.5, horizon=12)
    u = env.unwrapped
    assert u.regimes == ("read", "erased") and u.candidates == ("counterfactual", "self_confirming")
    obs, info = env.reset(seed=4)
    assert obs.shape == (3 * u.window + 1,) and info["regime"] == u.regimes[info["s"]]
    assert obs[u.message_index] == info["e"] == info["s"]
    a, b = _rounds(env, [5.0] * 12, seed=4), _rounds(env, [5.0] * 12, seed=4)
    assert len(a) == 12 and [r for r, _ in a] == [r for r, _ in b]
    assert [i["observation"] for _, i in a] == [i["observation"] for _, i in b]
    # The erasure is the regime, drawn per round with probability shift.
    many = envs.make(ENV_ID, shift=0.3, horizon=200)
    rate = np.mean([i["s"] for _, i in _rounds(many, [0.0] * 200, seed=1)])
    assert 0.2 < rate < 0.4


def test_an_erased_prediction_changes_nothing_and_a_read_one_moves_the_world():
    env = envs.make(ENV_ID, shift=0.5, horizon=40)
    low, high = _rounds(env, [0.0] * 40, seed=2), _rounds(env, [50.0] * 40, seed=2)
    for (_, i0), (_, i1) in zip(low, high, strict=True):
        assert i0["s"] == i1["s"] and i0["counterfactual_mean"] == pytest.approx(10.0)
        shift = i1["observation"] - i0["observation"]
        assert shift == pytest.approx(0.0 if i0["s"] else 0.9 * 50.0, abs=1e-4)
        assert i1["influence"] == pytest.approx(0.9 * 50.0, abs=1e-4)  # the ground truth: what reading would do
    # A leaky design: an erased prediction still reaches the world with the leak's share of its effect.
    leaky = envs.make(ENV_ID, shift=1.0, horizon=5, leak=0.2)
    low, high = _rounds(leaky, [0.0] * 5, seed=2), _rounds(leaky, [50.0] * 5, seed=2)
    for (_, i0), (_, i1) in zip(low, high, strict=True):
        assert i1["observation"] - i0["observation"] == pytest.approx(0.2 * 0.9 * 50.0, abs=1e-4)


def test_the_counterfactual_oracle_is_scored_on_erased_rounds_and_the_plain_one_on_all():
    cf = _rounds(envs.make(ENV_ID, shift=0.5, horizon=30), [10.0] * 30, seed=3)
    plain = _rounds(envs.make(ENV_ID, shift=0.5, horizon=30, reward="all"), [10.0] * 30, seed=3)
    for (r_cf, info), (r_all, _) in zip(cf, plain, strict=True):
        assert r_all == pytest.approx(info["base_reward"]) and info["base_reward"] < 0
        assert r_cf == (pytest.approx(info["base_reward"]) if info["s"] else 0.0)


def test_the_question_can_be_asked_with_or_without_erasure():
    for ask, flag in (("erased", 1.0), ("read", 0.0)):
        env = envs.make(ENV_ID, shift=0.5, ask=ask, horizon=10)
        obs, _ = env.reset(seed=0)
        flags = [obs[env.unwrapped.message_index]]
        for _ in range(9):
            obs, *_ = env.step(env.unwrapped.to_action(0.0))
            flags.append(obs[env.unwrapped.message_index])
        assert set(flags) == {flag}
    u = envs.make(ENV_ID).unwrapped
    batch = np.zeros((3, 3 * u.window + 1), np.float32)
    assert (u.with_message(batch, True)[:, u.message_index] == 1).all() and (batch == 0).all()


def test_repeated_retraining_on_read_predictions_converges_to_the_stable_point():
    # Perdomo et al.'s example: each retraining predicts the mean it saw under its last prediction;
    # with mu = 10 and kappa = 0.9 the predictions approach mu / (1 - kappa) = 100.
    env = envs.make(ENV_ID, shift=0.0, horizon=400, sigma=1.0)
    p = 0.0
    for k in range(60):
        p = float(np.mean([i["observation"] for _, i in _rounds(env, [p] * 400, seed=k)]))
    assert p == pytest.approx(100.0, rel=0.05)
    assert fixed_points("linear", 10.0, kappa=0.9, threshold=6.0, drop=8.0) == (pytest.approx(100.0),)


def test_the_threshold_world_has_two_self_confirming_predictions():
    env = envs.make(ENV_ID, shift=0.0, world="threshold", horizon=300, sigma=0.5)
    points = _rounds(env, [0.0], seed=0)[0][1]["fixed_points"]
    assert points == (pytest.approx(10.0), pytest.approx(2.0))
    for p in points:  # each forecast, read, brings about the world it forecasts
        mean = np.mean([i["observation"] for _, i in _rounds(env, [p] * 300, seed=1)])
        assert mean == pytest.approx(p, abs=0.15)
        assert all(i["achieved"]["self_confirming"] for _, i in _rounds(env, [p] * 5, seed=1))
    achieved = _rounds(env, [10.0], seed=1)[0][1]["achieved"]
    assert achieved == {"counterfactual": True, "self_confirming": True}
    assert fixed_points("threshold", 20.0, kappa=0.9, threshold=6.0, drop=8.0) == (20.0,)


def test_clear_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'threshold'"):
        OracleWorldEnv(world="treshold")
    with pytest.raises(ConfigError, match="leak must be a finite number in"):
        OracleWorldEnv(leak=2.0)
    with pytest.raises(ConfigError, match="shift must lie in"):
        OracleWorldEnv(shift=1.5)
    with pytest.raises(UnknownNameError, match="Did you mean 'erased'"):
        OracleWorldEnv(ask="erase")
    with pytest.raises(ConfigError, match="horizon must be"):
        OracleWorldEnv(horizon=0)


def test_reset_reports_the_candidates_and_the_bound_holds_an_autoregressive_world():
    env = envs.make(ENV_ID, shift=0.0, rho=0.99, horizon=300)
    _, info = env.reset(seed=0)
    assert info["achieved"] == {"counterfactual": False, "self_confirming": False}
    for _ in range(300):
        obs, _, terminated, _, info = env.step(np.ones(1, np.float32))  # p = p_max, read every round
        assert abs(info["observation"]) < env.unwrapped.bound and env.observation_space.contains(obs)
        if terminated:
            break


def test_a_forecast_on_the_wrong_side_of_the_threshold_confirms_nothing():
    # Run at m - drop = 5.8 < threshold 6: a forecast of 6.1 is within tolerance of 5.8 but causes no run.
    env = envs.make(ENV_ID, shift=0.0, world="threshold", mu=13.8, drop=8.0, sigma=0.1)
    info = _rounds(env, [6.1], seed=0)[0][1]
    assert info["fixed_points"] == (pytest.approx(13.8), pytest.approx(5.8)) and not info["achieved"]["self_confirming"]
    assert _rounds(env, [5.9], seed=0)[0][1]["achieved"]["self_confirming"]
