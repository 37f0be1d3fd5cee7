"""An oracle study (seed 001): train the oracles, measure how manipulative they are, check erasure, test banned routes.

`run_oracle_analysis` trains the counterfactual oracle (loss on erased rounds), the plain predictor
(repeated retraining with every prediction read) and the model-based oracle (never told about
erasure) on OracleWorld; measures `E[o | h] − E[o | h, e]` for the first two as deployed; runs the
leakage check on the counterfactual oracle's world as designed and on a twin with a side channel;
and runs the banned-route response test. The result is an `OracleStudyReport` (typed, frozen; its
`to_dict` is `report.json`), with its figures and HTML.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402
from analysis.banned_routes import MechanismResponse, mechanism_response  # noqa: E402
from analysis.figures import _png  # noqa: E402
from analysis.oracle import LeakageCheck, ManipulationMeasure, leakage_check, manipulation_measure  # noqa: E402
from analysis.report import CSS, figures_html  # noqa: E402
from envs.oracle_world import fixed_points  # noqa: E402
from training.model_based_oracle import train_model_based_oracle  # noqa: E402
from training.oracles import (  # noqa: E402
    OracleTraining,
    oracle_rounds,
    train_counterfactual_oracle,
    train_plain_predictor,
)

ENV = "mesaprobe/OracleWorld-v0"


@dataclass(frozen=True)
class OracleStudyReport:
    """Everything an oracle study measured, with the world's ground truth beside it."""

    name: str
    seed: int
    world: Mapping
    counterfactual_mean: float
    fixed_points: tuple[float, ...]
    counterfactual: OracleTraining
    plain: OracleTraining
    model_based_prediction: float
    manipulation: Mapping[str, ManipulationMeasure]
    leakage: Mapping[str, LeakageCheck]
    banned_route: MechanismResponse

    def to_dict(self) -> dict:
        """Plain JSON (`report.json`)."""
        return {
            "format": "mesaprobe-oracle-report/1",
            "kind": "oracle",
            "study": self.name,
            "seed": self.seed,
            "world": dict(self.world),
            "truth": {"counterfactual_mean": self.counterfactual_mean, "fixed_points": list(self.fixed_points)},
            "oracles": {
                "counterfactual": self.counterfactual.to_dict(),
                "plain": self.plain.to_dict(),
                "model_based": {"mean_prediction": self.model_based_prediction},
            },
            "manipulation": {k: m.to_dict() for k, m in self.manipulation.items()},
            "leakage": {k: c.to_dict() for k, c in self.leakage.items()},
            "banned_route": self.banned_route.to_dict(),
        }

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """`(measure, value, truth)` rows for the terminal and the HTML summary."""
        rows = [
            ("counterfactual oracle: mean prediction", f"{self.counterfactual.mean_prediction[-1]:.2f}",
             f"{self.counterfactual_mean:g} (counterfactual mean)"),
            ("plain predictor: mean prediction", f"{self.plain.mean_prediction[-1]:.2f}",
             ", ".join(f"{p:g}" for p in self.fixed_points) + " (self-confirming)"),
            ("model-based oracle: mean prediction", f"{self.model_based_prediction:.2f}", f"{self.counterfactual_mean:g}"),
        ]  # fmt: skip
        for k, m in self.manipulation.items():
            rows.append((f"manipulation E[o|h] − E[o|h,e]: {k}", f"{m.estimate:.2f}", f"{m.truth:.2f} (κ·p)"))
        for k, c in self.leakage.items():
            rows.append((f"leakage check: {k} design", f"p = {c.test.p_value:.3f}", "leaks" if c.leaks else "no leak"))
        for agent in ("classical", "factored"):
            row = self.banned_route.row(agent)
            rows.append((f"banned route: {agent} agent, policy change (TV)", f"{row['tv']:.2f}",
                         f"b moved {row['b_shift_train']:+.2f}"))  # fmt: skip
        return rows


