"""The generalised covariance measure (Shah & Peters 2020), cross-fitted and cluster-robust.

`x ⊥ y | z` implies `E[(x − E[x|z])(y − E[y|z])] = 0`. Both conditional means are estimated with
cross-fitted regressions (ridge on random features or boosting, chosen per target by held-out
error: `analysis.learners`), and the mean of the residual products is tested
with a (cluster-robust) Wald test. For `x = Y_b` and a binary regime `y = s` this is the doubly
robust test built from an outcome model `E[Y_b|Y_m]` and a propensity model `P(s=1|Y_m)`: its
bias is the product of the two models' errors, and its estimand is the overlap-weighted average of
the regime effect `E[Y_b|Y_m, s=1] − E[Y_b|Y_m, s=0]` (the partially linear effect of the
transport test). It has no power against effects that change sign with `Y_m` and average to zero;
the projected covariance measure (`analysis.pcm`, the default) has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from analysis.asymptotics import cluster_totals, wald_test
from analysis.learners import LEARNERS, crossfit_selected
from analysis.ridge import CrossFit, assign_folds
from core.errors import DataError


@dataclass(frozen=True)
class Nuisance:
    """Out-of-fold residuals of `x` and `y` on `z` and the fitted `E[y|z]` (all `torch`)."""

    r_x: torch.Tensor  # (n, dx)
    r_y: torch.Tensor  # (n, dy)
    y_hat: torch.Tensor | None  # (n, dy)
    fit: CrossFit | None
    description: str


def is_binary(y: torch.Tensor) -> bool:
    """True for one column of 0/1 values."""
    return y.shape[1] == 1 and bool(((y == 0) | (y == 1)).all())


def fit_nuisance(
    x: torch.Tensor,
    y: torch.Tensor,
    z: torch.Tensor | None,
    *,
    groups: np.ndarray | None = None,
    n_folds: int = 5,
    seed: int = 0,
    learners: tuple[str, ...] = LEARNERS,
    names: tuple[str, str] = ("x", "y"),
    zg: torch.Tensor | None = None,
) -> Nuisance:
    """Cross-fit `E[x|z]` and `E[y|z]` (folds keep groups together); return the residuals.

    Each target column gets its own learner (`analysis.learners.crossfit_selected`); `names`
    label `x` and `y` in the description; `zg`, the normal scores of `z` if the caller has them.
    """
    if z is None:
        return Nuisance(x - x.mean(0), y - y.mean(0), None, None, "no conditioning set: centred variables")
    dx = x.shape[1]
    folds = assign_folds(x.shape[0], n_folds, groups, seed)
    fit = crossfit_selected(z, torch.cat([x, y], dim=1), folds, learners=learners, seed=seed, zg=zg)
    y_hat = fit.pooled[:, dx:]
    if is_binary(y):
        y_hat = y_hat.clamp(0.0, 1.0)
    r_y = y - y_hat
    if float(r_y.abs().max()) < 1e-9:
        raise DataError("y is predicted exactly by z (no overlap between regimes); the test is not identified.")
    labels = tuple(f"{names[0]}[{j}]" if dx > 1 else names[0] for j in range(dx)) + tuple(
        f"{names[1]}[{j}]" if y.shape[1] > 1 else names[1] for j in range(y.shape[1])
    )
    return Nuisance(x - fit.pooled[:, :dx], r_y, y_hat, fit, fit.describe(labels))


def gcm_products(nu: Nuisance) -> torch.Tensor:
    """Per-row residual products `(n, dx·dy)`, one column per pair of coordinates."""
    n = nu.r_x.shape[0]
    return (nu.r_x[:, :, None] * nu.r_y[:, None, :]).reshape(n, -1)


def gcm_test(nu: Nuisance, groups: np.ndarray | None = None) -> tuple[float, int, float]:
    """`(statistic, df, p)`: Wald test that the residual products have mean zero."""
    return wald_test(cluster_totals(gcm_products(nu), groups))
