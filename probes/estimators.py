"""Probes: any scikit-learn estimator reading a target from activations, with the read-out studies use."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.device import resolve_device
from core.errors import ConfigError
from core.vocab import PROBE_KINDS, ProbeKind


class Probe(BaseEstimator):
    """Any scikit-learn estimator as a probe of a target from activations `(n, d)`.

    A classifier (anything with `predict_proba` or `decision_function`) reads a binary target; a
    regressor a real one. `readout(X)` is what studies use as the candidate signal `Y_m`: P(target
    = 1) from `predict_proba`, else the `decision_function` score, else `predict` (a regressor's
    value). A target that is constant in the training data gives a probe that predicts that
    constant (`constant_`), whatever the estimator would do with one class. `score` is ROC AUC for
    a classifier (0.5 = chance) and R² for a regressor (`probe_score`).

    `estimator` is cloned on `fit` (scikit-learn's `clone`), so one `Probe` can be cross-fitted
    with `sklearn.model_selection.cross_val_predict` (`method="predict_proba"` for a classifier); the fitted clone is
    `model_`.
    """

    def __init__(self, estimator=None) -> None:
        self.estimator = estimator

    def _build(self):
        if self.estimator is None:
            raise ConfigError("Probe needs an estimator, e.g. Probe(LogisticRegression()).")
        return clone(self.estimator)

    @property
    def is_classifier(self) -> bool:
        """Whether the probe reads a binary target (its estimator has `predict_proba` or `decision_function`)."""
        if self.estimator is None:
            raise ConfigError("Probe needs an estimator, e.g. Probe(LogisticRegression()).")
        # The unfitted estimator answers as its fitted clone does (scikit-learn's available_if), so no clone is built.
        return hasattr(self.estimator, "predict_proba") or hasattr(self.estimator, "decision_function")

    @property
    def score_kind(self) -> str:
        """`"logistic"` (ROC AUC) for a classifier, `"ridge"` (R²) for a regressor."""
        return "logistic" if self.is_classifier else "ridge"

    def _target(self, y: np.ndarray) -> np.ndarray:
        return y.astype(int) if self.is_classifier else y

    def fit(self, X: np.ndarray, y: np.ndarray) -> Probe:
        """Fit on activations `X (n, d)` and targets `y (n,)`."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        self.constant_ = float(y[0]) if np.all(y == y[0]) else None
        if self.is_classifier:
            self.classes_ = np.array([0, 1])
        if self.constant_ is None:
            self.model_ = self._fit_model(X, self._target(y))
        self.n_features_in_ = X.shape[1]
        return self

    def _fit_model(self, X: np.ndarray, y: np.ndarray):
        return self._build().fit(X, y)

    def readout(self, X: np.ndarray) -> np.ndarray:
        """The probe's read-out `(n,)`: P(target = 1), a classifier's score, or a regressor's value."""
        X = np.asarray(X, dtype=np.float64)
        if self.constant_ is not None:
            return np.full(X.shape[0], self.constant_)
        model = self.model_
        if hasattr(model, "predict_proba"):
            proba = model.predict_proba(X)
            classes = list(model.classes_)
            return proba[:, classes.index(1)] if 1 in classes else np.zeros(X.shape[0])
        if hasattr(model, "decision_function"):
            return np.asarray(model.decision_function(X), dtype=np.float64).reshape(-1)
        return np.asarray(model.predict(X), dtype=np.float64).reshape(-1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels `(n,)` for a classifier (scikit-learn's convention), values for a regressor."""
        X = np.asarray(X, dtype=np.float64)
        if not self.is_classifier:
            return self.readout(X)
        if self.constant_ is not None:
            return np.full(X.shape[0], int(self.constant_))
        return np.asarray(self.model_.predict(X)).astype(int)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """`(n, 2)` probabilities of target 0 and 1 (a classifier with `predict_proba`, or a constant probe)."""
        X = np.asarray(X, dtype=np.float64)
        if self.constant_ is None and not hasattr(self.model_, "predict_proba"):
            raise ConfigError(
                f"{type(self.model_).__name__} has no predict_proba; use Probe.readout (its decision_function)."
            )
        p1 = self.readout(X)
        return np.column_stack([1 - p1, p1])

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """ROC AUC (classifier) or R² (regressor) of `readout(X)` against `y` (see `probe_score`)."""
        return probe_score(self.score_kind, y, self.readout(X))


def as_probe(estimator) -> Probe:
    """`estimator` as a `Probe`: itself when it is one, else wrapped (any scikit-learn estimator with `fit`).

    Raises `ConfigError` for an object that is not a scikit-learn-style estimator.
    """
    if isinstance(estimator, Probe):
        return estimator
    predicts = any(hasattr(estimator, m) for m in ("predict_proba", "decision_function", "predict"))
    if not (hasattr(estimator, "fit") and hasattr(estimator, "get_params") and predicts):
        raise ConfigError(
            f"a probe must be a scikit-learn estimator (fit, get_params, and predict_proba, decision_function or "
            f"predict); got {type(estimator).__name__}. E.g. probe=LogisticRegression(max_iter=1000)."
        )
    return Probe(estimator)


class LinearProbe(Probe):
    """A linear read-out of a target from activations `(n, d)`: standardise, then logistic or ridge regression.

    `kind="logistic"` reads a binary target (`readout` and `predict_proba` give P(target = 1));
    `kind="ridge"` reads a real target. `alpha` is the L2 penalty. `score` is ROC AUC for logistic
    probes (0.5 = chance) and R² for ridge probes. A target that is constant in the training data
    gives a probe that predicts that constant (`constant_`). On `device="cpu"` the heads are
    scikit-learn's; on another torch device (`"cuda"`, `"auto"`) they are `probes.torch_linear`'s,
    which minimise the same objectives there (read-outs agree to the solvers' tolerance, ~1e-4).
    """

    def __init__(self, kind: ProbeKind = "logistic", alpha: float = 1.0, device: str = "cpu") -> None:
        self.kind = kind
        self.alpha = alpha
        self.device = device

    @property
    def is_classifier(self) -> bool:
        """Whether the probe reads a binary target (`kind="logistic"`)."""
        return self.kind == "logistic"

    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearProbe:
        """Fit on activations `X (n, d)` and targets `y (n,)`."""
        if self.kind not in PROBE_KINDS:
            raise ConfigError(f"probe kind must be one of {PROBE_KINDS}, got {self.kind!r}.")
        return super().fit(X, y)

    def _build(self):
        if resolve_device(self.device) == "cpu":
            head = (
                LogisticRegression(C=1.0 / self.alpha, max_iter=2000) if self.is_classifier else Ridge(alpha=self.alpha)
            )
        else:  # the same objectives solved by torch on the device (`probes.torch_linear`)
            from probes.torch_linear import TorchLogisticRegression, TorchRidge

            head = (
                TorchLogisticRegression(C=1.0 / self.alpha, device=self.device)
                if self.is_classifier
                else TorchRidge(alpha=self.alpha, device=self.device)
            )
        return make_pipeline(StandardScaler(), head)


class MLPProbe(Probe):
    """A small non-linear read-out of a binary target: standardise, one hidden ReLU layer, sigmoid.

    sklearn's `MLPClassifier` (`hidden` units, L2 penalty `alpha`, Adam, early stopping on a
    stratified 15% validation split, fixed `random_state`). Early stopping is switched off when a
    class has too few rows to split. Same interface as `LinearProbe`: `readout` is P(target = 1),
    `score` is ROC AUC, and a constant training target gives a constant probe (`constant_`).
    """

    def __init__(self, hidden: int = 16, alpha: float = 1e-3, random_state: int = 0, max_iter: int = 400) -> None:
        self.hidden = hidden
        self.alpha = alpha
        self.random_state = random_state
        self.max_iter = max_iter

    @property
    def is_classifier(self) -> bool:
        """Always: an MLP probe reads a binary target."""
        return True

    def _fit_model(self, X: np.ndarray, y: np.ndarray):
        early = int(np.bincount(y).min()) >= 5 and len(y) >= 30
        head = MLPClassifier(
            hidden_layer_sizes=(int(self.hidden),),
            alpha=self.alpha,
            learning_rate_init=1e-2,
            max_iter=self.max_iter,
            early_stopping=early,
            validation_fraction=0.15,
            n_iter_no_change=20,
            random_state=self.random_state,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return make_pipeline(StandardScaler(), head).fit(X, y)


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
