"""The projected covariance measure: a GCM with power against every conditional-mean difference.

Lundborg, Kim, Shah & Samworth (2022), "The projected covariance measure for assumption-lean
variable significance testing". Null hypothesis: `E[x | y, z] = E[x | z]` (for `x = Y_b`, `y = s`,
`z = Y_m`: inner alignment with respect to the candidate). The plain GCM tests the mean of
`(x − E[x|z])(y − E[y|z])`, which for a binary regime is the overlap-weighted *average* effect
`E[e(1−e)·τ(z)]`: an effect `τ` that changes sign with `z` can average to zero and go unseen. The
PCM first learns the direction of the departure, then tests along it:

1. the units (episodes, or the groups given) are split in two halves by seed;
2. on each half, the projection of `x` on `(y, z)` beyond `z` is learned: for `y` entering as
   `(y − E[y|z])·τ(z)` (exact for a binary `y`) that is the R-learner fit of `τ̂`
   (`analysis.effect_function`);
3. on the *other* half, the GCM of the residual products weighted by `τ̂(z)` is formed:
   `T = √G · mean(r_x·r_y·τ̂) / sd`, standard normal under the null whatever `τ̂` is (it was fitted
   on other units), and positive under any alternative that `τ̂` approximates, since then its mean
   is `E[e(1−e)·τ·τ̂] > 0`;
4. the two halves' statistics are summed and scaled by `√(2(1+ρ))` to a one-sided `N(0, 1)`
   statistic `z_pcm`, where `ρ` is their correlation under the null. Both are bilinear forms of the two
   halves' residuals (the R-learner is a ridge, linear in its target), so `ρ` follows without
   refitting from sign flips of the units' residuals (`_null_correlation`; 0.6–0.8 in practice).
   Under an alternative the two are nearly independent, so the sum gains the power of the full
   sample;
5. a learned direction costs power against the most common alternative, a constant shift, which
   the plain full-sample GCM (`z_gcm`) tests best. The test statistic is `max(z_pcm, |z_gcm|)`,
   referred to the law of that maximum for two standard normals with their null correlation (from
   the same sign flips): the combination of the PCM with the plain GCM that Scheidegger, Hörrmann &
   Bühlmann (2022, "The weighted generalised covariance measure") recommend, at exact level.

The residuals are the cross-fitted ones of the GCM (`analysis.gcm.fit_nuisance`); the halves keep
groups together, so step-level rows are tested with their episodes as units.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from analysis.asymptotics import cluster_totals
from analysis.effect_function import fit_effect_function, n_effect_features
from analysis.gcm import Nuisance
from analysis.ridge import BANDWIDTH_FACTORS, FeatureMap, gaussianize
from envs.errors import ConfigError

N_FLIPS = 200
"""Sign-flip draws behind the null correlation of the two halves' z-scores."""
FLIP_BATCH = 50


