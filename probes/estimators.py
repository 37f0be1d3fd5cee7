"""Probe estimators with the scikit-learn interface (fit / predict / score)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.errors import ConfigError
from core.vocab import PROBE_KINDS, ProbeKind


class _Probe(BaseEstimator):
    """fit / predict / score around one sklearn head on standardised inputs.

    A target that is constant in the training data gives a probe that predicts that constant
    (`constant_`); subclasses build the head (`_head`), say how targets are cast (`_target`) and
    how the fitted pipeline reads out (`_readout`).
    """

    score_kind: str = "logistic"

    def _head(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _target(self, y: np.ndarray) -> np.ndarray:
        return y.astype(int)

    def _readout(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X)[:, 1]

    def _fit_model(self, X: np.ndarray, y: np.ndarray):
        return make_pipeline(StandardScaler(), self._head()).fit(X, self._target(y))

    def fit(self, X: np.ndarray, y: np.ndarray):
        """Fit on activations `X (n, d)` and targets `y (n,)`."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        self.constant_ = float(y[0]) if np.all(y == y[0]) else None
        if self.constant_ is None:
            self.model_ = self._fit_model(X, y)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The probe's read-out `(n,)`: P(target = 1) for binary targets, a value for real ones."""
        X = np.asarray(X, dtype=np.float64)
        if self.constant_ is not None:
            return np.full(X.shape[0], self.constant_)
        return self._readout(X)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """ROC AUC (binary targets) or R² (real targets) of `predict(X)` against `y` (see `probe_score`)."""
        return probe_score(self.score_kind, y, self.predict(X))


class LinearProbe(_Probe):
    """A linear read-out of a target from activations `(n, d)`.

    `kind="logistic"` reads a binary target and `predict` returns P(target = 1) in [0, 1];
    `kind="ridge"` reads a real target. Inputs are standardised; `alpha` is the L2 penalty.
    `score` is ROC AUC for logistic probes (0.5 = chance) and R² for ridge probes. A target that
    is constant in the training data gives a probe that predicts that constant (`constant_`).
    """

    def __init__(self, kind: ProbeKind = "logistic", alpha: float = 1.0) -> None:
        self.kind = kind
        self.alpha = alpha

    @property
    def score_kind(self) -> str:
        return self.kind

    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearProbe:
        """Fit on activations `X (n, d)` and targets `y (n,)`."""
        if self.kind not in PROBE_KINDS:
            raise ConfigError(f"probe kind must be one of {PROBE_KINDS}, got {self.kind!r}.")
        return super().fit(X, y)

    def _head(self):
        return (
            LogisticRegression(C=1.0 / self.alpha, max_iter=2000)
            if self.kind == "logistic"
            else Ridge(alpha=self.alpha)
        )

    def _target(self, y: np.ndarray) -> np.ndarray:
        return y.astype(int) if self.kind == "logistic" else y

    def _readout(self, X: np.ndarray) -> np.ndarray:
        return super()._readout(X) if self.kind == "logistic" else self.model_.predict(X)


class MLPProbe(_Probe):
    """A small non-linear read-out of a binary target: standardise, one hidden ReLU layer, sigmoid.

    sklearn's `MLPClassifier` (`hidden` units, L2 penalty `alpha`, Adam, early stopping on a
    stratified 15% validation split, fixed `random_state`). Early stopping is switched off when a
    class has too few rows to split. Same interface as `LinearProbe`: `predict` is P(target = 1),
    `score` is ROC AUC, and a constant training target gives a constant probe (`constant_`).
    """

    def __init__(self, hidden: int = 16, alpha: float = 1e-3, random_state: int = 0, max_iter: int = 400) -> None:
        self.hidden = hidden
        self.alpha = alpha
        self.random_state = random_state
        self.max_iter = max_iter

    def _fit_model(self, X: np.ndarray, y: np.ndarray):
        y = self._target(y)
        self._early = int(np.bincount(y).min()) >= 5 and len(y) >= 30
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return super()._fit_model(X, y)

    def _head(self):
        return MLPClassifier(
            hidden_layer_sizes=(int(self.hidden),),
            alpha=self.alpha,
            learning_rate_init=1e-2,
            max_iter=self.max_iter,
            early_stopping=self._early,
            validation_fraction=0.15,
            n_iter_no_change=20,
            random_state=self.random_state,
        )


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
