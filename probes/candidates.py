"""Read each candidate objective out of the agent: cross-fitted probes and the observation control."""

from __future__ import annotations

import dataclasses
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate

from core.errors import ConfigError, DataError, unknown_name
from core.io import write_json_atomic, write_parquet_atomic
from probes.dataset import RolloutDataset
from probes.estimators import LinearProbe, Probe, as_probe, probe_score

CONTROL_SITE = "obs"
_YM = "ym_"
"""Prefix of the read-out columns of `CandidateProbes.y_m`: `ym_<candidate>` and `ym_<candidate>@<site>`."""


def _column(candidate: str, site: str | None = None) -> str:
    """The `y_m` column of `candidate`'s read-out at `site` (its best site when `None`)."""
    return f"{_YM}{candidate}" if site is None else f"{_YM}{candidate}@{site}"


@dataclass(frozen=True)
class ProbeChoice:
    """The probe a candidate's signal `Y_m` is read with: its site, held-out score and the control's.

    `flags` are the reasons (if any) to distrust conclusions that condition on it, from probe
    transport (`ProbeTransport.flagged`); `None` when probe transport did not run.
    """

    site: str
    score: float
    control_score: float
    beats_control: bool | None
    flags: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = {
            "site": self.site,
            "score": self.score,
            "control_score": self.control_score,
            "beats_control": self.beats_control,
        }
        if self.flags is not None:
            out["flags"] = list(self.flags)
        return out

    def _repr_html_(self) -> str:
        flags = "" if not self.flags else f" ⚠ {html.escape('; '.join(self.flags))}"
        return (
            f"<b>Probe</b> at <code>{html.escape(self.site)}</code>: AUC {self.score:.3f} (observation control "
            f"{self.control_score:.3f}){flags}"
        )


