"""Spatial probes: read a target *cell* (the cheese, the goal) out of grid-shaped activations.

A goal location in a convolutional network is held by the activations *at and around* that cell,
so the probe is a small convolution: one `kernel` x `kernel` read-out shared by every cell, a
bias per cell, and a softmax over the cells. Its weights are also a steering direction: the
gradient of one cell's logit with respect to the raw activations (`cell_direction`) is the edit
that makes the probe read that cell, and `probes.retargeting.retarget` builds an intervention from it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from core.errors import ConfigError, DataError
from core.hooks import forward_hooks
from probes.hooks import first_tensor, resolve_modules


class SpatialProbe(BaseEstimator):
    """Read a target cell out of grid-shaped activations `(n, C, H, W)`.

    logit[h, w] = Σ_{c, i, j} w[c, i, j] · x̃[c, h + i − r, w + j − r] + b[h, w], a `kernel` x
    `kernel` convolution (`r = kernel // 2`, zero padding) over channels standardised to unit
    variance, weights shared across cells, one bias per cell; softmax over the H·W cells; fitted by
    full-batch L-BFGS on the cross-entropy plus `alpha`·(‖w‖² + ‖b‖²) (CPU, float64, zero initialisation:
    deterministic). `kernel=1` reads each cell's own channels only. `y` is the target cell
    `(row, col)` per sample, shape `(n, 2)`. `predict_proba` gives `(n, H, W)` maps, `predict` the
    argmax cells `(n, 2)`, `score` the accuracy of the argmax cell (chance ≈ 1 / (H·W)).
    `coef_` has shape `(C, kernel, kernel)`; `margin_` is the mean of the true cell's logit minus the
    mean logit of the other cells on the fitting data, biases left out (0 when the weights read nothing).
    """

    def __init__(self, alpha: float = 1e-3, max_iter: int = 200, kernel: int = 1) -> None:
        self.alpha = alpha
        self.max_iter = max_iter
        self.kernel = kernel

    def _check_X(self, X: np.ndarray, fitted: bool) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 4:
            raise DataError(f"SpatialProbe needs activations of shape (n, C, H, W), got shape {X.shape}.")
        if fitted and X.shape[1:] != self.shape_:
            raise DataError(f"activations have shape (C, H, W) = {X.shape[1:]}; the probe was fitted on {self.shape_}.")
        if not np.all(np.isfinite(X)):
            raise DataError("activations contain NaN or inf.")
        return X

    def _check_cells(self, y: np.ndarray, n: int, H: int, W: int) -> np.ndarray:
        y = np.asarray(y)
        if y.shape != (n, 2):
            raise DataError(f"y must be one (row, col) cell per sample, shape ({n}, 2); got {y.shape}.")
        if not np.all(np.mod(y, 1) == 0):
            raise DataError("y must hold integer cell coordinates.")
        y = y.astype(int)
        if y[:, 0].min() < 0 or y[:, 0].max() >= H or y[:, 1].min() < 0 or y[:, 1].max() >= W:
            raise DataError(f"target cells must lie in the {H}×{W} grid.")
        return y

    def _standardise(self, X: np.ndarray) -> torch.Tensor:
        return self._standardise_t(torch.as_tensor(X))

    def _standardise_t(self, x: torch.Tensor) -> torch.Tensor:
        mean, scale = torch.as_tensor(self.mean_), torch.as_tensor(self.scale_)
        return (x - mean[None, :, None, None]) / scale[None, :, None, None]

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        k = self.w_.shape[-1]
        return torch.nn.functional.conv2d(x, self.w_[None], padding=k // 2)[:, 0] + self.b_

    def _check_mask(self, cells: np.ndarray | None, X: np.ndarray, y: np.ndarray | None = None) -> torch.Tensor | None:
        if cells is None:
            return None
        cells = np.asarray(cells, dtype=bool)
        if cells.shape != (X.shape[0], *X.shape[2:]):
            raise DataError(
                f"cells must be one (H, W) mask per sample, shape {(X.shape[0], *X.shape[2:])}; got {cells.shape}."
            )
        if not cells.reshape(len(cells), -1).any(axis=1).all():
            raise DataError("every sample's cells mask must allow at least one cell.")
        if y is not None and not cells[np.arange(len(y)), y[:, 0], y[:, 1]].all():
            raise DataError("a target cell lies outside its sample's cells mask; the mask must allow the true cell.")
        return torch.as_tensor(cells)

    @staticmethod
    def _masked(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return logits if mask is None else logits.masked_fill(~mask, -torch.inf)

    def fit(self, X: np.ndarray, y: np.ndarray, cells: np.ndarray | None = None) -> SpatialProbe:
        """Fit on activations `X (n, C, H, W)` and target cells `y (n, 2)`.

        `cells` `(n, H, W)` bool, optional: where the target could have been in each sample (e.g.
        the open cells of a maze). The softmax runs over those cells only, so the probe tells the
        goal's cell from the cells it could have been in — not from walls, which would put "this
        cell is open" into its direction.
        """
        if not (isinstance(self.kernel, (int, np.integer)) and self.kernel >= 1 and self.kernel % 2 == 1):
            raise ConfigError(f"kernel must be an odd positive integer (1, 3, 5, ...), got {self.kernel!r}.")
        X = self._check_X(X, fitted=False)
        n, C, H, W = X.shape
        y = self._check_cells(y, n, H, W)
        if n < 2:
            raise DataError(f"SpatialProbe needs at least 2 samples, got {n}.")
        self.shape_ = (C, H, W)
        self.mean_ = X.mean(axis=(0, 2, 3))
        self.scale_ = X.std(axis=(0, 2, 3))
        self.scale_[self.scale_ == 0] = 1.0
        mask = self._check_mask(cells, X, y)
        x = self._standardise(X)
        target = torch.as_tensor(y[:, 0] * W + y[:, 1])
        k = int(self.kernel)
        self.w_ = torch.zeros(C, k, k, dtype=torch.float64, requires_grad=True)
        self.b_ = torch.zeros(H, W, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([self.w_, self.b_], max_iter=int(self.max_iter), line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self._masked(self._logits(x), mask).reshape(n, H * W), target)
            loss = loss + self.alpha * ((self.w_**2).sum() + (self.b_**2).sum())
            loss.backward()
            return loss

        opt.step(closure)
        self.w_.requires_grad_(False)
        self.b_.requires_grad_(False)
        self.coef_ = self.w_.numpy().copy()
        self.intercept_ = self.b_.numpy().copy()
        with torch.no_grad():
            # The read-out without the per-cell prior (the bias): the part an edit of the activations moves.
            logits = (self._logits(x) - self.b_).reshape(n, H * W)
            allowed = torch.ones_like(logits, dtype=torch.bool) if mask is None else mask.reshape(n, H * W)
            true = logits[torch.arange(n), target]
            others = ((logits * allowed).sum(dim=1) - true) / (allowed.sum(dim=1) - 1).clamp(min=1)
            # How far the true cell's logit stands above a typical cell's: the unit `retarget` scales edits in.
            self.margin_ = float((true - others).mean())
        return self

    def decision_function(self, X: np.ndarray, cells: np.ndarray | None = None) -> np.ndarray:
        """Cell logits `(n, H, W)` (before the softmax; `-inf` outside `cells` when given)."""
        X = self._check_X(X, fitted=True)
        mask = self._check_mask(cells, X)
        with torch.no_grad():
            return self._masked(self._logits(self._standardise(X)), mask).numpy()

    def predict_proba(self, X: np.ndarray, cells: np.ndarray | None = None) -> np.ndarray:
        """Probability maps `(n, H, W)` over the target cell (each sums to 1; 0 outside `cells`)."""
        logits = torch.as_tensor(self.decision_function(X, cells))
        n, H, W = logits.shape
        return torch.softmax(logits.reshape(n, H * W), dim=1).reshape(n, H, W).numpy()

    def predict(self, X: np.ndarray, cells: np.ndarray | None = None) -> np.ndarray:
        """The most probable cell `(row, col)` per sample, shape `(n, 2)`."""
        proba = self.predict_proba(X, cells)
        flat = proba.reshape(len(proba), -1).argmax(axis=1)
        return np.stack(np.unravel_index(flat, proba.shape[1:]), axis=1)

    def score(self, X: np.ndarray, y: np.ndarray, cells: np.ndarray | None = None) -> float:
        """Accuracy of the argmax cell (among `cells` when given)."""
        X = self._check_X(X, fitted=True)
        y = self._check_cells(y, len(X), *X.shape[2:])
        return float(np.mean(np.all(self.predict(X, cells) == y, axis=1)))

    def _place(self, what: str, cell: tuple[int, int]) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise DataError("the SpatialProbe is not fitted yet; call fit first.")
        scales = self.scale_[:, None, None]
        kern = self.coef_ / scales if what == "gradient" else self.coef_ * scales
        C, H, W = self.shape_
        r0, c0 = self._check_cells(np.asarray([cell]), 1, H, W)[0]
        k = kern.shape[-1]
        h = k // 2
        out = np.zeros((C, H, W))
        for i in range(k):
            for j in range(k):
                r, c = r0 + i - h, c0 + j - h
                if 0 <= r < H and 0 <= c < W:
                    out[:, r, c] = kern[:, i, j]
        return out

    def cell_direction(self, cell: tuple[int, int]) -> np.ndarray:
        """∂ logit[cell] / ∂ x in raw activation units, shape `(C, H, W)` (the read-out kernel over the channel scales).

        Placed with its centre on `cell`, cut at the border, zero away from the kernel's footprint.
        """
        return self._place("gradient", cell)

    def cell_pattern(self, cell: tuple[int, int]) -> np.ndarray:
        """The activation pattern the probe reads as "the goal is at `cell`", raw units, shape `(C, H, W)`.

        The kernel times the channel scales: in standardised units the (ridge-shrunk) weights follow
        the mean difference of the activations with and without the goal, and scaling back gives
        that difference in raw units — the change the goal itself makes, which is what to add to
        move it. The gradient (`cell_direction`) divides by the scales instead and would overweight
        quiet channels (a probe's filter is not its pattern).
        """
        return self._place("pattern", cell)


__all__ = ["SpatialProbe"]


def site_grid(agent: Any, site: str, obs: np.ndarray) -> tuple[int, int, int]:
    """`(C, H, W)` of `site`'s output on one observation `obs` `(C', H, W)`; an error unless it is maps on the same grid."""
    module = resolve_modules(agent, [site])[site]
    shapes: list[tuple[int, ...]] = []

    def record(_module, _inputs, out) -> None:
        shapes.append(tuple(first_tensor(out, site).shape[1:]))

    with forward_hooks([(module, record)]):
        agent.act(np.asarray(obs, dtype=np.float32)[None])
    grid = tuple(np.shape(obs)[-2:])
    if not shapes or len(shapes[0]) != 3 or shapes[0][1:] != grid:
        raise DataError(
            f"site {site!r} outputs shape {shapes[0] if shapes else 'nothing'} per observation; a spatial probe needs "
            f"(C, {grid[0]}, {grid[1]}) maps on the observation's grid, such as a padded convolution's output "
            f"(e.g. 'features_extractor.conv.0')."
        )
    return shapes[0]
