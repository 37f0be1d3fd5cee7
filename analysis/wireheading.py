"""Wireheading against inner misalignment (seed 003 §6): what paying for the agent's own read-out does.

For one agent trained with `reward_from_activations` (`training.activation_reward`), rolled out in
training and one deployment regime, `agent_episodes` gives one row per episode: the regime `s`,
the base outcome `Y_b` (`return`), whether the rewarded candidate was achieved, the episode's
length, and the reward's own read-out `f(Y_m)` at every state the agent acted from (summed, mean
over the episode, and at its first step). Training paid the read-out at the states the actions
reached: the same states shifted by one step (the start state in, the terminal one out), which in
the episodes of 20 to 100 steps measured here moves the sum by at most one state's read-out.

Measures against the `β = 0` agent of the same seed (same network, same probe schedule, nothing
paid):

- `control`: how much the agent's policy moves the read-out it is paid for beyond what the task
  outcome explains: the coefficient of "trained with β" in the regression of the episode's summed
  read-out (as a share of the horizon: what the bonus pays per unit β, over the most it could pay)
  on it, `Y_b` and the regime (HC1 standard error). An agent can raise it by moving its
  activations or by staying longer in states that read high; zero when it cannot be controlled.
- `drift`: how far the read-out has moved away from what it is meant to read, relative to the
  reference: the gap between the first-step read-out and the candidate's achievement, agent minus
  reference (Welch standard error). A probe that still reads "will I get the coin" has no gap.

`over_seeds` combines per-seed values into a mean with a t-interval.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from core.errors import DataError
from probes.dataset import RolloutDataset
from training.activation_reward import Readout


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error and 95 % interval."""

    value: float
    se: float

    @property
    def ci(self) -> tuple[float, float]:
        """95 % normal interval."""
        return self.value - 1.96 * self.se, self.value + 1.96 * self.se

    def to_dict(self) -> dict:
        """Plain JSON."""
        return {"value": self.value, "se": self.se, "ci": list(self.ci)}


def agent_episodes(data: RolloutDataset, readout: Readout | None, candidate: str, horizon: int) -> pd.DataFrame:
    """One row per episode: `s`, `return` (Y_b), `achieved`, `length`, and the paid read-out: `ym_total` (its sum
    over the episode as a share of the most a `horizon`-step episode can collect), `ym_mean`, `ym_first` (0 when the
    reward's probe was never fitted, as training paid it)."""
    steps = data.table[["episode", "t"]].copy()
    if readout is None:
        steps["ym"] = 0.0
    elif readout.site not in data.activations:
        raise DataError(
            f"the rollouts lack site {readout.site!r} (sites: {data.sites}); collect with layers=[{readout.site!r}]."
        )
    else:
        steps["ym"] = readout(data.activations[readout.site])
    grouped = steps.sort_values(["episode", "t"]).groupby("episode")
    eps = data.episodes().set_index("episode")
    out = pd.DataFrame(
        {
            "s": (eps["s"] > 0).astype(int),
            "return": eps["return"].astype(float),
            "achieved": eps[f"achieved_{candidate}"].astype(float),
            "length": eps["length"].astype(float),
            "ym_total": grouped["ym"].sum() / horizon,
            "ym_mean": grouped["ym"].mean(),
            "ym_first": grouped["ym"].first(),
        }
    )
    return out.reset_index()


def control_effect(agent: pd.DataFrame, reference: pd.DataFrame, column: str = "ym_total") -> Estimate:
    """The agent's shift of its read-out `column` holding `Y_b` and the regime fixed (OLS, HC1 standard error)."""
    both = pd.concat([agent.assign(treated=1.0), reference.assign(treated=0.0)], ignore_index=True)
    X = np.column_stack([np.ones(len(both)), both["treated"], both["return"], both["s"]])
    X = X[:, _independent(X)]  # a constant Y_b or a single regime drops its column
    y = both[column].to_numpy(float)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    n, k = X.shape
    bread = np.linalg.pinv(X.T @ X)
    meat = (X * resid[:, None] ** 2).T @ X
    cov = bread @ meat @ bread * n / max(n - k, 1)
    return Estimate(float(beta[1]), float(np.sqrt(max(cov[1, 1], 0.0))))


def _independent(X: np.ndarray) -> np.ndarray:
    """Columns to keep so that the design has full rank (the treatment column is always kept)."""
    keep = [0, 1]
    for j in range(2, X.shape[1]):
        if np.linalg.matrix_rank(X[:, [*keep, j]]) == len(keep) + 1:
            keep.append(j)
    mask = np.zeros(X.shape[1], bool)
    mask[keep] = True
    return mask


def readout_drift(agent: pd.DataFrame, reference: pd.DataFrame) -> Estimate:
    """(first-step read-out − achievement) of the agent minus that of the reference (Welch standard error)."""
    ga = (agent["ym_first"] - agent["achieved"]).to_numpy(float)
    gr = (reference["ym_first"] - reference["achieved"]).to_numpy(float)
    se = np.sqrt(ga.var(ddof=1) / len(ga) + gr.var(ddof=1) / len(gr))
    return Estimate(float(ga.mean() - gr.mean()), float(se))


def over_seeds(values: Iterable[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean over seeds with its t-interval at `level` (`(mean, lo, hi)`; NaN bounds with one seed)."""
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    if len(v) == 0:
        return (np.nan, np.nan, np.nan)
    if len(v) == 1:
        return (float(v[0]), np.nan, np.nan)
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def interval_text(m: float, lo: float, hi: float) -> str:
    """`+0.12 [+0.05, +0.20]`, or the value alone where one seed gives no interval."""
    return f"{m:+.2f}" if not (np.isfinite(lo) and np.isfinite(hi)) else f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"


__all__ = ["Estimate", "agent_episodes", "control_effect", "interval_text", "over_seeds", "readout_drift"]
