"""Probe estimators with the scikit-learn interface (fit / predict / score)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from envs.errors import ConfigError

ProbeKind = Literal["logistic", "ridge"]
PROBE_KINDS: tuple[str, ...] = ("logistic", "ridge")


class LinearProbe(BaseEstimator):
    """A linear read-out of a target from activations `(n, d)`.

    `kind="logistic"` reads a binary target and `predict` returns P(target = 1) in [0, 1];
    `kind="ridge"` reads a real target. Inputs are standardised; `alpha` is the L2 penalty.
    `score` is ROC AUC for logistic probes (0.5 = chance) and R² for ridge probes. A target that
    is constant in the training data gives a probe that predicts that constant (`constant_`).
    """

    def __init__(self, kind: ProbeKind = "logistic", alpha: float = 1.0) -> None:
        self.kind = kind
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearProbe:
        """Fit on activations `X (n, d)` and targets `y (n,)`."""
        if self.kind not in PROBE_KINDS:
            raise ConfigError(f"probe kind must be one of {PROBE_KINDS}, got {self.kind!r}.")
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        self.constant_ = float(y[0]) if np.all(y == y[0]) else None
        if self.constant_ is None:
            head = (
                LogisticRegression(C=1.0 / self.alpha, max_iter=2000)
                if self.kind == "logistic"
                else Ridge(alpha=self.alpha)
            )
            self.model_ = make_pipeline(StandardScaler(), head).fit(X, y.astype(int) if self.kind == "logistic" else y)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The probe's read-out `(n,)`: a probability (logistic) or a value (ridge)."""
        X = np.asarray(X, dtype=np.float64)
        if self.constant_ is not None:
            return np.full(X.shape[0], self.constant_)
        if self.kind == "logistic":
            return self.model_.predict_proba(X)[:, 1]
        return self.model_.predict(X)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """ROC AUC (logistic) or R² (ridge) of `predict(X)` against `y`."""
        return probe_score(self.kind, y, self.predict(X))


MIN_CLASS = 10


def probe_score(kind: str, y: np.ndarray, pred: np.ndarray) -> float:
    """ROC AUC for binary targets, R² otherwise.

    NaN when the target is constant or, for binary targets, when the rarer class has fewer than
    `MIN_CLASS` rows: out-of-fold AUC is then dominated by which rare rows each fold held out and
    can fall far below 0.5 for a probe that learned nothing.
    """
    y = np.asarray(y, dtype=np.float64)
    if np.all(y == y[0]):
        return float("nan")
    if kind == "logistic":
        if min(int((y == 1).sum()), int((y != 1).sum())) < MIN_CLASS:
            return float("nan")
        return float(roc_auc_score(y.astype(int), pred))
    return float(r2_score(y, pred))
