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
   (`analysis.effect_function`), with a ridge function of `z` alone partialled out first
   (`absorb`): the outcome model's error `δm(z)` times the propensity's `δe(z)` is a conditional
   mean of `r_x·r_y` that is not an effect, and a direction learned from it points along it on
   both halves (one-sided type-I error 0.10 at α = 0.05 on `clustered_rare_heavy` without this,
   0.05–0.055 with either nuisance replaced by the truth);
3. on the *other* half, the GCM of the residual products weighted by `τ̂(z)` is formed:
   `T = √G · mean(r_x·r_y·τ̂) / sd`, standard normal under the null whatever `τ̂` is (it was fitted
   on other units), and positive under any alternative that `τ̂` approximates, since then its mean
   is `E[e(1−e)·τ·τ̂] > 0`;
4. the two halves' statistics are summed (`z_pcm`, scaled to unit null variance): under an
   alternative they are nearly independent and the sum has the power of the full sample;
5. a learned direction costs power against the most common alternative, a constant shift, which
   the plain full-sample GCM (`z_gcm`) tests best. The statistic is `max(z_pcm, |z_gcm|)`, the
   combination of the PCM with the plain GCM that Scheidegger, Hörrmann & Bühlmann (2022, "The
   weighted generalised covariance measure") recommend.

The p-value is a sign-flip (wild bootstrap) one: the statistic is recomputed `N_FLIPS` times with
the sign of `r_x` flipped on a random set of units (one Rademacher sign per group), which keeps
the null and, the R-learner being linear in `r_x`, changes each half's direction to
`influenceᵀ (ξ ⊙ r_x)` without refitting; `p = (1 + #{flipped ≥ observed}) / (1 + N_FLIPS)`. A
normal law is not used for the sum: each half's `T` is normal given the other half, but both are
bilinear in the two halves' residuals, and their sum has lighter tails than a normal of the same
variance (a type-I error of 0.022–0.025 at α = 0.05 on simple nulls when it was used).

The residuals are the cross-fitted ones of the GCM (`analysis.gcm.fit_nuisance`); the halves keep
groups together, so step-level rows are tested with their episodes as units. All flips are done
on per-group totals, so their cost is `O(N_FLIPS · G · P)` for `G` units and `P` features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from analysis.asymptotics import cluster_totals
from analysis.effect_function import fit_effect_function, n_effect_features
from analysis.gcm import Nuisance
from analysis.linalg import matmul
from analysis.ridge import BANDWIDTH_FACTORS, FeatureMap, assign_folds, gaussianize
from core.errors import ConfigError

N_FLIPS = 999
"""Sign-flip draws behind the p-value: its smallest value is `1 / (1 + N_FLIPS)` = 0.001."""
DIRECTION_ROWS = 20_000
"""A half's direction is learned from at most this many of its rows (drawn by seed); the other
half's statistic still uses all of its rows. The level does not depend on how well the direction is
learned (it is fitted on other units), only the power does, and 20,000 rows are over 300 per
coefficient of the 65-feature direction. At 10⁵ rows the two fits on all rows were a quarter of the
test's time."""
FLIP_CELLS = 16_000_000
"""Signs drawn at once (units × draws), bounding the memory of one batch."""


@dataclass(frozen=True)
class SharedSigns:
    """Rademacher signs per unit, shared by several PCM tests on overlapping sets of units.

    The one-vs-training tests of a family of regimes all contain the training units. Flipping each
    unit's residual by the same sign in every test keeps the tests' dependence in the flipped
    statistics, so the maximum of the statistics has its null distribution in the maximum of the
    flipped ones (a multiplier bootstrap of a max statistic; Chernozhukov, Chetverikov & Kato 2013).
    `packed` holds `N_FLIPS` bits per unit, eight per byte.
    """

    packed: np.ndarray  # (units, ceil(N_FLIPS / 8)) uint8

    @classmethod
    def draw(cls, n_units: int, seed: int) -> SharedSigns:
        """Signs for `n_units` units, a function of `seed`."""
        rng = np.random.default_rng([seed, 47])
        return cls(rng.integers(0, 256, size=(n_units, (N_FLIPS + 7) // 8), dtype=np.uint8))

    def bits(self, units: np.ndarray, start: int, count: int) -> np.ndarray:
        """`(len(units), count)` 0/1 bits of draws `start .. start + count` for the given unit ids."""
        return np.unpackbits(self.packed[units], axis=1, count=start + count)[:, start:]


@dataclass(frozen=True)
class PCMOutcome:
    """The PCM statistic, its p-value, its `N_FLIPS` sign-flipped null draws and a description."""

    statistic: float
    p_value: float
    draws: np.ndarray
    description: str


def pcm_test(
    nu: Nuisance, z: torch.Tensor, groups: np.ndarray | None = None, seed: int = 0, *, zg: torch.Tensor | None = None
) -> tuple[float, int, float, str]:
    """`(statistic, df, p, description)` of the projected covariance measure of `x ⊥ y | z`.

    `nu` holds the cross-fitted residuals of one-column `x` and `y` on `z (n, d)`; `zg`, the normal
    scores of `z` (`analysis.ridge.gaussianize`), when the caller already has them.
    """
    out = pcm(nu, z, groups, seed, zg=zg)
    return out.statistic, 2, out.p_value, out.description


def pcm(
    nu: Nuisance,
    z: torch.Tensor,
    groups: np.ndarray | None = None,
    seed: int = 0,
    *,
    zg: torch.Tensor | None = None,
    signs: SharedSigns | None = None,
    units: np.ndarray | None = None,
) -> PCMOutcome:
    """The projected covariance measure of `x ⊥ y | z` with its null draws (see `pcm_test`).

    With `signs`, the flips come from them: `units (n,)` gives each row's unit id in `signs` (rows of
    one group must share it), so that tests sharing units flip them alike.
    """
    if (signs is None) != (units is None):
        raise ConfigError("pcm takes signs= and units= together (shared sign flips need each row's unit id).")
    if nu.r_x.shape[1] != 1 or nu.r_y.shape[1] != 1:
        raise ConfigError(
            f"pcm tests one column x against one column y, got {nu.r_x.shape[1]} and {nu.r_y.shape[1]}; "
            f"use method='gcm' or 'rff_kernel' for several columns."
        )
    r_x, r_y = nu.r_x[:, 0], nu.r_y[:, 0]
    n = len(r_x)
    zg = gaussianize(z) if zg is None else zg
    half = assign_folds(n, 2, groups, seed + 23)
    fmap = FeatureMap.fit(zg, n_effect_features(n // 2), factors=BANDWIDTH_FACTORS, seed=seed + 29)
    rows = [torch.as_tensor(np.flatnonzero(half == h), device=z.device) for h in (0, 1)]
    # Positions (within each half) of the rows its direction is learned from: all, or DIRECTION_ROWS by seed.
    learn = [_direction_positions(len(r), seed + 59 + h, z.device) for h, r in enumerate(rows)]
    fits = [
        fit_effect_function(
            zg, r_x, r_y, fmap=fmap, rows=r[pos], covariance=False, influence=True, absorb=True, seed=seed + h
        )
        for h, (r, pos) in enumerate(zip(rows, learn, strict=True))
    ]
    halves = []
    for h in (0, 1):
        g = None if groups is None else groups[rows[h].cpu().numpy()]
        prod = r_x[rows[h]] * r_y[rows[h]]
        design = fits[1 - h].design(zg[rows[h]])  # half h's rows, features of the fit on the other half
        influence = torch.zeros_like(design)
        influence[learn[h]] = fits[h].influence  # rows outside the learning sample do not move the direction
        stacked = torch.cat([prod[:, None] * design, influence * r_x[rows[h], None], prod[:, None]], dim=1)
        halves.append(_Half(cluster_totals(stacked, g), _half_units(units, rows[h].cpu().numpy(), g)))
    observed = _statistics(halves, [part.totals.sum(0, keepdim=True).T for part in halves])
    flipped = _flipped(halves, seed, signs)
    scale = float(flipped[0].std())
    scale = scale if scale > 0 else 1.0
    z_pcm, z_gcm = float(observed[0][0]) / scale, float(observed[1][0])
    stat = max(z_pcm, abs(z_gcm))
    draws = np.maximum(flipped[0] / scale, np.abs(flipped[1]))
    p = float((1 + np.count_nonzero(draws >= stat - 1e-12)) / (1 + N_FLIPS))
    description = (
        f"projected covariance measure: R-learner direction τ̂(z) on {fmap.n_out + 1} features per half "
        f"(ridge, GCV), weighted GCM on the other half, halves' z-scores summed (z = {z_pcm:+.2f}) and combined "
        f"with the plain GCM (z = {z_gcm:+.2f}) as max(z_pcm, |z_gcm|); p from {N_FLIPS} sign flips of the "
        f"residuals (wild bootstrap, smallest p {1 / (1 + N_FLIPS):.3f})"
    )
    return PCMOutcome(stat, p, draws, description)


def max_type_p(outcomes: list[PCMOutcome]) -> float:
    """Joint p-value of several PCM tests run with the same `SharedSigns`: their largest statistic
    against the largest of their flipped statistics, draw by draw."""
    stat = max(o.statistic for o in outcomes)
    draws = np.max([o.draws for o in outcomes], axis=0)
    return float((1 + np.count_nonzero(draws >= stat - 1e-12)) / (1 + N_FLIPS))


def _half_units(units: np.ndarray | None, rows: np.ndarray, groups: np.ndarray | None) -> np.ndarray | None:
    """The unit id of each of a half's totals rows (`cluster_totals` order), or None without shared signs."""
    if units is None:
        return None
    if groups is None:
        return units[rows]
    _, first = np.unique(groups, return_index=True)  # cluster_totals orders groups as np.unique does
    return units[rows][first]


def _direction_positions(n_rows: int, seed: int, device: torch.device) -> torch.Tensor:
    """All of a half's `n_rows` positions, or `DIRECTION_ROWS` of them drawn by seed (sorted)."""
    if n_rows <= DIRECTION_ROWS:
        return torch.arange(n_rows, device=device)
    pick = np.sort(np.random.default_rng(seed).choice(n_rows, DIRECTION_ROWS, replace=False))
    return torch.as_tensor(pick, device=device)


@dataclass(frozen=True)
class _Half:
    """One half's per-unit totals `(G, 2P + 1)`: Σ r_x·r_y·Ψ_other | Σ influence·r_x | Σ r_x·r_y.

    For signs `ξ (G, B)`, `totalsᵀ ξ` holds all the half contributes to the flipped statistics.
    """

    totals: torch.Tensor
    units: np.ndarray | None = None
    """Each totals row's unit id in the `SharedSigns`, when the flips are shared."""

    @property
    def n_features(self) -> int:
        """`P`, the direction's features."""
        return (self.totals.shape[1] - 1) // 2

    @property
    def n_units(self) -> int:
        """Units (groups) in the half."""
        return self.totals.shape[0]

    @cached_property
    def gram(self) -> torch.Tensor:
        """`(P, P)` Gram matrix of the weighted-product totals (their sum of squares along any direction)."""
        weighted = self.totals[:, : self.n_features]
        return weighted.T @ weighted

    @cached_property
    def plain_sumsq(self) -> float:
        """Sum of squares of the plain products' totals (unchanged by sign flips)."""
        return float(self.totals[:, -1] @ self.totals[:, -1])


def _statistics(halves: list[_Half], projections: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Unscaled `z_0 + z_1` and the plain GCM's z-score for each of B sign draws.

    `projections[h] = halves[h].totalsᵀ ξ_h (2P + 1, B)`. With signs `ξ` (`ξ² = 1`), half `h`'s unit
    totals are `ξ ⊙ (weighted_h @ w)` for the other half's direction `w = influence_oᵀ ξ_o`; their
    mean and sum of squares follow from `weightedᵀ ξ` and the Gram matrix, without forming the
    `(G, B)` products.
    """
    p = halves[0].n_features
    projections = [proj.to(halves[0].totals.dtype) for proj in projections]
    total = 0.0
    for h, (part, proj) in enumerate(zip(halves, projections, strict=True)):
        w = projections[1 - h][p : 2 * p]  # (P, B): the other half's direction
        mean = (proj[:p] * w).sum(0) / part.n_units
        sumsq = ((part.gram @ w) * w).sum(0)
        total = total + _standardised(mean, sumsq, part.n_units)
    g = sum(part.n_units for part in halves)
    plain_mean = sum(proj[-1] for proj in projections) / g
    plain_sumsq = sum(part.plain_sumsq for part in halves)
    return total.cpu().numpy(), _standardised(plain_mean, plain_sumsq, g).cpu().numpy()


def _standardised(mean: torch.Tensor, sumsq: torch.Tensor | float, g: int) -> torch.Tensor:
    """`√G · mean / sd` (sd with G − 1 degrees of freedom) from the mean and sum of squares of G totals; 0 where sd = 0."""
    var = ((sumsq - g * mean**2) / max(g - 1, 1)).clamp_min(0)
    sd = var.sqrt()
    return torch.where(sd > 0, mean / torch.where(sd > 0, sd, torch.ones_like(sd)) * np.sqrt(g), torch.zeros_like(mean))


def _flipped(halves: list[_Half], seed: int, signs: SharedSigns | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`_statistics` under `N_FLIPS` Rademacher sign draws per unit, in batches of at most `FLIP_CELLS` signs.

    The signs are drawn from `seed`, or read from the shared `signs` by each half's unit ids.

    The projections `totalsᵀ ξ` are computed in single precision (they are the cost: `G·(2P+1)` per
    draw; sums of ±1-weighted totals lose nothing a p-value at resolution 0.001 could show).
    """
    rng = np.random.default_rng([seed, 43])
    units = sum(part.n_units for part in halves)
    batch = max(1, min(N_FLIPS, FLIP_CELLS // max(units, 1)))
    single = [part.totals.float() for part in halves]
    out = ([], [])
    for start in range(0, N_FLIPS, batch):
        b = min(batch, N_FLIPS - start)
        projections = []
        for part, totals in zip(halves, single, strict=True):
            # One random bit u per sign ξ = 2u − 1: eight per random byte, most significant bit first;
            # totalsᵀ ξ = 2·totalsᵀ u − Σ totals spares two passes over the (units × draws) signs.
            if signs is None:
                packed = rng.integers(0, 256, size=(part.n_units, (b + 7) // 8), dtype=np.uint8)
                raw = np.unpackbits(packed, axis=1, count=b)
            else:
                raw = signs.bits(part.units, start, b)
            bits = torch.from_numpy(np.ascontiguousarray(raw)).to(device=totals.device, dtype=torch.float32)
            projections.append(2 * matmul(totals.T, bits) - totals.sum(0)[:, None])
        for k, values in enumerate(_statistics(halves, projections)):
            out[k].append(values)
    return np.concatenate(out[0]), np.concatenate(out[1])
