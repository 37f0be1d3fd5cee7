"""Shift sweeps: how early does each test see the regime change as its share λ grows?

At shift λ every episode is a deployment episode with probability λ, independently of the
others, so a sample at λ is `Binomial(n, λ)` episodes drawn from the deployment episodes and the
rest from the training ones. `shift_sweep` draws such samples from a study's episodes (no new
rollouts) `repeats` times per λ and runs on each

- the transport test `Y_b ⊥ s | Y_m` (`analysis.transport_test`), and
- a behaviour-only test: does the mean base return differ by regime (a permutation test, valid at
  any sample size)?

Its table gives, per λ, how often each test detects the regime (its power there) and the
transport effect with its interval; `detection_shift` is the smallest λ from which a test detects
in at least `power` of the draws. A transport test that detects at a smaller λ than the behaviour
test reads the change in the agent's objective before its returns show it.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.ci import CIMethod
from analysis.transport import transport_test
from core.errors import ConfigError, DataError

DEFAULT_GRID: tuple[float, ...] = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
"""Shares of deployment episodes; 0 and 1 leave one regime only, where neither test can run."""


@dataclass(frozen=True)
class ShiftSweep:
    """Result of `shift_sweep`: one row per (λ, draw) in `draws`, one per λ in `summary`."""

    candidate: str
    draws: pd.DataFrame
    summary: pd.DataFrame
    n: int
    repeats: int
    alpha: float
    power: float
    method: str
    return_gap: float = float("nan")
    """Mean return in deployment minus training over all the study's episodes (the behaviour signal)."""

    def detection_shift(self, test: str = "transport") -> float | None:
        """The smallest λ from which `test` ("transport" or "behaviour") detects in at least `power` of the draws."""
        if test not in ("transport", "behaviour"):
            raise ConfigError(f"test must be 'transport' or 'behaviour', got {test!r}.")
        rate = self.summary[f"power_{test}"].to_numpy()
        shifts = self.summary["shift"].to_numpy()
        for i in range(len(shifts)):
            if np.all(rate[i:] >= self.power):
                return float(shifts[i])
        return None

    @property
    def reading(self) -> str:
        """One line: where each test starts to detect, and which is first (with the powers where they differ)."""
        t, b = self.detection_shift("transport"), self.detection_shift("behaviour")

        def phrase(x: float | None) -> str:
            return "does not detect the regime on this grid" if x is None else f"detects the regime from λ = {x:g}"

        text = (
            f"With {self.n} episodes per sample, the transport test on {self.candidate} {phrase(t)} and the "
            f"behaviour-only test (return by regime) {phrase(b)} (power ≥ {self.power:g} over {self.repeats} "
            f"draws, α = {self.alpha:g})."
        )

        def at(x: float) -> str:
            r = self.summary[self.summary["shift"] == x].iloc[0]
            return (
                f"at λ = {x:g} (about {r['n_deploy']:.0f} deployment episodes per sample) the transport test has "
                f"power {r['power_transport']:.2f} and the behaviour test {r['power_behaviour']:.2f}"
            )

        if t is not None and (b is None or t < b):
            return text + f" The transport test sees the change first: {at(t)}."
        if b is not None and (t is None or b < t):
            return text + f" The return differs by regime first: {at(b)}." + self._why_not_first()
        if t is None:
            return text
        below = self.summary[self.summary["shift"] < t]
        if below.empty:
            return text + " Both detect at the smallest λ of the grid; a finer grid below it would separate them."
        r = below.iloc[-1]
        return (
            text
            + (
                f" Both detect at the same λ; just below, at λ = {r['shift']:g}, the transport test has power "
                f"{r['power_transport']:.2f} and the behaviour test {r['power_behaviour']:.2f}."
            )
            + self._why_not_first()
        )

    def _why_not_first(self) -> str:
        """Why the transport test is not earlier, with the numbers: how much of the return's drop the candidate leaves."""
        mid = self.summary.iloc[(self.summary["shift"] - 0.5).abs().argsort().iloc[0]]
        gap, eff = self.return_gap, float(mid["effect"])
        if not (np.isfinite(gap) and np.isfinite(eff)) or gap == 0:
            return (
                f" The transport test conditions on {self.candidate} through cross-fitted regressions, which costs "
                f"power when deployment episodes are this few."
            )
        share = min(1.0, max(0.0, 1 - eff / gap))
        head = (
            f" Why not earlier: the return itself moves by {gap:+.2f} with the regime, and the transport effect (at "
            f"λ = {mid['shift']:g}) is {eff:+.2f}, so {self.candidate} accounts for {share:.0%} of the change."
        )
        if share < 0.25:
            return head + (
                " Conditioning on it then adds almost no signal the return lacks, while its cross-fitted regressions "
                "spend the few deployment episodes (a test of the return alone uses every one): the transport test "
                "can only be earlier for a candidate that explains part of the behaviour, where the return moves "
                "little but its relation to the candidate breaks."
            )
        return head + (
            " What is left for the transport test is the smaller part of the change that the candidate does not "
            "explain, estimated by cross-fitted regressions from the few deployment episodes, while the return "
            "test sees the whole change."
        )

    def to_dict(self) -> dict:
        """Plain-JSON form (for `report.json`): the per-λ summary and the detection shifts."""
        return {
            "candidate": self.candidate,
            "n": self.n,
            "repeats": self.repeats,
            "alpha": self.alpha,
            "power": self.power,
            "method": self.method,
            "detection_shift": {t: self.detection_shift(t) for t in ("transport", "behaviour")},
            "return_gap": self.return_gap,
            "reading": self.reading,
            "summary": self.summary.to_dict(orient="records"),
        }

    def _repr_html_(self) -> str:
        return (
            f"<b>Shift sweep</b> of {html.escape(self.candidate)} ({self.repeats} draws of {self.n} episodes per λ)<br>"
            f"{html.escape(self.reading)}{self.summary.to_html(index=False, float_format='%.3f')}"
        )


