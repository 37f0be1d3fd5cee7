"""Rejection rates of a CI method over repeated draws from a scenario: type-I error and power."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from analysis.ci import ci_test
from analysis.scm import SCENARIOS, simulate


@dataclass(frozen=True)
class RejectionRate:
    """How often `method` rejected at `alpha` over `reps` datasets of `n` rows from `scenario`.

    `interval` is the 95 % Clopper–Pearson interval of the rate; `seconds` the mean time per test.
    """

    method: str
    scenario: str
    null: bool
    n: int
    reps: int
    alpha: float
    rate: float
    interval: tuple[float, float]
    seconds: float
    clustered: bool

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = asdict(self)
        out["interval"] = list(self.interval)
        return out


def rejection_rate(
    method: str,
    scenario: str,
    *,
    n: int,
    reps: int,
    alpha: float = 0.05,
    seed: int = 0,
    use_groups: bool = True,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> RejectionRate:
    """Run `ci_test(y_b, s, y_m, method)` on `reps` fresh datasets; fixed seeds, no retries.

    `use_groups=False` ignores the episode ids of clustered scenarios (to show what that costs).
    """
    rejections, spent = 0, 0.0
    clustered = False
    for rep in range(reps):
        y_b, s, y_m, groups = simulate(scenario, n, np.random.default_rng([seed, rep]))
        clustered = groups is not None and use_groups
        kwargs = {"groups": groups} if clustered else {}
        if method.startswith("dowhy_"):
            kwargs.pop("groups", None)
        else:
            kwargs["device"] = device
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = ci_test(y_b, s, y_m, method=method, seed=rep, **kwargs).p_value
        spent += time.perf_counter() - t0
        rejections += p < alpha
        if progress is not None:
            progress(1)
    lo = stats.beta.ppf(0.025, rejections, reps - rejections + 1) if rejections else 0.0
    hi = stats.beta.ppf(0.975, rejections + 1, reps - rejections) if rejections < reps else 1.0
    return RejectionRate(
        method=method,
        scenario=scenario,
        null=SCENARIOS[scenario].null,
        n=n,
        reps=reps,
        alpha=alpha,
        rate=rejections / reps,
        interval=(float(lo), float(hi)),
        seconds=spent / reps,
        clustered=clustered,
    )
