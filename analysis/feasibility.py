"""How often does inner alignment hold, and does the transport test see when it fails? (seed 003 §5)

`simulate_feasibility` draws `n_models` random structural causal models (`analysis.feasibility_scm`)
and, for each regime-change strength `λ` of a grid, measures

- the co-occurrence the seed asks about: how often a high mesa objective comes with a high base
  objective in deployment, `P(Y_m high, Y_b high)` and `P(Y_b high | Y_m high)` ("high" is above
  the training distribution's `quantile`), from `n_cooccurrence` draws, with the closed form beside
  it for linear-Gaussian models, and `change`, how far `P(Y_b high | Y_m high)` has moved from
  training (absolute difference);
- the truth: whether Rule 1, `(Y_b ⊥ s | Y_m)`, holds in the model's selection diagram
  (`analysis.SelectionDiagram.rule1`); at `λ = 0` deployment is training and nothing can differ;
- whether the transport test (`analysis.transport_test`) on `n_episodes` training and
  `n_episodes` deployment episodes detects a violation at level `alpha`.

`FeasibilityResult.summary()` gives per `λ` the share of models where Rule 1 holds, the test's
detection rate where it fails (power) and where it holds (false alarms), each with a
Clopper-Pearson interval, and the mean co-occurrence with a 95 % interval over models.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.calibration import clopper_pearson
from analysis.ci import CIMethod
from analysis.feasibility_scm import MECHANISMS, random_scm
from analysis.transport import transport_test
from core.errors import ConfigError, DataError, FitError, unknown_name

DEFAULT_LAMBDAS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Strengths of the regime change; 0 is no change."""


def _mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % normal interval of the mean (NaN-free values)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return (np.nan, np.nan, np.nan)
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def _rate(hits: pd.Series) -> tuple[float, float, float, int]:
    """Share of true values in `hits` with its Clopper-Pearson interval, and the count."""
    k, n = int(hits.sum()), int(hits.count())
    if n == 0:
        return (np.nan, np.nan, np.nan, 0)
    lo, hi = clopper_pearson(k, n)
    return k / n, lo, hi, n


