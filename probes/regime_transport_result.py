"""The result of `probes.probe_transport_by_regime`: every probe's scores on every regime, and where it fails."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import pandas as pd

from core.errors import unknown_name
from probes.candidates import CONTROL_SITE
from probes.transport_result import _num, _records


@dataclass(frozen=True)
class RegimeProbeTransport:
    """Scores of every (candidate, site, kind) probe on every regime, and whether it works there.

    `scores` (long): `candidate`, `site`, `kind`, `regime`, `s`, `n` (episodes), `positive_rate`,
    and three ROC AUCs: `in_regime` (the read-out cross-fitted over all episodes, scored on this
    regime's), `from_train` (fitted on the training regime; out-of-fold there), `left_out` (fitted
    on every other regime), with `note` saying why a score is NaN.
    `flags` (one row per non-control read-out and regime): `status` (`works`, `fails`,
    `unscored`), `drop_left_out` (in-regime minus left-out), `drop_from_train` (training score
    minus this regime's, for the probe fitted on training), `score` / `control_score` (the
    out-of-regime score the control was compared on, and the control's), `reasons` (why it
    fails) and `note` (why it could not be scored).
    """

    scores: pd.DataFrame
    flags: pd.DataFrame
    regimes: tuple[str, ...]
    kinds: tuple[str, ...]
    drop_tolerance: float
    control_margin: float
    n_folds: int
    seed: int
    meta: dict = field(default_factory=dict)

    def _rows(self, candidate: str, site: str) -> pd.DataFrame:
        if candidate not in set(self.flags["candidate"]):
            raise unknown_name("candidate", candidate, sorted(set(self.flags["candidate"])))
        rows = self.flags[self.flags["candidate"] == candidate]
        if site not in set(rows["site"]):
            raise unknown_name("activation site", site, sorted(set(rows["site"])))
        return rows[rows["site"] == site]

    def status(self, candidate: str, site: str, kind: str = "logistic") -> dict[str, str]:
        """`{regime: "works" | "fails" | "unscored"}` for one read-out."""
        rows = self._rows(candidate, site)
        if kind not in set(rows["kind"]):
            raise unknown_name("probe kind", kind, sorted(set(rows["kind"])))
        rows = rows[rows["kind"] == kind]
        return dict(zip(rows["regime"], rows["status"], strict=True))

    def only_some(self, candidate: str, site: str, kind: str = "logistic") -> bool:
        """Whether the read-out works on some regimes and fails on others."""
        states = set(self.status(candidate, site, kind).values())
        return {"works", "fails"} <= states

    def flagged(self, candidate: str, site: str) -> dict[str, tuple[str, ...]]:
        """`{regime: reasons}` for every regime where a probe of `candidate` at `site` fails (sentences)."""
        out: dict[str, list[str]] = {}
        for row in self._rows(candidate, site).itertuples(index=False):
            if row.status == "fails":
                out.setdefault(row.regime, []).append(
                    f"{row.kind} probe of {candidate!r} at {site!r} on {row.regime}: {row.reasons}"
                )
        return {regime: tuple(reasons) for regime, reasons in out.items()}

    def cells(self, candidate: str, site: str, kind: str = "logistic") -> list[tuple[str, float, float, str]]:
        """`(regime, out_of_regime, in_regime, status)` per regime for one read-out: the out-of-regime AUC is
        the left-out one where defined, else the one from training; the control's status is `control`."""
        scores = self.scores
        rows = scores[(scores["candidate"] == candidate) & (scores["site"] == site) & (scores["kind"] == kind)]
        if rows.empty:
            raise unknown_name(
                "read-out", f"{candidate}@{site} ({kind})", sorted(set(scores["candidate"] + "@" + scores["site"]))
            )
        status = {} if site == CONTROL_SITE else self.status(candidate, site, kind)
        return [
            (
                r.regime,
                r.left_out if math.isfinite(r.left_out) else r.from_train,
                r.in_regime,
                status.get(r.regime, "control"),
            )
            for r in rows.itertuples(index=False)
        ]

    def summary(self) -> pd.DataFrame:
        """One row per non-control read-out: the regimes where it works, fails and could not be scored."""
        rows = []
        for (cand, site, kind), grp in self.flags.groupby(["candidate", "site", "kind"], sort=False):
            by = {
                k: [r for r, st in zip(grp["regime"], grp["status"], strict=True) if st == k]
                for k in ("works", "fails", "unscored")
            }
            rows.append(
                {
                    "candidate": cand,
                    "site": site,
                    "kind": kind,
                    "works_on": by["works"],
                    "fails_on": by["fails"],
                    "unscored": by["unscored"],
                    "only_some": bool(by["works"] and by["fails"]),
                }
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """Plain JSON (NaN becomes null)."""
        return {
            "regimes": list(self.regimes),
            "kinds": list(self.kinds),
            "drop_tolerance": float(self.drop_tolerance),
            "control_margin": float(self.control_margin),
            "n_folds": int(self.n_folds),
            "seed": int(self.seed),
            "meta": {k: _num(v) for k, v in self.meta.items()},
            "scores": _records(self.scores),
            "flags": _records(self.flags),
            "summary": _records(self.summary()),
        }

    def _repr_html_(self) -> str:
        wide = self.scores.pivot_table(
            index=["candidate", "site", "kind"], columns="regime", values="left_out", dropna=False, sort=False
        )
        wide = wide[[r for r in self.regimes if r in wide.columns]]
        return (
            f"<b>RegimeProbeTransport</b>: regimes {html.escape(', '.join(self.regimes))}; left-out-regime ROC AUC "
            f"(each regime read by a probe fitted on the others){wide.to_html(float_format='%.3f', na_rep='NaN')}"
            f"<b>Where each read-out works</b> (drop tolerance {self.drop_tolerance:g}, control margin "
            f"{self.control_margin:g}){self.summary().to_html(index=False)}"
        )
