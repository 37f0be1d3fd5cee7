"""The transport test over a family of deployment regimes: each against training, and all jointly.

With regimes `s ∈ {0, 1, …, k}` (0 training) the null hypothesis of inner alignment is
`E[Y_b | Y_m, s] = E[Y_b | Y_m]` for every regime. Each deployment regime `j` is tested against
training on the units of regimes 0 and `j` (`analysis.transport.fit_transport`: the same
calibrated test, effect and magnitude as the binary study). Their p-values are Holm-adjusted, so
that the per-regime `regime-dependent` claims hold together at level α; their intervals and
magnitude bounds are taken at level α/k (Bonferroni), so that the per-regime `transports` claims,
each an equivalence claim, hold together too.

The joint test rejects when any regime differs. For the projected covariance measure it is a
max-type test: the largest of the per-regime statistics, with its null distribution from the same
sign flips applied to each unit in every test it takes part in (the training units are in all of
them), so the tests' dependence is kept (`analysis.pcm.SharedSigns`). For other methods the joint
p-value is the Bonferroni bound `k · min p_j`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.multitest import multipletests

from analysis.ci import CIMethod, choose_method
from analysis.pcm import SharedSigns, max_type_p
from analysis.transport import MIN_PER_REGIME, TransportResult, decide, fit_transport
from analysis.verdicts import Verdict
from core.errors import DataError, FewEpisodesWarning

JOINT_MAX = "max-type: the largest per-regime PCM statistic against its maximum under shared sign flips"
JOINT_BONFERRONI = "Bonferroni: k times the smallest per-regime p-value"


@dataclass(frozen=True)
class RegimeTransport:
    """One deployment regime tested against training.

    `result` is the one-vs-training transport test (its intervals at level α/k), `None` when the
    regime had fewer than `MIN_PER_REGIME` units and was not tested (`note` says so);
    `p_adjusted` its Holm-adjusted p-value and `verdict` the verdict from it.
    """

    regime: int
    name: str
    n_units: int
    result: TransportResult | None
    p_adjusted: float
    verdict: Verdict
    note: str = ""

    @property
    def p_value(self) -> float:
        """The unadjusted p-value (NaN when not tested)."""
        return float("nan") if self.result is None else self.result.p_value

    @property
    def effect(self) -> float:
        """The overlap-weighted average effect of this regime against training (NaN when not tested)."""
        return float("nan") if self.result is None else self.result.effect

    @property
    def effect_ci(self) -> tuple[float, float]:
        """Its (1 − α/k) interval."""
        return (float("nan"), float("nan")) if self.result is None else self.result.effect_ci

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {
            "regime": self.regime,
            "name": self.name,
            "n_units": self.n_units,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "verdict": self.verdict.value,
            "effect": self.effect,
            "effect_ci": list(self.effect_ci),
            "note": self.note,
            "result": None if self.result is None else self.result.to_dict(),
        }


@dataclass(frozen=True)
class FamilyTransportResult:
    """`transport_test` over several deployment regimes: per regime, and joint.

    `p_value` is the joint test's (`joint_method`), `verdict` the overall one: `regime-dependent`
    when some regime is, `transports` when every regime does and the joint test does not reject,
    `inconclusive` otherwise. `regimes` holds the per-regime results in regime order.
    """

    p_value: float
    verdict: Verdict
    regimes: tuple[RegimeTransport, ...]
    method: str
    joint_method: str
    alpha: float
    margin: float
    n: int
    n_groups: int | None
    n_train: int
    chosen_by: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The deployment regimes' names, in order."""
        return tuple(r.name for r in self.regimes)

    def regime(self, name: str) -> RegimeTransport:
        """The result of the deployment regime called `name`."""
        for r in self.regimes:
            if r.name == name:
                return r
        raise KeyError(f"no deployment regime {name!r}; the family has {list(self.names)}.")

    def reading(self) -> str:
        """One line: the regimes grouped by verdict, e.g. 'transports on more_walls; regime-dependent on anywhere'."""
        parts = []
        for verdict in Verdict:
            names = [r.name for r in self.regimes if r.verdict == verdict]
            if names:
                parts.append(f"{verdict.value} on {', '.join(names)}")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {
            "p_value": self.p_value,
            "verdict": self.verdict.value,
            "method": self.method,
            "joint_method": self.joint_method,
            "alpha": self.alpha,
            "margin": self.margin,
            "n": self.n,
            "n_groups": self.n_groups,
            "n_train": self.n_train,
            "chosen_by": self.chosen_by,
            "reading": self.reading(),
            "regimes": [r.to_dict() for r in self.regimes],
        }

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{r.name}</td><td>{r.n_units}</td><td>{r.effect:+.3f} [{r.effect_ci[0]:+.3f}, "
            f"{r.effect_ci[1]:+.3f}]</td><td>{r.p_value:.3g}</td><td>{r.p_adjusted:.3g}</td>"
            f"<td><b>{r.verdict.value}</b></td></tr>"
            for r in self.regimes
        )
        return (
            f"<b>Transport test over {len(self.regimes)} deployment regimes</b> ({self.method}, n={self.n}): "
            f"<b>{self.verdict.value}</b>; joint p = {self.p_value:.3g}<br>"
            f"<table><tr><th>regime</th><th>units</th><th>effect [CI at α/k]</th><th>p</th><th>Holm p</th>"
            f"<th>verdict</th></tr>{rows}</table>"
        )