@dataclass(frozen=True)
class FeasibilityResult:
    """One row per model × `λ` in `rows`; the settings the simulation ran with."""

    rows: pd.DataFrame
    lambdas: tuple[float, ...]
    n_models: int
    n_episodes: int
    n_cooccurrence: int
    quantile: float
    alpha: float
    method: str

    @property
    def null_rows(self) -> pd.DataFrame:
        """Tested rows where `Y_b ⊥ s | Y_m` holds: Rule 1 holds at their `λ` (always at `λ = 0`)."""
        return self.rows[self.rows["rule1"] & self.rows["p_value"].notna()]

    def false_alarms(self, n_boot: int = 2000) -> tuple[float, float, float, int]:
        """The test's rejection rate over every null row, `(rate, lo, hi, n)`.

        A model contributes a null row at every `λ` where Rule 1 holds, and a model prone to false
        alarms is prone at every `λ`; so the 95 % interval resamples whole models (cluster
        bootstrap, seeded), not rows.
        """
        nulls = self.null_rows
        if nulls.empty:
            return (np.nan, np.nan, np.nan, 0)
        per_model = nulls.groupby("model")["detected"].agg(["sum", "count"])
        hits, counts = per_model["sum"].to_numpy(float), per_model["count"].to_numpy(float)
        rng = np.random.default_rng(0)
        picks = rng.integers(0, len(hits), size=(n_boot, len(hits)))
        rates = hits[picks].sum(1) / counts[picks].sum(1)
        lo, hi = np.quantile(rates, [0.025, 0.975])
        return float(hits.sum() / counts.sum()), float(lo), float(hi), int(counts.sum())

    def summary(self) -> pd.DataFrame:
        """Per `λ`: the share where Rule 1 holds, power, false alarms, and mean co-occurrence split by whether
        Rule 1 holds once the regime moves (`structural`; at `λ = 0` it holds everywhere)."""
        out = []
        for lam, g in self.rows.groupby("lambda"):
            tested = g[g["p_value"].notna()]
            share = _rate(g["rule1"])
            power = _rate(tested.loc[~tested["rule1"], "detected"])
            alarms = _rate(tested.loc[tested["rule1"], "detected"])
            row = {
                "lambda": lam,
                "rule1_share": share[0], "rule1_lo": share[1], "rule1_hi": share[2],
                "power": power[0], "power_lo": power[1], "power_hi": power[2], "n_violations": power[3],
                "false_alarms": alarms[0], "false_alarms_lo": alarms[1], "false_alarms_hi": alarms[2], "n_nulls": alarms[3],
                "untested": int(g["p_value"].isna().sum()),
            }  # fmt: skip
            for name, part in (("holds", g[g["structural"]]), ("fails", g[~g["structural"]])):
                for col in ("joint", "conditional", "change"):
                    m, lo, hi = _mean_ci(part[col].to_numpy())
                    row |= {f"{col}_{name}": m, f"{col}_{name}_lo": lo, f"{col}_{name}_hi": hi}
            out.append(row)
        return pd.DataFrame(out)

    def closed_form_check(self) -> pd.DataFrame:
        """Linear-Gaussian rows: simulated against closed-form `P(Y_m high, Y_b high)` with the z-score of the gap."""
        lin = self.rows[self.rows["exact"].notna()].copy()
        se = np.sqrt(np.clip(lin["exact"] * (1 - lin["exact"]), 1e-12, None) / self.n_cooccurrence)
        lin["z"] = (lin["joint"] - lin["exact"]) / se
        return lin[["model", "lambda", "joint", "exact", "z"]]

    def reading(self) -> str:
        """Two sentences: where inner alignment holds, and how the test did against the truth."""
        s = self.summary()
        rate, lo, hi, n = self.false_alarms()
        alarms = f"raises false alarms in {rate:.3f} [{lo:.3f}, {hi:.3f}] of {n} null cases (α = {self.alpha:g})"
        moved = s[s["lambda"] > 0]
        if moved.empty:
            return f"Only λ = 0 was simulated (deployment is training): the transport test {alarms}."
        last = moved.iloc[-1]
        holds = f"Rule 1 holds in {moved['rule1_share'].iloc[0]:.0%} of {self.n_models} models once the regime moves"
        if last["n_violations"] == 0:
            return f"{holds}; the transport test at {self.n_episodes} episodes per regime {alarms}."
        power = f"power {last['power']:.2f} [{last['power_lo']:.2f}, {last['power_hi']:.2f}] at λ = {last['lambda']:g}"
        return (
            f"{holds}; the transport test at {self.n_episodes} episodes per regime detects a violation with {power}, "
            f"and {alarms}."
        )

    def to_dict(self) -> dict:
        """Plain JSON."""
        rate, lo, hi, n = self.false_alarms()
        check = self.closed_form_check()
        return {
            "lambdas": list(self.lambdas),
            "n_models": self.n_models,
            "n_episodes": self.n_episodes,
            "n_cooccurrence": self.n_cooccurrence,
            "quantile": self.quantile,
            "alpha": self.alpha,
            "method": self.method,
            "false_alarms": {"rate": rate, "lo": lo, "hi": hi, "n": n},
            "closed_form": {
                "n": len(check),
                "within_2se": float((check["z"].abs() <= 2).mean()) if len(check) else None,
                "max_abs_z": float(check["z"].abs().max()) if len(check) else None,
            },
            "reading": self.reading(),
            "summary": self.summary().to_dict(orient="records"),
            "rows": self.rows.to_dict(orient="records"),
        }

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.reading())}</p>" + self.summary().to_html(index=False, float_format="%.3f")