def run_oracle_analysis(
    *,
    name: str = "oracle-study",
    world: Mapping | None = None,
    erasure: float = 0.3,
    iterations_counterfactual: int = 3,
    iterations_plain: int = 40,
    n_episodes: int = 50,
    epochs: int = 150,
    manipulation_episodes: int = 100,
    leakage_episodes: int = 200,
    explore: float = 3.0,
    leak: float = 0.1,
    banned_route_episodes: int = 4000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> OracleStudyReport:
    """Run every part of an oracle study (see the module) and return its report."""
    say = progress or (lambda _: None)
    world = dict(world or {})
    kwargs = {**world, "shift": float(erasure)}
    u = envs.make(ENV, **kwargs).unwrapped
    m = u.counterfactual_mean(u.mu)
    points = fixed_points(u.world, m, kappa=u.kappa, threshold=u.threshold, drop=u.drop)

    say("counterfactual oracle")
    cf = train_counterfactual_oracle(
        env_kwargs=kwargs,
        iterations=iterations_counterfactual,
        n_episodes=max(n_episodes, 100),
        epochs=epochs,
        seed=seed,
    )

    def cf_policy(obs: np.ndarray) -> np.ndarray:
        return cf.oracle.predict(u.with_message(obs, True))

    say("plain predictor")
    plain = train_plain_predictor(
        env_kwargs=world, iterations=iterations_plain, n_episodes=n_episodes, epochs=epochs, seed=seed,
        init_prediction=0.0,
    )  # fmt: skip
    say("model-based oracle")
    mb = train_model_based_oracle(env_kwargs=kwargs, n_episodes=max(n_episodes, 100), epochs=epochs, seed=seed)
    mb_rounds, _ = oracle_rounds(mb.predict, n_episodes=10, seed=seed + 7, env_kwargs={**kwargs, "ask": "read"})
    say("manipulation measure")
    manipulation = {
        "counterfactual": manipulation_measure(
            cf_policy, env_kwargs=kwargs, n_episodes=manipulation_episodes, seed=seed
        ),
        "plain": manipulation_measure(
            plain.oracle.predict, env_kwargs=kwargs, n_episodes=manipulation_episodes, seed=seed
        ),
    }
    say("leakage check")
    leakage = {}
    for key, extra in (("sound", {}), ("leaky", {"leak": float(leak)})):
        rounds, X = oracle_rounds(
            cf_policy, n_episodes=leakage_episodes, seed=seed + 11, explore=explore, env_kwargs={**kwargs, **extra}
        )
        leakage[key] = leakage_check(rounds, X, window=u.window, seed=seed)
    say("banned routes")
    banned = mechanism_response(n_episodes=banned_route_episodes, seed=seed)
    return OracleStudyReport(
        name=name,
        seed=seed,
        world={**world, "erasure": float(erasure)},
        counterfactual_mean=float(m),
        fixed_points=tuple(float(p) for p in points),
        counterfactual=cf,
        plain=plain,
        model_based_prediction=float(mb_rounds["prediction"].mean()),
        manipulation=manipulation,
        leakage=leakage,
        banned_route=banned,
    )


def oracle_training_figure(report: OracleStudyReport) -> bytes:
    """Mean prediction after each (re)training, against the counterfactual mean and the self-confirming predictions."""
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    plain = report.plain.mean_prediction
    ax.plot(range(len(plain)), plain, "o-", ms=3, color="#d62728", label="plain predictor (every prediction read)")
    cf = report.counterfactual.mean_prediction
    ax.plot(
        range(1, len(cf) + 1), cf, "s-", ms=4, color="#1f77b4", label="counterfactual oracle (loss on erased rounds)"
    )
    ax.axhline(report.counterfactual_mean, color="#1f77b4", ls=":", lw=1.2, label="counterfactual mean")
    for k, p in enumerate(report.fixed_points):
        ax.axhline(p, color="#d62728", ls="--", lw=1.0, label="self-confirming prediction" if k == 0 else None)
    ax.set_xlabel("retraining")
    ax.set_ylabel("mean prediction")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center right")
    ax.set_title("Where each oracle's predictions go", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def manipulation_figure(report: OracleStudyReport) -> bytes:
    """The manipulation measure per history against the world's truth, one panel per oracle."""
    n = len(report.manipulation)
    fig, axes = plt.subplots(1, n, figsize=(3.8 * n, 3.4), squeeze=False)
    for ax, (key, m) in zip(axes[0], report.manipulation.items(), strict=True):
        per = m.per_round
        ax.scatter(per["truth"], per["estimate"], s=4, alpha=0.3)
        lo, hi = (
            float(min(per["truth"].min(), per["estimate"].min())),
            float(max(per["truth"].max(), per["estimate"].max())),
        )
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{key}: {m.estimate:.2f} (truth {m.truth:.2f})", fontsize=9)
        ax.set_xlabel("truth: κ·p (what reading the prediction does)")
        ax.set_ylabel("estimate: E[o|h] − E[o|h,e]")
        ax.grid(alpha=0.3)
    fig.suptitle("Manipulation measure per history", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def oracle_figures(report: OracleStudyReport) -> dict[str, tuple[bytes, str]]:
    """The study's figures with their readings."""
    return {
        "oracle_training": (
            oracle_training_figure(report),
            "Reading: the counterfactual oracle settles on what would happen had nobody read it (dotted); the plain "
            "predictor, retrained on the world its own predictions made, walks towards a self-confirming prediction "
            "(dashed).",
        ),
        "manipulation": (
            manipulation_figure(report),
            "Reading: each point is one history; on the diagonal the contrast of the two predictions (without and with "
            "erasure) recovers what reading the oracle's prediction does to the world.",
        ),
    }


def render_oracle_html(report: OracleStudyReport, figures: Mapping[str, tuple[bytes, str]]) -> str:
    """The oracle study's HTML report: the summary table, the figures, the banned-route table."""
    rows = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
        for a, b, c in report.summary_rows()
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>mesaprobe: {html.escape(report.name)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>mesaprobe oracle study: {html.escape(report.name)}</h1>",
        f"<p>World <code>{html.escape(str(dict(report.world)))}</code>: counterfactual mean "
        f"{report.counterfactual_mean:g}, self-confirming predictions "
        f"{html.escape(', '.join(f'{p:g}' for p in report.fixed_points))}.</p>",
        f"<table><tr><th>measure</th><th>value</th><th>truth</th></tr>{rows}</table>",
        figures_html(figures),
    ]
    parts.append("<h2>Banned routes: the mechanism-response test</h2>")
    parts.append(report.banned_route.table.to_html(index=False, float_format="%.3f"))
    parts.append("</body></html>")
    return "\n".join(parts)
