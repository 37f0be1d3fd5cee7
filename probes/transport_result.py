"""The result of `probes.probe_transport`: every probe's score at every shift, and the flags it raises."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.errors import unknown_name


def _num(x: Any) -> Any:
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, (list, tuple)):
        return [_num(v) for v in x]
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return x


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _num(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


@dataclass(frozen=True)
class ProbeTransport:
    """Scores of every (candidate, site, kind) probe at every shift, and the flags they raise.

    `fit_on` says how the probes were fitted and `fit_on_reason` why (see `probe_transport`):

    - `"train_shift"`: fitted on the episodes at `train_shift`; the score there is out-of-fold,
      elsewhere out-of-sample. `reference_score` is `train_score`.
    - `"pooled"`: cross-fitted over the episodes of all shifts; every shift's score is the
      out-of-fold read-out restricted to that shift's episodes (so every row is in distribution),
      and `pooled_score` is the out-of-fold score over all episodes. `reference_score` is
      `pooled_score`.

    `scores` (long): `candidate`, `site`, `kind`, `shift`, `score` (ROC AUC), `n` (episodes),
    `positive_rate`, `in_distribution` (the probe saw other episodes of this shift: the training
    shift only under `"train_shift"`, every shift under `"pooled"`), `note` (why a score is NaN).
    `flags`: one row per (candidate, site, kind) with `train_score` (score at `train_shift`),
    `pooled_score` (NaN under `"train_shift"`), `reference_score`, `worst_shift` / `worst_score`
    / `drop` (the lowest score at a shift compared — every other shift under `"train_shift"`,
    every shift under `"pooled"` — and how far it is below `reference_score`), `drops` (drop >
    `drop_tolerance`), `control_shifts` (shifts where the probe does not beat the control's score
    by more than `control_margin`), `control_pooled` (the same on the pooled score; `"pooled"`
    only), `no_better_than_control` (either), `nonlinear_gap` (best non-linear minus linear
    reference score), `misspecified` (on linear rows: gap > `drop_tolerance`), `transports`
    (assessed and neither `drops` nor `no_better_than_control`), `is_control` and `note`.
    """

    scores: pd.DataFrame
    flags: pd.DataFrame
    train_shift: float
    shifts: list[float]
    kinds: list[str]
    drop_tolerance: float
    control_margin: float
    n_folds: int
    seed: int
    meta: dict = field(default_factory=dict)
    fit_on: str = "train_shift"
    fit_on_reason: str = ""
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per kind, one row per episode (`episode`, `shift`, `ym_<cand>@<site>`): the read-out the scores
    were computed from (out-of-fold under `"pooled"`, the same as `probe_candidates`' `y_m` for the
    logistic kind; under `"train_shift"` out-of-fold at the training shift, out-of-sample elsewhere,
    NaN when the training labels are one class). Not in `to_dict`."""

    @property
    def _where(self) -> str:
        if self.fit_on == "pooled":
            return "pooled over all shifts"
        return f"at the training shift {self.train_shift:g}"

    def flagged(self, candidate: str, site: str) -> list[str]:
        """Reasons (sentences) to distrust a conclusion that conditions on this (candidate, site) probe."""
        if candidate not in set(self.flags["candidate"]):
            raise unknown_name("candidate", candidate, sorted(set(self.flags["candidate"])))
        rows = self.flags[self.flags["candidate"] == candidate]
        if site not in set(rows["site"]):
            raise unknown_name("activation site", site, sorted(set(rows["site"])))
        reasons = []
        for row in rows[rows["site"] == site].itertuples(index=False):
            tag = f"{row.kind} probe of {candidate!r} at {site!r}"
            if not np.isfinite(row.reference_score):
                reasons.append(f"{tag}: score undefined {self._where} ({row.note})")
                continue
            if row.drops:
                reasons.append(
                    f"{tag} does not transport: AUC {row.reference_score:.3f} {self._where} "
                    f"falls to {row.worst_score:.3f} at shift {row.worst_shift:g}"
                )
            if row.no_better_than_control:
                where = [f"at shift(s) {', '.join(f'{s:g}' for s in row.control_shifts)}"] if row.control_shifts else []
                where += ["pooled over all shifts"] if row.control_pooled else []
                reasons.append(f"{tag} is no better than the observation control {' and '.join(where)}")
            if row.misspecified:
                reasons.append(
                    f"{tag} is mis-specified: a non-linear probe beats it by {row.nonlinear_gap:.3f} AUC {self._where}"
                )
        return reasons

    def to_dict(self) -> dict:
        """Plain JSON (NaN becomes null)."""
        return {
            "train_shift": float(self.train_shift),
            "shifts": [float(s) for s in self.shifts],
            "kinds": list(self.kinds),
            "drop_tolerance": float(self.drop_tolerance),
            "control_margin": float(self.control_margin),
            "n_folds": int(self.n_folds),
            "seed": int(self.seed),
            "fit_on": self.fit_on,
            "fit_on_reason": self.fit_on_reason,
            "meta": {k: _num(v) for k, v in self.meta.items()},
            "scores": _records(self.scores),
            "flags": _records(self.flags),
        }

    def _repr_html_(self) -> str:
        wide = self.scores.pivot_table(
            index=["candidate", "site", "kind"], columns="shift", values="score", dropna=False
        )
        pooled = self.fit_on == "pooled"
        train = "" if pooled else " (train)"
        wide.columns = [f"shift {s:g}" + (train if s == self.train_shift else "") for s in wide.columns]
        if pooled:
            wide["pooled"] = self.flags.set_index(["candidate", "site", "kind"])["pooled_score"].reindex(wide.index)
        cols = ["candidate", "site", "kind", "drops", "worst_shift", "no_better_than_control", "misspecified"]
        cols += ["transports", "note"]
        shifts = ", ".join(f"{s:g}" for s in self.shifts)
        if pooled:
            fitted = f"cross-fitted ({self.n_folds}-fold) over all episodes, scored within each shift ({shifts})"
        else:
            fitted = f"trained at shift {self.train_shift:g}, scored at {shifts} ({self.n_folds}-fold in distribution)"
        return (
            f"<b>ProbeTransport</b>: {html.escape(fitted)}; fit_on=<code>{self.fit_on}</code> "
            f"({html.escape(self.fit_on_reason)}); "
            f"ROC AUC{wide.to_html(float_format='%.3f', na_rep='NaN')}"
            f"<b>Flags</b> (drop tolerance {self.drop_tolerance:g}, control margin {self.control_margin:g})"
            f"{self.flags[cols].to_html(index=False, float_format='%.3f', na_rep='')}"
        )
