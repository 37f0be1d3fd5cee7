"""Nuisance regressions chosen per target by held-out error: ridge on random features, or boosting.

The doubly robust tests are only as good as their two regressions `E[Y_b | Y_m]` and
`P(s = 1 | Y_m)`: the bias of the statistic is the mean product of the two regressions' errors.
The ridge on random Fourier features of the normal scores (`analysis.ridge`) is fast and smooth,
but it is isotropic in `Y_m`: a mean that depends on a product of two of six heavy-tailed
coordinates, or is linear in a raw heavy-tailed one, is fitted badly in the tails, exactly where a
shifted regime puts its units. Gradient-boosted trees (LightGBM's histogram boosting) select
coordinates, are invariant to monotone transforms and extrapolate flat, and they fit those means
well.

The rule, per target column (documented in `CrossFit.describe`): every target is cross-fitted by
the ridge (all folds at once, from sufficient statistics). Boosting is then fitted on the training
rows of fold 0 (at most `BOOSTING_ROWS` of them, drawn by seed) and scored on fold 0's held-out
rows (a 0/1 target with the log-loss, so it predicts a probability), and so is the blend, the
mean of the two predictions (the errors of two different learners partly cancel). The learner with
the lowest held-out mean squared error (the Brier score for a 0/1 target) is kept for that target —
boosting or the blend only when it beats the ridge by more than `SELECTION_GAIN` — and cross-fitted
over every fold. The choice uses the held-out error of one regression at a time and never the test
statistic, so it cannot steer a p-value.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal, get_args

import numpy as np
import torch

from analysis.ridge import CrossFit, crossfit

Learner = Literal["ridge", "boosting", "blend"]
LEARNERS: tuple[str, ...] = get_args(Learner)
BOOSTING_ROWS = 10_000
"""Boosting is fitted on at most this many training rows per fold (drawn by seed): fitted on all
80,000 training rows of a 10⁵-row test, it took half of the test's 12 s (2026-12-01)."""
SELECTION_GAIN = 0.01
"""Boosting must lower fold 0's held-out error by more than this share to replace the ridge."""
MIN_ROWS_FOR_BOOSTING = 500
"""Below this many rows the ridge alone is used: trees of 20-row leaves are coarse there, one fold's
comparison is noisy, and a shift sweep's hundreds of small tests would pay for boosting each time."""
BOOSTING_PARAMS = {
    "num_iterations": 50,
    "learning_rate": 0.2,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "max_bin": 63,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}
"""Fixed settings of LightGBM's histogram boosting: 50 trees of 15 leaves (no early stopping, no
bagging, so a fit is a deterministic function of its rows and seed). LightGBM rather than
scikit-learn's `HistGradientBoostingRegressor` with the same settings: 1.7–2.5× faster a fit on
this 2-core CPU (its per-tree work is all in C++), and the data are binned once per test."""


class _Booster:
    """LightGBM histogram boosting of targets on one design `z (n, d)`, binned once for every fit.

    The bin edges come from `z` alone (at most `BOOSTING_ROWS` of its rows, drawn by seed; no
    target), so they leak nothing between folds. The rows any fit trains on (`rows`, sorted; all
    by default) are binned once (`binned`); each fit trains on a `subset` of them with its own
    labels (the same trees as binning its rows anew, 12 ms a fit less at 8,000 rows). LightGBM runs
    on one thread: its fits are small, and a second OpenMP runtime beside torch's was measured to
    slow both down on two cores.
    """

    threads = 1

    def __init__(self, z: np.ndarray, seed: int, rows: np.ndarray | None = None):
        import lightgbm as lgb

        self.lgb, self.z, self.seed = lgb, z, seed
        self.rows = np.arange(len(z)) if rows is None else rows
        if len(z) > BOOSTING_ROWS:
            edges = np.sort(np.random.default_rng([seed, 61]).choice(len(z), BOOSTING_ROWS, replace=False))
            reference = lgb.Dataset(z[edges], params=self._binning, free_raw_data=False).construct()
        else:
            reference = None
        self.binned = lgb.Dataset(
            z[self.rows], reference=reference, params=self._binning, free_raw_data=False
        ).construct()

    @property
    def _binning(self) -> dict:
        """Dataset parameters, the same for the reference and every fit (LightGBM warns otherwise)."""
        keys = ("max_bin", "verbosity")
        return {**{k: BOOSTING_PARAMS[k] for k in keys}, "seed": self.seed}

    def _params(self, objective: str) -> dict:
        return {**BOOSTING_PARAMS, **self._binning, "objective": objective, "num_threads": self.threads}

    def fit_predict(self, train: np.ndarray, target: np.ndarray, test: np.ndarray) -> np.ndarray:
        """Predictions at rows `test` of a fit on rows `train` of `target (n,)`; a probability for a 0/1 target."""
        train = np.sort(train)  # LightGBM's subset takes its rows in sorted order; the labels must follow them
        t = target[train]
        binary = bool(np.all((t == 0) | (t == 1))) and len(np.unique(t)) == 2
        objective = "binary" if binary else "regression"
        positions = np.searchsorted(self.rows, train).astype(np.int32)
        data = self.binned.subset(positions, params=self._binning).construct()
        data.set_label(t)
        # keep_training_booster: predict from the trained booster, not from a copy re-read from its text dump
        model = self.lgb.train(self._params(objective), data, keep_training_booster=True)
        return model.predict(self.z[test], num_threads=self.threads)


