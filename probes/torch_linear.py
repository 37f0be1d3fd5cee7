"""Linear probe heads computed with torch on any device: scikit-learn's logistic and ridge regression on a GPU.

`TorchLogisticRegression` and `TorchRidge` are scikit-learn estimators (`fit`, `predict_proba` /
`predict`, `get_params`, `clone`) that minimise the same objectives as `LogisticRegression(C=C)`
(L2, intercept not penalised) and `Ridge(alpha=alpha)`, in float64 on `device`, so a probe moves
to a GPU without changing its answer (to the solvers' tolerance). Logistic regression takes
damped Newton steps (each one `d + 1`-square solve); ridge is one solve. `LinearProbe(device="cuda")`
uses them.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning

from core.device import resolve_device
from core.errors import ConfigError, DataError


def _tensor(X: np.ndarray, device: str) -> torch.Tensor:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not np.isfinite(X).all():
        raise DataError(f"a probe needs finite activations of shape (n, d), got shape {X.shape} with NaN or inf.")
    return torch.as_tensor(X, device=device)


class TorchLogisticRegression(ClassifierMixin, BaseEstimator):
    """Binary L2 logistic regression, scikit-learn's objective `½‖w‖² + C Σ log-loss`, fitted on `device`."""

    def __init__(self, C: float = 1.0, max_iter: int = 100, tol: float = 1e-10, device: str = "cpu") -> None:
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray) -> TorchLogisticRegression:
        """Fit on `X (n, d)` and 0/1 targets `y (n,)`."""
        if not self.C > 0:
            raise ConfigError(f"C must be > 0, got {self.C!r}.")
        device = resolve_device(self.device)
        y = np.asarray(y).reshape(-1)
        self.classes_ = np.unique(y)
        if not set(self.classes_.tolist()) <= {0, 1} or len(self.classes_) != 2:
            raise DataError(f"TorchLogisticRegression needs targets of both classes 0 and 1, got {self.classes_}.")
        Xt = _tensor(X, device)
        n, d = Xt.shape
        Z = torch.cat([Xt, torch.ones(n, 1, dtype=Xt.dtype, device=device)], dim=1)
        yt = torch.as_tensor(y, dtype=Xt.dtype, device=device)
        penalty = torch.ones(d + 1, dtype=Xt.dtype, device=device)
        penalty[d] = 0.0  # the intercept is not penalised
        beta = torch.zeros(d + 1, dtype=Xt.dtype, device=device)

        def loss(b: torch.Tensor) -> torch.Tensor:
            z = Z @ b
            # log(1 + e^z) - y z, summed: scikit-learn's log-loss in a form that cannot overflow.
            return 0.5 * (penalty * b * b).sum() + self.C * (torch.nn.functional.softplus(z) - yt * z).sum()

        current = loss(beta)
        self.n_iter_ = 0
        for it in range(1, self.max_iter + 1):
            p = torch.sigmoid(Z @ beta)
            grad = penalty * beta + self.C * (Z.T @ (p - yt))
            hess = torch.diag(penalty) + self.C * (Z.T * (p * (1 - p))) @ Z
            step = torch.linalg.solve(hess, grad)
            decrease = float(grad @ step)  # Newton's decrement², the predicted fall of the loss × 2
            self.n_iter_ = it
            t = 1.0
            while t >= 1e-8:  # backtracking: Newton's full step can overshoot far from the optimum
                trial = beta - t * step
                value = loss(trial)
                if value <= current - 0.25 * t * decrease:
                    break
                t *= 0.5
            else:
                break  # no step lowers the loss any more: rounding, at the optimum
            beta, current = trial, value
            if decrease / 2 <= self.tol * max(1.0, abs(float(current))):
                break  # converged: this step's predicted fall was below the tolerance
        else:
            warnings.warn(
                f"TorchLogisticRegression did not converge in max_iter={self.max_iter} Newton steps; raise max_iter.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.coef_ = beta[:d].cpu().numpy().reshape(1, d)
        self.intercept_ = beta[d:].cpu().numpy()
        self.n_features_in_ = d
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The logit `X w + b` `(n,)`."""
        return np.asarray(X, dtype=np.float64) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """`(n, 2)` probabilities of class 0 and class 1."""
        p1 = expit(self.decision_function(X))
        return np.column_stack([1 - p1, p1])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels `(n,)`."""
        return (self.decision_function(X) > 0).astype(int)


class TorchRidge(RegressorMixin, BaseEstimator):
    """Ridge regression with an unpenalised intercept, scikit-learn's `Ridge(alpha)` for `alpha > 0`, solved on `device`."""

    def __init__(self, alpha: float = 1.0, device: str = "cpu") -> None:
        self.alpha = alpha
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray) -> TorchRidge:
        """Fit on `X (n, d)` and real targets `y (n,)`."""
        if not self.alpha > 0:  # the solve needs a positive definite Gram matrix (dead units give zero columns)
            raise ConfigError(f"alpha must be > 0, got {self.alpha!r}.")
        device = resolve_device(self.device)
        Xt = _tensor(X, device)
        yt = torch.as_tensor(np.asarray(y, dtype=np.float64).reshape(-1), device=device)
        x_mean, y_mean = Xt.mean(dim=0), yt.mean()
        Xc = Xt - x_mean
        gram = Xc.T @ Xc + self.alpha * torch.eye(Xt.shape[1], dtype=Xt.dtype, device=device)
        coef = torch.linalg.solve(gram, Xc.T @ (yt - y_mean))
        self.coef_ = coef.cpu().numpy()
        self.intercept_ = float(y_mean - x_mean @ coef)
        self.n_features_in_ = Xt.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The fitted values `(n,)`."""
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_


__all__ = ["TorchLogisticRegression", "TorchRidge"]
