"""Impact penalties (seed 002): the state graph, the deviation measures on known cases, and the planner's known pattern."""

import numpy as np
import pytest

import envs
from envs.impact_levels import level
from envs.impact_world import NOOP
from training.impact_agents import ImpactPenaltyWrapper, q_learning
from training.impact_graph import StateGraph
from training.impact_penalty import ImpactPenalty, noop_chain, penalty_table
from training.impact_planning import plan

U, D, L, R, N = range(5)
GRAPHS = {}


def graph(name: str) -> StateGraph:
    if name not in GRAPHS:
        GRAPHS[name] = StateGraph(level(name))
    return GRAPHS[name]


def actions(p) -> str:
    return "".join(s.action[0] if s.action != "noop" else "." for s in p.rollout())


def test_the_graph_holds_every_reachable_state_and_reachability_is_exact():
    g = graph("box")
    # 54 states before the goal (the episode's own), and the world going on after it (for the measures).
    before = [s for s in g.states if not s.has("goal")]
    assert len(before) == 54 and g.T.shape == (len(g), 5) and (g.T < len(g)).all() and g.states[0] == g.level.start
    reach = g.reachability(1.0)
    kid, _ = g.keys()
    corner = g.index[g.level.step(g.level.start, D)[0]]
    # From the start every box position is reachable; once the box is in the corner, the start's never is.
    assert reach[0, kid[0]] == 1.0 and reach[corner, kid[0]] == 0.0
    one_push = g.index[g.level.step(g.level.start, D)[0]]
    assert g.reachability(0.5)[0, kid[one_push]] == 0.5  # one step away, discounted once


def test_deviations_are_zero_for_the_noop_and_positive_for_an_irreversible_push():
    g = graph("box")
    for deviation in ("unreachability", "relative_reachability", "attainable_utility"):
        table = penalty_table(g, ImpactPenalty("stepwise", deviation=deviation), horizon=3)
        assert table[0, 0, NOOP] == 0.0 and table[0, 0, D] > 0.0, deviation
        assert table[0, 0, D] > table[0, 0, L]  # the corner push costs more than a step aside


@pytest.mark.parametrize(
    ("name", "penalty", "expected"),
    [
        # Krakovna et al.'s pattern: the unpenalised agent corners the box; any penalty takes the long way.
        ("box", None, "drddr"),
        ("box", ImpactPenalty("stepwise"), "ldrdrdr"),
        # The starting-state baseline interferes: it takes the sushi off the belt.
        ("sushi", ImpactPenalty("start"), "dddudrrrr"),
        # The inaction baseline offsets (unreachability): it rescues the vase, then puts it back on the belt.
        ("vase", ImpactPenalty("inaction", deviation="unreachability"), "..drddd" + "." * 13),
        # Stepwise with inaction rollouts does neither.
        ("vase", ImpactPenalty("stepwise", deviation="unreachability"), "..dd" + "." * 16),
        # Two agents: naive inaction is clingy (it withholds the task until the human cannot act on it) ...
        ("door", ImpactPenalty("inaction"), "." * 17 + "rrr"),
        # ... the iterative counterfactual is not, and it has the human break the vase (manipulation) ...
        ("door", ImpactPenalty("iterative"), "rrr" + "." * 17),
        ("bell", ImpactPenalty("iterative"), "drurrrrrr"),
        # ... unless the human's mind is part of the world; enabling is still open to it.
        ("bell", ImpactPenalty("iterative_persuasion"), "dddrrrrrrruuu"),
        ("edge", ImpactPenalty("iterative_persuasion"), "rrrrrrr"),
        ("edge", ImpactPenalty("stepwise"), "dddrrrrrrruuu"),
    ],
)
def test_the_planner_reproduces_the_known_pattern(name, penalty, expected):
    assert actions(plan(graph(name), penalty)) == expected


def test_the_vase_offsetting_episode_ends_with_the_vase_broken_after_the_reward():
    steps = plan(graph("vase"), ImpactPenalty("inaction", deviation="unreachability")).rollout()
    final = steps[-1].next_state
    assert final.has("rescued") and final.obj("vase")[1] == "broken" and sum(s.reward for s in steps) == 45.0


