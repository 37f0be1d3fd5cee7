"""Measures of a counterfactual oracle (seed 001): how manipulative its predictions are, and whether erasure leaks.

- `manipulation_measure`: the seed's contrast of the predictions of `o_n` given the history and
  given the history with erasure, `E[o | h] − E[o | h, e]` (`E[o | h]`: the prediction is read, no
  erasure message follows the history), estimated by a sequence predictor
  fitted on the rounds the oracle was deployed in (the erasure message as an input), per history
  and on average, next to its ground truth (the world's own effect of the prediction made).
- `leakage_check`: the no-leakage condition `P(o_n | h, e, p_n) = P(o_n | h, e, p'_n)` as the
  conditional-independence test `o ⊥ p | h` on erased rounds (`analysis.ci_test`, episodes as the
  units). A sound design passes it; a side channel that lets an erased prediction reach the world
  is rejected.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

import envs
from analysis.calibration import RejectionRate, clopper_pearson
from analysis.ci import CITestResult, ci_test
from core.errors import DataError, unknown_name
from training.oracles import Policy, SequenceOracle, fit_oracle, oracle_rounds


@dataclass(frozen=True)
class ManipulationMeasure:
    """`E[o | h] − E[o | h, e]` per history (`per_round`: `episode`, `round`, `e`, `estimate`, `truth`) and on average.

    `truth` is the world's effect of the prediction actually made in that history had it been read
    (`info["influence"]`: `κ·p` in the linear world). `relative_error` is `|estimate − truth| / |truth|`
    of the averages (NaN when the truth is 0).
    """

    per_round: pd.DataFrame
    estimate: float
    truth: float

    @property
    def relative_error(self) -> float:
        """How far the average estimate is from the average truth, relative to the truth."""
        return abs(self.estimate - self.truth) / abs(self.truth) if self.truth else math.nan

    def to_dict(self) -> dict:
        """Plain JSON (without the per-round table)."""
        rel = self.relative_error
        return {
            "estimate": self.estimate,
            "truth": self.truth,
            "relative_error": None if math.isnan(rel) else rel,
            "n_rounds": len(self.per_round),
        }


def manipulation_measure(
    policy: Policy,
    *,
    env: str = "mesaprobe/OracleWorld-v0",
    env_kwargs: dict | None = None,
    n_episodes: int = 200,
    epochs: int = 300,
    hidden: tuple[int, ...] = (32, 32),
    seed: int = 0,
) -> ManipulationMeasure:
    """How much reading the oracle's predictions moves the world, from its predictions with and without `e`.

    Deploys `policy` (the oracle as it is used) for `n_episodes` at the world's erasure rate,
    fits a sequence predictor of `o_n` from the history and the actual erasure message on every
    round, and contrasts its two predictions per history: the message off (the prediction is read)
    minus the message on (erased). The world must erase some rounds and read others.
    """
    kwargs = {**(env_kwargs or {}), "ask": "actual"}
    rounds, X = oracle_rounds(policy, env=env, n_episodes=n_episodes, seed=seed, env_kwargs=kwargs)
    n_erased = int(rounds["e"].sum())
    if min(n_erased, len(rounds) - n_erased) < 20:
        raise DataError(
            f"{n_erased} erased and {len(rounds) - n_erased} read rounds: the manipulation measure contrasts the two "
            "and needs at least 20 of each; set the erasure rate (shift) away from 0 and 1 or raise n_episodes."
        )
    u = envs.make(env, **kwargs).unwrapped
    model = SequenceOracle(X.shape[1], hidden=hidden, p_max=u.p_max, seed=seed)
    fit_oracle(model, X, rounds["observation"].to_numpy(), epochs=epochs)
    estimate = model.predict(u.with_message(X, False)) - model.predict(u.with_message(X, True))
    per_round = rounds[["episode", "round", "e"]].assign(estimate=estimate, truth=rounds["influence"].to_numpy())
    return ManipulationMeasure(per_round, float(estimate.mean()), float(per_round["truth"].mean()))


@dataclass(frozen=True)
class LeakageCheck:
    """The no-leakage test on erased rounds: `o ⊥ p | h`, with `leaks` when it is rejected at `alpha`.

    `points` (for figures, not in `to_dict`) has per erased round the exploration draw `noise` and
    `surprise`, the observation minus the world's counterfactual mean (ground truth): flat in
    `noise` when nothing leaks.
    """

    test: CITestResult
    alpha: float
    n_rounds: int
    n_episodes: int
    points: pd.DataFrame | None = None

    @property
    def leaks(self) -> bool:
        """Whether the erased predictions are shown to reach the world."""
        return self.test.p_value < self.alpha

    def to_dict(self) -> dict:
        """Plain JSON."""
        return {
            "p_value": self.test.p_value,
            "alpha": self.alpha,
            "leaks": self.leaks,
            "method": self.test.method,
            "n_rounds": self.n_rounds,
            "n_episodes": self.n_episodes,
        }


def leakage_check(
    rounds: pd.DataFrame,
    observations: np.ndarray,
    *,
    window: int,
    method: str = "auto",
    alpha: float = 0.05,
    seed: int = 0,
) -> LeakageCheck:
    """Test `o_n ⊥ p_n | h` on the erased rounds of `oracle_rounds`' output, episodes as the units.

    The prediction's part that the test varies is the exploration draw `noise` (deploy with
    `explore > 0`): it is independent of the history by design, so the test stays calibrated
    however badly its regressions on the history fit (their errors meet no error on the other
    side), and a leak shows as `o_n` moving with it. `z` is the history the oracle saw (`3·window`
    values), which removes the history's part of `o_n`'s spread.
    """
    erased = rounds["e"].to_numpy() == 1
    if erased.sum() < 20:
        raise DataError(f"only {int(erased.sum())} erased rounds; the leakage check needs at least 20.")
    sub = rounds[erased]
    if not np.any(sub["noise"].to_numpy() != 0):
        raise DataError(
            "the predictions carry no exploration noise: deploy with oracle_rounds(..., explore=σ > 0) so that "
            "the test has a randomised part of the prediction to follow."
        )
    z = np.asarray(observations, dtype=np.float64)[erased, : 3 * window]
    test = ci_test(
        sub["noise"].to_numpy(), sub["observation"].to_numpy(), z, method=method, groups=sub["episode"].to_numpy(),
        seed=seed,
    )  # fmt: skip
    points = None
    if "counterfactual_mean" in sub.columns:
        points = pd.DataFrame(
            {"noise": sub["noise"].to_numpy(), "surprise": (sub["observation"] - sub["counterfactual_mean"]).to_numpy()}
        )
    return LeakageCheck(test, alpha, int(erased.sum()), int(sub["episode"].nunique()), points)


@dataclass(frozen=True)
class LeakageDesign:
    """A world and a deployed prediction rule for calibrating the leakage check.

    The rule predicts `center + follow·(o_{n−1} − μ)` plus Gaussian exploration noise of scale
    `explore`: it follows the history, so `o` and `p` are dependent through `h` even without a leak.
    """

    env_kwargs: dict
    center: float
    follow: float
    explore: float
    description: str

    @property
    def sound(self) -> bool:
        """No side channel: the null of the leakage check holds."""
        return float(self.env_kwargs.get("leak", 0.0)) == 0.0


LEAKAGE_DESIGNS: dict[str, LeakageDesign] = {
    # Stationary by construction: on read rounds the series moves by ρ + κ·follow = 0.86 per round.
    "sound_autocorrelated": LeakageDesign(
        {"rho": 0.5, "shift": 0.3}, 10.0, 0.4, 3.0, "linear world, ρ = 0.5, predictions follow the last observation"
    ),
    "sound_rare_threshold": LeakageDesign(
        {"world": "threshold", "rho": 0.5, "shift": 0.15}, 6.0, 0.8, 3.0,
        "threshold world, ρ = 0.5, 15 % of rounds erased, predictions around the run threshold",
    ),
    "leaky_linear": LeakageDesign(
        {"rho": 0.5, "shift": 0.3, "leak": 0.1}, 10.0, 0.4, 3.0, "as sound_autocorrelated, 10 % of the effect leaks"
    ),
    "leaky_threshold": LeakageDesign(
        {"world": "threshold", "rho": 0.5, "shift": 0.15, "leak": 0.5}, 6.0, 0.8, 3.0,
        "as sound_rare_threshold, half of the run leaks",
    ),
}  # fmt: skip


def leakage_rate(
    design: str,
    *,
    reps: int,
    n_episodes: int = 200,
    alpha: float = 0.05,
    method: str = "auto",
    seed: int = 0,
    progress=None,
) -> RejectionRate:
    """How often `leakage_check` calls a leak over `reps` independent deployments of `design`."""
    if design not in LEAKAGE_DESIGNS:
        raise unknown_name("leakage design", design, list(LEAKAGE_DESIGNS))
    d = LEAKAGE_DESIGNS[design]
    world = envs.make("mesaprobe/OracleWorld-v0", **d.env_kwargs).unwrapped
    rejections, spent, used = 0, 0.0, method
    for rep in range(reps):

        def rule(obs: np.ndarray, d=d) -> np.ndarray:
            return d.center + d.follow * (obs[:, 0] - world.mu)

        start = int(np.random.default_rng([seed, rep]).integers(2**31))
        rounds, X = oracle_rounds(rule, n_episodes=n_episodes, seed=start, explore=d.explore, env_kwargs=d.env_kwargs)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check = leakage_check(rounds, X, window=world.window, method=method, alpha=alpha, seed=rep)
        spent += time.perf_counter() - t0
        rejections += check.leaks
        used = check.test.method
        if progress is not None:
            progress(1)
    return RejectionRate(
        method=used,
        scenario=design,
        null=d.sound,
        n=n_episodes,
        reps=reps,
        alpha=alpha,
        rate=rejections / reps,
        interval=clopper_pearson(rejections, reps),
        seconds=spent / reps,
        clustered=True,
    )
