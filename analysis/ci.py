"""Conditional-independence tests behind one call: `ci_test(x, y, z, method=...)`.

Own tests, in torch on CPU or CUDA, cluster-robust with `groups=`:
- `pcm`: the projected covariance measure (`analysis.pcm`, the default): a GCM along a learned
  direction, with power against every conditional-mean difference, effects that change sign
  included. Tests `E[x | y, z] = E[x | z]`.
- `gcm`: the generalised covariance measure (`analysis.gcm`); for a binary `y` the doubly
  robust test of an outcome and a propensity model. Tests that the overlap-weighted average of the
  conditional mean difference is zero (blind to effects that average to zero).
- `rff_kernel`: the random-feature kernel test (`analysis.rff_kernel`). Tests the whole
  conditional distribution.
DoWhy's four (`dowhy_kernel`, `dowhy_approx_kernel`, `dowhy_regression`, `dowhy_gcm`), through
`analysis.dowhy_ci`. `auto` picks a calibrated method for the data and says what it picked.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from analysis.dowhy_ci import DOWHY_METHODS, dowhy_ci_test
from analysis.gcm import fit_nuisance, gcm_test
from analysis.pcm import SharedSigns, max_type_p, pcm, pcm_test
from analysis.rff_kernel import rff_kernel_test
from analysis.ridge import gaussianize
from analysis.validation import as_groups, as_matrix, as_regime
from core.device import resolve_device
from core.errors import ConfigError, DataError, unknown_name
from core.vocab import CI_METHODS, CIMethod

OWN_METHODS: tuple[str, ...] = ("pcm", "gcm", "rff_kernel")
AUTO_MIN_N = 100
"""Below this many units (rows, or groups when given) `auto` uses DoWhy's kernel test."""


@dataclass(frozen=True)
class CITestResult:
    """Outcome of a conditional-independence test of `x ⊥ y | z` (the null hypothesis).

    `statistic` and `df` are the test statistic and its degrees of freedom (own methods only),
    `regressions` names the nuisance regressions, `chosen_by` says why `auto` picked `method`.
    """

    p_value: float
    method: str
    n: int
    conditional: bool
    statistic: float | None = None
    df: int | None = None
    regressions: str = ""
    device: str = "cpu"
    n_groups: int | None = None
    chosen_by: str | None = None
    seconds: float = 0.0
    levels: tuple[int, ...] | None = None
    level_p_values: tuple[float, ...] | None = None
    """With a categorical `y` tested level by level against level 0: the levels and their p-values."""

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = asdict(self)
        for key in ("levels", "level_p_values"):
            out[key] = None if out[key] is None else list(out[key])
        return out

    def _repr_html_(self) -> str:
        extra = f" — auto: {self.chosen_by}" if self.chosen_by else ""
        return f"<b>CI test</b> ({self.method}, n={self.n}): p = {self.p_value:.4g}{extra}"


def choose_method(n_units: int, dim: int, clustered: bool) -> tuple[str, str]:
    """The method `auto` uses for `n_units` independent units and a `dim`-dimensional `z`, and why.

    The projected covariance measure is calibrated in `tests/statistical` and
    `benchmarks/ci_calibration.py` on every scenario of `analysis.SCENARIOS`, hard combinations
    included (rare regime × heavy tails × heteroscedastic noise × shifted `Y_m`, discrete `Y_m` with
    binary `Y_b`, skewed `Y_m`), and it has power against effects that change sign with `Y_m`,
    which the GCM does not see. `rff_kernel` is never chosen: it over-rejects on the hard nulls.
    Below `AUTO_MIN_N` unclustered units DoWhy's KCI, which needs no regressions, is used instead.
    """
    if n_units < AUTO_MIN_N and not clustered:
        return "dowhy_kernel", (
            f"{n_units} units < {AUTO_MIN_N}: too few for cross-fitted regressions; DoWhy's kernel test (KCI)"
        )
    note = "" if dim <= 16 else f"; d = {dim} is above the calibrated range d ≤ 16, treat p-values near α with care"
    return "pcm", (
        f"{n_units} {'groups' if clustered else 'units'}, d = {dim}: projected covariance measure (calibrated in "
        f"tests/statistical on hard nulls, power against effects that change sign, linear in n"
        f"{', cluster-robust' if clustered else ''}){note}"
    )