def behaviour_test(y_b: np.ndarray, s: np.ndarray, *, n_permutations: int = 999, seed: int = 0) -> float:
    """Permutation p-value of `mean(Y_b | s=1) − mean(Y_b | s=0)` (two-sided), valid at any sample size."""
    y_b, s = np.asarray(y_b, float), np.asarray(s, int)
    n1 = int(s.sum())
    if n1 == 0 or n1 == len(s):
        raise DataError("the behaviour test needs episodes from both regimes.")
    observed = abs(y_b[s == 1].mean() - y_b[s == 0].mean())
    rng = np.random.default_rng(seed)
    # Each row of `perm` is a relabelling: the first n1 positions are the "deployment" episodes.
    perm = rng.permuted(np.tile(np.arange(len(s)), (n_permutations, 1)), axis=1)
    shuffled = y_b[perm]
    diff = np.abs(shuffled[:, :n1].mean(1) - shuffled[:, n1:].mean(1))
    return float((1 + np.sum(diff >= observed - 1e-12)) / (n_permutations + 1))


def shift_sweep(
    episodes: pd.DataFrame,
    candidate: str,
    *,
    grid: Sequence[float] = DEFAULT_GRID,
    n: int | None = None,
    repeats: int = 10,
    power: float = 0.8,
    method: CIMethod = "auto",
    alpha: float = 0.05,
    margin: float = 0.1,
    seed: int = 0,
) -> ShiftSweep:
    """Sweep the share λ of deployment episodes over `grid` and test at each λ, `repeats` draws of `n` episodes.

    `episodes` has one row per episode with `s`, `return` (`Y_b`) and `ym_<candidate>` (`Y_m`), as
    in a study's `episodes.parquet`. `n` defaults to the smaller regime's episode count, so that
    every draw is without replacement. Draws with fewer than 2 episodes of a regime count as
    non-detections for both tests (nothing can be tested).
    """
    col = f"ym_{candidate}"
    missing = [c for c in ("s", "return", col) if c not in episodes.columns]
    if missing:
        raise DataError(f"episodes lack columns {missing} (columns: {list(episodes.columns)}).")
    grid = sorted(float(x) for x in grid)
    if not grid or grid[0] <= 0 or grid[-1] >= 1:
        raise ConfigError(f"grid must hold shares strictly between 0 and 1, got {grid}.")
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}.")
    if not 0 < power <= 1:
        raise ConfigError(f"power must be in (0, 1], got {power}.")
    s = episodes["s"].to_numpy(int)
    pools = [np.flatnonzero(s == 0), np.flatnonzero(s == 1)]
    if min(len(p) for p in pools) < 2:
        raise DataError(
            f"a shift sweep needs episodes of both regimes, got {len(pools[0])} training and {len(pools[1])} "
            f"deployment episodes; collect at shifts 0 and 1."
        )
    n = n or min(len(p) for p in pools)
    if n > min(len(p) for p in pools):
        raise ConfigError(f"n = {n} exceeds the smaller regime's {min(len(p) for p in pools)} episodes.")
    y_b, y_m = episodes["return"].to_numpy(float), episodes[col].to_numpy(float)
    rng = np.random.default_rng(seed)
    rows, used = [], "none"
    for lam in grid:
        for r in range(repeats):
            n1 = int(rng.binomial(n, lam))
            rows_r = np.concatenate(
                [rng.choice(pools[0], n - n1, replace=False), rng.choice(pools[1], n1, replace=False)]
            )
            row = {"shift": lam, "draw": r, "n_deploy": n1}
            if min(n1, n - n1) < 2:
                rows.append(
                    row | dict.fromkeys(("p_transport", "p_behaviour", "effect", "effect_lo", "effect_hi"), np.nan)
                )
                continue
            with warnings.catch_warnings():
                # Small deployment shares at small λ are the point of the sweep, not a caveat to repeat.
                warnings.simplefilter("ignore")
                t = transport_test(
                    y_b[rows_r], s[rows_r], y_m[rows_r], method=method, alpha=alpha, margin=margin, seed=seed + r,
                    magnitude=False,
                )  # fmt: skip
            used = t.method
            b = behaviour_test(y_b[rows_r], s[rows_r], seed=seed + r)
            rows.append(
                row
                | {
                    "p_transport": t.p_value,
                    "p_behaviour": b,
                    "effect": t.effect,
                    "effect_lo": t.effect_ci[0],
                    "effect_hi": t.effect_ci[1],
                }
            )
    draws = pd.DataFrame(rows)
    detect = draws.assign(
        transport=(draws["p_transport"] < alpha).astype(float), behaviour=(draws["p_behaviour"] < alpha).astype(float)
    )
    summary = detect.groupby("shift", as_index=False).agg(
        power_transport=("transport", "mean"),
        power_behaviour=("behaviour", "mean"),
        median_p_transport=("p_transport", "median"),
        median_p_behaviour=("p_behaviour", "median"),
        effect=("effect", "median"),
        effect_lo=("effect_lo", "median"),
        effect_hi=("effect_hi", "median"),
        n_deploy=("n_deploy", "mean"),
    )
    gap = float(y_b[pools[1]].mean() - y_b[pools[0]].mean())
    return ShiftSweep(candidate, draws, summary, n, repeats, alpha, power, used, return_gap=gap)


__all__ = ["DEFAULT_GRID", "ShiftSweep", "behaviour_test", "shift_sweep"]
