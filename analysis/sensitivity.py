"""DoWhy's sensitivity analysis of the regime's direct effect on `Y_b`, beyond the candidate `Y_m`.

The selection diagram is `s → Y_m → Y_b` with a possible direct `s → Y_b`. Two questions, one
function each, on an episode-level DataFrame (columns `s`, `y_m`, `y_b` by default):

- `direct_effect`: how large is the effect of `s` on `Y_b` not through `Y_m`? The natural direct
  effect (DoWhy's `mediation.two_stage_regression`) and the controlled direct effect (DoWhy's
  `backdoor.linear_regression` with `Y_m` as the adjustment variable), with intervals.
- `refute_direct_effect` (in `analysis.refutation`): how strong must an unobserved confounder be to
  explain that effect away? DoWhy's `add_unobserved_common_cause` refuter with partial-R²
  simulation, benchmarked against `Y_m`.

The third question, `regime_sensitivity` (if `Y_m` were the mesa-objective, how fast would `E[Y_b]`
move under a small regime change?), is in `analysis.regime_sensitivity`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Literal

import networkx as nx
import numpy as np
import pandas as pd

from analysis.dowhy_ci import seeded_numpy_global
from analysis.validation import as_matrix, as_regime
from core.errors import ConfigError, DataError, unknown_name

MIN_PER_REGIME = 10
"""Fewest episodes per regime: below this a regression on `(Y_m, s)` has no meaningful interval."""

BOOTSTRAPS: tuple[str, ...] = ("numpy", "dowhy")

CDE_ESTIMAND = "controlled direct effect: backdoor on s with y_m as adjustment"


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectEffect:
    """Result of `direct_effect`: effects of `s` (0 → 1) on `Y_b`, on the scale of `Y_b`.

    `nde` is the natural direct effect (DoWhy's two-stage regression: total − first·second stage),
    `cde` the controlled direct effect (coefficient of `s` in `Y_b ~ s + Y_m`), `total` the
    coefficient of `s` in `Y_b ~ s` and `indirect = total − nde`. With linear stages and no
    `s·Y_m` interaction `nde == cde` up to rounding; the intervals differ: `nde_ci` is a bootstrap
    over episodes (`bootstrap` says which), `cde_ci` the OLS t interval.
    """

    nde: float
    nde_ci: tuple[float, float]
    cde: float
    cde_ci: tuple[float, float]
    total: float
    indirect: float
    confidence_level: float
    bootstrap: str
    n_bootstrap: int
    n: int
    n_per_regime: tuple[int, int]
    seed: int
    nde_estimand: str
    cde_estimand: str = CDE_ESTIMAND

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = asdict(self)
        for key in ("nde_ci", "cde_ci", "n_per_regime"):
            out[key] = list(out[key])
        return out

    def _repr_html_(self) -> str:
        pct = f"{100 * self.confidence_level:g}%"
        return (
            f"<b>Direct effect of the regime</b> (n={self.n}, {pct} intervals)<br>"
            f"NDE = {self.nde:+.3f} [{self.nde_ci[0]:+.3f}, {self.nde_ci[1]:+.3f}] ({self.bootstrap})<br>"
            f"CDE = {self.cde:+.3f} [{self.cde_ci[0]:+.3f}, {self.cde_ci[1]:+.3f}] (OLS)<br>"
            f"total = {self.total:+.3f}, through y_m = {self.indirect:+.3f}"
        )


@dataclass(frozen=True)
class Benchmark:
    """An unobserved confounder `fraction_*` times as strong as the benchmark variable, and what it does.

    `r2_treatment` / `r2_outcome` are its partial R² with the treatment and the outcome (DoWhy's
    `r2tu_w`, `r2yu_tw`; the outcome one is clipped at 1 by DoWhy), `adjusted_estimate` the estimate
    after removing the bias such a confounder could cause in the direction of zero, and
    `adjusted_ci` its interval at `1 − significance_level`.
    """

    fraction_treatment: float
    fraction_outcome: float
    r2_treatment: float
    r2_outcome: float
    adjusted_estimate: float
    adjusted_ci: tuple[float, float]

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = asdict(self)
        out["adjusted_ci"] = list(self.adjusted_ci)
        return out


@dataclass(frozen=True)
class SensitivityResult:
    """Result of `refute_direct_effect` (Cinelli & Hazlett 2020; Chernozhukov et al. 2022).

    `robustness_value`: an unobserved confounder explaining less than this share of the residual
    variance of both the regime (given `Y_m`) and `Y_b` (given `s`, `Y_m`) cannot bring `estimate`
    to zero; `robustness_value_alpha`: ... cannot make it insignificant at `significance_level`.
    `partial_r2_treatment_outcome` is the share of `Y_b`'s residual variance the regime explains
    (linear only). `benchmarks` bound confounders as strong as fractions of `benchmark`.
    """

    method: str
    estimand: str
    estimate: float
    standard_error: float | None
    robustness_value: float
    robustness_value_alpha: float | None
    partial_r2_treatment_outcome: float | None
    significance_level: float
    benchmark: str
    benchmarks: tuple[Benchmark, ...]
    n: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = asdict(self)
        out["benchmarks"] = [b.to_dict() for b in self.benchmarks]
        out["notes"] = list(self.notes)
        return out

    def _repr_html_(self) -> str:
        rva = (
            ""
            if self.robustness_value_alpha is None
            else f", at α={self.significance_level:g}: {self.robustness_value_alpha:.3f}"
        )
        rows = "".join(
            f"<tr><td>{b.fraction_treatment:g} / {b.fraction_outcome:g}</td><td>{b.r2_treatment:.3f}</td>"
            f"<td>{b.r2_outcome:.3f}</td><td>{b.adjusted_estimate:+.3f}</td>"
            f"<td>[{b.adjusted_ci[0]:+.3f}, {b.adjusted_ci[1]:+.3f}]</td></tr>"
            for b in self.benchmarks
        )
        return (
            f"<b>Sensitivity to an unobserved confounder</b> ({self.method}, n={self.n})<br>"
            f"{self.estimand}: {self.estimate:+.3f}<br>robustness value {self.robustness_value:.3f}{rva}<br>"
            f"<table><tr><th>× {self.benchmark} (s / y_b)</th><th>R²(s)</th><th>R²(y_b)</th>"
            f"<th>adjusted</th><th>interval</th></tr>{rows}</table>"
        )


# ---------------------------------------------------------------------------------------------------
# Input checks and helpers
# ---------------------------------------------------------------------------------------------------


def _frame(data, treatment: str, mediator: str, outcome: str) -> pd.DataFrame:
    """The three columns as a clean DataFrame (int regime, float others), or a typed error."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame with one row per episode, got {type(data).__name__}.")
    names = (treatment, mediator, outcome)
    if len(set(names)) < 3:
        raise ConfigError(f"treatment, mediator and outcome must be three different columns, got {names}.")
    for name in names:
        if name not in data.columns:
            raise DataError(
                f"column {name!r} is missing; the data has columns {[str(c) for c in data.columns]}. "
                f"Name yours with treatment=, mediator=, outcome=."
            )
    cols = {name: as_matrix(name, data[name].to_numpy())[:, 0] for name in names}
    s = as_regime(cols[treatment], name=treatment)
    counts = (int((s == 0).sum()), int((s == 1).sum()))
    if min(counts) < MIN_PER_REGIME:
        raise DataError(
            f"only {min(counts)} episodes in regime {int(np.argmin(counts))}; at least {MIN_PER_REGIME} per regime "
            f"are needed."
        )
    y_b, y_m = cols[outcome], cols[mediator]
    if np.all(y_b == y_b[0]):
        raise DataError(f"{outcome} is constant: there is no effect of the regime to analyse.")
    if np.all(y_m == y_m[0]):
        raise DataError(
            f"{mediator} is constant: there is nothing to mediate or adjust for; compare means of {outcome}."
        )
    within = np.concatenate([y_m[s == k] - y_m[s == k].mean() for k in (0, 1)])
    if np.mean(within**2) <= 1e-12 * max(1.0, float(np.var(y_m))):
        # y_m is a function of s: the direct effect given y_m is not identified (no overlap).
        raise DataError(f"{mediator} is determined by {treatment} (constant within each regime): no overlap.")
    return pd.DataFrame({treatment: s, mediator: y_m, outcome: y_b})


