"""An oracle study (seed 001): train the oracles, measure how manipulative they are, check erasure, test banned routes.

`run_oracle_analysis` trains the counterfactual oracle (loss on erased rounds), the plain predictor
(repeated retraining with every prediction read, from one or more starting predictions) and the
model-based oracle (never told about erasure) on OracleWorld, and optionally the reward-based
counterfactual oracle (PPO); measures `E[o | h] − E[o | h, e]` for each deployed oracle; runs the
leakage check on the counterfactual oracle's world as designed and on a twin with a side channel;
probes each oracle for "this prediction will be read" (against a predictor trained on every round,
which needs to know); and runs the banned-route response test. The result is an
`OracleStudyReport` (typed, frozen; its `to_dict` is `report.json`); figures and HTML are in
`analysis.oracle_figures`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

import envs
from analysis.banned_routes import MechanismResponse, mechanism_response
from analysis.oracle import LeakageCheck, ManipulationMeasure, leakage_check, manipulation_measure
from analysis.oracle_probe import ReadRepresentation, read_representation
from envs.oracle_world import fixed_points
from training.model_based_oracle import train_model_based_oracle
from training.oracles import (
    OracleTraining,
    oracle_rounds,
    train_counterfactual_oracle,
    train_plain_predictor,
    train_reward_oracle,
)

ENV = "mesaprobe/OracleWorld-v0"


@dataclass(frozen=True)
class RewardOracleResult:
    """The reward-based counterfactual oracle (PPO, reward on erased rounds only) as deployed."""

    timesteps: int
    mean_prediction: float

    def to_dict(self) -> dict:
        """Plain JSON."""
        return {"kind": "reward", "timesteps": self.timesteps, "mean_prediction": self.mean_prediction}


@dataclass(frozen=True)
class OracleStudyReport:
    """Everything an oracle study measured, with the world's ground truth beside it.

    `plain_runs` are the plain predictor's repeated-retraining runs, one per starting prediction
    (`plain` is the first); `read_probes` the read-representation probes per oracle (empty when
    skipped); `reward_oracle` is None unless the study trained one.
    """

    name: str
    seed: int
    world: Mapping
    counterfactual_mean: float
    fixed_points: tuple[float, ...]
    counterfactual: OracleTraining
    plain_runs: tuple[OracleTraining, ...]
    model_based_prediction: float
    manipulation: Mapping[str, ManipulationMeasure]
    leakage: Mapping[str, LeakageCheck]
    banned_route: MechanismResponse
    read_probes: Mapping[str, ReadRepresentation] = field(default_factory=dict)
    reward_oracle: RewardOracleResult | None = None

    @property
    def plain(self) -> OracleTraining:
        """The plain predictor from the first starting prediction."""
        return self.plain_runs[0]

    def to_dict(self) -> dict:
        """Plain JSON (`report.json`)."""
        oracles = {
            "counterfactual": self.counterfactual.to_dict(),
            "plain": self.plain.to_dict(),
            "plain_runs": [{"start": r.mean_prediction[0], **r.to_dict()} for r in self.plain_runs],
            "model_based": {"mean_prediction": self.model_based_prediction},
        }
        if self.reward_oracle is not None:
            oracles["reward"] = self.reward_oracle.to_dict()
        return {
            "format": "mesaprobe-oracle-report/1",
            "kind": "oracle",
            "study": self.name,
            "seed": self.seed,
            "world": dict(self.world),
            "truth": {"counterfactual_mean": self.counterfactual_mean, "fixed_points": list(self.fixed_points)},
            "oracles": oracles,
            "manipulation": {k: m.to_dict() for k, m in self.manipulation.items()},
            "leakage": {k: c.to_dict() for k, c in self.leakage.items()},
            "read_probes": {k: r.to_dict() for k, r in self.read_probes.items()},
            "banned_route": self.banned_route.to_dict(),
        }

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """`(measure, value, truth)` rows for the terminal and the HTML summary."""
        points = ", ".join(f"{p:g}" for p in self.fixed_points) + " (self-confirming)"
        rows = [
            ("counterfactual oracle: mean prediction", f"{self.counterfactual.mean_prediction[-1]:.2f}",
             f"{self.counterfactual_mean:g} (counterfactual mean)"),
        ]  # fmt: skip
        for run in self.plain_runs:
            start = f" (from {run.mean_prediction[0]:g})" if len(self.plain_runs) > 1 else ""
            rows.append((f"plain predictor{start}: mean prediction", f"{run.mean_prediction[-1]:.2f}", points))
        rows.append(
            (
                "model-based oracle: mean prediction",
                f"{self.model_based_prediction:.2f}",
                f"{self.counterfactual_mean:g}",
            )
        )
        if self.reward_oracle is not None:
            rows.append(("reward oracle (PPO): mean prediction", f"{self.reward_oracle.mean_prediction:.2f}",
                         f"{self.counterfactual_mean:g}"))  # fmt: skip
        effect = "κ·p" if self.world.get("world", "linear") == "linear" else "−drop·1[p < τ]"
        for k, m in self.manipulation.items():
            rows.append((f"manipulation E[o|h] − E[o|h,e]: {k}", f"{m.estimate:.2f}", f"{m.truth:.2f} ({effect})"))
        for k, c in self.leakage.items():
            rows.append((f"leakage check: {k} design", f"p = {c.test.p_value:.3f}", "leaks" if c.leaks else "no leak"))
        for k, r in self.read_probes.items():
            rows.append((f"represents 'will be read': {k}", f"AUC {r.best_auc:.2f} (history {r.control_history:.2f})",
                         f"message moves p by {r.sensitivity:.3g}"))  # fmt: skip
        for agent in ("classical", "factored"):
            row = self.banned_route.row(agent)
            rows.append((f"banned route: {agent} agent, policy change (TV)", f"{row['tv']:.2f}",
                         f"b moved {row['b_shift_train']:+.2f}"))  # fmt: skip
        return rows


def run_oracle_analysis(
    *,
    name: str = "oracle-study",
    world: Mapping | None = None,
    erasure: float = 0.3,
    iterations_counterfactual: int = 3,
    iterations_plain: int = 40,
    plain_starts: Sequence[float] = (0.0,),
    n_episodes: int = 50,
    epochs: int = 150,
    manipulation_episodes: int = 100,
    leakage_episodes: int = 200,
    explore: float = 3.0,
    leak: float = 0.1,
    probe_episodes: int = 100,
    iterations_informed: int = 15,
    reward_oracle_timesteps: int = 0,
    banned_route_episodes: int = 4000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> OracleStudyReport:
    """Run every part of an oracle study (see the module) and return its report.

    `probe_episodes = 0` skips the read-representation probes (and the informed predictor they
    compare with); `reward_oracle_timesteps > 0` trains the PPO counterfactual oracle for that many
    steps and measures it like the others.
    """
    say = progress or (lambda _: None)
    world = dict(world or {})
    kwargs = {**world, "shift": float(erasure)}
    u = envs.make(ENV, **kwargs).unwrapped
    m = u.counterfactual_mean(u.mu)
    points = fixed_points(u.world, m, kappa=u.kappa, threshold=u.threshold, drop=u.drop)

    say("counterfactual oracle")
    cf = train_counterfactual_oracle(
        env_kwargs=kwargs,
        iterations=iterations_counterfactual,
        n_episodes=max(n_episodes, 100),
        epochs=epochs,
        seed=seed,
    )

    def cf_policy(obs: np.ndarray) -> np.ndarray:
        return cf.oracle.predict(u.with_message(obs, True))

    say("plain predictor")
    plain_runs = tuple(
        train_plain_predictor(
            env_kwargs=world,
            iterations=iterations_plain,
            n_episodes=n_episodes,
            epochs=epochs,
            seed=seed,
            init_prediction=float(start),
        )  # fmt: skip
        for start in plain_starts
    )
    say("model-based oracle")
    mb = train_model_based_oracle(env_kwargs=kwargs, n_episodes=max(n_episodes, 100), epochs=epochs, seed=seed)
    mb_rounds, _ = oracle_rounds(mb.predict, n_episodes=10, seed=seed + 7, env_kwargs={**kwargs, "ask": "read"})
    policies = {"counterfactual": cf_policy, "plain": plain_runs[0].oracle.predict}
    reward = None
    if reward_oracle_timesteps > 0:
        say("reward oracle (PPO)")
        ro = train_reward_oracle(
            "counterfactual", env_kwargs=kwargs, total_timesteps=reward_oracle_timesteps, seed=seed
        )

        def ro_policy(obs: np.ndarray) -> np.ndarray:
            return ro.predict(u.with_message(obs, True))

        ro_rounds, _ = oracle_rounds(ro_policy, n_episodes=10, seed=seed + 7, env_kwargs=kwargs)
        reward = RewardOracleResult(int(reward_oracle_timesteps), float(ro_rounds["prediction"].mean()))
        policies["reward"] = ro_policy
    say("manipulation measure")
    manipulation = {
        key: manipulation_measure(policy, env_kwargs=kwargs, n_episodes=manipulation_episodes, seed=seed)
        for key, policy in policies.items()
    }
    say("leakage check")
    leakage = {}
    for key, extra in (("sound", {}), ("leaky", {"leak": float(leak)})):
        rounds, X = oracle_rounds(
            cf_policy, n_episodes=leakage_episodes, seed=seed + 11, explore=explore, env_kwargs={**kwargs, **extra}
        )
        leakage[key] = leakage_check(rounds, X, window=u.window, seed=seed)
    probes: dict[str, ReadRepresentation] = {}
    if probe_episodes > 0:
        say("informed predictor")
        informed = train_plain_predictor(
            env_kwargs=world, iterations=iterations_informed, n_episodes=n_episodes, epochs=epochs, seed=seed,
            init_prediction=float(m), erasure=float(erasure),
        )  # fmt: skip
        say("read-representation probes")
        agents = {"counterfactual": cf.oracle, "plain": plain_runs[0].oracle, "informed": informed.oracle}
        if reward_oracle_timesteps > 0:
            agents["reward"] = ro
        probes = {
            key: read_representation(agent, name=key, env_kwargs=kwargs, n_episodes=probe_episodes, seed=seed)
            for key, agent in agents.items()
        }
    say("banned routes")
    banned = mechanism_response(n_episodes=banned_route_episodes, seed=seed)
    return OracleStudyReport(
        name=name,
        seed=seed,
        world={**world, "erasure": float(erasure)},
        counterfactual_mean=float(m),
        fixed_points=tuple(float(p) for p in points),
        counterfactual=cf,
        plain_runs=plain_runs,
        model_based_prediction=float(mb_rounds["prediction"].mean()),
        manipulation=manipulation,
        leakage=leakage,
        banned_route=banned,
        read_probes=probes,
        reward_oracle=reward,
    )