def simulate_feasibility(
    n_models: int = 100,
    *,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    n_episodes: int = 500,
    n_cooccurrence: int = 20_000,
    quantile: float = 0.8,
    mechanisms: Sequence[str] = MECHANISMS,
    p_bypass: float = 0.3,
    p_direct: float = 0.2,
    p_confounder: float = 0.2,
    alpha: float = 0.05,
    method: CIMethod = "auto",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> FeasibilityResult:
    """Simulate `n_models` random models at each strength in `lambdas` (see the module docstring).

    Model `i` is `random_scm(seed·100_003 + i)` with its mechanism taken in turn from
    `mechanisms`; every draw comes from generators seeded by `(seed, i, λ)` (λ's value, so adding a
    strength to the grid leaves the others' draws alone), so the same seed gives the same table. `progress(done, total)` is called after each model × `λ`.
    """
    lams = tuple(sorted(float(x) for x in lambdas))
    if not lams or lams[0] < 0 or lams[-1] > 1:
        raise ConfigError(f"lambdas must lie in [0, 1], got {list(lambdas)}.")
    if n_models < 1 or n_episodes < 20 or n_cooccurrence < 100:
        raise ConfigError("n_models must be >= 1, n_episodes >= 20 (per regime) and n_cooccurrence >= 100.")
    if not 0 < quantile < 1:
        raise ConfigError(f"quantile must be in (0, 1), got {quantile}.")
    for m in mechanisms:
        if m not in MECHANISMS:
            raise unknown_name("mechanism", m, MECHANISMS)
    if not mechanisms:
        raise ConfigError("mechanisms must name at least one of " + ", ".join(MECHANISMS) + ".")
    rows, used = [], method
    total = n_models * len(lams)
    for i in range(n_models):
        scm = random_scm(
            seed * 100_003 + i, mechanism=mechanisms[i % len(mechanisms)], p_bypass=p_bypass, p_direct=p_direct,
            p_confounder=p_confounder,
        )  # fmt: skip
        rng0 = np.random.default_rng([seed, i, 0])
        t_m, t_b = scm.thresholds(quantile, rng0)
        ref = scm.sample(n_cooccurrence, 0.0, 0, rng0)
        cond0 = float((ref.y_b > t_b)[ref.y_m > t_m].mean()) if (ref.y_m > t_m).any() else np.nan
        rule1 = scm.rule1(1.0)
        test_seed = int(np.random.default_rng([seed, i, 1]).integers(2**31))
        for lam in lams:
            rng = np.random.default_rng([seed, i, 2, round(lam * 1_000_000)])
            big = scm.sample(n_cooccurrence, lam, 1, rng)
            high_m, high_b = big.y_m > t_m, big.y_b > t_b
            train, deploy = scm.sample(n_episodes, lam, 0, rng), scm.sample(n_episodes, lam, 1, rng)
            s = np.r_[np.zeros(n_episodes), np.ones(n_episodes)]
            p_value, effect = np.nan, np.nan
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # few-overlap warnings are part of what is simulated
                    t = transport_test(
                        np.r_[train.y_b, deploy.y_b], s, np.r_[train.y_m, deploy.y_m], method=method, alpha=alpha,
                        seed=test_seed, magnitude=False,
                    )  # fmt: skip
                p_value, effect, used = t.p_value, t.effect, t.method
            except (DataError, FitError):
                pass  # e.g. a constant binary objective in a small draw: untestable, counted in `untested`
            rows.append(
                {
                    "model": i,
                    "mechanism": scm.mechanism,
                    "structure": scm.structure,
                    "lambda": lam,
                    "rule1": scm.rule1(lam),
                    "structural": rule1,
                    "joint": float(np.mean(high_m & high_b)),
                    "conditional": float(high_b[high_m].mean()) if high_m.any() else np.nan,
                    "change": abs(float(high_b[high_m].mean()) - cond0) if high_m.any() else np.nan,
                    "exact": scm.co_occurrence_exact(lam, 1, t_m, t_b) if scm.mechanism == "linear" else np.nan,
                    "p_value": p_value,
                    "detected": bool(p_value < alpha) if np.isfinite(p_value) else False,
                    "effect": effect,
                }
            )
            if progress is not None:
                progress(len(rows), total)
    return FeasibilityResult(
        rows=pd.DataFrame(rows), lambdas=lams, n_models=n_models, n_episodes=n_episodes,
        n_cooccurrence=n_cooccurrence, quantile=quantile, alpha=alpha, method=str(used),
    )  # fmt: skip


__all__ = ["DEFAULT_LAMBDAS", "FeasibilityResult", "simulate_feasibility"]