@dataclass(frozen=True)
class CandidateProbes:
    """Fitted read-outs of every candidate at every site.

    `scores`: one row per (candidate, site) with the out-of-fold `score` (ROC AUC), the
    observation control's score at the same episodes (`control_score`) and `beats_control`.
    `y_m`: one row per episode (`episode`, `s`, `shift`, `return`, `achieved_<cand>`) plus
    `ym_<cand>` — the out-of-fold probe read-out at the best site for that candidate — and
    `ym_<cand>@<site>` for every site. `best_site[cand]` names the site used for `ym_<cand>`.
    """

    scores: pd.DataFrame
    y_m: pd.DataFrame
    best_site: dict[str, str]
    kind: str
    n_folds: int
    meta: dict = field(default_factory=dict)
    """Provenance copied from the dataset (`env`, `run`, `seed`)."""
    estimator: str = ""
    """The probe every read-out comes from (its `repr`, e.g. `LinearProbe()`)."""
    seed: int = 0
    """Seed of the cross-fitting folds."""
    probes: Mapping[tuple[str, str], Probe] = field(default_factory=dict, compare=False, repr=False)
    """The probe of each (candidate, site) fitted on all episodes (not saved: refit with `probe_candidates`)."""

    def probe(self, candidate: str, site: str | None = None) -> Probe:
        """The probe of `candidate` at `site` (its best site when `None`), fitted on all episodes."""
        site = self.best_site.get(candidate) if site is None else site
        if (candidate, site) not in self.probes:
            if self.probes:
                raise unknown_name(
                    f"probe of {candidate!r}", f"{candidate}@{site}", [f"{c}@{s}" for c, s in self.probes]
                )
            raise DataError(
                "these probes were loaded from disk, which keeps their read-outs but not the fitted estimators; "
                "run probe_candidates on the rollouts to fit them."
            )
        return self.probes[(candidate, site)]

    def refit(self, data: RolloutDataset, probe=None, *, kind: str = "logistic", alpha: float = 1.0) -> CandidateProbes:
        """These probes with their estimators fitted on all episodes of `data` again (`load` keeps only the
        read-outs): one fit per (candidate, site), not the `n_folds` of cross-fitting, and the same fits
        `probe_candidates` kept, so a resumed study attributes and steers with the same probes.

        `probe` (or `kind` and `alpha`) must be what `probe_candidates` was given: the estimator is checked
        against the one the read-outs were saved with.
        """
        probe = as_probe(probe if probe is not None else LinearProbe(kind, alpha))
        if repr(probe) != self.estimator:
            raise DataError(f"these read-outs come from {self.estimator}, not {probe!r}; refit with that probe.")
        first = data.first_steps()
        if not np.array_equal(first.table["episode"].to_numpy(), self.y_m["episode"].to_numpy()):
            raise DataError("these probes were fitted on other episodes than data's; run probe_candidates on data.")
        sites = [*self.scores["site"].drop_duplicates(), CONTROL_SITE]
        kept = {}
        for cand in self.candidates:
            y = self.y_m[f"achieved_{cand}"].to_numpy().astype(float)
            for site in sites:
                if self.has_readout(cand, site):
                    kept[(cand, site)] = clone(probe).fit(np.asarray(first.site(site), dtype=np.float64), y)
        return dataclasses.replace(self, probes=kept)

    def reusable_as(self, probe: Probe, n_folds: int, seed: int, episodes=None) -> bool:
        """Whether these read-outs are what cross-fitting `probe` with `n_folds` folds and `seed` would give
        (on the same `episodes`, in the same order, when given)."""
        same = bool(self.probes) and self.estimator == repr(probe) and self.n_folds == n_folds and self.seed == seed
        if same and episodes is not None:
            same = np.array_equal(np.asarray(episodes), self.y_m["episode"].to_numpy())
        return same

    @property
    def candidates(self) -> tuple[str, ...]:
        """The candidates read out, in the order they were probed."""
        return tuple(c[len(_YM) :] for c in self.y_m.columns if c.startswith(_YM) and "@" not in c)

    def readout_column(self, candidate: str, site: str | None = None) -> str:
        """Name of the `y_m` column holding `candidate`'s read-out at `site` (the best site when `None`)."""
        if candidate not in self.candidates:
            raise unknown_name("candidate", candidate, self.candidates)
        column = _column(candidate, site)
        if column not in self.y_m:
            sites = [c.split("@", 1)[1] for c in self.y_m.columns if c.startswith(_column(candidate, ""))]
            raise unknown_name(f"probe site of {candidate!r}", str(site), sites)
        return column

    def has_readout(self, candidate: str, site: str | None = None) -> bool:
        """Whether `candidate` was read out at `site` (at all, when `None`)."""
        return _column(candidate, site) in self.y_m

    def readout(self, candidate: str, site: str | None = None) -> pd.Series:
        """Out-of-fold read-out `Y_m` of `candidate` per episode, at `site` (the best site when `None`)."""
        return self.y_m[self.readout_column(candidate, site)]

    def choice(self, candidate: str) -> ProbeChoice | None:
        """The probe `candidate`'s `Y_m` is read with (its best site), or `None` when no site was scored."""
        site = self.best_site.get(candidate)
        if site is None:
            return None
        hit = self.scores[(self.scores.candidate == candidate) & (self.scores.site == site)]
        if not len(hit):
            return None
        h = hit.iloc[0]
        beats = h["beats_control"]
        return ProbeChoice(
            site=site,
            score=float(h["score"]),
            control_score=float(h["control_score"]),
            beats_control=None if beats is None or pd.isna(beats) else bool(beats),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write `episodes.parquet`, `probe_scores.parquet` and `probes.json` into directory `path`."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name, frame in (("episodes.parquet", self.y_m), ("probe_scores.parquet", self.scores)):
            write_parquet_atomic(path / name, frame)
        write_json_atomic(
            path / "probes.json",
            {
                "kind": self.kind,
                "n_folds": self.n_folds,
                "best_site": self.best_site,
                "meta": self.meta,
                "estimator": self.estimator,
                "seed": self.seed,
            },
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CandidateProbes:
        """Read probes written by `save`."""
        path = Path(path)
        if not (path / "probes.json").is_file():
            raise ConfigError(f"{path} holds no probes (no probes.json); run `mesaprobe probe` first.")
        meta = json.loads((path / "probes.json").read_text())
        return cls(
            scores=pd.read_parquet(path / "probe_scores.parquet"),
            y_m=pd.read_parquet(path / "episodes.parquet"),
            best_site=dict(meta["best_site"]),
            kind=meta["kind"],
            n_folds=int(meta["n_folds"]),
            meta=dict(meta.get("meta", {})),
            estimator=str(meta.get("estimator", "")),
            seed=int(meta.get("seed", 0)),
        )

    def _repr_html_(self) -> str:
        best = ", ".join(f"{c}: <code>{s}</code>" for c, s in self.best_site.items())
        return (
            f"<b>CandidateProbes</b> ({self.kind}, {self.n_folds}-fold over {len(self.y_m)} episodes); "
            f"best sites: {best}{self.scores.to_html(index=False, float_format='%.3f')}"
        )


def _folds(y: np.ndarray, n_folds: int, seed: int):
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) > 1 and counts.min() >= n_folds:
        return StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    return KFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)))


def cross_fit(
    X: np.ndarray,
    y: np.ndarray,
    *,
    probe=None,
    kind: str = "logistic",
    alpha: float = 1.0,
    n_folds: int,
    seed: int,
) -> np.ndarray:
    """Out-of-fold read-outs `(n,)`: each row is read by a probe that never saw it.

    `probe` is any scikit-learn estimator (see `probes.Probe`); without it a `LinearProbe(kind,
    alpha)`. Folds over rows are stratified by label for a classifier (`StratifiedKFold`, or
    `KFold` when a class has fewer rows than folds), seeded by `seed`.
    """
    return _cross_fit(X, y, as_probe(probe if probe is not None else LinearProbe(kind, alpha)), n_folds, seed)[0]