def unit_ids(n: int, groups: np.ndarray | None) -> np.ndarray:
    """Each row's unit id `0..U-1`: the row itself, or its group's index."""
    if groups is None:
        return np.arange(n)
    return np.unique(groups, return_inverse=True)[1]


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (statsmodels' `multipletests(method="holm")`)."""
    if not len(p_values):
        return np.array([])
    return multipletests(np.asarray(p_values, dtype=float), method="holm")[1]


def regime_labels(values: Sequence[int], names: Sequence[str] | None) -> dict[int, str]:
    """Name of each regime index: `names[j]`, or `regime j` without names."""
    if names is None:
        return {int(j): f"regime {int(j)}" for j in values}
    missing = [int(j) for j in values if int(j) >= len(names)]
    if missing:
        raise DataError(
            f"regime_names has {len(names)} names ({list(names)}) but s holds regime {missing[0]}; "
            f"give one name per regime index, training first (env.unwrapped.regimes)."
        )
    return {int(j): str(names[int(j)]) for j in values}


def transport_family(
    yb: np.ndarray,
    sv: np.ndarray,
    ym: np.ndarray,
    g: np.ndarray | None,
    *,
    names: Sequence[str] | None = None,
    method: CIMethod = "auto",
    alpha: float = 0.05,
    margin: float = 0.1,
    n_folds: int = 5,
    device: str = "auto",
    seed: int = 0,
    magnitude: bool = True,
) -> FamilyTransportResult:
    """Test every deployment regime of `sv` against training and all jointly (see the module docstring).

    Inputs are checked arrays (`analysis.transport.transport_test` checks and calls this when `s`
    has several deployment regimes). A regime with fewer than `MIN_PER_REGIME` units is reported
    with a `FewEpisodesWarning`, left out of the tests and given the verdict `inconclusive`.
    """
    n = len(yb)
    units = unit_ids(n, g)
    deploy = [int(j) for j in np.unique(sv) if j != 0]
    labels = regime_labels([0, *deploy], names)
    size = lambda mask: int(mask.sum()) if g is None else len(np.unique(g[mask]))  # noqa: E731
    n_units = {j: size(sv == j) for j in [0, *deploy]}
    kind = "episodes" if g is None else "groups"
    if n_units[0] < MIN_PER_REGIME:
        warnings.warn(
            f"only {n_units[0]} {kind} in training (regime 0); each deployment regime is tested against them, "
            f"and the tests need at least {MIN_PER_REGIME}.",
            FewEpisodesWarning,
            stacklevel=3,
        )
    tested = [j for j in deploy if n_units[j] >= MIN_PER_REGIME]
    for j in deploy:
        if j not in tested:
            warnings.warn(
                f"only {n_units[j]} {kind} in regime {labels[j]!r}; it needs at least {MIN_PER_REGIME} to be tested, "
                f"so its verdict is inconclusive.",
                FewEpisodesWarning,
                stacklevel=3,
            )
    if not tested:
        raise DataError(
            f"no deployment regime has {MIN_PER_REGIME} {kind} or more ({ {labels[j]: n_units[j] for j in deploy} }); "
            f"collect more deployment episodes."
        )
    chosen_by = None
    if method == "auto":
        method, chosen_by = choose_method(len(np.unique(units)), ym.shape[1], g is not None)
    signs = SharedSigns.draw(int(units.max()) + 1, seed) if method == "pcm" else None
    k = len(tested)
    fits, outcomes = {}, {}
    for j in tested:
        mask = (sv == 0) | (sv == j)
        fits[j], outcomes[j] = fit_transport(
            yb[mask], (sv[mask] == j).astype(int), ym[mask], None if g is None else g[mask],
            method=method, alpha=alpha / k, margin=margin, n_folds=n_folds, device=device, seed=seed,
            magnitude=magnitude, signs=signs, units=None if signs is None else units[mask],
        )  # fmt: skip
    adjusted = dict(zip(tested, holm([fits[j].p_value for j in tested]), strict=True))
    regimes = []
    for j in deploy:
        if j in fits:
            res = fits[j]
            verdict = decide(float(adjusted[j]), alpha, margin, res.effect_ci, res.magnitude_bounds)
            regimes.append(RegimeTransport(j, labels[j], n_units[j], res, float(adjusted[j]), verdict))
        else:
            note = f"only {n_units[j]} {kind} (< {MIN_PER_REGIME}): not tested"
            regimes.append(RegimeTransport(j, labels[j], n_units[j], None, float("nan"), Verdict.INCONCLUSIVE, note))
    if all(outcomes[j] is not None for j in tested):
        p_joint, joint_method = max_type_p([outcomes[j] for j in tested]), JOINT_MAX
    else:
        p_joint, joint_method = float(min(1.0, k * min(fits[j].p_value for j in tested))), JOINT_BONFERRONI
    verdicts = [r.verdict for r in regimes]
    if Verdict.REGIME_DEPENDENT in verdicts:
        overall = Verdict.REGIME_DEPENDENT
    elif all(v == Verdict.TRANSPORTS for v in verdicts) and p_joint >= alpha:
        overall = Verdict.TRANSPORTS
    else:
        overall = Verdict.INCONCLUSIVE
    return FamilyTransportResult(
        p_value=p_joint,
        verdict=overall,
        regimes=tuple(regimes),
        method=method,
        joint_method=joint_method,
        alpha=float(alpha),
        margin=float(margin),
        n=n,
        n_groups=None if g is None else len(np.unique(g)),
        n_train=n_units[0],
        chosen_by=chosen_by,
    )
