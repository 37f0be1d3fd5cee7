"""Do the probes transport? Score every candidate read-out at every shift, linear and non-linear.

A probe that reads a candidate objective well on the distribution it was fitted on says little by
itself: a latent is meaningful only if the read-out keeps predicting across distributions (and
the best linear fit of a mis-specified model depends on where it was fitted). `probe_transport`
fits each (candidate, site, family) probe either on the episodes of one shift (the training
shift), cross-fitted so the in-distribution score is out-of-fold, and scores it out-of-sample at
every other shift (`fit_on="train_shift"`), or cross-fits it over the episodes of all shifts and
scores the out-of-fold read-out within each shift (`fit_on="pooled"`, what the study's own probe
does; the default picks it when the training shift's labels are (nearly) one class) — next to the
same probe on the raw observation (the control) and next to a non-linear probe of the same
target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from core.errors import ConfigError, DataError, unknown_name
from core.vocab import TRANSPORT_PROBE_KINDS
from probes.candidates import CONTROL_SITE, CandidateProbes, cross_fit
from probes.dataset import RolloutDataset
from probes.estimators import MIN_CLASS, LinearProbe, MLPProbe, probe_score
from probes.transport_result import ProbeTransport

LINEAR_KINDS: tuple[str, ...] = ("logistic",)
NONLINEAR_KINDS: tuple[str, ...] = ("mlp",)
TRANSPORT_KINDS: tuple[str, ...] = TRANSPORT_PROBE_KINDS
FIT_ON: tuple[str, ...] = ("auto", "train_shift", "pooled")
CONTROL_MARGIN = 0.02
"""A probe must beat the control's AUC by more than this at every shift to count as better."""


def make_probe(kind: str, alpha: float, seed: int, device: str = "cpu"):
    """A fresh probe of family `kind`: `LinearProbe("logistic", alpha, device=device)` or `MLPProbe(random_state=seed)`."""
    if kind == "logistic":
        return LinearProbe("logistic", alpha, device=device)
    return MLPProbe(random_state=seed)


def cross_fit_kind(
    kind: str, X: np.ndarray, y: np.ndarray, *, alpha: float, n_folds: int, seed: int, device: str = "cpu"
) -> np.ndarray:
    """Out-of-fold read-outs of a `kind` probe."""
    # `probes.candidates.cross_fit` with the same folds, so the logistic scores equal `probe_candidates`'.
    return cross_fit(X, y, probe=make_probe(kind, alpha, seed, device), n_folds=n_folds, seed=seed)


def why_nan(y: np.ndarray) -> str:
    """Why an AUC on labels `y` is not reported."""
    n_pos = int(y.sum())
    if n_pos in (0, len(y)):
        return f"labels all {'achieved' if n_pos else 'not achieved'} ({len(y)} episodes): AUC undefined"
    return f"rarer class has {min(n_pos, len(y) - n_pos)} < {MIN_CLASS} episodes: AUC not reported"


def check_settings(kinds, n_folds, drop_tolerance, control_margin) -> list[str]:
    """The probe kinds as a list, after checking them and the scoring settings (a `ConfigError` naming the field)."""
    kinds = list(kinds)
    if not kinds:
        raise ConfigError("kinds must name at least one probe family, e.g. ('logistic', 'mlp').")
    for kind in kinds:
        if kind not in TRANSPORT_KINDS:
            raise ConfigError(str(unknown_name("probe kind", str(kind), TRANSPORT_KINDS)))
    if len(set(kinds)) != len(kinds):
        raise ConfigError(f"kinds must not repeat, got {kinds}.")
    if int(n_folds) != n_folds or n_folds < 2:
        raise ConfigError(f"n_folds must be an integer >= 2, got {n_folds}.")
    if not 0.0 <= drop_tolerance < 1.0:
        raise ConfigError(f"drop_tolerance must be in [0, 1), got {drop_tolerance}.")
    if not 0.0 <= control_margin < 1.0:
        raise ConfigError(f"control_margin must be in [0, 1), got {control_margin}.")
    return kinds