def crossfit_selected(
    z: torch.Tensor,
    targets: torch.Tensor,
    folds: np.ndarray,
    *,
    learners: tuple[str, ...] = LEARNERS,
    seed: int = 0,
    zg: torch.Tensor | None = None,
) -> CrossFit:
    """Out-of-fold predictions of `targets (n, q)` from `z (n, d)`, the learner chosen per column.

    Returns the ridge's `CrossFit` with the columns where boosting or the blend won replaced by
    their out-of-fold predictions, `learners` naming the choice per column and `heldout_mse` the fold-0 errors that
    decided it (`{learner: (q,) errors}`). Boosting runs on the CPU; its predictions are moved to
    the device of `z`. `zg` are the normal scores of `z` when the caller has them (the ridge's
    features; boosting reads `z` itself).
    """
    fit = crossfit(z, targets, folds, seed=seed, zg=zg)
    q = targets.shape[1]
    if "boosting" not in learners or z.shape[0] < MIN_ROWS_FOR_BOOSTING:
        return replace(fit, learners=("ridge",) * q)
    zn = z.detach().cpu().numpy()
    tn = targets.detach().cpu().numpy()
    rng = np.random.default_rng([seed, 17])
    train = {}
    for k in np.unique(folds):
        idx = np.flatnonzero(folds != k)
        train[k] = np.sort(rng.choice(idx, BOOSTING_ROWS, replace=False)) if len(idx) > BOOSTING_ROWS else idx
    booster = _Booster(zn, seed, rows=np.unique(np.concatenate(list(train.values()))))
    held = folds == 0
    pooled = fit.pooled.clone()
    ridge_pred = fit.pooled[torch.as_tensor(held, device=z.device)].cpu().numpy()
    chosen = []
    mse = {name: np.zeros(q) for name in ("ridge", "boosting", "blend")}
    for j in range(q):
        pred0 = booster.fit_predict(train[0], tn[:, j], held)
        predictions = {
            "ridge": ridge_pred[:, j],
            "boosting": pred0,
            "blend": (pred0 + ridge_pred[:, j]) / 2,
        }
        for name, pred in predictions.items():
            mse[name][j] = float(np.mean((tn[held, j] - pred) ** 2))
        best = min(("boosting", "blend"), key=lambda name: mse[name][j])
        if not mse[best][j] < (1 - SELECTION_GAIN) * mse["ridge"][j]:
            chosen.append("ridge")
            continue
        chosen.append(best)
        col = np.empty(len(tn))
        col[held] = pred0
        for k in np.unique(folds)[1:]:
            out = folds == k
            col[out] = booster.fit_predict(train[k], tn[:, j], out)
        if best == "blend":
            col = (col + fit.pooled[:, j].cpu().numpy()) / 2
        pooled[:, j] = torch.as_tensor(col, dtype=pooled.dtype, device=pooled.device)
    return replace(fit, pooled=pooled, learners=tuple(chosen), heldout_mse=mse)
