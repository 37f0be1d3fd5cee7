"""Cross-fitted ridge regressions on random Fourier features, in torch (CPU or CUDA).

These are the nuisance regressions `E[target | z]` behind the CI tests and the transport effect.
Every regression is fitted from sufficient statistics (feature Gram matrices accumulated in row
chunks), so the data pass costs `O(n·D²)` once for all folds, outputs, bandwidths and ridge
penalties; the bandwidth and the penalty are chosen per output and per training fold by
generalised cross-validation (GCV), which the eigendecomposition of the Gram matrix gives in closed
form for every penalty at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from analysis.linalg import eigh, gram
from core.errors import DataError, FitError

BANDWIDTH_FACTORS = (0.5, 1.0, 2.0)
"""Multiples of the median-heuristic bandwidth tried by GCV."""
LAMBDA_GRID = tuple(float(v) for v in np.logspace(-6, 2, 17))
"""Ridge penalties tried by GCV, relative to the number of training rows."""
SELECTION_ROWS = 10_000
"""Above this many rows each fold's bandwidth is chosen per target by GCV on this many rows drawn by
seed, and only the chosen bandwidths are computed on every row; the penalty is still chosen on all
rows. At 10⁵ rows the three bandwidths' features and Gram matrices were 40 % of a test's time, and
which of three bandwidths fits best is settled long before 10,000 rows."""
CHUNK_BYTES = 64 << 20
CACHE_BYTES = 1 << 30
"""Features of all rows are kept in memory (one copy per bandwidth) up to this size."""


def n_random_features(n: int) -> int:
    """Random features for `n` rows: enough to be flexible, few enough that `D ≪ n` per fold."""
    return int(np.clip(n // 8, 32, 256))


@dataclass(frozen=True)
class FeatureMap:
    """`z ↦ [z_std, √2·cos(z_std·W_b + φ)]`: linear terms plus Gaussian-kernel random features.

    One weight matrix per bandwidth `b` (a multiple of the median pairwise distance of the
    standardised `z`); the same normal draws are reused across bandwidths.
    """

    center: torch.Tensor
    scale: torch.Tensor
    weights: torch.Tensor  # (B, d, D)
    phase: torch.Tensor  # (D,)
    bandwidths: tuple[float, ...]

    @classmethod
    def fit(
        cls,
        z: torch.Tensor,
        n_features: int,
        *,
        factors: tuple[float, ...] = BANDWIDTH_FACTORS,
        seed: int = 0,
    ) -> FeatureMap:
        """Standardise `z` and draw the random weights (on the CPU, so every device gets the same)."""
        gen = torch.Generator().manual_seed(seed)
        center = z.mean(0)
        scale = z.std(0)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        sub = z[torch.randperm(len(z), generator=gen)[:1000].to(z.device)]
        zs = (sub - center) / scale
        dist = torch.pdist(zs) if len(zs) > 1 else torch.ones(1, dtype=z.dtype, device=z.device)
        median = float(dist.median()) if len(dist) else 1.0
        median = median if median > 0 else 1.0
        d = z.shape[1]
        base = torch.randn(d, n_features, generator=gen, dtype=torch.float64)
        phase = 2 * np.pi * torch.rand(n_features, generator=gen, dtype=torch.float64)
        weights = torch.stack([base / (f * median) for f in factors])
        return cls(
            center=center,
            scale=scale,
            weights=weights.to(device=z.device, dtype=z.dtype),
            phase=phase.to(device=z.device, dtype=z.dtype),
            bandwidths=tuple(f * median for f in factors),
        )

    @property
    def n_out(self) -> int:
        """Number of output features (linear plus random)."""
        return self.weights.shape[1] + self.weights.shape[2]

    def transform(self, z: torch.Tensor, b: int) -> torch.Tensor:
        """Features of `z (m, d)` at bandwidth index `b`: `(m, d + D)`."""
        return self.transform_all(z, (b,))[0]

    def transform_all(self, z: torch.Tensor, indices: tuple[int, ...] | None = None) -> list[torch.Tensor]:
        """Features of `z (m, d)` at every bandwidth (or those in `indices`): a list of `(m, d + D)`.

        The bandwidths scale the same normal draws, so one projection `z_std @ W_0` serves them all
        (a bandwidth's features are `cos` of it times `h_0 / h_b`).
        """
        indices = tuple(range(len(self.bandwidths))) if indices is None else indices
        d, m = z.shape[1], z.shape[0]
        zs = (z - self.center) / self.scale
        # The cosines are taken in single precision (2.3× faster on this CPU) and stored in the
        # input's precision: that is a fixed feature map of its own, exact to ~1e-6, and every
        # product and solve downstream stays in double precision.
        proj = zs.float() @ self.weights[0].float()
        phase = self.phase.float()
        out = []
        for b in indices:
            feats = torch.empty(m, d + self.weights.shape[2], dtype=z.dtype, device=z.device)
            feats[:, :d] = zs
            rff = torch.mul(proj, self.bandwidths[0] / self.bandwidths[b])
            feats[:, d:] = rff.add_(phase).cos_().mul_(np.sqrt(2.0))
            out.append(feats)
        return out


def gaussianize(z: torch.Tensor) -> torch.Tensor:
    """Map each column through its empirical CDF to normal scores (ties share their mean rank).

    A monotone per-column change of variables leaves `E[target | z]` and every conditional
    independence given `z` unchanged, but bounds the features: a skewed or heavy-tailed column
    (a probe's output piled up near 1 with a long tail) cannot make a held-out row extrapolate.
    """
    n = z.shape[0]
    out = torch.empty_like(z)
    for j in range(z.shape[1]):
        _, inverse, counts = torch.unique(z[:, j], sorted=True, return_inverse=True, return_counts=True)
        mean_rank = torch.cumsum(counts, 0) - (counts - 1) / 2.0
        out[:, j] = torch.special.ndtri(mean_rank[inverse].to(z.dtype) / (n + 1))
    return out


def assign_folds(n: int, n_folds: int, groups: np.ndarray | None, seed: int) -> np.ndarray:
    """Fold index per row; rows of one group share a fold. Deterministic given `seed`."""
    rng = np.random.default_rng(seed)
    if groups is None:
        folds = np.empty(n, dtype=np.int64)
        folds[rng.permutation(n)] = np.arange(n) % n_folds
        return folds
    _, inverse = np.unique(groups, return_inverse=True)
    n_groups = int(inverse.max()) + 1
    group_fold = np.empty(n_groups, dtype=np.int64)
    group_fold[rng.permutation(n_groups)] = np.arange(n_groups) % n_folds
    return group_fold[inverse]


@dataclass
class _Stats:
    """Per-cell sufficient statistics of one bandwidth: counts, feature sums, Grams, cross-products."""

    count: torch.Tensor  # (C,)
    fsum: torch.Tensor  # (C, P)
    gram: torch.Tensor  # (C, P, P)
    cross: torch.Tensor  # (C, P, q)
    tsum: torch.Tensor  # (C, q)
    tsq: torch.Tensor  # (C, q)


class _Features:
    """Features of the rows of `z` (sorted by fold) at the bandwidths `indices`, cached when they fit in memory."""

    def __init__(self, fmap: FeatureMap, z: torch.Tensor, indices: tuple[int, ...]):
        self.fmap, self.z, self.indices = fmap, z, indices
        per_bw = z.shape[0] * fmap.n_out * z.element_size()
        cached = per_bw * len(indices) <= CACHE_BYTES
        self.cache = dict(zip(indices, fmap.transform_all(z, indices), strict=True)) if cached else None

    def block(self, b: int, start: int, stop: int) -> torch.Tensor:
        """Features of rows `start:stop` at bandwidth `b`."""
        if self.cache is not None:
            return self.cache[b][start:stop]
        return self.fmap.transform(self.z[start:stop], b)


def _accumulate(feats: _Features, t: torch.Tensor, bounds: list[int]) -> dict[int, _Stats]:
    """Sufficient statistics per bandwidth for the cells `bounds[c]:bounds[c+1]` of sorted rows."""
    n_cells = len(bounds) - 1
    p, q = feats.fmap.n_out, t.shape[1]
    kw = {"dtype": t.dtype, "device": t.device}
    stats = {
        b: _Stats(
            torch.zeros(n_cells, **kw),
            torch.zeros(n_cells, p, **kw),
            torch.zeros(n_cells, p, p, **kw),
            torch.zeros(n_cells, p, q, **kw),
            torch.zeros(n_cells, q, **kw),
            torch.zeros(n_cells, q, **kw),
        )
        for b in feats.indices
    }
    chunk = max(1024, CHUNK_BYTES // (8 * p))
    for c in range(n_cells):
        for start in range(bounds[c], bounds[c + 1], chunk):
            stop = min(start + chunk, bounds[c + 1])
            tc = t[start:stop]
            for b, st in stats.items():
                phi = feats.block(b, start, stop)
                st.count[c] += stop - start
                st.fsum[c] += phi.sum(0)
                st.gram[c] += gram(phi)
                st.cross[c] += phi.T @ tc
                st.tsum[c] += tc.sum(0)
                st.tsq[c] += (tc * tc).sum(0)
    return stats


@dataclass(frozen=True)
class _Fit:
    coef: torch.Tensor  # (P, q)
    intercept: torch.Tensor  # (q,)
    gcv: torch.Tensor  # (q,)
    penalty: torch.Tensor  # (q,) relative penalty chosen


def _fit_cells(st: _Stats, mask: torch.Tensor, lambdas: torch.Tensor) -> _Fit | None:
    """Ridge fit (unpenalised intercept) on the cells in `mask`, penalty per output by GCV."""
    n = st.count[mask].sum()
    if float(n) < 3:
        return None
    fsum, gram, cross = st.fsum[mask].sum(0), st.gram[mask].sum(0), st.cross[mask].sum(0)
    tsum, tsq = st.tsum[mask].sum(0), st.tsq[mask].sum(0)
    mf, mt = fsum / n, tsum / n
    gc = gram - n * torch.outer(mf, mf)
    bc = cross - n * torch.outer(mf, mt)
    tt = (tsq - n * mt * mt).clamp_min(0)
    try:
        evals, evecs = eigh(gc)
    except RuntimeError as exc:  # non-convergence on a degenerate Gram
        raise FitError(f"ridge regression failed to fit: {exc}") from exc
    evals = evals.clamp_min(0)
    beta = evecs.T @ bc  # (P, q)
    lam = lambdas[:, None] * n  # (L, 1)
    denom = evals[None, :] + lam  # (L, P)
    # RSS(λ) = tt − Σ β²(e + 2λ)/(e + λ)²; df(λ) = Σ e/(e + λ)
    shrink = (evals[None, :] + 2 * lam) / denom**2  # (L, P)
    rss = (tt[None, :] - shrink @ beta**2).clamp_min(0)  # (L, q)
    df = (evals[None, :] / denom).sum(1, keepdim=True) + 1  # (L, 1)
    gcv = (rss / n) / (1 - df / n).clamp_min(1e-6) ** 2
    gcv = torch.where(df < n, gcv, torch.full_like(gcv, float("inf")))
    best = gcv.argmin(0)  # (q,)
    coef = evecs @ (beta / denom[best].T)  # (P, q)
    intercept = mt - mf @ coef
    if not (torch.isfinite(coef).all() and torch.isfinite(intercept).all()):
        raise FitError("ridge regression produced non-finite coefficients; check the scale of the inputs.")
    return _Fit(coef, intercept, gcv[best, torch.arange(len(best))], lambdas[best])


def _predict(feats: _Features, fits: dict[int, _Fit], best_b: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Predictions `(stop − start, q)` of sorted rows, each output from its chosen bandwidth's fit."""
    pred = torch.empty(stop - start, len(best_b), dtype=feats.z.dtype, device=feats.z.device)
    chunk = max(1024, CHUNK_BYTES // (8 * feats.fmap.n_out))
    for b in torch.unique(best_b).tolist():
        cols = torch.nonzero(best_b == b).flatten()
        for lo in range(start, stop, chunk):
            hi = min(lo + chunk, stop)
            pred[lo - start : hi - start, cols] = (
                feats.block(b, lo, hi) @ fits[b].coef[:, cols] + fits[b].intercept[cols]
            )
    return pred


@dataclass(frozen=True)
class CrossFit:
    """Out-of-fold predictions `pooled (n, q)` of each target column from `z`.

    `bandwidths` and `penalties` are the ridge's GCV choices per fold and target, for the record;
    `learners` names the regression used per target (`analysis.learners`: "ridge" or "boosting")
    and `heldout_mse` the fold-0 errors that chose it (empty when only the ridge was tried).
    """

    pooled: torch.Tensor
    folds: np.ndarray
    n_features: int
    bandwidths: np.ndarray  # (K, q) chosen bandwidth
    penalties: np.ndarray  # (K, q) chosen relative penalty
    learners: tuple[str, ...] = ()
    heldout_mse: dict = field(default_factory=dict)

    def describe(self, names: tuple[str, ...] | None = None) -> str:
        """One line naming the regressions (and, with `names` per target, which learner each got)."""
        ridge = (
            f"ridge on {self.n_features} random Fourier features + linear terms of the normal scores of z, bandwidth "
            f"({'/'.join(f'{f:g}' for f in BANDWIDTH_FACTORS)}× median) and penalty by GCV"
        )
        k = len(np.unique(self.folds))
        if not self.learners or set(self.learners) == {"ridge"} and not self.heldout_mse:
            return f"{ridge}, {k}-fold cross-fitted"
        names = names or tuple(f"target {j}" for j in range(len(self.learners)))
        picks = ", ".join(f"{n}: {learner}" for n, learner in zip(names, self.learners, strict=True))
        return (
            f"{k}-fold cross-fitted, learner per target by fold-0 held-out error ({picks}); ridge = {ridge}; "
            f"boosting = LightGBM histogram gradient boosting (50 trees of 15 leaves), blend = their mean"
        )


def _by_fold(folds: np.ndarray, k: int) -> tuple[np.ndarray, list[int]]:
    """Row order that sorts `folds`, and each fold's `[start, stop)` bounds in it: every fold becomes
    one contiguous block of the (cached) features."""
    return np.argsort(folds, kind="stable"), [0, *np.cumsum(np.bincount(folds, minlength=k)).tolist()]


def _fit_fold(stats: dict[int, _Stats], fold: int, lambdas: torch.Tensor) -> dict[int, _Fit]:
    """Each bandwidth's ridge fit on every cell but `fold`."""
    cells = torch.arange(len(next(iter(stats.values())).count), device=lambdas.device)
    fits = {b: _fit_cells(st, cells != fold, lambdas) for b, st in stats.items()}
    if any(f is None for f in fits.values()):
        raise DataError(f"fold {fold} leaves fewer than 3 training rows; use fewer folds or more data.")
    return fits


def _preselect_bandwidths(
    fmap: FeatureMap, z: torch.Tensor, targets: torch.Tensor, folds: np.ndarray, lambdas: torch.Tensor, seed: int
) -> torch.Tensor:
    """Bandwidth index per fold and target `(K, q)`: each fold's GCV choice on `SELECTION_ROWS` rows drawn by seed.

    As on all rows, fold `k`'s choice reads only the other folds' rows, so no row's own target
    picks the regression that predicts it.
    """
    rng = np.random.default_rng([seed, 47])
    sub = np.sort(rng.choice(len(folds), SELECTION_ROWS, replace=False))
    k = int(folds.max()) + 1
    order, bounds = _by_fold(folds[sub], k)
    rows = torch.as_tensor(sub[order], device=z.device)
    stats = _accumulate(_Features(fmap, z[rows], tuple(range(len(fmap.bandwidths)))), targets[rows], bounds)
    return torch.stack(
        [torch.stack([f.gcv for f in _fit_fold(stats, fold, lambdas).values()]).argmin(0) for fold in range(k)]
    )


def crossfit(
    z: torch.Tensor,
    targets: torch.Tensor,
    folds: np.ndarray,
    *,
    n_features: int | None = None,
    seed: int = 0,
    zg: torch.Tensor | None = None,
) -> CrossFit:
    """Out-of-fold ridge predictions of `targets (n, q)` from `z (n, d)` (see `CrossFit`).

    `z` is first mapped to normal scores per column (`gaussianize`); `zg`, those scores when the
    caller already has them.
    """
    n, q = z.shape[0], targets.shape[1]
    z = gaussianize(z) if zg is None else zg
    k = int(folds.max()) + 1
    n_features = n_random_features(n) if n_features is None else n_features
    fmap = FeatureMap.fit(z, n_features, seed=seed)
    lambdas = torch.tensor(LAMBDA_GRID, dtype=z.dtype, device=z.device)
    forced = _preselect_bandwidths(fmap, z, targets, folds, lambdas, seed) if n > SELECTION_ROWS else None
    indices = tuple(range(len(fmap.bandwidths))) if forced is None else tuple(sorted(set(forced.flatten().tolist())))
    order, bounds = _by_fold(folds, k)
    order = torch.as_tensor(order, device=z.device)
    feats = _Features(fmap, z[order], indices)
    stats = _accumulate(feats, targets[order], bounds)
    pooled = torch.empty(n, q, dtype=z.dtype, device=z.device)
    chosen_bw = np.zeros((k, q))
    chosen_pen = np.zeros((k, q))
    for fold in range(k):
        fits = _fit_fold(stats, fold, lambdas)
        gcv = torch.stack([fits[b].gcv for b in indices])  # (len(indices), q)
        best_b = torch.as_tensor(indices, device=z.device)[gcv.argmin(0)] if forced is None else forced[fold]
        pooled[order[bounds[fold] : bounds[fold + 1]]] = _predict(feats, fits, best_b, bounds[fold], bounds[fold + 1])
        chosen_bw[fold] = np.asarray(fmap.bandwidths)[best_b.cpu().numpy()]
        chosen_pen[fold] = [float(fits[int(b)].penalty[j]) for j, b in enumerate(best_b.tolist())]
    if not torch.isfinite(pooled).all():
        raise FitError("a cross-fitted regression returned non-finite predictions.")
    return CrossFit(pooled, folds, n_features, chosen_bw, chosen_pen)