def resolve_targets(
    data: RolloutDataset, candidates: Sequence[str] | None, sites: Sequence[str] | None
) -> tuple[list[str], list[str], bool]:
    """The candidates and sites to probe (all by default, checked by name), the control site added
    when the dataset has it, and whether it has it."""
    candidates = list(candidates) if candidates is not None else data.candidates
    if not candidates:
        raise DataError("the dataset records no candidates (no achieved_<cand> columns).")
    for cand in candidates:
        if cand not in data.candidates:
            raise unknown_name("candidate", cand, data.candidates)
    sites = list(sites) if sites is not None else data.sites
    for site in sites:
        if site not in data.activations:
            raise unknown_name("activation site", site, data.sites)
    has_control = CONTROL_SITE in data.activations
    if has_control and CONTROL_SITE not in sites:
        sites.append(CONTROL_SITE)
    if not sites:
        raise DataError("the dataset has no activation sites to probe.")
    return candidates, sites, has_control


def first_step_episodes(data: RolloutDataset) -> tuple[RolloutDataset, pd.DataFrame]:
    """The first step of every episode and the episode table in the same row order."""
    first = data.first_steps()
    return first, data.episodes().set_index("episode").loc[first.table["episode"].to_numpy()].reset_index()


def _fit_on_choice(
    fit_on: str, ys: dict[str, np.ndarray], train_mask: np.ndarray, train_shift: float
) -> tuple[str, str]:
    """Which fitting scheme `fit_on="auto"` resolves to, and why."""
    short = []
    for cand, y in ys.items():
        y_tr = y[train_mask]
        n_pos = int(y_tr.sum())
        if min(n_pos, len(y_tr) - n_pos) < MIN_CLASS:
            short.append(f"{cand!r} ({n_pos} of {len(y_tr)} achieved)")
    if fit_on == "train_shift":
        return fit_on, "requested" + (f"; training shift too one-sided for {', '.join(short)}" if short else "")
    if fit_on == "pooled":
        return fit_on, "requested"
    if short:
        return "pooled", (
            f"auto: at the training shift {train_shift:g} the rarer class has fewer than {MIN_CLASS} episodes "
            f"for {', '.join(short)}, so no probe can be fitted there; cross-fitted over all shifts instead"
        )
    return "train_shift", (
        f"auto: every candidate has at least {MIN_CLASS} episodes of each class at the training shift {train_shift:g}"
    )


