"""The conditional regime effect `τ(y_m) = E[Y_b|Y_m=y_m, s=1] − E[Y_b|Y_m=y_m, s=0]` as a function.

R-learner (Nie & Wager 2021, "Quasi-oracle estimation of heterogeneous treatment effects"): with
the cross-fitted residuals `r_b = Y_b − m̂(Y_m)` and `r_s = s − ê(Y_m)` of the outcome and
propensity models, `E[r_b | Y_m, s] = r_s·τ(Y_m)`, so `τ` minimises `Σ (r_b − r_s·τ(Y_m))²`.
Here `τ(y) = Ψ(y)·β` with `Ψ = [1, φ]`, `φ` the linear terms and random Fourier features of the
normal scores of `y_m` (`analysis.ridge.FeatureMap`); `β` is a ridge fit with an unpenalised
intercept (a constant effect is not shrunk), bandwidth and penalty by generalised cross-validation.
The fit's implicit weights `r_s² ≈ e(1−e)` are the overlap weights: `τ` is learned where both
regimes have units, and that is also where its magnitude is measured.

`β` is linear in `r_b`, so its sampling covariance is a (cluster-robust) sandwich `V`; the Gaussian
multiplier bootstrap then draws `β* ~ N(0, V)` and gives
- an upper (and lower) confidence bound on the overlap-weighted root-mean-square
  `‖τ‖₂ = (E[e(1−e)·τ²] / E[e(1−e)])^½`, by inverting the law of `‖τ̂‖²` for each true size in
  its least favourable direction (`_invert_norm`);
- a simultaneous band `τ̂(y) ± c·se(y)` (sup-t critical value `c`), hence an upper bound on the
  overlap-weighted 95th percentile of `|τ|`.
Both bound the estimation error, not the ridge's smoothing bias: the certificate assumes `τ` is
as smooth as the features can express (the GCV penalty balances the two; see the README).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from analysis.asymptotics import cluster_totals
from analysis.linalg import eigh, gram, matmul
from analysis.ridge import BANDWIDTH_FACTORS, LAMBDA_GRID, SELECTION_ROWS, FeatureMap
from core.errors import DataError

EFFECT_LAMBDAS = tuple(v for v in LAMBDA_GRID if v >= 1e-2)
"""Ridge penalties tried for the effect function. Below 1e-2 GCV was seen to pick near-unpenalised
fits of ~10 effective parameters on null data (`‖τ̂‖` of 0.5 where `τ = 0`): the R-learner's
weighted loss makes GCV flat there, and an effect is a contrast that deserves more shrinkage."""
N_DRAWS = 4000
"""Multiplier-bootstrap draws of `β*`."""
BAND_POINTS = 1000
"""Units at which the sup-t critical value of the band is computed (a seeded subsample)."""
CURVE_POINTS = 200


def n_effect_features(n: int) -> int:
    """Random features for the effect function: fewer than the nuisances', it is a contrast of two means."""
    return int(np.clip(n // 32, 8, 48))


@dataclass(frozen=True)
class EffectFunction:
    """A fitted `τ̂(y) = Ψ(y)·coef` on normal scores `zg`; `cov` the sandwich covariance of `coef`."""

    fmap: FeatureMap
    bandwidth: int
    coef: torch.Tensor  # (P,)
    cov: torch.Tensor | None  # (P, P)
    penalty: float
    df: float
    influence: torch.Tensor | None = None  # (n, P): coef = influence.T @ r_b (the fit is linear in r_b)

    def design(self, zg: torch.Tensor) -> torch.Tensor:
        """`Ψ(zg) = [1, φ(zg)]`: `(m, P)`."""
        phi = self.fmap.transform(zg, self.bandwidth)
        return torch.cat([torch.ones(len(zg), 1, dtype=phi.dtype, device=phi.device), phi], dim=1)

    def predict(self, zg: torch.Tensor) -> torch.Tensor:
        """`τ̂` at the rows of `zg`: `(m,)`."""
        return self.design(zg) @ self.coef


def fit_effect_function(
    zg: torch.Tensor,
    r_b: torch.Tensor,
    r_s: torch.Tensor,
    *,
    fmap: FeatureMap,
    rows: torch.Tensor | None = None,
    groups: np.ndarray | None = None,
    covariance: bool = True,
    influence: bool = False,
    absorb: bool = False,
    seed: int = 0,
) -> EffectFunction:
    """R-learner ridge of `r_b (n,)` on `r_s (n,)·Ψ(zg)`, over `rows` (an index; all when None).

    `zg (n, d)` are normal scores of `y_m`; `groups (n,)` make the covariance cluster-robust;
    `influence=True` also returns the linear map from `r_b` to the coefficients, `(n_rows, P)`.
    `absorb=True` first partials a ridge fit on `Ψ(zg)` (a function of `y_m` alone) out of `r_b`
    and of every effect column: an error `δm(y_m)` left in `r_b` by the outcome model then cannot
    pass for an effect through its correlation with the propensity's error `δe(y_m)` in `r_s`.
    Above `SELECTION_ROWS` rows the bandwidth is chosen by GCV on that many rows drawn by `seed`.
    """
    if rows is not None:
        zg, r_b, r_s = zg[rows], r_b[rows], r_s[rows]
        if groups is not None:
            groups = groups[rows.cpu().numpy()]
    n = zg.shape[0]
    indices = tuple(range(len(fmap.bandwidths)))
    if n > SELECTION_ROWS:
        sub = np.sort(np.random.default_rng([seed, 53]).choice(n, SELECTION_ROWS, replace=False))
        sub = torch.as_tensor(sub, device=zg.device)
        indices = (_r_learner(zg[sub], r_b[sub], r_s[sub], fmap, indices, absorb).bandwidth,)
    fit = _r_learner(zg, r_b, r_s, fmap, indices, absorb)
    x0, ss0, target, residualise = fit.x0, fit.ss0, fit.target, fit.residualise
    penalty = fit.lambdas[fit.k]
    inv = 1.0 / (fit.evals + penalty * n)
    coef_rest = fit.evecs @ (inv * fit.proj)
    coef0 = (x0 @ target) / ss0 - fit.c @ coef_rest
    coef = torch.cat([coef0[None], coef_rest])
    cov = lin = None
    if covariance or influence:
        m = (fit.evecs * inv[None, :]) @ fit.evecs.T
        lin_rest = matmul(fit.xt, m)  # (n, P-1): coef_rest = lin_rest.T @ r_b
        lin = residualise(torch.cat([(x0 / ss0 - lin_rest @ fit.c)[:, None], lin_rest], dim=1))  # (I − H) is symmetric
    if covariance:
        design = torch.cat([x0[:, None], residualise(r_s[:, None] * fit.phi)], dim=1)
        resid = target - design @ coef
        scores = cluster_totals(lin * resid[:, None], groups)
        cov = scores.T @ scores * (n / max(n - fit.df, 1.0))
    return EffectFunction(fmap, fit.bandwidth, coef, cov, float(penalty), fit.df, lin if influence else None)


@dataclass(frozen=True)
class _RLearner:
    """The GCV-chosen R-learner fit's pieces: bandwidth, penalty index and the decomposed design."""

    bandwidth: int
    k: int
    gcv: float
    xt: torch.Tensor
    c: torch.Tensor
    evals: torch.Tensor
    evecs: torch.Tensor
    proj: torch.Tensor
    df: float
    x0: torch.Tensor
    ss0: float
    target: torch.Tensor
    residualise: object
    lambdas: torch.Tensor
    phi: torch.Tensor


def _r_learner(
    zg: torch.Tensor, r_b: torch.Tensor, r_s: torch.Tensor, fmap: FeatureMap, indices: tuple[int, ...], absorb: bool
) -> _RLearner:
    """Bandwidth (among `indices`) and penalty of the R-learner ridge by GCV, with what the fit needs."""
    n = zg.shape[0]
    mid = len(fmap.bandwidths) // 2
    wanted = tuple(sorted(set(indices) | ({mid} if absorb else set())))
    phis = dict(zip(wanted, fmap.transform_all(zg, wanted), strict=True))  # (n, P-1) each, used 2-3 times
    residualise = _absorber(phis[mid]) if absorb else (lambda v: v)
    x0 = residualise(r_s[:, None])[:, 0]
    ss0 = float(x0 @ x0)
    if ss0 <= 1e-12:
        raise DataError("the regime residuals are all zero (no overlap): the effect function is not identified.")
    lambdas = torch.tensor(EFFECT_LAMBDAS, dtype=zg.dtype, device=zg.device)
    target = residualise(r_b[:, None])[:, 0]
    t0 = target - x0 * (x0 @ target) / ss0
    tt = float(t0 @ t0)
    best = None
    for b in indices:
        rest = residualise(r_s[:, None] * phis[b])
        c = rest.T @ x0 / ss0
        xt = rest - x0[:, None] * c[None, :]
        evals, evecs = eigh(gram(xt))
        evals = evals.clamp_min(0)
        proj = evecs.T @ (xt.T @ t0)
        denom = evals[None, :] + lambdas[:, None] * n
        rss = (tt - ((evals[None, :] + 2 * lambdas[:, None] * n) / denom**2) @ proj**2).clamp_min(0)
        df = 1 + (evals[None, :] / denom).sum(1)
        gcv = torch.where(df < n, (rss / n) / (1 - df / n).clamp_min(1e-6) ** 2, torch.full_like(rss, float("inf")))
        k = int(gcv.argmin())
        if best is None or float(gcv[k]) < best.gcv:
            best = _RLearner(
                b, k, float(gcv[k]), xt, c, evals, evecs, proj, float(df[k]), x0, ss0, target, residualise, lambdas,
                phis[b],
            )  # fmt: skip
    return best


ABSORB_PENALTY = 1e-3
"""Ridge penalty (relative to the rows) of the `y_m`-only fit that `absorb` partials out."""


def _absorber(phi: torch.Tensor):
    """`v ↦ (I − H) v` for the ridge hat matrix `H` on `[1, phi]`, `phi` the features at the middle
    bandwidth (one absorber for every bandwidth tried, so GCV compares like with like)."""
    design = torch.cat([torch.ones(len(phi), 1, dtype=phi.dtype, device=phi.device), phi], dim=1)
    penalty = ABSORB_PENALTY * len(phi) * torch.eye(design.shape[1], dtype=phi.dtype, device=phi.device)
    penalty[0, 0] = 0.0
    chol = torch.linalg.cholesky(design.T @ design + penalty)
    return lambda v: v - matmul(design, torch.cholesky_solve(matmul(design.T, v), chol))


@dataclass(frozen=True)
class EffectCurve:
    """`τ̂` with its simultaneous band at up to `CURVE_POINTS` units, sorted by the first coordinate `y`."""

    y: tuple[float, ...]
    tau: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {"y": list(self.y), "tau": list(self.tau), "lower": list(self.lower), "upper": list(self.upper)}


@dataclass(frozen=True)
class EffectMagnitude:
    """How large the regime effect is over the overlap of the regimes, with confidence bounds.

    `rms` is the overlap-weighted root-mean-square of `τ̂`, `rms_bounds` its lower and upper
    (1 − alpha) one-sided confidence bounds; `q95` the overlap-weighted 95th percentile of `|τ̂|`
    and `q95_upper` its upper bound from the simultaneous band; `band` the band's critical value.
    """

    rms: float
    rms_bounds: tuple[float, float]
    q95: float
    q95_upper: float
    band: float
    features: int
    penalty: float
    df: float
    curve: EffectCurve

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {
            "rms": self.rms,
            "rms_bounds": list(self.rms_bounds),
            "q95": self.q95,
            "q95_upper": self.q95_upper,
            "band": self.band,
            "features": self.features,
            "penalty": self.penalty,
            "df": self.df,
            "curve": self.curve.to_dict(),
        }


def _invert_norm(observed: float, draws: torch.Tensor, q_mat: torch.Tensor, alpha: float) -> tuple[float, float]:
    """Lower and upper (1 − alpha) bounds on `‖τ‖` from `‖τ̂‖² = observed`, by inverting a test of each size.

    In the metric `Q` of the overlap-weighted norm, `τ̂ = τ + ε` with `ε ~ N(0, V)` (`draws` of it).
    For a true size `m` in direction `u`, `‖τ̂‖² = m² + 2m⟨u, ε⟩ + ‖ε‖²`; its tails are widest when
    `u` is the direction of largest variance of `ε`, which is the one used (worst case). The upper
    bound is the largest `m` whose lower alpha-quantile of `‖τ̂‖²` still reaches down to `observed`,
    the lower bound the smallest `m` whose upper quantile reaches up to it. Unlike the triangle
    inequality `‖τ̂‖ + ‖ε‖`, this does not count the noise twice (`‖τ̂‖` is itself inflated by it).
    """
    vals, vecs = torch.linalg.eigh(q_mat)
    root_q = vecs * vals.clamp_min(0).sqrt()[None, :]  # ‖x‖²_Q = ‖x @ root_q‖²
    eps = (draws @ root_q).cpu().numpy()
    cov = np.cov(eps, rowvar=False)
    u = np.linalg.eigh(np.atleast_2d(cov))[1][:, -1]
    x, noise = eps @ u, (eps**2).sum(1)
    top = np.sqrt(max(observed, 0.0)) + 6 * np.sqrt(max(float(np.var(x)), 1e-300)) + np.sqrt(np.quantile(noise, 0.999))
    grid = np.linspace(0.0, top, 400)
    sq = grid[:, None] ** 2 + 2 * grid[:, None] * x[None, :] + noise[None, :]
    low_q, high_q = np.quantile(sq, alpha, axis=1), np.quantile(sq, 1 - alpha, axis=1)
    reach_down = np.flatnonzero(low_q <= observed)
    reach_up = np.flatnonzero(high_q >= observed)
    upper = float(grid[reach_down.max()]) if len(reach_down) else 0.0
    lower = float(grid[reach_up.min()]) if len(reach_up) else float(top)
    return lower, upper


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][min(np.searchsorted(cum, q * cum[-1]), len(values) - 1)])


