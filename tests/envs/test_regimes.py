import numpy as np
import pytest

from envs import TRAIN, ConfigError, RegimeChoice, UnknownNameError
from envs.regimes import as_choice, draw_regime

REGIMES = (TRAIN, "far", "near", "dark")


def test_parse_defaults_to_the_first_or_the_given_deployment_regime():
    assert RegimeChoice.parse(REGIMES, None, 0.5).names == ("far",)
    assert RegimeChoice.parse(REGIMES, None, 0.5, default="near").names == ("near",)
    choice = RegimeChoice.parse(REGIMES, {"near": 1, "dark": 3}, 0.4)
    assert choice.names == ("near", "dark") and choice.weights == (0.25, 0.75)
    assert choice.describe() == pytest.approx({TRAIN: 0.6, "near": 0.1, "dark": 0.3})


def test_one_regime_draws_nothing_more_so_the_stream_is_the_binary_one():
    choice = RegimeChoice.parse(REGIMES, "near", 0.5)
    a, b = np.random.default_rng(0), np.random.default_rng(0)
    for _ in range(50):
        s = draw_regime(a, 0.5, choice)
        assert s == (2 if b.random() < 0.5 else 0)
    assert a.random() == b.random()


def test_several_regimes_follow_their_weights():
    choice = RegimeChoice.parse(REGIMES, {"far": 1, "dark": 1}, 1.0)
    rng = np.random.default_rng(0)
    s = np.array([draw_regime(rng, 1.0, choice) for _ in range(2000)])
    assert set(s) == {1, 3} and 0.45 < np.mean(s == 1) < 0.55


@pytest.mark.parametrize(
    ("regime", "error", "message"),
    [
        ("fra", UnknownNameError, "Unknown regime 'fra'. Did you mean 'far'"),
        ({"nera": 1}, UnknownNameError, "Did you mean 'near'"),
        (TRAIN, ConfigError, "use shift=0"),
        ({}, ConfigError, "at least one deployment regime"),
        ({"far": 0}, ConfigError, "must not all be zero"),
        ({"far": float("nan")}, ConfigError, "finite number >= 0"),
        (3, ConfigError, "a deployment regime's name or a mapping"),
    ],
)
def test_bad_regimes_are_clear_errors(regime, error, message):
    with pytest.raises(error, match=message):
        RegimeChoice.parse(REGIMES, regime, 0.5)


def test_as_choice_passes_a_choice_through_and_checks_its_regimes():
    choice = RegimeChoice.parse(REGIMES, "dark", 1.0)
    assert as_choice(REGIMES, choice, 0.0) is choice
    assert as_choice(REGIMES, "near", 0.0).names == ("near",)
    with pytest.raises(ConfigError, match="not over this layout's regimes"):
        as_choice((TRAIN, "other"), choice, 1.0)
