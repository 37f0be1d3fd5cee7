"""The transport test: does `Y_b ⊥ s | Y_m` hold, and how large is the regime effect beyond `Y_m`?"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy import stats

from analysis.ci import CIMethod, choose_method, ci_test
from analysis.effect_function import EffectCurve, effect_magnitude
from analysis.gcm import Nuisance, fit_nuisance, gcm_test
from analysis.pcm import PCMOutcome, SharedSigns, pcm
from analysis.ridge import gaussianize
from analysis.validation import as_groups, as_matrix, as_regime
from analysis.verdicts import Verdict
from core.device import resolve_device
from core.errors import ConfigError, ConstantColumnWarning, DataError, FewEpisodesWarning, OverlapWarning

if TYPE_CHECKING:
    from analysis.transport_family import FamilyTransportResult

MIN_PER_REGIME = 20
EFFECT_MODEL = "partially linear (Robinson/DML) on the cross-fitted residuals of the outcome and propensity models"


@dataclass(frozen=True)
class TransportResult:
    """Result of `transport_test`.

    `effect` is the overlap-weighted average of `τ(y_m) = E[Y_b|Y_m,s=1] − E[Y_b|Y_m,s=0]`
    (weights `e(1−e)`, `e = P(s=1|Y_m)`), `effect_ci` its (1−alpha) interval. `magnitude` is the
    overlap-weighted root-mean-square of `τ` (never below `|effect|`, and not fooled by effects of
    opposite sign), `magnitude_bounds` its lower and upper one-sided (1−alpha) confidence bounds;
    `q95` / `q95_upper` the overlap-weighted 95th percentile of `|τ|` and its upper bound;
    `effect_curve` the estimated `τ̂` with its simultaneous band (`analysis.effect_function`).

    `verdict` is `transports` when `p_value >= alpha`, the magnitude's upper bound is below
    `margin` and the average's interval lies inside `±margin`: a positive claim that the effect is
    small over the overlap of the regimes; `regime-dependent` when `p_value < alpha` and the
    magnitude's lower bound is above `margin`; `inconclusive` otherwise.
    """

    p_value: float
    effect: float
    effect_ci: tuple[float, float]
    margin: float
    alpha: float
    verdict: Verdict
    method: str
    effect_model: str
    n: int
    n_per_regime: tuple[int, int]
    n_groups: int | None
    mean_y_b: tuple[float, float]
    overlap: float
    magnitude: float = float("nan")
    magnitude_bounds: tuple[float, float] = (float("nan"), float("nan"))
    q95: float = float("nan")
    q95_upper: float = float("nan")
    effect_curve: EffectCurve | None = None
    regressions: str = ""
    chosen_by: str | None = None
    device: str = "cpu"

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = asdict(self)
        out["verdict"] = self.verdict.value
        out["effect_ci"] = list(self.effect_ci)
        out["magnitude_bounds"] = list(self.magnitude_bounds)
        out["n_per_regime"] = list(self.n_per_regime)
        out["mean_y_b"] = list(self.mean_y_b)
        out["effect_curve"] = None if self.effect_curve is None else self.effect_curve.to_dict()
        return out

    def _repr_html_(self) -> str:
        lo, hi = self.effect_ci
        mlo, mhi = self.magnitude_bounds
        return (
            f"<b>Transport test</b> ({self.method}, n={self.n}): <b>{self.verdict.value}</b><br>"
            f"p = {self.p_value:.3g}; average effect = {self.effect:+.3f} [{lo:+.3f}, {hi:+.3f}]; "
            f"magnitude ‖τ‖₂ = {self.magnitude:.3f} [{mlo:.3f}, {mhi:.3f}]; margin ±{self.margin:g}"
        )


def decide(p_value: float, alpha: float, margin: float, effect_ci, magnitude_bounds) -> Verdict:
    """The verdict rule of `TransportResult` (see there)."""
    lo, hi = magnitude_bounds
    inside = -margin < effect_ci[0] and effect_ci[1] < margin and hi < margin
    if p_value < alpha and lo > margin:
        return Verdict.REGIME_DEPENDENT
    if p_value >= alpha and inside:
        return Verdict.TRANSPORTS
    # Not rejected but too uncertain, or a dependence detected whose size cannot be shown to exceed
    # the margin: neither claim is made.
    return Verdict.INCONCLUSIVE


def partially_linear_effect(nu: Nuisance, groups: np.ndarray | None = None) -> tuple[float, float]:
    """`(theta, standard_error)` of `Y_b = theta·s + g(Y_m) + ε` from cross-fitted residuals.

    Robinson (1988) / Chernozhukov et al. (2018): regress the outcome residual on the regime
    residual. `theta` is the overlap-weighted average of `E[Y_b|Y_m,s=1] − E[Y_b|Y_m,s=0]`
    (weights `e(1−e)`); the standard error comes from the influence function, summed within
    `groups` when given.
    """
    r_b = nu.r_x[:, 0].double().cpu().numpy()
    r_s = nu.r_y[:, 0].double().cpu().numpy()
    n = len(r_b)
    denom = float(np.mean(r_s**2))
    if denom <= 1e-12:
        raise DataError("the regime is perfectly predicted by Y_m (no overlap); the effect is not identified.")
    theta = float(np.mean(r_s * r_b) / denom)
    psi = r_s * (r_b - theta * r_s) / denom
    if groups is not None:
        _, inv = np.unique(groups, return_inverse=True)
        sums = np.bincount(inv, weights=psi)
        k = len(sums)
        return theta, float(np.sqrt(np.sum(sums**2) * k / (k - 1)) / n)
    return theta, float(np.std(psi, ddof=1) / np.sqrt(n))


def transport_test(
    y_b,
    s,
    y_m,
    *,
    method: CIMethod = "auto",
    alpha: float = 0.05,
    margin: float = 0.1,
    groups=None,
    n_folds: int = 5,
    device: str = "auto",
    seed: int = 0,
    magnitude: bool = True,
    regime_names: Sequence[str] | None = None,
) -> TransportResult | FamilyTransportResult:
    """Test whether the candidate `Y_m` carries the base objective across regimes: `Y_b ⊥ s | Y_m`.

    Inputs are one row per unit — episodes by default: `y_b (n,)` base outcome, `s (n,)` regime
    (0 training, 1…k named deployment regimes, `regime_names[s]` their names), `y_m (n,)|(n, d)`
    candidate signal. With one deployment regime the result is a `TransportResult`; with several,
    a `FamilyTransportResult` (`analysis.transport_family`): each regime tested against training,
    Holm-adjusted, and a joint test over all of them. `groups (n,)` marks clustered
    units (episode ids for step-level rows); the effect's interval is then cluster-robust and the
    folds keep each group together. Null hypothesis: `E[Y_b | Y_m, s] = E[Y_b | Y_m]`
    (inner alignment w.r.t. the candidate, Reber 2022). The p-value comes from `ci_test(y_b, s,
    y_m, method)` (`auto`: the projected covariance measure, `analysis.pcm`, which sees effects
    that change sign with `Y_m`; the choice is recorded). The average effect and its interval come
    from a partially linear model on the cross-fitted residuals of an outcome model `E[Y_b|Y_m]`
    and a propensity model `P(s=1|Y_m)` (`analysis.learners`: ridge or boosting per target), the
    effect function `τ̂(y_m)` and its magnitude bounds from an R-learner on the same residuals
    (`analysis.effect_function`). A regression that fails to fit raises `FitError`: no p-value is
    returned from it. `margin` is the equivalence margin on the scale of `Y_b`; `transports`
    certifies (at level `alpha`) that the overlap-weighted RMS of `τ` is below it, under the
    smoothness the effect function's features express; nothing is claimed outside the overlap of
    the regimes (see `TransportResult`). `magnitude=False` skips the effect function (for callers
    such as `shift_sweep` that read only the p-value and the average effect, which do not depend on
    it): the magnitude is then NaN and the verdict `inconclusive`, since nothing certifies it.
    """
    if not 0.0 < alpha < 0.5:
        raise ConfigError(f"alpha must be in (0, 0.5), got {alpha}.")
    if margin <= 0:
        raise ConfigError(f"margin must be > 0 (on the scale of Y_b), got {margin}.")
    yb = as_matrix("y_b", y_b)
    n = yb.shape[0]
    if yb.shape[1] != 1:
        raise DataError(f"y_b must be one column (the base outcome), got {yb.shape[1]}.")
    yb = yb[:, 0]
    sv = as_regime(s, n, categorical=True)
    ym = as_matrix("y_m", y_m, n)
    g = as_groups(groups, n)
    settings = dict(method=method, alpha=alpha, margin=margin, n_folds=n_folds, device=device, seed=seed)
    if len(np.unique(sv)) > 2:
        from analysis.transport_family import transport_family  # it builds on this module

        return transport_family(yb, sv, ym, g, names=regime_names, magnitude=magnitude, **settings)
    sv = (sv > 0).astype(int)  # one deployment regime, whatever its index
    units = counts_units(sv, g)
    if min(units) < MIN_PER_REGIME:
        warnings.warn(
            f"only {min(units)} {'episodes' if g is None else 'groups'} in regime {int(np.argmin(units))}; "
            f"the test needs at least {MIN_PER_REGIME} per regime to be reliable.",
            FewEpisodesWarning,
            stacklevel=2,
        )
    return fit_transport(yb, sv, ym, g, magnitude=magnitude, **settings)[0]


def counts_units(sv: np.ndarray, g: np.ndarray | None) -> tuple[int, int]:
    """Units (rows, or distinct groups) in regimes 0 and 1 of a binary `sv`."""
    if g is None:
        return int((sv == 0).sum()), int((sv == 1).sum())
    return tuple(len(np.unique(g[sv == k])) for k in (0, 1))  # type: ignore[return-value]


def fit_transport(
    yb: np.ndarray,
    sv: np.ndarray,
    ym: np.ndarray,
    g: np.ndarray | None,
    *,
    method: CIMethod,
    alpha: float,
    margin: float,
    n_folds: int,
    device: str,
    seed: int,
    magnitude: bool = True,
    signs: SharedSigns | None = None,
    units: np.ndarray | None = None,
) -> tuple[TransportResult, PCMOutcome | None]:
    """The binary transport test on checked arrays (`sv` 0/1), with the PCM's null draws when it ran.

    `signs` and `units` share the PCM's sign flips with other tests on overlapping units
    (`analysis.pcm.SharedSigns`).
    """
    n = len(yb)
    counts = (int((sv == 0).sum()), int((sv == 1).sum()))
    units_per_regime = counts_units(sv, g)
    if np.all(yb == yb[0]):
        warnings.warn("y_b is constant: it cannot depend on the regime.", ConstantColumnWarning, stacklevel=3)
    if np.all(ym == ym[0]):
        warnings.warn(
            "y_m is constant: the test reduces to the unconditional test of y_b ⊥ s.",
            ConstantColumnWarning,
            stacklevel=3,
        )
    n_folds = max(2, min(n_folds, min(units_per_regime)))
    chosen_by = None
    if method == "auto":
        method, chosen_by = choose_method(n if g is None else len(np.unique(g)), ym.shape[1], g is not None)
    dev = resolve_device(device)
    as_t = lambda a: torch.tensor(a, dtype=torch.float64, device=dev).reshape(n, -1)  # noqa: E731
    constant_ym = bool(np.all(ym == ym[0]))
    zt = None if constant_ym else as_t(ym)
    zg = None if constant_ym else gaussianize(zt)  # normal scores shared by the effect function and the PCM
    nu = fit_nuisance(as_t(yb), as_t(sv), zt, groups=g, n_folds=n_folds, seed=seed, names=("y_b", "s"), zg=zg)
    theta, se = partially_linear_effect(nu, g)
    e_hat = sv.mean() * np.ones(n) if nu.y_hat is None else nu.y_hat[:, 0].cpu().numpy()
    overlap = float(np.mean((e_hat > 0.02) & (e_hat < 0.98)))
    if overlap < 0.9:
        warnings.warn(
            f"poor overlap of y_m between regimes: {100 * (1 - overlap):.0f}% of units have P(s=1|y_m) "
            f"outside [0.02, 0.98]; the effect is estimated from the overlapping part only.",
            OverlapWarning,
            stacklevel=3,
        )
    z = stats.norm.ppf(1 - alpha / 2)
    ci = (theta - z * se, theta + z * se)
    em = None  # the effect function's magnitude, when one is fitted
    if not magnitude:
        size, bounds = float("nan"), (float("nan"), float("nan"))
    elif constant_ym:
        one_sided = stats.norm.ppf(1 - alpha) * se
        size, bounds = abs(theta), (max(0.0, abs(theta) - one_sided), abs(theta) + one_sided)
    else:
        em = effect_magnitude(zg, ym[:, 0], nu.r_x[:, 0], nu.r_y[:, 0], e_hat, alpha=alpha, groups=g, seed=seed)
        size, bounds = em.rms, em.rms_bounds
    regressions = nu.description
    outcome = None
    if np.all(yb == yb[0]):
        p = 1.0
    elif method == "gcm" or (method == "pcm" and constant_ym):
        p = gcm_test(nu, g)[2]
    elif method == "pcm":
        outcome = pcm(nu, zt, g, seed, zg=zg, signs=signs, units=units)
        p = outcome.p_value
        regressions = f"{outcome.description}; nuisances: {nu.description}"
    else:
        res = ci_test(
            yb, sv, None if constant_ym else ym, method=method, seed=seed, n_folds=n_folds, groups=g,
            device=str(dev),
        )  # fmt: skip
        p = res.p_value
        regressions = f"test: {res.regressions}; effect: {nu.description}"
    verdict = decide(p, alpha, margin, ci, bounds)
    result = TransportResult(
        p_value=p,
        effect=theta,
        effect_ci=(float(ci[0]), float(ci[1])),
        margin=float(margin),
        alpha=float(alpha),
        verdict=verdict,
        method=method,
        effect_model=EFFECT_MODEL,
        n=n,
        n_per_regime=counts,
        n_groups=None if g is None else len(np.unique(g)),
        mean_y_b=(float(yb[sv == 0].mean()), float(yb[sv == 1].mean())),
        overlap=overlap,
        magnitude=size,
        magnitude_bounds=(float(bounds[0]), float(bounds[1])),
        q95=size if em is None else em.q95,
        q95_upper=float(bounds[1]) if em is None else em.q95_upper,
        effect_curve=None if em is None else em.curve,
        regressions=regressions,
        chosen_by=chosen_by,
        device=str(dev),
    )
    return result, outcome