def probe_transport(
    data: RolloutDataset,
    *,
    candidates: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    kinds: Sequence[str] = ("logistic", "mlp"),
    train_shift: float | None = None,
    fit_on: Literal["auto", "train_shift", "pooled"] = "auto",
    n_folds: int = 5,
    seed: int = 0,
    drop_tolerance: float = 0.05,
    control_margin: float = CONTROL_MARGIN,
    alpha: float = 1.0,
    probes: CandidateProbes | None = None,
    device: str = "cpu",
) -> ProbeTransport:
    """Score each (candidate, site, kind) probe at every shift in `data`.

    The unit is that of `probe_candidates`: one row per episode, features are the activations at
    the episode's first step, the target is whether the episode achieved the candidate. Two
    fitting schemes (`fit_on`):

    - `"train_shift"`: probes are fitted on the episodes at `train_shift` (default: the smallest
      shift present); their score there is out-of-fold (`n_folds`, the same folds as
      `probe_candidates`, so the logistic score equals `probe_candidates`' on those episodes); at
      every other shift the probe refitted on all training episodes is scored out-of-sample.
      `drops` compares every other shift with the training shift's score.
    - `"pooled"`: probes are cross-fitted over the episodes of all shifts (`n_folds` folds of
      episodes stratified by label, the folds of `probe_candidates`, so the logistic out-of-fold
      read-out equals its `ym_<cand>@<site>`), and that read-out is scored within each shift and
      over all episodes (`pooled_score`). `drops` compares each shift with the pooled score;
      the control and the non-linear probes are compared per shift and on the pooled score.
    - `"auto"` (default): `"train_shift"` when every candidate has at least `MIN_CLASS` episodes
      of each class at the training shift, else `"pooled"` (a competent agent achieves its
      candidates in nearly every training episode, leaving nothing to fit there).

    The choice and its reason are recorded in `fit_on` / `fit_on_reason`. Kinds: `"logistic"`
    (`LinearProbe`, L2 `alpha`) and `"mlp"` (`MLPProbe`, random_state `seed`). The observation
    site `obs` is always scored (it is the control) when the dataset has it. Scores are ROC AUC; a
    shift whose labels are one class (or whose rarer class has under `MIN_CLASS` episodes) gets
    NaN and a `note`. With `probes` (the study's `CandidateProbes` of the same data), pooled
    logistic read-outs are taken from them when they come from the same probe, folds and seed,
    instead of being fitted a second time. `device` is the logistic probes' (`LinearProbe`).
    """
    if fit_on not in FIT_ON:
        raise ConfigError(str(unknown_name("fit_on", str(fit_on), FIT_ON)))
    kinds = check_settings(kinds, n_folds, drop_tolerance, control_margin)
    candidates, sites, has_control = resolve_targets(data, candidates, sites)
    first, episodes = first_step_episodes(data)
    shift_col = episodes["shift"].to_numpy(dtype=np.float64)
    shifts = sorted(float(s) for s in np.unique(shift_col[np.isfinite(shift_col)]))
    if len(shifts) < 2:
        raise DataError(f"transport needs episodes at two or more shifts; the dataset has only {shifts}.")
    if train_shift is None:
        train_shift = shifts[0]
    else:
        match = [s for s in shifts if np.isclose(s, float(train_shift))]
        if not match:
            raise ConfigError(f"train_shift {train_shift} is not a shift of the dataset; shifts present: {shifts}.")
        train_shift = match[0]
    masks = {s: np.isclose(shift_col, s) for s in shifts}
    ys = {cand: episodes[f"achieved_{cand}"].to_numpy().astype(float) for cand in candidates}
    fit_on, fit_on_reason = _fit_on_choice(fit_on, ys, masks[train_shift], train_shift)
    pooled = fit_on == "pooled"
    n_fit = len(episodes) if pooled else int(masks[train_shift].sum())
    if n_fit < 2 * n_folds:
        where = "the dataset" if pooled else f"the training shift {train_shift:g}"
        raise DataError(f"{where} has {n_fit} episodes; need at least {2 * n_folds}.")

    same = probes is not None and probes.reusable_as(
        make_probe("logistic", alpha, seed, device), n_folds, seed, episodes["episode"]
    )
    reuse = probes if same else None
    rows, pooled_scores = [], {}
    readouts: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in kinds}
    for cand in candidates:
        y_all = ys[cand]
        y_tr = y_all[masks[train_shift]]
        train_single = bool(np.all(y_tr == y_tr[0]))
        for site in sites:
            X_all = np.asarray(first.site(site), dtype=np.float64).reshape(len(first), -1)
            X_tr = X_all[masks[train_shift]]
            for kind in kinds:
                # The read-out every score below is computed from: out-of-fold over all episodes
                # (pooled), or out-of-fold at the training shift and out-of-sample elsewhere.
                pred = np.full(len(y_all), np.nan)
                if pooled and kind == "logistic" and reuse is not None and reuse.has_readout(cand, site):
                    pred = reuse.readout(cand, site).to_numpy(dtype=np.float64)  # fitted once, by probe_candidates
                    pooled_scores[(cand, site, kind)] = probe_score("logistic", y_all, pred)
                elif pooled:
                    pred = cross_fit_kind(kind, X_all, y_all, alpha=alpha, n_folds=n_folds, seed=seed, device=device)
                    pooled_scores[(cand, site, kind)] = probe_score("logistic", y_all, pred)
                elif not train_single:
                    tr = masks[train_shift]
                    pred[tr] = cross_fit_kind(kind, X_tr, y_tr, alpha=alpha, n_folds=n_folds, seed=seed, device=device)
                    pred[~tr] = make_probe(kind, alpha, seed, device).fit(X_tr, y_tr).readout(X_all[~tr])
                readouts[kind][f"ym_{cand}@{site}"] = pred
                for s in shifts:
                    y = y_all[masks[s]]
                    note = ""
                    if not pooled and train_single:
                        score = float("nan")
                        note = f"training-shift labels all one class ({int(y_tr[0])}): no probe"
                    else:
                        score = probe_score("logistic", y, pred[masks[s]])
                    if not note and not np.isfinite(score):
                        note = why_nan(y)
                    rows.append(
                        {
                            "candidate": cand,
                            "site": site,
                            "kind": kind,
                            "shift": s,
                            "score": score,
                            "n": len(y),
                            "positive_rate": float(y.mean()) if len(y) else float("nan"),
                            "in_distribution": pooled or s == train_shift,
                            "note": note,
                        }
                    )
    scores = pd.DataFrame(rows)
    keys = episodes[["episode", "shift"]].reset_index(drop=True)
    predictions = {kind: pd.concat([keys, pd.DataFrame(cols)], axis=1) for kind, cols in readouts.items()}
    pooled_notes = {cand: why_nan(y) for cand, y in ys.items()}
    flags = _flags(
        scores,
        train_shift,
        kinds,
        has_control,
        drop_tolerance,
        control_margin,
        pooled_scores if pooled else None,
        pooled_notes,
    )
    meta = {k: data.meta[k] for k in ("env", "run", "seed") if k in data.meta}
    return ProbeTransport(
        scores,
        flags,
        train_shift,
        shifts,
        kinds,
        drop_tolerance,
        control_margin,
        int(n_folds),
        seed,
        meta,
        fit_on,
        fit_on_reason,
        predictions,
    )


