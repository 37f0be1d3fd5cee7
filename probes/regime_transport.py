"""Do the probes transport across a family of deployment regimes? Fit on some regimes, score on another.

`probe_transport` compares shifts. A study over named regimes collects every deployment regime at
the same shift, so there the question is per regime: does a read-out fitted where the agent was
trained still read the candidate on each deployment regime, and does one fitted on every other
regime read it on the regime it never saw (leave-one-regime-out)? Both next to the same probe on
the raw observation (the control), and next to the in-distribution score of the read-out the
study's verdicts condition on. A read-out that works on some regimes and not on others is what
`RegimeProbeTransport.only_some` reports, and the verdicts on the regimes where it fails are
marked (`RegimeProbeTransport.flagged`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.errors import DataError
from probes.candidates import CONTROL_SITE, CandidateProbes
from probes.dataset import RolloutDataset
from probes.estimators import MIN_CLASS, probe_score
from probes.regime_transport_result import RegimeProbeTransport
from probes.transport import (
    CONTROL_MARGIN,
    check_settings,
    cross_fit_kind,
    first_step_episodes,
    make_probe,
    resolve_targets,
    why_nan,
)

TRAIN_REGIME = 0


def _fittable(y: np.ndarray) -> bool:
    """Enough episodes of each class to fit (and cross-fit) a probe, and to report its AUC."""
    n_pos = int(y.sum())
    return min(n_pos, len(y) - n_pos) >= MIN_CLASS


def _regime_names(episodes: pd.DataFrame, regimes: Sequence[int]) -> list[str]:
    if "regime" not in episodes.columns:  # datasets collected before regimes had names lack it
        return ["train" if r == TRAIN_REGIME else f"regime {r}" for r in regimes]
    first = episodes.groupby("s")["regime"].first()
    return [str(first.loc[r]) for r in regimes]


def probe_transport_by_regime(
    data: RolloutDataset,
    *,
    candidates: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    kinds: Sequence[str] = ("logistic",),
    n_folds: int = 5,
    seed: int = 0,
    drop_tolerance: float = 0.05,
    control_margin: float = CONTROL_MARGIN,
    alpha: float = 1.0,
    probes: CandidateProbes | None = None,
    device: str = "cpu",
) -> RegimeProbeTransport:
    """Score each (candidate, site, kind) probe on every regime three ways.

    The unit is that of `probe_candidates` (one row per episode, features at its first step,
    target whether it achieved the candidate); regimes are the episodes' `s` (0 = training) and
    are named by their `regime` column. Each regime's score (ROC AUC) is taken of:

    - `in_regime`: the read-out cross-fitted over all episodes (`n_folds` folds, those of
      `probe_candidates`, so the logistic read-out is the study's `y_m`; taken from `probes` when
      they are the same probe), restricted to the regime: what the verdicts condition on;
    - `from_train`: a probe fitted on the training regime (out-of-fold there, out-of-sample on
      every deployment regime); NaN when the training labels have fewer than `MIN_CLASS`
      episodes of a class (a competent agent achieves its objective in nearly every episode);
    - `left_out`: a probe fitted on the episodes of every other regime, scored on this one.

    A (non-control) read-out *fails* on a regime when its out-of-regime score falls more than
    `drop_tolerance` below the in-distribution one (left-out against in-regime; from-training
    against its training score), or when it is no better than the control's score of the same
    kind by more than `control_margin`; it *works* when it was scored there and did neither.
    The training regime is judged too (by the probe fitted on the deployment regimes): every
    per-regime verdict compares training with a deployment regime.
    """
    kinds = check_settings(kinds, n_folds, drop_tolerance, control_margin)
    candidates, sites, has_control = resolve_targets(data, candidates, sites)
    first, episodes = first_step_episodes(data)
    s_col = episodes["s"].to_numpy(dtype=int)
    regimes = sorted(int(r) for r in np.unique(s_col))
    if TRAIN_REGIME not in regimes or len(regimes) < 2:
        raise DataError(
            f"probe transport across regimes needs training episodes (s = 0) and at least one deployment "
            f"regime; the dataset has s = {regimes}. Collect with regime=[...] naming 'train' and the regimes."
        )
    names = _regime_names(episodes, regimes)
    masks = {r: s_col == r for r in regimes}
    train = masks[TRAIN_REGIME]
    if int(train.sum()) < 2 * n_folds:
        raise DataError(f"the training regime has {int(train.sum())} episodes; need at least {2 * n_folds}.")

    same = probes is not None and probes.reusable_as(
        make_probe("logistic", alpha, seed, device), n_folds, seed, episodes["episode"]
    )
    rows = []
    for cand in candidates:
        y = episodes[f"achieved_{cand}"].to_numpy().astype(float)
        train_ok = _fittable(y[train])
        for site in sites:
            X = np.asarray(first.site(site), dtype=np.float64).reshape(len(first), -1)
            for kind in kinds:
                if same and kind == "logistic" and probes.has_readout(cand, site):
                    pooled = probes.readout(cand, site).to_numpy(dtype=np.float64)
                else:
                    pooled = cross_fit_kind(kind, X, y, alpha=alpha, n_folds=n_folds, seed=seed, device=device)
                from_train = np.full(len(y), np.nan)
                if train_ok:
                    from_train[train] = cross_fit_kind(
                        kind, X[train], y[train], alpha=alpha, n_folds=n_folds, seed=seed, device=device
                    )
                    from_train[~train] = (
                        make_probe(kind, alpha, seed, device).fit(X[train], y[train]).readout(X[~train])
                    )
                for r, name in zip(regimes, names, strict=True):
                    m = masks[r]
                    left_out, notes = float("nan"), []
                    if not _fittable(y[~m]):
                        notes.append(f"the other regimes have too few episodes of a class to fit ({why_nan(y[~m])})")
                    elif _fittable(y[m]):  # an AUC is reported here: fit only then
                        pred = make_probe(kind, alpha, seed, device).fit(X[~m], y[~m]).readout(X[m])
                        left_out = probe_score("logistic", y[m], pred)
                    in_regime = probe_score("logistic", y[m], pooled[m])
                    if not np.isfinite(in_regime):
                        notes.insert(0, why_nan(y[m]))
                    if not train_ok:
                        notes.append(f"no probe from training ({why_nan(y[train])} there)")
                    rows.append(
                        {
                            "candidate": cand,
                            "site": site,
                            "kind": kind,
                            "regime": name,
                            "s": r,
                            "n": int(m.sum()),
                            "positive_rate": float(y[m].mean()),
                            "in_regime": in_regime,
                            "from_train": probe_score("logistic", y[m], from_train[m]) if train_ok else float("nan"),
                            "left_out": left_out,
                            "note": "; ".join(notes),
                        }
                    )
    scores = pd.DataFrame(rows)
    flags = _flags(scores, has_control, drop_tolerance, control_margin)
    meta = {k: data.meta[k] for k in ("env", "run", "seed") if k in data.meta}
    return RegimeProbeTransport(
        scores, flags, tuple(names), tuple(kinds), drop_tolerance, control_margin, int(n_folds), seed, meta
    )


def _judge(row, train_row, ctrl, drop_tolerance: float, control_margin: float) -> tuple[str, list[str], dict]:
    """`works` / `fails` / `unscored` for one read-out on one regime, the reasons it fails, and the numbers."""
    reasons, checked = [], False
    drop_left = row.in_regime - row.left_out
    if np.isfinite(drop_left):
        checked = True
        if drop_left > drop_tolerance:
            reasons.append(
                f"fitted on the other regimes it reads AUC {row.left_out:.3f} here against {row.in_regime:.3f} "
                "in distribution"
            )
    drop_train = float("nan")
    if row.s != TRAIN_REGIME:
        drop_train = train_row.from_train - row.from_train
        if np.isfinite(drop_train):
            checked = True
            if drop_train > drop_tolerance:
                reasons.append(
                    f"fitted on training its AUC falls from {train_row.from_train:.3f} to {row.from_train:.3f}"
                )
    # The control is compared on the same footing: the out-of-regime score where there is one.
    score = control = float("nan")
    for col in ("left_out", "from_train", "in_regime"):
        a, b = getattr(row, col), float("nan") if ctrl is None else getattr(ctrl, col)
        if np.isfinite(a) and np.isfinite(b):
            score, control = a, b
            break
    if np.isfinite(score):
        checked = True
        if score <= control + control_margin:
            reasons.append(f"no better than the observation control (AUC {score:.3f} against {control:.3f})")
    status = "fails" if reasons else ("works" if checked else "unscored")
    numbers = {"drop_left_out": drop_left, "drop_from_train": drop_train, "score": score, "control_score": control}
    return status, reasons, numbers


def _flags(scores: pd.DataFrame, has_control: bool, drop_tolerance: float, control_margin: float) -> pd.DataFrame:
    """One row per non-control (candidate, site, kind) and regime: its status, reasons and the numbers behind them."""
    by = scores.set_index(["candidate", "site", "kind", "s"])
    rows = []
    for row in scores.itertuples(index=False):
        if row.site == CONTROL_SITE:
            continue
        train_row = by.loc[(row.candidate, row.site, row.kind, TRAIN_REGIME)]
        key = (row.candidate, CONTROL_SITE, row.kind, row.s)
        ctrl = by.loc[key] if has_control and key in by.index else None
        status, reasons, numbers = _judge(row, train_row, ctrl, drop_tolerance, control_margin)
        note = row.note if status == "unscored" else ""
        rows.append(
            {
                "candidate": row.candidate,
                "site": row.site,
                "kind": row.kind,
                "regime": row.regime,
                "s": row.s,
                "status": status,
                **numbers,
                "reasons": "; ".join(reasons),
                "note": note,
            }
        )
    columns = ["candidate", "site", "kind", "regime", "s", "status", "drop_left_out", "drop_from_train", "score",
               "control_score", "reasons", "note"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)  # with its columns when only the control was probed
