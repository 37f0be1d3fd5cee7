"""If `Y_m` were the mesa-objective: how fast would `E[Y_b]` move under a small regime change?

`regime_sensitivity` fits `E[Y_b | Y_m, s]` under a parametrization the user picks (`linear`, with
bootstrap intervals, or a small `mlp`) and reports `dE[Y_b]/dλ` as λ moves episodes from regime 0
to 1, holding `Y_m` fixed (direct) and letting its distribution move (total). The DoWhy analyses
of the direct effect are in `analysis.sensitivity`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch

from analysis.sensitivity import (
    _check_bootstrap,
    _check_level,
    _choice,
    _frame,
    _ols,
    _percentile,
    _strata_resamples,
)
from core.errors import ConfigError

PARAMETRIZATIONS: tuple[str, ...] = ("linear", "mlp")
MLP_HIDDEN = 32
MLP_LR = 1e-2
MLP_PATIENCE = 50
VAL_FRACTION = 0.2


@dataclass(frozen=True)
class RegimeSensitivity:
    """Result of `regime_sensitivity`: `dE[Y_b]/dλ` where λ moves the episodes from regime 0 to 1.

    `direct = mean_i f(y_m_i, 1) − f(y_m_i, 0)` over all episodes (the regime changes, `Y_m` does
    not); `total = mean f over s=1 episodes − mean f over s=0 episodes` (the `Y_m` distribution
    moves too). `f` is the fitted `E[Y_b | Y_m, s]`; `r2` its R², in-sample for `linear`, on the
    held-out validation episodes for `mlp`. Intervals are bootstrap (linear only, else None).
    """

    parametrization: str
    direct: float
    direct_ci: tuple[float, float] | None
    total: float
    total_ci: tuple[float, float] | None
    r2: float
    model: str
    coefficients: dict[str, float] | None
    n_steps: int | None
    confidence_level: float
    n_bootstrap: int
    n: int
    n_per_regime: tuple[int, int]
    seed: int

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = asdict(self)
        for key in ("direct_ci", "total_ci", "n_per_regime"):
            out[key] = None if out[key] is None else list(out[key])
        return out

    def _repr_html_(self) -> str:
        def fmt(v: float, ci: tuple[float, float] | None) -> str:
            return f"{v:+.3f}" + ("" if ci is None else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]")

        return (
            f"<b>Regime sensitivity</b> ({self.parametrization}, n={self.n}, R²={self.r2:.3f})<br>"
            f"direct dE[y_b]/dλ = {fmt(self.direct, self.direct_ci)}<br>"
            f"total dE[y_b]/dλ = {fmt(self.total, self.total_ci)}"
        )


def regime_sensitivity(
    data: pd.DataFrame,
    parametrization: Literal["linear", "mlp"] = "linear",
    *,
    treatment: str = "s",
    mediator: str = "y_m",
    outcome: str = "y_b",
    n_bootstrap: int = 1000,
    confidence_level: float = 0.95,
    max_steps: int = 500,
    seed: int = 0,
) -> RegimeSensitivity:
    """If `Y_m` were the mesa-objective: how fast does `E[Y_b]` move under a small regime change?

    Fits `f(y_m, s) = E[Y_b | Y_m, s]` — `linear`: OLS of `y_b ~ y_m + s + y_m:s`; `mlp`: a
    2-32-32-1 tanh network on standardised `(y_m, s)`, full-batch Adam for at most `max_steps`
    steps with early stopping on a held-out 20% of episodes (per regime), initialised from `seed`.
    With λ mixing regime 0 (λ=0) into regime 1 (λ=1), returns the derivatives of `E[Y_b]` in λ:
    `direct` holds `Y_m` at the data's distribution, `total` lets it shift with the regime (for
    `linear` this is the difference of the regimes' mean `Y_b`). Bootstrap intervals over episodes,
    resampled within regime, for `linear` only: the MLP's are not given (a refit per resample).
    """
    _choice("parametrization", parametrization, PARAMETRIZATIONS)
    _check_level(confidence_level)
    if parametrization == "linear":
        _check_bootstrap(n_bootstrap)
    if int(max_steps) != max_steps or max_steps < 10:
        raise ConfigError(f"max_steps must be an integer of at least 10, got {max_steps}.")
    frame = _frame(data, treatment, mediator, outcome)
    s, m, y = (frame[c].to_numpy(dtype=float) for c in (treatment, mediator, outcome))
    counts = (int((s == 0).sum()), int((s == 1).sum()))
    common = dict(confidence_level=float(confidence_level), n=len(frame), n_per_regime=counts, seed=seed)
    if parametrization == "linear":
        direct, total, beta = _linear_derivatives(s, m, y)
        boot = np.array([_linear_derivatives(s[i], m[i], y[i])[:2] for i in _strata_resamples(s, n_bootstrap, seed)])
        fitted = _design(m, s) @ beta
        return RegimeSensitivity(
            parametrization="linear",
            direct=direct,
            direct_ci=_percentile(boot[:, 0], confidence_level),
            total=total,
            total_ci=_percentile(boot[:, 1], confidence_level),
            r2=float(1 - np.mean((y - fitted) ** 2) / np.var(y)),
            model=f"OLS {outcome} ~ 1 + {mediator} + {treatment} + {mediator}:{treatment}",
            coefficients=dict(
                zip(("intercept", mediator, treatment, f"{mediator}:{treatment}"), map(float, beta), strict=True)
            ),
            n_steps=None,
            n_bootstrap=int(n_bootstrap),
            **common,
        )
    threads = torch.get_num_threads()
    # A 2-32-32-1 net on a few thousand rows: one thread is fastest, and more contend for shared cores.
    torch.set_num_threads(1)
    try:
        f, r2, steps = _fit_mlp(s, m, y, int(max_steps), seed)
        direct = float(np.mean(f(m, np.ones_like(s)) - f(m, np.zeros_like(s))))
        total = float(np.mean(f(m[s == 1], s[s == 1])) - np.mean(f(m[s == 0], s[s == 0])))
    finally:
        torch.set_num_threads(threads)
    return RegimeSensitivity(
        parametrization="mlp",
        direct=direct,
        direct_ci=None,
        total=total,
        total_ci=None,
        r2=r2,
        model=(
            f"MLP 2-{MLP_HIDDEN}-{MLP_HIDDEN}-1 tanh on standardised ({mediator}, {treatment}), full-batch Adam "
            f"lr {MLP_LR:g}, early stopping (patience {MLP_PATIENCE}) on {VAL_FRACTION:.0%} held-out episodes"
        ),
        coefficients=None,
        n_steps=steps,
        n_bootstrap=0,
        **common,
    )


def _design(m: np.ndarray, s: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones_like(m), m, s, m * s])


def _linear_derivatives(s: np.ndarray, m: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
    """`(direct, total, beta)` of the interaction model `y ~ 1 + m + s + m·s`."""
    beta = _ols(_design(m, s), y)
    direct = beta[2] + beta[3] * m.mean()  # mean of f(m, 1) − f(m, 0) over all episodes
    fitted = _design(m, s) @ beta
    total = fitted[s == 1].mean() - fitted[s == 0].mean()
    return float(direct), float(total), beta


def _fit_mlp(s: np.ndarray, m: np.ndarray, y: np.ndarray, max_steps: int, seed: int):
    """Fitted `f(m, s)` (NumPy in, NumPy out), its validation R² and the steps taken to the best fit."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(s), dtype=bool)
    for k in (0, 1):
        idx = np.flatnonzero(s == k)
        val[rng.choice(idx, size=max(1, int(round(VAL_FRACTION * len(idx)))), replace=False)] = True
    train = ~val
    m_mu, m_sd = m[train].mean(), m[train].std() or 1.0
    y_mu, y_sd = y[train].mean(), y[train].std() or 1.0

    def inputs(mm: np.ndarray, ss: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.column_stack([(mm - m_mu) / m_sd, ss]), dtype=torch.float64)

    x_all = inputs(m, s)
    y_all = torch.tensor((y - y_mu) / y_sd, dtype=torch.float64)[:, None]
    tr, va = torch.from_numpy(np.flatnonzero(train)), torch.from_numpy(np.flatnonzero(val))
    # fork_rng keeps the caller's torch RNG untouched while `seed` fixes the initial weights.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(2, MLP_HIDDEN),
            torch.nn.Tanh(),
            torch.nn.Linear(MLP_HIDDEN, MLP_HIDDEN),
            torch.nn.Tanh(),
            torch.nn.Linear(MLP_HIDDEN, 1),
        ).double()
    opt = torch.optim.Adam(net.parameters(), lr=MLP_LR)
    best, best_state, best_step, since = float("inf"), copy.deepcopy(net.state_dict()), 0, 0
    for step in range(1, max_steps + 1):
        opt.zero_grad()
        loss = torch.mean((net(x_all[tr]) - y_all[tr]) ** 2)
        loss.backward()
        opt.step()
        with torch.no_grad():
            v = float(torch.mean((net(x_all[va]) - y_all[va]) ** 2))
        if v < best - 1e-6:
            best, best_state, best_step, since = v, copy.deepcopy(net.state_dict()), step, 0
        else:
            since += 1
            if since >= MLP_PATIENCE:
                break
    net.load_state_dict(best_state)
    net.eval()
    r2 = float(1 - best / float(torch.var(y_all[va], unbiased=False)))

    def f(mm: np.ndarray, ss: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(inputs(mm, ss))[:, 0].numpy() * y_sd + y_mu

    return f, r2, best_step