def _flags(
    scores, train_shift, kinds, has_control, drop_tolerance, control_margin, pooled_scores, pooled_notes
) -> pd.DataFrame:
    # `pooled_scores` is None under fit_on="train_shift", else {(cand, site, kind): pooled out-of-fold AUC}.
    pooled = pooled_scores is not None
    by = scores.set_index(["candidate", "site", "kind", "shift"])["score"]
    rows = []
    for (cand, site, kind), grp in scores.groupby(["candidate", "site", "kind"], sort=False):
        per_shift = dict(zip(grp["shift"], grp["score"], strict=True))
        train = per_shift[train_shift]
        pooled_score = pooled_scores[(cand, site, kind)] if pooled else float("nan")
        ref = pooled_score if pooled else train
        others = {s: v for s, v in per_shift.items() if (pooled or s != train_shift) and np.isfinite(v)}
        notes = []
        worst_shift = worst = drop = float("nan")
        if others:
            worst_shift = min(others, key=others.get)
            worst = others[worst_shift]
            drop = ref - worst
        drops = bool(np.isfinite(drop) and drop > drop_tolerance)
        if not np.isfinite(ref):
            if pooled:
                notes.append(f"pooled score undefined: {pooled_notes[cand]}")
            else:
                notes.append(
                    f"score undefined at the training shift: {grp.loc[grp['shift'] == train_shift, 'note'].iloc[0]}"
                )
        elif not others:
            notes.append("no shift has a defined score" if pooled else "no other shift has a defined score")
        is_control = site == CONTROL_SITE
        control_shifts: list[float] = []
        control_pooled = False
        compared = 0
        if not is_control and has_control:
            for s, v in per_shift.items():
                ctrl = by.get((cand, CONTROL_SITE, kind, s), float("nan"))
                if np.isfinite(v) and np.isfinite(ctrl):
                    compared += 1
                    if v <= ctrl + control_margin:
                        control_shifts.append(float(s))
            if pooled:
                ctrl = pooled_scores.get((cand, CONTROL_SITE, kind), float("nan"))
                if np.isfinite(pooled_score) and np.isfinite(ctrl):
                    compared += 1
                    control_pooled = bool(pooled_score <= ctrl + control_margin)
            if not compared:
                notes.append("no score where both the probe and the control are defined")
        elif not has_control:
            notes.append(f"no control site {CONTROL_SITE!r} in the dataset")
        nbtc = bool(control_shifts) or control_pooled
        gap, misspecified = float("nan"), False
        if kind in LINEAR_KINDS:
            if pooled:
                nonlinear = [pooled_scores.get((cand, site, k), float("nan")) for k in kinds if k in NONLINEAR_KINDS]
            else:
                nonlinear = [by.get((cand, site, k, train_shift), float("nan")) for k in kinds if k in NONLINEAR_KINDS]
            nonlinear = [v for v in nonlinear if np.isfinite(v)]
            if nonlinear and np.isfinite(ref):
                gap = max(nonlinear) - ref
                misspecified = bool(gap > drop_tolerance)
        assessed = np.isfinite(ref) and bool(others) and (is_control or not has_control or compared > 0)
        rows.append(
            {
                "candidate": cand,
                "site": site,
                "kind": kind,
                "train_score": train,
                "pooled_score": pooled_score,
                "reference_score": ref,
                "worst_shift": worst_shift,
                "worst_score": worst,
                "drop": drop,
                "drops": drops,
                "control_shifts": control_shifts,
                "control_pooled": control_pooled,
                "no_better_than_control": nbtc,
                "nonlinear_gap": gap,
                "misspecified": misspecified,
                "transports": bool(assessed and not drops and not nbtc),
                "is_control": is_control,
                "note": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows)
