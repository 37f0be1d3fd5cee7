"""Classical and factored agents in BannedRouteWorld, and the mechanism-response test (seed 001)."""

import json

import numpy as np
import pytest

from analysis.banned_routes import mechanism_response
from core.errors import DataError
from envs.banned_route import P_B
from training.factored import RouteModel, fit_route_agents, route_episodes


def test_the_model_recovers_the_mechanism_from_exploration():
    episodes = route_episodes(n_episodes=3000, seed=0)
    model = RouteModel.fit(episodes, n_actions=3, n_contexts=4)
    assert np.allclose(model.p_b, P_B["train"][:, None], atol=0.08)
    assert model.counts.sum() == 3000


def test_the_classical_agent_persuades_and_the_factored_agent_works():
    agents = fit_route_agents(route_episodes(n_episodes=3000, seed=1))
    assert list(agents["classical"].policy()) == [2, 2, 2, 2]  # persuade everywhere
    assert list(agents["factored"].policy()) == [1, 1, 1, 0]  # the best direct action
    assert "values" in dict(agents["factored"].named_modules())
    assert list(agents["factored"].act(np.eye(4))) == [1, 1, 1, 0]


def test_changing_the_banned_mechanism_moves_only_the_classical_policy():
    r = mechanism_response(n_episodes=3000, seed=2)
    classical, factored = r.row("classical"), r.row("factored")
    assert classical["tv"] >= 0.3 and factored["tv"] <= 0.05
    # The classical agent moves b away from the default action's distribution; the factored one does not.
    assert classical["b_shift_train"] == pytest.approx(0.7) and factored["b_shift_train"] == 0.0
    # On the allowed route the factored agent scores at least 90 % of the classical agent's.
    for regime in ("train", "resistant"):
        assert factored[f"direct_{regime}"] >= 0.9 * classical[f"direct_{regime}"]
    assert json.loads(json.dumps(r.to_dict()))["agents"][0]["agent"] == "classical"


def test_clear_errors():
    with pytest.raises(DataError, match="lack the columns"):
        RouteModel.fit(route_episodes(n_episodes=20).drop(columns="b"), n_actions=3, n_contexts=4)
    with pytest.raises(DataError, match="collect more"):
        RouteModel.fit(route_episodes(n_episodes=5), n_actions=3, n_contexts=4)


def test_agents_fit_the_contexts_they_saw_and_are_collected_like_any_agent():
    from probes import collect

    small = fit_route_agents(route_episodes(n_episodes=400, seed=0, env_kwargs={"n_contexts": 2}))
    assert small["factored"].table.shape == (3, 2)
    assert set(route_episodes(n_episodes=5, policy=small["factored"], env_kwargs={"n_contexts": 2})["action"]) == {1}
    agents = fit_route_agents(route_episodes(n_episodes=2000, seed=0))
    data = collect(
        agents["classical"], "mesaprobe/BannedRouteWorld-v0", shift=[0.0, 1.0], n_episodes=20, layers=["values"]
    )
    episodes = data.episodes()
    assert set(episodes["regime"]) == {"train", "resistant"} and "achieved_b_set" in episodes
    assert data.site("values").shape == (len(data), 3)
