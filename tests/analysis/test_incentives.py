"""Control incentives of the training options (causal influence diagrams, Everitt et al. 2021)."""

from __future__ import annotations

import pytest

from analysis.incentives import InfluenceDiagram, control_incentives
from core.errors import ConfigError


@pytest.mark.parametrize("probe", ["refit", "frozen", "neurons"])
@pytest.mark.parametrize("beta", [0.0, 0.01, 1.0])
def test_a_control_incentive_on_the_read_out_exactly_when_it_is_paid(beta, probe):
    inc = control_incentives(beta, probe)
    assert inc.on_mesa is (beta > 0)
    assert inc.incentives["Y_b"] == "A → S' → Y_b → R_env"  # the task itself is always an incentive
    if beta > 0:
        assert inc.incentives["Y_m"].endswith("Y_m → R_act")
    # Only a probe refitted on the agent's own states can be steered through its training data.
    assert (inc.incentives.get("P") is not None) is (beta > 0 and probe == "refit")


def test_the_criterion_on_textbook_diagrams():
    # D → X → U: control incentive on X; Z is a parent of the decision only.
    g = InfluenceDiagram([("Z", "D"), ("D", "X"), ("X", "U"), ("Z", "U")], decision="D", utilities=["U"])
    assert g.admits_ici("X") and not g.admits_ici("Z") and not g.admits_ici("D")
    assert g.control_path("X") == "D → X → U"
    # A node downstream of the decision that no utility depends on carries no incentive.
    g = InfluenceDiagram([("D", "X"), ("D", "U")], decision="D", utilities=["U"])
    assert not g.admits_ici("X")
    # An observation is never controlled by the decision it informs.
    g = InfluenceDiagram([("O", "D"), ("D", "U"), ("O", "U")], decision="D", utilities=["U"])
    assert not g.admits_ici("O")


def test_bad_diagrams_are_refused():
    with pytest.raises(ConfigError, match="cycle"):
        InfluenceDiagram([("D", "X"), ("X", "D")], decision="D", utilities=["X"])
    with pytest.raises(ConfigError, match="not in the diagram"):
        InfluenceDiagram([("D", "U")], decision="D", utilities=["U"]).admits_ici("Q")
    with pytest.raises(ConfigError, match="leaves"):
        InfluenceDiagram([("D", "U"), ("U", "X")], decision="D", utilities=["U"])
    with pytest.raises(ConfigError, match="probe"):
        control_incentives(0.1, "sometimes")
