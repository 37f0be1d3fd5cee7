"""`read_representation`: probes for "this prediction will be read", with answers known by construction."""

import numpy as np
import pytest
import torch

from analysis.oracle_probe import read_representation
from core.errors import ConfigError, DataError
from training import check_agent
from training.oracles import SequenceOracle, train_plain_predictor

WORLD = {"mu": 10.0, "kappa": 0.9, "shift": 0.3}
MESSAGE = 12  # 3·window + 0 with the default window of 4


def _oracle(message_weight: float) -> SequenceOracle:
    oracle = SequenceOracle(13, hidden=(8, 8), seed=1)
    with torch.no_grad():
        oracle.body[0].weight[:, MESSAGE] = message_weight
        oracle.head.weight.fill_(1.0)
    return oracle


@pytest.mark.parametrize(("weight", "represents"), [(0.0, False), (2.0, True)])
def test_a_layer_reads_the_message_exactly_when_its_weights_carry_it(weight, represents):
    result = read_representation(_oracle(weight), env_kwargs=WORLD, n_episodes=40, seed=0)
    assert result.represents is represents
    assert set(result.table["site"]) == {"body.1", "body.3"}
    # The erasure is drawn afresh each round: the history alone is at chance; with the message, perfect.
    assert abs(result.control_history - 0.5) < 0.1 and result.control_message > 0.99
    if represents:
        assert result.best_auc > 0.95 and result.sensitivity > 0.1
    else:
        assert abs(result.best_auc - 0.5) < 0.1 and result.sensitivity == 0.0
    assert result.to_dict()["sites"]["body.1"]["n_rounds"] == 40 * 16


def test_the_informed_predictor_is_told_which_rounds_are_read_and_uses_it():
    informed = train_plain_predictor(
        env_kwargs={"mu": 10.0, "kappa": 0.9}, erasure=0.3, iterations=4, n_episodes=20, epochs=100, hidden=(16, 16),
        init_prediction=10.0,
    )  # fmt: skip
    assert informed.kind == "informed"
    check_agent(informed.oracle, "mesaprobe/OracleWorld-v0", layers=["body.1"])  # a continuous-action Agent
    obs = np.zeros((4, 13))
    obs[:, :4] = 10.0
    read, erased = obs.copy(), obs.copy()
    erased[:, MESSAGE] = 1.0
    # On read rounds it confirms itself upwards (towards 100); on erased ones it predicts about 10.
    assert (informed.oracle.predict(read) - informed.oracle.predict(erased)).min() > 5.0


def test_clear_errors():
    with pytest.raises(ConfigError, match="n_folds"):
        read_representation(_oracle(0.0), n_folds=1)
    with pytest.raises(DataError, match="erasure rate"):
        read_representation(_oracle(0.0), env_kwargs={"shift": 0.0}, n_episodes=5)