def ci_test(
    x,
    y,
    z=None,
    method: CIMethod = "auto",
    *,
    groups=None,
    device: str = "auto",
    n_folds: int = 5,
    seed: int = 0,
    categorical: bool = False,
    **kwargs,
) -> CITestResult:
    """Test the null hypothesis `x ⊥ y | z` (or `x ⊥ y` without `z`); return its p-value.

    `x (n,)|(n, dx)`, `y (n,)|(n, dy)`, `z (n, dz)` or None; rows are independent units unless
    `groups (n,)` marks clusters (episode ids for step rows), which the own methods then treat as
    the units. `device` ("auto", "cpu", "cuda") runs the own methods; DoWhy's run on NumPy, take
    extra `kwargs` and reject `groups`. The same `seed` gives the same p-value.

    `categorical=True` reads `y` as the levels `0..k` of a categorical variable (regime indices,
    0 the training regime) and tests `x` against the one-hot columns of levels `1..k`: for `gcm`
    the multivariate GCM of Shah & Peters (2020), a Wald χ² with k degrees of freedom. `pcm` (and
    `auto`) tests each level against level 0 on their units, with the same sign flips per unit in
    every test, and returns the max-type joint p-value (`analysis.pcm.max_type_p`), the per-level
    p-values in `level_p_values`. With two levels it is the binary test.
    """
    if method not in CI_METHODS:
        raise unknown_name("CI method", str(method), CI_METHODS)
    if n_folds < 2:
        raise ConfigError(f"n_folds must be at least 2, got {n_folds}.")
    t0 = time.perf_counter()
    xm = as_matrix("x", x)
    n = xm.shape[0]
    ym = as_matrix("y", y, n)
    zm = None if z is None else as_matrix("z", z, n)
    g = as_groups(groups, n)
    levels = None
    if categorical:
        codes = as_regime(ym, n, "y", categorical=True)
        levels = tuple(int(v) for v in np.unique(codes) if v != 0)
        ym = (codes[:, None] == np.array(levels)[None, :]).astype(np.float64)  # one-hot columns of levels 1..k
    n_groups = None if g is None else len(np.unique(g))
    if n < 4:
        raise DataError(f"a CI test needs at least 4 rows, got {n}.")
    for name, arr in (("x", xm), ("y", ym)):
        if np.all(arr == arr[0]):
            raise DataError(
                f"{name} is constant: there is nothing to test. For a regime indicator, pass rows from both regimes."
            )
    chosen_by = None
    if method == "auto":
        method, chosen_by = choose_method(n if g is None else n_groups, 0 if zm is None else zm.shape[1], g is not None)
        if method == "pcm" and (xm.shape[1] > 1 or (ym.shape[1] > 1 and levels is None)):
            method = "gcm"
            chosen_by += f"; x has {xm.shape[1]} and y {ym.shape[1]} columns and pcm takes one each: the GCM instead"
    if method in DOWHY_METHODS:
        if g is not None:
            raise ConfigError(
                f"{method} treats rows as independent and cannot take groups=; use method='gcm' or 'rff_kernel' "
                f"for clustered rows."
            )
        p = dowhy_ci_test(xm, ym, zm, method, seed=seed, **kwargs)
        return CITestResult(
            p, method, n, zm is not None, regressions="DoWhy defaults", chosen_by=chosen_by,
            seconds=time.perf_counter() - t0, levels=levels,
        )  # fmt: skip
    if kwargs:
        raise ConfigError(f"unexpected arguments for {method}: {sorted(kwargs)}.")
    dev = resolve_device(device)
    # A fresh copy first: columns of a pandas frame (as DoWhy's falsifier passes them, empty ones included) can
    # have negative strides, which torch refuses.
    as_t = lambda a: None if a is None else torch.tensor(np.array(a, dtype=np.float64), device=dev)  # noqa: E731
    xt, yt, zt = as_t(xm), as_t(ym), as_t(zm)
    level_p = None
    if method == "pcm" and levels is not None and len(levels) > 1 and zt is not None:
        p, level_p, description = _pcm_by_level(xt, ym, zt, g, n_folds=n_folds, seed=seed)
        stat, df = float("nan"), None
    elif method in ("gcm", "pcm"):
        zg = gaussianize(zt) if method == "pcm" and zt is not None else None  # shared by the nuisances and the PCM
        nu = fit_nuisance(xt, yt, zt, groups=g, n_folds=n_folds, seed=seed, zg=zg)
        if method == "pcm" and zt is not None:
            stat, df, p, how = pcm_test(nu, zt, g, seed, zg=zg)
            description = f"{how}; nuisances: {nu.description}"
        else:
            stat, df, p = gcm_test(nu, g)
            description = nu.description if method == "gcm" else f"no conditioning set: GCM; {nu.description}"
    else:
        stat, df, p, description = rff_kernel_test(xt, yt, zt, groups=g, n_folds=n_folds, seed=seed)
    return CITestResult(
        p_value=min(max(p, 0.0), 1.0),
        method=method,
        n=n,
        conditional=zm is not None,
        statistic=stat,
        df=df,
        regressions=description,
        device=str(dev),
        n_groups=n_groups,
        chosen_by=chosen_by,
        seconds=time.perf_counter() - t0,
        levels=levels,
        level_p_values=level_p,
    )


def _pcm_by_level(
    xt: torch.Tensor, onehot: np.ndarray, zt: torch.Tensor, g: np.ndarray | None, *, n_folds: int, seed: int
) -> tuple[float, tuple[float, ...], str]:
    """`(joint p, p per level, description)`: each level against level 0 by the PCM, max-type joint."""
    n = onehot.shape[0]
    units = np.arange(n) if g is None else np.unique(g, return_inverse=True)[1]
    signs = SharedSigns.draw(int(units.max()) + 1, seed)
    outcomes = []
    for j in range(onehot.shape[1]):
        rows = np.flatnonzero((onehot.sum(1) == 0) | (onehot[:, j] == 1))
        idx = torch.as_tensor(rows, device=zt.device)
        y = torch.tensor(onehot[rows, j : j + 1], dtype=torch.float64, device=zt.device)
        gj = None if g is None else g[rows]
        zg = gaussianize(zt[idx])
        nu = fit_nuisance(xt[idx], y, zt[idx], groups=gj, n_folds=n_folds, seed=seed, zg=zg)
        outcomes.append(pcm(nu, zt[idx], gj, seed, zg=zg, signs=signs, units=units[rows]))
    description = (
        f"projected covariance measure of each of {len(outcomes)} levels against level 0, the same sign flips per "
        f"unit in every test; joint p of the largest statistic (max-type)"
    )
    return max_type_p(outcomes), tuple(o.p_value for o in outcomes), description