def effect_magnitude(
    zg: torch.Tensor,
    y_first: np.ndarray,
    r_b: torch.Tensor,
    r_s: torch.Tensor,
    e_hat: np.ndarray,
    *,
    alpha: float,
    groups: np.ndarray | None = None,
    seed: int = 0,
) -> EffectMagnitude:
    """Fit `τ̂` on all units and bound its magnitude (see the module docstring).

    `zg (n, d)` normal scores of `y_m`, `y_first (n,)` its first raw coordinate (the curve's axis),
    `r_b`, `r_s (n,)` the cross-fitted residuals, `e_hat (n,)` the propensities (overlap weights
    `ê(1−ê)`).
    """
    n = zg.shape[0]
    fmap = FeatureMap.fit(zg, n_effect_features(n), factors=BANDWIDTH_FACTORS, seed=seed + 31)
    ef = fit_effect_function(zg, r_b, r_s, fmap=fmap, groups=groups, seed=seed)
    psi = ef.design(zg)
    tau = (psi @ ef.coef).cpu().numpy()
    se = torch.sqrt(((psi @ ef.cov) * psi).sum(1).clamp_min(0)).cpu().numpy()
    e = np.clip(e_hat, 0.0, 1.0)
    w = e * (1 - e)
    if w.sum() <= 0:
        raise DataError("no unit has both regimes possible (every propensity is 0 or 1): no overlap to measure.")
    wt = torch.as_tensor(w / w.sum(), dtype=psi.dtype, device=psi.device)
    q_mat = (psi * wt[:, None]).T @ psi
    rms = float(np.sqrt(np.sum(w * tau**2) / w.sum()))
    evals, evecs = torch.linalg.eigh(ef.cov)
    root = (evecs * evals.clamp_min(0).sqrt()[None, :]).cpu()
    gen = torch.Generator().manual_seed(seed + 37)
    draws = (torch.randn(N_DRAWS, root.shape[0], generator=gen, dtype=torch.float64) @ root.T).to(psi)
    rms_bounds = _invert_norm(rms**2, draws, q_mat, alpha)
    rng = np.random.default_rng([seed, 41])
    pick = np.sort(rng.choice(n, min(n, BAND_POINTS), replace=False))
    se_pick = np.maximum(se[pick], 1e-12)
    t_star = (draws @ psi[pick].T).cpu().numpy() / se_pick[None, :]
    band = float(np.quantile(np.abs(t_star).max(1), 1 - alpha))
    q95 = _weighted_quantile(np.abs(tau), w, 0.95)
    q95_upper = _weighted_quantile(np.abs(tau) + band * se, w, 0.95)
    inside = np.flatnonzero((e > 0.02) & (e < 0.98))
    inside = inside if len(inside) else np.arange(n)
    order = inside[np.argsort(y_first[inside], kind="stable")]
    at = order[np.unique(np.linspace(0, len(order) - 1, min(CURVE_POINTS, len(order))).round().astype(int))]
    curve = EffectCurve(
        y=tuple(float(v) for v in y_first[at]),
        tau=tuple(float(v) for v in tau[at]),
        lower=tuple(float(v) for v in tau[at] - band * se[at]),
        upper=tuple(float(v) for v in tau[at] + band * se[at]),
    )
    return EffectMagnitude(
        rms=rms,
        rms_bounds=rms_bounds,
        q95=q95,
        q95_upper=q95_upper,
        band=band,
        features=fmap.n_out,
        penalty=ef.penalty,
        df=ef.df,
        curve=curve,
    )
