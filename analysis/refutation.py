"""How strong must an unobserved confounder be to explain the regime's direct effect away?

`refute_direct_effect`: DoWhy's `add_unobserved_common_cause` refuter with partial-R² simulation
(linear, or non-parametric with econml), benchmarked against `Y_m`. The direct effect it refutes
is estimated in `analysis.sensitivity`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Literal

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, SplineTransformer, StandardScaler

from analysis.dowhy_ci import seeded_numpy_global
from analysis.sensitivity import (
    CDE_ESTIMAND,
    Benchmark,
    SensitivityResult,
    _cde_model,
    _choice,
    _frame,
    _quiet_dowhy,
)
from core.errors import ConfigError

NDE_REFUTER_NOTE = (
    "DoWhy 0.14's refuters raise KeyError: None on the mediation (natural direct effect) estimand, "
    "so the refutation runs on the controlled direct effect; in a linear model without an s·y_m "
    "interaction the two coincide."
)
NONPARAMETRIC_FOLDS = 3
"""Cross-fitting folds of the non-parametric analysis (DoWhy's default is 5; 3 is ~40% faster here)."""
SENSITIVITY_METHODS: tuple[str, ...] = ("linear", "non-parametric")


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
