"""What retargeting an agent along its goal probe showed: the rates at the chosen strength, and what they mean.

`probes.retargeting` runs the rollouts (steered, random controls of the same norm, unsteered, the
goal moved in the input); this module summarises its table (`summarize_retargeting`), reads it
(`retargeting_reading`) and holds the study's steering section (`SteeringSection`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataError
from probes.retargeting import MOVED, STEERED, UNSTEERED, best_scale, is_control

__all__ = ["RetargetingSummary", "SolvableRates", "SteeringSection", "retargeting_reading", "summarize_retargeting"]


@dataclass(frozen=True)
class SolvableRates:
    """The rates on the mazes where the agent reaches the target when the goal itself is moved there."""

    n_episodes: int
    steered: float
    control_mean: float | None
    control_max: float | None
    unsteered: float
    goal_moved: float

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {
            "n_episodes": self.n_episodes,
            "steered": self.steered,
            "control_mean": self.control_mean,
            "control_max": self.control_max,
            "unsteered": self.unsteered,
            "goal_moved": self.goal_moved,
        }


@dataclass(frozen=True)
class RetargetingSummary:
    """Steered and its controls at one edit strength (`scale`), with the scale-free rows and the 95 % interval.

    `scale_chosen_on_these_mazes` is true when the strength was picked on the same mazes (which
    flatters `steered`); `solvable` restricts the rates to the mazes the agent can solve.
    """

    scale: float
    scale_chosen_on_these_mazes: bool
    steered: float
    steered_ci: tuple[float, float]
    control_mean: float | None
    control_max: float | None
    control_ci_high: float | None
    unsteered: float
    goal_moved: float | None
    n_episodes: int
    solvable: SolvableRates | None = None

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = {
            "scale": self.scale,
            "scale_chosen_on_these_mazes": self.scale_chosen_on_these_mazes,
            "steered": self.steered,
            "steered_ci": list(self.steered_ci),
            "control_mean": self.control_mean,
            "control_max": self.control_max,
            "control_ci_high": self.control_ci_high,
            "unsteered": self.unsteered,
            "goal_moved": self.goal_moved,
            "n_episodes": self.n_episodes,
        }
        if self.solvable is not None:
            out["solvable"] = self.solvable.to_dict()
        return out

    def _repr_html_(self) -> str:
        lo, hi = self.steered_ci
        control = "–" if self.control_mean is None else f"{self.control_mean:.2f} (max {self.control_max:.2f})"
        return (
            f"<b>Retargeting</b> at strength {self.scale:g}: steered {self.steered:.2f} [{lo:.2f}, {hi:.2f}] of "
            f"{self.n_episodes} mazes; random controls {control}; unsteered {self.unsteered:.2f}"
        )


@dataclass(frozen=True)
class SteeringSection:
    """A study's steering section for one agent: the goal probe, the strength chosen on mazes of their
    own, the rates on the reported mazes (`rates`, one row per condition and strength), the example
    edit saved beside the report and the reading."""

    goal: str
    site: str
    kernel: str
    probe_accuracy: float
    chance: float
    margin: float
    n_select_episodes: int
    summary: RetargetingSummary
    rates: pd.DataFrame = field(compare=False)
    mazes: tuple[Mapping[str, Any], ...]
    example: Mapping[str, Any]
    reading: str

    def to_dict(self) -> dict:
        """Plain-JSON form (the `steering` section of `report.json` and `steering.json`)."""
        return {
            "goal": self.goal,
            "site": self.site,
            "kernel": self.kernel,
            "probe_accuracy": self.probe_accuracy,
            "chance": self.chance,
            "margin": self.margin,
            "n_select_episodes": self.n_select_episodes,
            **self.summary.to_dict(),
            "rates": self.rates.to_dict("records"),  # NaN scales of the scale-free rows are written as null
            "mazes": [dict(m) for m in self.mazes],
            "example": dict(self.example),
            "reading": self.reading,
        }

    def _repr_html_(self) -> str:
        return f"<b>Steering</b> along the {html.escape(self.goal)} probe: {html.escape(self.reading)}"


def summarize_retargeting(rates: pd.DataFrame, scale: float | None = None) -> RetargetingSummary:
    """Steered and its controls at `scale`, with the scale-free rows and 95 % intervals.

    Pass the scale chosen on other mazes (`select_scale`); without it the best scale of `rates`
    itself is taken, which flatters the steered rate (the maximum of several noisy rates).
    """
    chosen = best_scale(rates) if scale is None else float(scale)
    at = rates[np.isclose(rates["scale"].astype(float), chosen)]
    steered = at[at["condition"] == STEERED]
    if steered.empty:
        raise DataError(
            f"the table has no 'steered' row at scale {chosen:g}; scales: {sorted(rates['scale'].dropna())}."
        )
    controls = at[is_control(at["condition"])]["success_rate"]
    flat = rates[rates["scale"].isna()].set_index("condition")
    row = steered.iloc[0]
    solvable = None
    solv = row.get("success_rate_solvable")
    if solv is not None and not pd.isna(solv):
        ctl = at[is_control(at["condition"])]["success_rate_solvable"].astype(float)
        solvable = SolvableRates(
            n_episodes=int(row["n_solvable"]),
            steered=float(solv),
            control_mean=float(ctl.mean()) if len(ctl) else None,
            control_max=float(ctl.max()) if len(ctl) else None,
            unsteered=float(rates.loc[rates["condition"] == UNSTEERED, "success_rate_solvable"].iloc[0]),
            goal_moved=float(rates.loc[rates["condition"] == MOVED, "success_rate_solvable"].iloc[0]),
        )
    return RetargetingSummary(
        scale=chosen,
        scale_chosen_on_these_mazes=scale is None,
        steered=float(row["success_rate"]),
        steered_ci=(float(row["ci_low"]), float(row["ci_high"])),
        control_mean=float(controls.mean()) if len(controls) else None,
        control_max=float(controls.max()) if len(controls) else None,
        control_ci_high=float(at[is_control(at["condition"])]["ci_high"].max()) if len(controls) else None,
        unsteered=float(flat.loc[UNSTEERED, "success_rate"]),
        goal_moved=float(flat.loc[MOVED, "success_rate"]) if MOVED in flat.index else None,
        n_episodes=int(row["n_episodes"]),
        solvable=solvable,
    )


def retargeting_reading(agent: str, goal: str, site: str, accuracy: float, summary: RetargetingSummary) -> str:
    """One line saying what the retargeting numbers mean for `agent`."""
    ctl = (
        ""
        if summary.control_mean is None
        else f"; random edits of the same norm {summary.control_mean:.2f} (at most {summary.control_max:.2f})"
    )
    moved = summary.goal_moved
    lo, hi = summary.steered_ci
    chosen = "" if summary.scale_chosen_on_these_mazes else ", chosen on other mazes"
    line = (
        f"Steering {agent} along its {goal} probe at {site} (held-out accuracy {accuracy:.2f}) takes it to the target "
        f"cell in {summary.steered:.2f} [{lo:.2f}, {hi:.2f}] of {summary.n_episodes} mazes at strength "
        f"{summary.scale:g}{chosen}{ctl}; "
        f"unsteered {summary.unsteered:.2f}"
        + ("" if moved is None else f"; with the {goal} moved there in its observation {moved:.2f}")
        + "."
    )
    solv = summary.solvable
    if solv is not None and solv.n_episodes:
        line += (
            f" In the {solv.n_episodes} mazes where it walks to the target with the {goal} moved there (another "
            f"rollout, its own action noise), the edit "
            f"takes it there in {solv.steered:.2f}"
            + ("" if solv.control_max is None else f" (random edits at most {solv.control_max:.2f})")
            + "."
        )
    ceiling = moved if moved is not None else 1.0
    if ceiling < 0.5:
        return line + (
            f" Even with the {goal} moved there in its observation the agent walks to these cells in only "
            f"{ceiling:.2f} of the mazes, so the {goal} is not what mainly drives it, however well it is "
            f"represented: a probe that reads a goal says nothing yet about pursuing it."
        )
    if summary.steered >= 0.8 * ceiling and summary.steered - (summary.control_max or 0.0) >= 0.3:
        return line + f" The probed {goal} location is causal for where the agent goes."
    return line + f" The probe direction moves the agent less often than the {goal} itself does."
