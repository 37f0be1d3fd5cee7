"""Oracles on OracleWorld with known answers (Perdomo et al.'s numbers: mu = 10, kappa = 0.9, stable point 100)."""

import numpy as np
import pytest
import torch

from core.errors import ConfigError, DataError
from training.model_based_oracle import train_model_based_oracle
from training.oracles import (
    SequenceOracle,
    fit_oracle,
    oracle_rounds,
    train_counterfactual_oracle,
    train_plain_predictor,
    train_reward_oracle,
)

torch.set_num_threads(1)

FAST = {"n_episodes": 100, "epochs": 150, "hidden": (16, 16)}


def test_the_counterfactual_oracle_predicts_the_world_nobody_reads():
    run = train_counterfactual_oracle(env_kwargs={"shift": 0.3}, iterations=2, **FAST)
    assert run.kind == "counterfactual" and len(run.mean_prediction) == 2
    assert run.mean_prediction[-1] == pytest.approx(10.0, abs=0.5)


def test_repeated_retraining_drives_the_plain_predictor_to_the_stable_point():
    run = train_plain_predictor(init_prediction=0.0, iterations=40, n_episodes=20, epochs=100, hidden=(16, 16))
    means = run.mean_prediction
    assert means[0] == 0.0 and means[1] == pytest.approx(10.0, abs=1.0)  # the first retraining sees the unread world
    assert means[-1] == pytest.approx(100.0, rel=0.05)
    assert all(b > a - 1.0 for a, b in zip(means, means[1:], strict=False))  # it climbs all the way


def test_in_the_threshold_world_the_plain_answer_depends_on_the_start_and_the_counterfactual_one_does_not():
    threshold = {"world": "threshold", "shift": 0.3}
    # Seeds draw the plain predictor's starting prediction from U[0, 20]: seed 0 starts at 12.7, seed 2 at 5.2.
    plain = {
        seed: train_plain_predictor(env_kwargs=threshold, seed=seed, iterations=6, n_episodes=20, epochs=100,
                                    hidden=(16, 16)).mean_prediction[-1]
        for seed in (0, 2)
    }  # fmt: skip
    assert plain[0] == pytest.approx(10.0, abs=0.5) and plain[2] == pytest.approx(2.0, abs=0.5), plain
    for seed in (0, 2):
        cf = train_counterfactual_oracle(env_kwargs=threshold, iterations=2, seed=seed, **FAST)
        assert cf.mean_prediction[-1] == pytest.approx(10.0, abs=0.5)


def test_an_oracle_is_a_probe_able_agent():
    oracle = SequenceOracle(13, hidden=(8,), p_max=200.0, init_prediction=50.0)
    names = dict(oracle.named_modules())
    assert {"body", "body.0", "head"} <= set(names)
    obs = np.zeros((3, 13), np.float32)
    assert np.allclose(oracle.predict(obs), 50.0) and oracle.act(obs).shape == (3, 1)
    assert np.allclose(oracle.act(obs), 0.25)


def test_rounds_record_the_ground_truth_and_the_exploration():
    rounds, X = oracle_rounds(lambda o: np.full(len(o), 20.0), n_episodes=5, explore=1.0, env_kwargs={"shift": 0.5})
    assert len(rounds) == len(X) == 5 * 16
    read = rounds["e"] == 0
    assert np.allclose(rounds["prediction"], 20.0 + rounds["noise"], atol=1e-4)
    assert np.allclose(rounds.loc[read, "influence"], 0.9 * rounds.loc[read, "prediction"], atol=1e-4)
    assert (rounds["counterfactual_mean"] == 10.0).all()


def test_clear_errors():
    with pytest.raises(ConfigError, match="n_episodes must be >= 1"):
        oracle_rounds(lambda o: o[:, 0], n_episodes=0)
    with pytest.raises(DataError, match="non-finite"):
        fit_oracle(SequenceOracle(2), np.array([[0.0, np.nan], [1.0, 1.0]]), np.array([0.0, 1.0]))
    with pytest.raises(DataError, match="erased rounds"):
        train_counterfactual_oracle(env_kwargs={"shift": 0.0}, iterations=1, n_episodes=2)


def test_the_model_based_oracle_conditions_its_world_model_on_erasure():
    # Not told which predictions are erased, it fits E[o | h, p, e] on logged rounds and answers
    # with the p that the model expects under erasure: 10, while a read prediction of 10 gives 19.
    oracle = train_model_based_oracle(env_kwargs={"shift": 0.3}, n_episodes=100, epochs=200, hidden=(16, 16))
    rounds, X = oracle_rounds(oracle.predict, n_episodes=10, env_kwargs={"shift": 0.3, "ask": "read"})
    assert rounds["prediction"].mean() == pytest.approx(10.0, abs=0.5)
    assert oracle.expected(X, np.full(len(X), 10.0), erased=False).mean() == pytest.approx(19.0, abs=1.0)
    with pytest.raises(DataError, match="erased rounds logged"):
        train_model_based_oracle(env_kwargs={"shift": 0.0}, n_episodes=3)


def test_the_reward_oracle_is_a_ppo_agent_with_the_world_s_reward():
    oracle = train_reward_oracle("counterfactual", env_kwargs={"shift": 0.3}, total_timesteps=2048, n_envs=4)
    obs = np.zeros((5, 13), np.float32)
    assert oracle.predict(obs).shape == (5,) and np.all(np.abs(oracle.predict(obs)) <= 200.0)
    assert "mlp_extractor.policy_net.0" in dict(oracle.named_modules())
    with pytest.raises(ConfigError, match="counterfactual' or 'plain"):
        train_reward_oracle("selfish")


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "target", "tolerance"), [("counterfactual", 10.0, 2.0), ("plain", 100.0, 5.0)])
def test_ppo_learns_the_counterfactual_answer_or_the_self_confirming_one(kind, target, tolerance):
    # Reward on erased rounds only: about 10; every prediction read and rewarded: about 100.
    oracle = train_reward_oracle(kind, env_kwargs={"shift": 0.3}, total_timesteps=100_000)
    kw = {"shift": 0.3, "ask": "erased"} if kind == "counterfactual" else {"shift": 0.0, "ask": "read"}
    rounds, _ = oracle_rounds(oracle.predict, n_episodes=20, env_kwargs=kw)
    assert rounds["prediction"].mean() == pytest.approx(target, abs=tolerance)