def _check_level(confidence_level: float, name: str = "confidence_level") -> None:
    if not 0.5 < confidence_level < 1.0:
        raise ConfigError(f"{name} must be in (0.5, 1), got {confidence_level}.")


def _check_bootstrap(n_bootstrap: int) -> None:
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 20:
        raise ConfigError(f"n_bootstrap must be an integer of at least 20, got {n_bootstrap}.")


def _choice(kind: str, name: str, choices: tuple[str, ...]) -> None:
    if name not in choices:
        # The message of `unknown_name` suggests the closest names; the type is the brief's ConfigError.
        raise ConfigError(str(unknown_name(kind, str(name), choices)))


@contextmanager
def _quiet_dowhy() -> Iterator[None]:
    # DoWhy logs each estimator choice at WARNING and its analyzers divide by zero when a benchmark
    # saturates (r2yu_tw = 1); the numbers are still returned, so hide the noise for our calls only.
    logger = logging.getLogger("dowhy")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _strata_resamples(s: np.ndarray, n_bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of `n_bootstrap` resamples of episodes, drawn within each regime."""
    # Regimes are set by the study design (episodes collected per regime), so each resample keeps
    # the regime sizes; it also never loses a regime.
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(s == k) for k in (0, 1)]
    for _ in range(n_bootstrap):
        yield np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])


def _ols(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(x, y, rcond=None)[0]


def _two_stage(s: np.ndarray, m: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """`(nde, total)` exactly as DoWhy's linear two-stage regression computes them."""
    one = np.ones_like(m)
    total = _ols(np.column_stack([one, s]), y)[1]
    first = _ols(np.column_stack([one, s]), m)[1]  # s → y_m
    second = _ols(np.column_stack([one, m, s]), y)[1]  # y_m → y_b given s
    return float(total - first * second), float(total)


def _percentile(draws: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def _cde_model(frame: pd.DataFrame, treatment: str, mediator: str, outcome: str, level: float):
    """DoWhy's backdoor linear regression of `outcome` on `treatment` adjusting for `mediator`."""
    from dowhy import CausalModel  # imported on first use: seconds to import

    model = CausalModel(data=frame, treatment=treatment, outcome=outcome, common_causes=[mediator])
    estimand = model.identify_effect()
    estimate = model.estimate_effect(
        estimand,
        method_name="backdoor.linear_regression",
        confidence_intervals=True,
        method_params={"init_params": {"confidence_level": level}},
    )
    return model, estimand, estimate


# ---------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------


def direct_effect(
    data: pd.DataFrame,
    *,
    treatment: str = "s",
    mediator: str = "y_m",
    outcome: str = "y_b",
    n_bootstrap: int = 1000,
    confidence_level: float = 0.95,
    bootstrap: Literal["numpy", "dowhy"] = "numpy",
    seed: int = 0,
) -> DirectEffect:
    """Effect of the regime on `Y_b` not through `Y_m`: natural and controlled direct effect.

    NDE: DoWhy `CausalModel` on the graph `s → y_m → y_b`, `s → y_b`, estimand
    `nonparametric-nde`, estimator `mediation.two_stage_regression` with linear first and second
    stages. Its interval is a bootstrap over episodes: `bootstrap="numpy"` (default) is a percentile
    bootstrap, resampling within each regime and refitting DoWhy's two-stage formula in NumPy
    (checked equal to DoWhy's estimate; ~0.3 ms a resample); `"dowhy"` is DoWhy's own basic
    bootstrap over all rows, which deep-copies and refits the estimator per resample (~60 ms each
    here) from NumPy's global generator, seeded with `seed` here and restored afterwards.
    CDE: `CausalModel(treatment, outcome, common_causes=[mediator])`, `backdoor.linear_regression`,
    OLS interval. The same `seed` gives the same numbers.
    """
    _check_level(confidence_level)
    _check_bootstrap(n_bootstrap)
    _choice("bootstrap", bootstrap, BOOTSTRAPS)
    frame = _frame(data, treatment, mediator, outcome)
    graph = nx.DiGraph([(treatment, mediator), (mediator, outcome), (treatment, outcome)])
    from dowhy import CausalModel
    from dowhy.causal_estimators.linear_regression_estimator import LinearRegressionEstimator

    stages = {"first_stage_model": LinearRegressionEstimator, "second_stage_model": LinearRegressionEstimator}
    with _quiet_dowhy():
        model = CausalModel(data=frame, treatment=treatment, outcome=outcome, graph=graph)
        estimand = model.identify_effect(estimand_type="nonparametric-nde")
        if bootstrap == "dowhy":
            with seeded_numpy_global(seed):
                nde_est = model.estimate_effect(
                    estimand,
                    method_name="mediation.two_stage_regression",
                    confidence_intervals="bootstrap",
                    method_params={
                        "init_params": {
                            **stages,
                            "num_simulations": int(n_bootstrap),
                            "confidence_level": confidence_level,
                        }
                    },
                )
                lo, hi = np.asarray(nde_est.get_confidence_intervals(), dtype=float).ravel()[:2]
            nde_ci = (float(lo), float(hi))
            how = f"DoWhy basic bootstrap, {n_bootstrap} resamples of episodes"
        else:
            nde_est = model.estimate_effect(
                estimand,
                method_name="mediation.two_stage_regression",
                confidence_intervals=False,
                method_params={"init_params": stages},
            )
            s, m, y = (frame[c].to_numpy(dtype=float) for c in (treatment, mediator, outcome))
            draws = np.array([_two_stage(s[i], m[i], y[i])[0] for i in _strata_resamples(s, n_bootstrap, seed)])
            nde_ci = _percentile(draws, confidence_level)
            how = f"percentile bootstrap (NumPy refit of DoWhy's two-stage formula), {n_bootstrap} resamples within regime"
        _, _, cde_est = _cde_model(frame, treatment, mediator, outcome, confidence_level)
    cde_lo, cde_hi = np.asarray(cde_est.get_confidence_intervals(), dtype=float).ravel()[:2]
    s, m, y = (frame[c].to_numpy(dtype=float) for c in (treatment, mediator, outcome))
    nde = float(nde_est.value)
    total = _two_stage(s, m, y)[1]
    counts = (int((s == 0).sum()), int((s == 1).sum()))
    return DirectEffect(
        nde=nde,
        nde_ci=nde_ci,
        cde=float(cde_est.value),
        cde_ci=(float(cde_lo), float(cde_hi)),
        total=total,
        indirect=total - nde,
        confidence_level=float(confidence_level),
        bootstrap=how,
        n_bootstrap=int(n_bootstrap),
        n=len(frame),
        n_per_regime=counts,
        seed=seed,
        nde_estimand=(
            f"natural direct effect: DoWhy mediation.two_stage_regression on {treatment}→{mediator}→{outcome}, "
            f"{treatment}→{outcome} (linear stages; total − first·second stage)"
        ),
    )