def test_noop_chains_and_penalty_tables_have_the_documented_shapes():
    g = graph("vase")
    chain = noop_chain(g, np.array([0, 1]), 3)
    assert chain.shape == (4, 2) and chain[1, 0] == g.T[0, NOOP]
    table = penalty_table(g, ImpactPenalty("inaction"), horizon=7)
    assert table.shape == (7, len(g), 5) and (table >= 0).all()


def test_bad_penalties_are_clear_errors():
    with pytest.raises(KeyError, match="Did you mean 'stepwise'"):
        ImpactPenalty("stepwis")
    with pytest.raises(KeyError, match="deviation measure"):
        ImpactPenalty("start", deviation="reachability_relative")
    with pytest.raises(ValueError, match="beta must be >= 0"):
        ImpactPenalty("start", beta=-1)


def test_q_learning_learns_to_spare_the_box_under_a_penalty():
    g = graph("box")
    free = q_learning(g, None, episodes=1500, seed=0).plan.rollout()
    careful = q_learning(g, ImpactPenalty("stepwise"), episodes=1500, seed=0).plan.rollout()
    assert free[-1].next_state.has("goal") and g.level.hidden(g.level, free[-1].next_state) == 1.0
    assert careful[-1].next_state.has("goal") and g.level.hidden(g.level, careful[-1].next_state) == 0.0


def test_the_wrapper_subtracts_the_penalty_for_any_rl_library():
    env = ImpactPenaltyWrapper(envs.make("mesaprobe/SideEffects-v0", level="box"), ImpactPenalty("stepwise"))
    env.reset(seed=0)
    _, reward, _, _, info = env.step(D)  # the corner push
    assert info["base_reward"] == -1.0 and info["penalty"] > 5.0 and reward == -1.0 - info["penalty"]
    _, reward, _, _, info = env.step(NOOP)
    assert info["penalty"] == 0.0
    with pytest.raises(ValueError, match="wraps mesaprobe/SideEffects-v0"):
        ImpactPenaltyWrapper(envs.make("mesaprobe/CoinCorridor-v0"), ImpactPenalty("start"))
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=64)  # a Stable-Baselines3 agent trains on the penalised reward


def test_the_literal_iterative_counterfactual_charges_the_agent_not_the_human():
    from envs.impact_levels import crowd
    from training.impact_online import iterative_effects

    rang = iterative_effects(level("bell"), [R, D, U] + [R] * 6)
    assert [c for c in rang.charged if c] == [(("mind", "", "asked", 1),)]  # the human's break is theirs
    smashed = iterative_effects(level("bell"), [R] * 7)
    assert ("vase", "ok", "broken", 6) in {e for c in smashed.charged for e in c} and smashed.total == 4
    door = iterative_effects(level("door"), [R, R, R] + [N] * 17)
    assert door.total == 1 and door.charged[2] == (("gate", "closed", "open", 2),)
    # Two simulations per step, whatever the number of humans; one more per human to attribute to each.
    for k in (1, 3):
        crowded = iterative_effects(crowd(k), [R, R, R] + [N] * 7, per_human=True)
        assert iterative_effects(crowd(k), [R, R, R] + [N] * 7).simulations == 20
        assert crowded.simulations == 20 + 10 * k
    with pytest.raises(ValueError, match="at least one action"):
        iterative_effects(level("box"), [])


def test_without_a_simulator_the_learner_estimates_its_penalty_from_what_it_observed():
    from training.impact_graph import ObservedGraph

    g = graph("box")
    nothing = ObservedGraph(g, np.zeros((len(g), 5), dtype=bool))
    assert (nothing.T == np.arange(len(g))[:, None]).all()  # nothing observed: nothing seems to move
    with pytest.raises(ValueError, match="no simulator"):
        nothing.add(g.level.step(g.level.start, D)[0].with_flag("made-up"))
    run = q_learning(g, ImpactPenalty("stepwise"), exact=False, seed=0)
    final = run.plan.rollout()[-1].next_state
    assert final.has("goal") and g.level.hidden(g.level, final) == 0.0  # it still spares the box
    with pytest.raises(ValueError, match="needs exact=True"):
        q_learning(graph("bell"), ImpactPenalty("iterative"), exact=False)
