"""DoWhy's sensitivity analysis of the regime's direct effect on `Y_b`, beyond the candidate `Y_m`.

The selection diagram is `s → Y_m → Y_b` with a possible direct `s → Y_b`. Two questions, one
function each, on an episode-level DataFrame (columns `s`, `y_m`, `y_b` by default):

- `direct_effect`: how large is the effect of `s` on `Y_b` not through `Y_m`? The natural direct
  effect (DoWhy's `mediation.two_stage_regression`) and the controlled direct effect (DoWhy's
  `backdoor.linear_regression` with `Y_m` as the adjustment variable), with intervals.
- `refute_direct_effect`: how strong must an unobserved confounder be to explain that effect away?
  DoWhy's `add_unobserved_common_cause` refuter with partial-R² simulation, benchmarked against `Y_m`.

The third question, `regime_sensitivity` (if `Y_m` were the mesa-objective, how fast would `E[Y_b]`
move under a small regime change?), is in `analysis.regime_sensitivity`.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Literal

import joblib
import networkx as nx
import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, SplineTransformer, StandardScaler

from analysis.dowhy_ci import seeded_numpy_global
from analysis.validation import as_matrix, as_regime
from envs.errors import ConfigError, DataError, unknown_name

MIN_PER_REGIME = 10
"""Fewest episodes per regime: below this a regression on `(Y_m, s)` has no meaningful interval."""

SENSITIVITY_METHODS: tuple[str, ...] = ("linear", "non-parametric")
BOOTSTRAPS: tuple[str, ...] = ("numpy", "dowhy")

CDE_ESTIMAND = "controlled direct effect: backdoor on s with y_m as adjustment"
NDE_REFUTER_NOTE = (
    "DoWhy 0.14's refuters raise KeyError: None on the mediation (natural direct effect) estimand, "
    "so the refutation runs on the controlled direct effect; in a linear model without an s·y_m "
    "interaction the two coincide."
)

NONPARAMETRIC_FOLDS = 3
"""Cross-fitting folds of the non-parametric analysis (DoWhy's default is 5; 3 is ~40% faster here)."""


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


def refute_direct_effect(
    data: pd.DataFrame,
    *,
    treatment: str = "s",
    mediator: str = "y_m",
    outcome: str = "y_b",
    method: Literal["linear", "non-parametric"] = "linear",
    effect_fraction_on_treatment: Sequence[float] = (0.25, 0.5, 1.0),
    effect_fraction_on_outcome: Sequence[float] | None = None,
    significance_level: float = 0.05,
    seed: int = 0,
) -> SensitivityResult:
    """How strong must an unobserved confounder be to explain the direct effect away?

    Runs DoWhy's `add_unobserved_common_cause` refuter on the controlled direct effect
    (`backdoor.linear_regression` of `Y_b` on `s` adjusting for `Y_m`), not on the natural direct
    effect: DoWhy 0.14's refuters raise `KeyError: None` on mediation (NDE) estimands. Because the
    analysis adjusts for `Y_m`, the confounders it covers include unobserved common causes of `Y_m`
    and `Y_b` (conditioning on the mediator opens `s → Y_m ← U → Y_b`).

    `method="linear"`: `simulation_method="linear-partial-R2"` (Cinelli & Hazlett 2020), analytic.
    `method="non-parametric"`: DoWhy's `NonParametricSensitivityAnalyzer` (Chernozhukov et al. 2022,
    what `"non-parametric-partial-R2"` runs), called directly; see `_nonparametric_refutation`. Its
    `r2_treatment` is the share of the Riesz representer's variance a confounder explains (DoWhy's
    definition), not a partial R² of `s`; its robustness values are on DoWhy's grid of 0.01. It
    takes ~1–2 s for 1000 episodes; DoWhy's module imports econml, so without econml this raises
    `ConfigError`.
    Benchmarks: a confounder `effect_fraction_on_treatment[k]` (on `s`) and
    `effect_fraction_on_outcome[k]` (on `Y_b`; default: the same) times as strong as `Y_m`.
    No plots are drawn; DoWhy's warnings and logs are silenced for the call only. The same `seed`
    gives the same numbers.
    """
    _choice("sensitivity method", method, SENSITIVITY_METHODS)
    if not 0.0 < significance_level < 0.5:
        raise ConfigError(f"significance_level must be in (0, 0.5), got {significance_level}.")
    frac_t = [float(f) for f in effect_fraction_on_treatment]
    frac_o = frac_t if effect_fraction_on_outcome is None else [float(f) for f in effect_fraction_on_outcome]
    if not frac_t or len(frac_t) != len(frac_o) or min(frac_t + frac_o) <= 0:
        raise ConfigError(
            "effect_fraction_on_treatment and effect_fraction_on_outcome must be equally long, non-empty "
            f"and positive; got {frac_t} and {frac_o}."
        )
    if method == "non-parametric" and importlib.util.find_spec("econml") is None:
        raise ConfigError(
            "method='non-parametric' runs DoWhy's non-parametric-partial-R2 analysis, which imports econml "
            "(dowhy/causal_refuters/reisz.py), and econml is not installed. Install it (pip install 'mesaprobe[sensitivity]') or use method='linear'."
        )
    frame = _frame(data, treatment, mediator, outcome)
    with _quiet_dowhy():
        model, estimand, estimate = _cde_model(frame, treatment, mediator, outcome, 1 - significance_level)
        if method == "linear":
            return _linear_refutation(
                model, estimand, estimate, mediator, frac_t, frac_o, significance_level, len(frame)
            )
        with seeded_numpy_global(seed):
            return _nonparametric_refutation(
                frame, treatment, mediator, outcome, estimate, frac_t, frac_o, significance_level, seed
            )


def _saturation_notes(benchmarks, mediator: str) -> list[str]:
    """A note when a benchmarked confounder would explain all of the outcome's residual variance."""
    saturated = [b.fraction_outcome for b in benchmarks if b.r2_outcome >= 1.0]
    if not saturated:
        return []
    return [
        f"a confounder {', '.join(f'{f:g}' for f in saturated)}× as strong as {mediator} on the outcome would "
        f"explain all its residual variance (DoWhy clips the partial R² at 1)."
    ]


def _linear_refutation(model, estimand, estimate, mediator, frac_t, frac_o, level, n) -> SensitivityResult:
    try:
        analyzer = model.refute_estimate(
            estimand,
            estimate,
            method_name="add_unobserved_common_cause",
            simulation_method="linear-partial-R2",
            benchmark_common_causes=[mediator],
            # DoWhy only accepts int, float or list here (an array or tuple leaves the attribute unset),
            # and takes the treatment fractions for the outcome whenever the outcome's equals 1.
            effect_fraction_on_treatment=list(frac_t),
            effect_fraction_on_outcome=list(frac_o),
            significance_level=level,
            plot_estimate=False,
            plotmethod=None,
        )
    except ValueError as err:  # "r2tu_w can not be >= 1. Try a lower frac_strength_treatment value"
        raise ConfigError(f"a confounder that strong is impossible ({err}); use smaller effect fractions.") from None
    stats = analyzer.stats
    rows = analyzer.benchmarking_results.to_dict("records")
    benchmarks = tuple(
        Benchmark(
            fraction_treatment=ft,
            fraction_outcome=fo,
            r2_treatment=float(r["r2tu_w"]),
            r2_outcome=float(r["r2yu_tw"]),
            adjusted_estimate=float(r["bias_adjusted_estimate"]),
            adjusted_ci=(float(r["bias_adjusted_lower_CI"]), float(r["bias_adjusted_upper_CI"])),
        )
        for ft, fo, r in zip(frac_t, frac_o, rows, strict=True)
    )
    notes = [NDE_REFUTER_NOTE, *_saturation_notes(benchmarks, mediator)]
    return SensitivityResult(
        method="linear",
        estimand=CDE_ESTIMAND,
        estimate=float(stats["estimate"]),
        standard_error=float(stats["standard_error"]),
        robustness_value=float(stats["robustness_value"]),
        robustness_value_alpha=float(stats["robustness_value_alpha"]),
        partial_r2_treatment_outcome=float(stats["r2yt_w"]),
        significance_level=float(level),
        benchmark=mediator,
        benchmarks=benchmarks,
        n=n,
        notes=tuple(notes),
    )


def _nonparametric_learners(seed: int) -> dict:
    """Cross-fitted learners for DoWhy's analyzer: `g(s, y_m) = E[y_b | s, y_m]` and `e(y_m) = P(s=1 | y_m)`."""
    # DoWhy's defaults grid-search a random forest, a lasso and gradient boosting (and, without the
    # plugin, 32 generalised random forests for the Riesz representer): minutes on two cores. Two
    # flexible families for g, picked per call by cross-validated MSE, and one smooth classifier
    # for e (DoWhy would pick a propensity model by the MSE of its 0/1 predictions, so offer one).
    return dict(
        g_s_estimator_list=[
            make_pipeline(PolynomialFeatures(3), StandardScaler(), Ridge()),
            GradientBoostingRegressor(max_depth=2, min_samples_leaf=20, random_state=seed),
        ],
        g_s_estimator_param_list=[{"ridge__alpha": [1e-3, 1.0, 100.0]}, {"n_estimators": [100]}],
        alpha_s_estimator_list=[make_pipeline(SplineTransformer(n_knots=5), LogisticRegression())],
        alpha_s_estimator_param_list=[{"logisticregression__C": [1.0]}],
    )


def _analyzer_class():
    """DoWhy's `NonParametricSensitivityAnalyzer`, able to benchmark against the only common cause."""
    # Imported here: the module imports econml (dowhy/causal_refuters/reisz.py).
    from dowhy.causal_refuters.non_parametric_sensitivity_analyzer import NonParametricSensitivityAnalyzer

    class Analyzer(NonParametricSensitivityAnalyzer):
        benchmark_gains: tuple[float, float] | None = None

        def get_alpharegression_var(self, X, numeric_features, split_indices, reisz_model=None):
            # Benchmarking drops the benchmark from the common causes; with `y_m` the only one, just
            # the treatment column is left and DoWhy fits its propensity model on zero features,
            # which sklearn refuses ("Found array with 0 feature(s)"). With no covariates the
            # propensity is P(s=1): estimated on each fold's training rows, as DoWhy's cross-fitted
            # models would (an intercept-only logistic regression fits exactly that), then DoWhy's
            # plugin formula, the mean of 1 / (e (1 - e)).
            if X.shape[1] > 1 or not self.plugin_reisz:
                return super().get_alpharegression_var(X, numeric_features, split_indices, reisz_model)
            t = X[:, 0]
            e = np.empty(len(t))
            for train, test in split_indices:
                e[test] = t[train].mean()
            return float(np.mean(1 / (e * (1 - e))))

        def compute_r2diff_benchmarking_covariates(self, *args, **kwargs):
            # Kept so each effect fraction reuses one fit instead of refitting every learner.
            self.benchmark_gains = super().compute_r2diff_benchmarking_covariates(*args, **kwargs)
            return self.benchmark_gains

    return Analyzer


def _nonparametric_refutation(
    frame, treatment, mediator, outcome, estimate, frac_t, frac_o, level, seed
) -> SensitivityResult:
    """DoWhy's non-parametric sensitivity analysis of the controlled direct effect, benchmarked on `mediator`.

    DoWhy's `refute_estimate(..., simulation_method="non-parametric-partial-R2")` cannot run here:
    it benchmarks by refitting without `mediator`, which leaves no covariate, it takes no learners
    that fit in seconds, no folds and no `significance_level`. So the analyzer is built as DoWhy's
    refuter builds it (same common causes, treatment, outcome, `theta_s` = the OLS estimate), with
    the plugin Riesz representer `s/e − (1−s)/(1−e)` for the binary regime (DoWhy's option for
    binary treatments), `_nonparametric_learners`, `NONPARAMETRIC_FOLDS` folds shuffled with `seed`,
    and the no-covariate benchmark of `_analyzer_class`. Fractions are applied to the one fit with
    DoWhy's own formulas (`r2yu_tw = f·Δr2_y / (1 − r2y_tw)`, `r2tu_w = f·(1 − var α_j / var α)`).
    DoWhy's analyzer assumes a positive estimate (its robustness value is 0 otherwise), so a
    negative one is analysed on `−outcome` and mapped back. Learners run in this process
    (joblib's sequential backend): on two shared cores that is faster than worker processes, and
    workers would not see the seeded NumPy generator.
    """
    theta = float(estimate.value)
    sign = 1.0 if theta >= 0 else -1.0
    analyzer = _analyzer_class()(
        estimator=estimate.estimator,
        num_splits=NONPARAMETRIC_FOLDS,
        shuffle_data=True,
        shuffle_random_seed=seed,
        significance_level=level,
        observed_common_causes=frame[[mediator]],
        treatment=frame[treatment],
        outcome=sign * frame[outcome],
        benchmark_common_causes=[mediator],
        frac_strength_treatment=1.0,
        frac_strength_outcome=1.0,
        theta_s=sign * theta,
        plugin_reisz=True,
        **_nonparametric_learners(seed),
    )
    with joblib.parallel_config(backend="sequential"):
        analyzer.check_sensitivity(plot=False)
    assert analyzer.benchmark_gains is not None
    delta_r2_y, var_alpha_j = (float(v) for v in analyzer.benchmark_gains)
    share_y = delta_r2_y / (1 - float(analyzer.r2y_tw))  # of y_b's residual variance, given s
    share_alpha = 1 - var_alpha_j / float(analyzer.var_alpha_s)  # of the Riesz representer's variance
    notes = [
        NDE_REFUTER_NOTE,
        f"DoWhy's NonParametricSensitivityAnalyzer called directly (plugin Riesz representer from a spline "
        f"logistic propensity of {treatment} on {mediator}; outcome regression by cross-validation among "
        f"cubic-polynomial ridge and gradient boosting; {NONPARAMETRIC_FOLDS}-fold cross-fitting): through "
        f"refute_estimate its benchmark refits on zero covariates and fails, as {mediator} is the only common "
        f"cause; the benchmark's short models here are P({treatment}=1) and the regression of {outcome} on "
        f"{treatment} alone.",
        f"robustness values are DoWhy's grid search in steps of 0.01; the analyzer's cross-fitted debiased "
        f"estimate is {sign * float(np.mean(analyzer.m)):+.4f} (the bounds are centred on the OLS estimate).",
    ]
    if sign < 0:
        notes.append(f"the estimate is negative: analysed as the effect on −{outcome}, bounds mapped back.")
    if share_alpha < 0 or delta_r2_y < 0:
        notes.append(
            f"{mediator} explains no extra variance of the Riesz representer or of {outcome} out of sample; "
            f"the benchmark's negative shares are set to 0."
        )
    benchmarks = []
    for ft, fo in zip(frac_t, frac_o, strict=True):
        r2t = max(0.0, ft * share_alpha)
        r2y = min(1.0, max(0.0, fo * share_y))  # DoWhy clips at 1 too
        if r2t >= 1:
            raise ConfigError(
                f"a confounder {ft:g}× as strong as {mediator} on {treatment} would explain {r2t:.2f} ≥ 1 of the "
                f"Riesz representer's variance, which is impossible; use smaller effect fractions."
            )
        r = analyzer.perform_benchmarking(r2yu_tw=r2y, r2tu_w=r2t, significance_level=level, is_partial_linear=False)
        lo, hi = sorted((sign * float(r["lower_confidence_bound"]), sign * float(r["upper_confidence_bound"])))
        benchmarks.append(
            Benchmark(
                fraction_treatment=ft,
                fraction_outcome=fo,
                r2_treatment=r2t,
                r2_outcome=r2y,
                adjusted_estimate=sign * float(r["lower_ate_bound"]),  # toward zero
                adjusted_ci=(lo, hi),
            )
        )
    notes += _saturation_notes(benchmarks, mediator)
    return SensitivityResult(
        method="non-parametric",
        estimand=CDE_ESTIMAND,
        estimate=theta,
        standard_error=None,
        robustness_value=float(analyzer.RV),
        robustness_value_alpha=float(analyzer.RV_alpha),
        partial_r2_treatment_outcome=None,
        significance_level=float(level),
        benchmark=mediator,
        benchmarks=tuple(benchmarks),
        n=len(frame),
        notes=tuple(notes),
    )
