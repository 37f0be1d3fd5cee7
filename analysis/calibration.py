"""How often tests and verdicts are wrong on known truth: rejection rates and verdict shares.

`rejection_rate` runs a CI method over repeated draws from a scenario (type-I error on nulls,
power on alternatives); `verdict_rates` runs the whole transport test and counts its verdicts
(on nulls the share of `regime-dependent`, on alternatives whose `‖τ‖₂` exceeds the margin the
share of `transports`: the false certificates).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from analysis.ci import ci_test
from analysis.scm import SCENARIOS, simulate
from analysis.transport import transport_test
from analysis.verdicts import Verdict


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
    if scenario not in SCENARIOS:
        simulate(scenario, 1)  # raises with the closest names
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
    return RejectionRate(
        method=method,
        scenario=scenario,
        null=SCENARIOS[scenario].null,
        n=n,
        reps=reps,
        alpha=alpha,
        rate=rejections / reps,
        interval=clopper_pearson(rejections, reps),
        seconds=spent / reps,
        clustered=clustered,
    )


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for `k` successes in `n` trials."""
    a = (1 - level) / 2
    lo = stats.beta.ppf(a, k, n - k + 1) if k else 0.0
    hi = stats.beta.ppf(1 - a, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


@dataclass(frozen=True)
class VerdictRates:
    """Transport-test outcomes over `reps` datasets of `n` rows from `scenario` with known truth.

    `rejection` is the share with `p < alpha` (type-I error or power) and `shares` the share of each
    verdict; `magnitude` the scenario's true overlap-weighted `‖τ‖₂` and `mean_magnitude` the mean
    estimate; `wrong` the share of wrong claims: `regime-dependent` on a null, `transports` on an
    alternative whose `‖τ‖₂` exceeds the margin (None for alternatives inside the margin).
    """

    scenario: str
    null: bool
    n: int
    reps: int
    alpha: float
    margin: float
    method: str
    rejection: float
    rejection_interval: tuple[float, float]
    shares: dict[str, float]
    magnitude: float
    mean_magnitude: float
    wrong: float | None
    wrong_interval: tuple[float, float] | None
    seconds: float

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = asdict(self)
        out["rejection_interval"] = list(self.rejection_interval)
        out["wrong_interval"] = None if self.wrong_interval is None else list(self.wrong_interval)
        return out


def verdict_rates(
    scenario: str,
    *,
    n: int,
    reps: int,
    alpha: float = 0.05,
    margin: float = 0.1,
    method: str = "auto",
    seed: int = 0,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> VerdictRates:
    """Run `transport_test` on `reps` fresh datasets of `scenario` (fixed seeds, no retries)."""
    if scenario not in SCENARIOS:
        simulate(scenario, 1)  # raises with the closest names
    sc = SCENARIOS[scenario]
    counts = {v.value: 0 for v in Verdict}
    rejections, spent, magnitudes, used = 0, 0.0, [], method
    for rep in range(reps):
        y_b, s, y_m, groups = simulate(scenario, n, np.random.default_rng([seed, rep]))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = transport_test(
                y_b, s, y_m, groups=groups, method=method, alpha=alpha, margin=margin, seed=rep, device=device
            )
        spent += time.perf_counter() - t0
        rejections += r.p_value < alpha
        counts[r.verdict.value] += 1
        magnitudes.append(r.magnitude)
        used = r.method
        if progress is not None:
            progress(1)
    truth = 0.0 if sc.null else sc.magnitude()
    wrong_kind = Verdict.REGIME_DEPENDENT.value if sc.null else Verdict.TRANSPORTS.value
    judged = sc.null or truth > margin
    wrong = counts[wrong_kind] if judged else None
    return VerdictRates(
        scenario=scenario,
        null=sc.null,
        n=n,
        reps=reps,
        alpha=alpha,
        margin=margin,
        method=used,
        rejection=rejections / reps,
        rejection_interval=clopper_pearson(rejections, reps),
        shares={k: v / reps for k, v in counts.items()},
        magnitude=truth,
        mean_magnitude=float(np.mean(magnitudes)),
        wrong=None if wrong is None else wrong / reps,
        wrong_interval=None if wrong is None else clopper_pearson(wrong, reps),
        seconds=spent / reps,
    )


@dataclass(frozen=True)
class FamilyRates:
    """The categorical-regime tests over `reps` datasets of `n` rows from a family scenario.

    `joint` is the share of datasets where the joint test (`ci_test(..., categorical=True)`, the
    p-value `transport_test` reports for a family) rejects at `alpha`, with its 95 % interval:
    type-I error on nulls, power on alternatives. `holm_any` is the share where some regime's
    Holm-adjusted p-value is below `alpha` (the familywise error on nulls), `holm_by_regime` the
    share per regime `1..k`, and `wrong` the share of datasets with a Holm rejection of a regime
    that has no effect (a false `regime-dependent` claim).
    """

    scenario: str
    null: bool
    k: int
    n: int
    reps: int
    alpha: float
    method: str
    joint: float
    joint_interval: tuple[float, float]
    holm_any: float
    holm_by_regime: tuple[float, ...]
    wrong: float
    wrong_interval: tuple[float, float]
    seconds: float

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = asdict(self)
        for key in ("joint_interval", "holm_by_regime", "wrong_interval"):
            out[key] = list(out[key])
        return out


def family_rates(
    scenario: str,
    *,
    n: int,
    reps: int,
    alpha: float = 0.05,
    method: str = "auto",
    seed: int = 0,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> FamilyRates:
    """Run the categorical-regime test on `reps` fresh datasets of family `scenario` (fixed seeds, no retries)."""
    from analysis.scm_family import FAMILY_SCENARIOS, simulate_family
    from analysis.transport_family import holm

    if scenario not in FAMILY_SCENARIOS:
        simulate_family(scenario, 1)  # raises with the closest names
    sc = FAMILY_SCENARIOS[scenario]
    joint = holm_any = wrong = 0
    by_regime = np.zeros(sc.k)
    spent, used = 0.0, method
    for rep in range(reps):
        y_b, s, y_m, groups = simulate_family(scenario, n, np.random.default_rng([seed, rep]))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = ci_test(y_b, s, y_m, method=method, groups=groups, seed=rep, device=device, categorical=True)
        spent += time.perf_counter() - t0
        used = r.method
        joint += r.p_value < alpha
        levels = np.asarray(r.levels)
        level_p = r.level_p_values if r.level_p_values is not None else (r.p_value,) * len(levels)
        rejected = holm(level_p) < alpha
        by_regime[levels[rejected] - 1] += 1
        holm_any += bool(rejected.any())
        wrong += bool(np.isin(levels[rejected], sc.affected, invert=True).any())
        if progress is not None:
            progress(1)
    return FamilyRates(
        scenario=scenario,
        null=sc.null,
        k=sc.k,
        n=n,
        reps=reps,
        alpha=alpha,
        method=used,
        joint=joint / reps,
        joint_interval=clopper_pearson(joint, reps),
        holm_any=holm_any / reps,
        holm_by_regime=tuple(float(v) for v in by_regime / reps),
        wrong=wrong / reps,
        wrong_interval=clopper_pearson(wrong, reps),
        seconds=spent / reps,
    )