def _halves(n: int, groups: np.ndarray | None, seed: int) -> np.ndarray:
    """Half index (0/1) per row; rows of one group share a half."""
    rng = np.random.default_rng([seed, 23])
    if groups is None:
        half = np.zeros(n, dtype=np.int64)
        half[rng.permutation(n)[: n // 2]] = 1
        return half
    _, inverse = np.unique(groups, return_inverse=True)
    n_groups = int(inverse.max()) + 1
    per_group = np.zeros(n_groups, dtype=np.int64)
    per_group[rng.permutation(n_groups)[: n_groups // 2]] = 1
    return per_group[inverse]


def pcm_test(
    nu: Nuisance, z: torch.Tensor, groups: np.ndarray | None = None, seed: int = 0, *, zg: torch.Tensor | None = None
) -> tuple[float, int, float, str]:
    """`(statistic, df, p, description)` of the projected covariance measure of `x ⊥ y | z`.

    `nu` holds the cross-fitted residuals of one-column `x` and `y` on `z (n, d)`; `zg`, the normal
    scores of `z` (`analysis.ridge.gaussianize`), when the caller already has them.
    """
    if nu.r_x.shape[1] != 1 or nu.r_y.shape[1] != 1:
        raise ConfigError(
            f"pcm tests one column x against one column y, got {nu.r_x.shape[1]} and {nu.r_y.shape[1]}; "
            f"use method='gcm' or 'rff_kernel' for several columns."
        )
    r_x, r_y = nu.r_x[:, 0], nu.r_y[:, 0]
    n = len(r_x)
    zg = gaussianize(z) if zg is None else zg
    half = _halves(n, groups, seed)
    fmap = FeatureMap.fit(zg, n_effect_features(n // 2), factors=BANDWIDTH_FACTORS, seed=seed + 29)
    fits, rows = [], []
    for h in (0, 1):
        idx = np.flatnonzero(half == h)
        rows.append((idx, torch.as_tensor(idx, device=z.device)))
        fits.append(fit_effect_function(zg, r_x, r_y, fmap=fmap, rows=rows[-1][1], covariance=False, influence=True))
    z_scores, designs = [], []
    for h in (0, 1):
        idx, trows = rows[h]
        other = fits[1 - h]
        designs.append(other.design(zg[trows]))  # half h's rows, features of the fit on the other half
        prod = (r_x[trows] * r_y[trows] * (designs[-1] @ other.coef))[:, None]
        z_scores.append(_z_scores(prod, None if groups is None else groups[idx])[0])
    z_gcm = float(_z_scores((r_x * r_y)[:, None], groups)[0])
    rho, rho_gcm = _null_correlations(r_x, r_y, rows, fits, designs, groups, seed)
    z_pcm = float(sum(z_scores) / np.sqrt(2 * (1 + rho)))
    stat = max(z_pcm, abs(z_gcm))
    description = (
        f"projected covariance measure: R-learner direction τ̂(z) on {fmap.n_out + 1} features per half "
        f"(ridge, GCV), weighted GCM on the other half, halves' z-scores summed and scaled by their null "
        f"correlation {rho:.2f} (z = {z_pcm:+.2f}), combined with the plain GCM (z = {z_gcm:+.2f}, null "
        f"correlation {rho_gcm:.2f}) as max(z_pcm, |z_gcm|) against their bivariate normal law"
    )
    return stat, 2, _max_sf(stat, rho_gcm), description


def _max_sf(m: float, rho: float) -> float:
    """`P(max(T, |Z|) ≥ m)` for standard normals `T`, `Z` with correlation `rho`."""
    if m <= 0:
        return 1.0
    law = stats.multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, rho], [rho, 1.0]])
    inside = law.cdf([m, m]) - law.cdf([m, -m])
    return float(min(max(1.0 - inside, 0.0), 1.0))


def _z_scores(products: torch.Tensor, groups: np.ndarray | None) -> np.ndarray:
    """`√G · mean / sd` of each column of `products (n, B)` after summing within groups: `(B,)`."""
    totals = cluster_totals(products, groups)
    sd = totals.std(0)
    z = totals.mean(0) / torch.where(sd > 0, sd, torch.ones_like(sd)) * np.sqrt(totals.shape[0])
    return torch.where(sd > 0, z, torch.zeros_like(z)).cpu().numpy()


def _null_correlations(r_x, r_y, rows, fits, designs, groups, seed: int) -> tuple[float, float]:
    """Null correlations of the two halves' z-scores, and of their scaled sum with the plain GCM's.

    Flipping the sign of `r_x` on a random set of units (Rademacher, one sign per group) keeps the
    null (the residual products stay mean-zero) and, the R-learner being linear in `r_x`, changes
    each half's fitted direction to `influenceᵀ (ξ ⊙ r_x)` without refitting. Each draw recomputes
    both self-normalised z-scores and the GCM's; `ρ` is the halves' correlation over `N_FLIPS`
    draws, clipped to [0, 1] (0 leaves the sum conservative), and the second number the correlation
    of the scaled sum with the GCM's z-score (its sign, too, is that of the data's effect).
    """
    rng = np.random.default_rng([seed, 43])
    draws = [[], []]
    gcm_draws = []
    for start in range(0, N_FLIPS, FLIP_BATCH):
        b = min(FLIP_BATCH, N_FLIPS - start)
        flips = []
        for idx, _ in rows:
            g = None if groups is None else groups[idx]
            if g is None:
                signs = rng.choice((-1.0, 1.0), size=(len(idx), b))
            else:
                _, inverse = np.unique(g, return_inverse=True)
                signs = rng.choice((-1.0, 1.0), size=(int(inverse.max()) + 1, b))[inverse]
            flips.append(torch.as_tensor(signs, dtype=r_x.dtype, device=r_x.device))
        coefs = [fits[h].influence.T @ (flips[h] * r_x[rows[h][1]][:, None]) for h in (0, 1)]  # (P, b)
        plain = []
        for h in (0, 1):
            idx, trows = rows[h]
            raw = flips[h] * (r_x[trows] * r_y[trows])[:, None]
            plain.append((raw, idx))
            draws[h].append(_z_scores(raw * (designs[h] @ coefs[1 - h]), None if groups is None else groups[idx]))
        all_idx = np.concatenate([plain[0][1], plain[1][1]])
        gcm_draws.append(_z_scores(torch.cat([plain[0][0], plain[1][0]]), None if groups is None else groups[all_idx]))
    a, b, c = np.concatenate(draws[0]), np.concatenate(draws[1]), np.concatenate(gcm_draws)
    if a.std() == 0 or b.std() == 0:
        return 0.0, 0.0
    rho = float(np.clip(np.corrcoef(a, b)[0, 1], 0.0, 1.0))
    total = (a + b) / np.sqrt(2 * (1 + rho))
    rho_gcm = float(np.clip(np.corrcoef(total, c)[0, 1], -0.99, 0.99)) if c.std() > 0 else 0.0
    return rho, rho_gcm