def _cross_fit(X: np.ndarray, y: np.ndarray, probe: Probe, n_folds: int, seed: int) -> tuple[np.ndarray, list[Probe]]:
    """Out-of-fold read-outs and the fold probes, through scikit-learn's `cross_validate` (one clone per fold)."""
    labels = y.astype(int) if probe.is_classifier else np.zeros(len(y), int)
    splits = list(_folds(labels, n_folds, seed))
    fitted = cross_validate(probe, X, y, cv=splits, return_estimator=True, return_indices=True, error_score="raise")
    pred = np.empty(len(y), dtype=np.float64)
    for est, test_idx in zip(fitted["estimator"], fitted["indices"]["test"], strict=True):
        pred[test_idx] = est.readout(X[test_idx])
    return pred, list(fitted["estimator"])


def probe_candidates(
    data: RolloutDataset,
    *,
    candidates: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    probe=None,
    kind: str = "logistic",
    alpha: float = 1.0,
    n_folds: int = 5,
    seed: int = 0,
) -> CandidateProbes:
    """Fit one probe per (candidate, site) reading "will this episode achieve the candidate?".

    Rows are episodes: the features are the activations at the episode's first step (the agent's
    expectation before acting, so the read-out cannot peek at the outcome), the target is whether
    the episode achieved the candidate. `probe` is any scikit-learn classifier (e.g.
    `LogisticRegression(max_iter=1000)`, `RidgeClassifier()`, `MLPClassifier(...)`; wrapped in
    `probes.Probe`), by default `LinearProbe(kind, alpha)`. Read-outs are cross-fitted over
    `n_folds` folds of episodes (scikit-learn's `cross_validate`), so every `Y_m` value comes from a
    probe that never saw that episode; each probe is then fitted once on all episodes and kept
    (`CandidateProbes.probe`) for attribution and steering. The same probe on the raw observation
    (site `obs`) is the control each score is compared to.
    """
    if n_folds < 2:
        raise ConfigError(f"n_folds must be >= 2, got {n_folds}.")
    probe = as_probe(probe if probe is not None else LinearProbe(kind, alpha))
    score_kind = probe.score_kind
    candidates = list(candidates or data.candidates)
    unknown = [c for c in candidates if c not in data.candidates]
    if unknown:
        raise ConfigError(f"unknown candidates {unknown}; the dataset records {data.candidates}.")
    sites = [s for s in (sites or data.sites) if s != CONTROL_SITE]
    first = data.first_steps()
    if len(first) < 2 * n_folds:
        raise DataError(f"probing needs at least {2 * n_folds} episodes, got {len(first)}.")
    episodes = data.episodes().set_index("episode").loc[first.table["episode"].to_numpy()].reset_index()
    regime = ["regime"] if "regime" in episodes.columns else []  # datasets collected before regimes had names lack it
    out = episodes[["episode", "run", "s", *regime, "shift", "return", *[f"achieved_{c}" for c in candidates]]].copy()
    rows, best, kept = [], {}, {}

    def fit(cand: str, site: str, y: np.ndarray) -> np.ndarray:
        X = np.asarray(first.site(site), dtype=np.float64)
        pred, _ = _cross_fit(X, y, probe, n_folds, seed)
        kept[(cand, site)] = clone(probe).fit(X, y)
        out[_column(cand, site)] = pred
        return pred

    for cand in candidates:
        y = episodes[f"achieved_{cand}"].to_numpy().astype(float)
        control = np.nan
        if CONTROL_SITE in data.activations:
            control = probe_score(score_kind, y, fit(cand, CONTROL_SITE, y))
        best_score = -np.inf
        for site in sites:
            score = probe_score(score_kind, y, fit(cand, site, y))
            rows.append(
                {
                    "candidate": cand,
                    "site": site,
                    "score": score,
                    "control_score": control,
                    "beats_control": bool(score > control) if np.isfinite(score) and np.isfinite(control) else None,
                    "positive_rate": float(y.mean()),
                    "n_episodes": len(y),
                }
            )
            if cand not in best or (np.isfinite(score) and score > best_score):
                best[cand], best_score = site, score
        out[_column(cand)] = out[_column(cand, best[cand])] if cand in best else out.get(_column(cand, CONTROL_SITE))
    meta = {k: data.meta[k] for k in ("env", "run", "seed") if k in data.meta}
    return CandidateProbes(
        pd.DataFrame(rows), out, best, score_kind, n_folds, meta, estimator=repr(probe), seed=seed, probes=kept
    )
