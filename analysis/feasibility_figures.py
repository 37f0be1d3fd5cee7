"""Figures of the feasibility simulation (`analysis.feasibility`): co-occurrence, detection and the closed-form check."""

from __future__ import annotations

import html
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.feasibility import FeasibilityResult  # noqa: E402
from analysis.feasibility_study import FeasibilityStudyReport  # noqa: E402
from analysis.figures import _png  # noqa: E402
from analysis.report import figures_html, page_start  # noqa: E402
from analysis.wireheading_figures import wireheading_figures  # noqa: E402

HOLDS, FAILS = "#2ca02c", "#d62728"


def _band(ax, x, mid, lo, hi, colour: str, label: str) -> None:
    ax.plot(x, mid, "o-", color=colour, label=label)
    ax.fill_between(x, lo, hi, color=colour, alpha=0.18, linewidth=0)


def cooccurrence_figure(result: FeasibilityResult) -> bytes:
    """`P(Y_b high | Y_m high)` and `P(Y_m high, Y_b high)` against `λ`, models split by Rule 1, 95 % intervals."""
    s = result.summary()
    lam = s["lambda"].to_numpy()
    fig, axes = plt.subplots(1, 3, figsize=(14.0, 3.6))
    for ax, col, title in (
        (axes[0], "conditional", "P(Y_b high | Y_m high) in deployment"),
        (axes[1], "change", "|P(Y_b high | Y_m high) − its training value|"),
        (axes[2], "joint", "P(Y_m high and Y_b high) in deployment"),
    ):
        for name, colour, label in (("holds", HOLDS, "Rule 1 holds"), ("fails", FAILS, "Rule 1 fails")):
            _band(ax, lam, s[f"{col}_{name}"], s[f"{col}_{name}_lo"], s[f"{col}_{name}_hi"], colour, label)
        ax.set_xlabel("regime change strength λ")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"Co-occurrence of high mesa and high base objective over {result.n_models} random models "
        f"(high = above the training {result.quantile:.0%} quantile; mean over models, 95 % interval)",
        fontsize=9,
    )
    fig.tight_layout()
    return _png(fig)


def detection_figure(result: FeasibilityResult) -> bytes:
    """Detection rate against `λ` where Rule 1 fails (power) and holds (false alarms), and the share where it holds."""
    s = result.summary()
    lam = s["lambda"].to_numpy()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6))
    ax = axes[0]
    pos = s["n_violations"] > 0
    _band(ax, lam[pos], s["power"][pos], s["power_lo"][pos], s["power_hi"][pos], FAILS, "detected where Rule 1 fails")
    _band(
        ax,
        lam,
        s["false_alarms"],
        s["false_alarms_lo"],
        s["false_alarms_hi"],
        HOLDS,
        "detected where it holds (false alarms)",
    )
    ax.axhline(result.alpha, color="k", lw=0.8, ls="--", label=f"α = {result.alpha:g}")
    ax.axhline(result.alpha + 0.02, color="k", lw=0.8, ls=":", label="α + 0.02")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("regime change strength λ")
    ax.set_ylabel("share of models detected")
    ax.set_title(f"Transport test at {result.n_episodes} episodes per regime (Clopper-Pearson 95 %)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[1]
    structural = result.rows.drop_duplicates("model")
    counts = structural.groupby(["structure", "structural"]).size().unstack(fill_value=0)
    names = list(counts.index)
    y = np.arange(len(names))
    holds = counts.get(True, 0 * y)
    fails = counts.get(False, 0 * y)
    ax.barh(y, holds, color=HOLDS, label="Rule 1 holds")
    ax.barh(y, fails, left=holds, color=FAILS, label="Rule 1 fails")
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=7)
    ax.set_xlabel("models")
    ax.set_title("Which paths each model has, and Rule 1 on its selection diagram (λ > 0)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def closed_form_figure(result: FeasibilityResult) -> bytes:
    """Simulated against closed-form co-occurrence for the linear-Gaussian models, with ±2 standard errors."""
    check = result.closed_form_check()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    if len(check):
        se = np.sqrt(check["exact"] * (1 - check["exact"]) / result.n_cooccurrence)
        ax.errorbar(check["exact"], check["joint"], yerr=2 * se, fmt="o", ms=3, color="#1f77b4", alpha=0.7)
        top = float(max(check["exact"].max(), check["joint"].max())) * 1.05 + 1e-3
        ax.plot([0, top], [0, top], "k--", lw=0.8)
        within = float((check["z"].abs() <= 2).mean())
        ax.set_title(f"Linear-Gaussian models: {within:.0%} of {len(check)} within 2 SE", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no linear models in this run", ha="center", va="center")
    ax.set_xlabel("closed form P(Y_m high, Y_b high)")
    ax.set_ylabel("simulated")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def feasibility_figures(result: FeasibilityResult) -> dict[str, tuple[bytes, str]]:
    """The simulation's figures with their readings."""
    return {
        "feasibility_cooccurrence": (
            cooccurrence_figure(result),
            "Reading: the co-occurrence moves as λ grows whether or not Rule 1 holds, because Y_m's own "
            "distribution within its high range moves too; Rule 1 is about Y_b at a given value of Y_m, which is "
            "what the transport test conditions on. Where a path bypasses the mesa objective the share moves "
            "further, up in some models and down in others, so the mean (left) moves less than each model does.",
        ),
        "feasibility_detection": (
            detection_figure(result),
            "Reading: red is the test's power against models whose selection diagram breaks Rule 1, green its "
            "false alarms where Rule 1 holds (and everywhere at λ = 0); the green band should sit at α.",
        ),
        "feasibility_closed_form": (
            closed_form_figure(result),
            "Reading: every point on the diagonal within its bars means the simulator draws what the linear-Gaussian "
            "closed form says.",
        ),
    }


def study_figures(report: FeasibilityStudyReport) -> dict[str, tuple[bytes, str]]:
    """Every figure of the study's parts that ran."""
    out: dict[str, tuple[bytes, str]] = {}
    if report.simulation is not None:
        out |= feasibility_figures(report.simulation)
    if report.wireheading is not None:
        out |= wireheading_figures(report.wireheading)
    return out


def _table(frame, columns: list[str]) -> str:
    return frame[[c for c in columns if c in frame.columns]].to_html(index=False, float_format="%.3f", na_rep="–")


def render_feasibility_html(report: FeasibilityStudyReport, figures: Mapping[str, tuple[bytes, str]]) -> str:
    """The feasibility study's HTML report: each part's reading, its table and its figures."""
    parts = [*page_start("feasibility", report.name)]
    sim, wh = report.simulation, report.wireheading
    if sim is not None:
        rate, lo, hi, n = sim.false_alarms()
        parts += [
            "<h2>How often does inner alignment hold as the regime changes? (seed 003 §5)</h2>",
            f"<p>{html.escape(sim.reading())}</p>",
            f"<p>{sim.n_models} random models (data → D → Y_m → Y_b, with bypass, direct and confounded paths drawn "
            f"per model), {len(sim.lambdas)} strengths λ, {sim.n_episodes} episodes per regime per test, method "
            f"<code>{html.escape(sim.method)}</code>. False alarms over all {n} null cases: {rate:.3f} "
            f"[{lo:.3f}, {hi:.3f}] against α = {sim.alpha:g}.</p>",
            _table(
                sim.summary(),
                [
                    "lambda",
                    "rule1_share",
                    "power",
                    "power_lo",
                    "power_hi",
                    "n_violations",
                    "false_alarms",
                    "false_alarms_lo",
                    "false_alarms_hi",
                    "n_nulls",
                    "conditional_holds",
                    "conditional_fails",
                    "change_holds",
                    "change_fails",
                    "untested",
                ],
            ),  # fmt: skip
            figures_html({k: v for k, v in figures.items() if k.startswith("feasibility_")}),
        ]
    if wh is not None:
        incentives = pd.DataFrame(
            [
                {
                    "β": i.beta,
                    "read-out": i.probe,
                    "on Y_m": "✓" if i.on_mesa else "✗",
                    "on the probe P": "✓" if i.incentives.get("P") else "✗",
                    "path to Y_m": i.incentives["Y_m"] or "–",
                    "path to P": i.incentives.get("P") or "–",
                }
                for i in wh.incentives
            ]
        ).to_html(index=False)
        parts += [
            "<h2>Wireheading against inner misalignment (seed 003 §6)</h2>",
            f"<p>{html.escape(wh.reading())}</p>",
            _table(
                wh.curve(),
                [
                    "probe",
                    "beta",
                    "n_seeds",
                    "effect",
                    "effect_lo",
                    "effect_hi",
                    "regime_dependent",
                    "control",
                    "control_lo",
                    "control_hi",
                    "drift",
                    "total",
                    "task_loss",
                    "total_task",
                    "coin_train",
                    "coin_deploy",
                    "length_train",
                    "control_incentive",
                ],
            ),  # fmt: skip
            figures_html({k: v for k, v in figures.items() if k.startswith("wireheading_")}),
            "<h3>Control incentives of each training option (causal influence diagrams)</h3>",
            incentives,
            "<h3>Every agent</h3>",
            _table(wh.agents, list(wh.agents.columns)),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = [
    "closed_form_figure",
    "cooccurrence_figure",
    "detection_figure",
    "feasibility_figures",
    "render_feasibility_html",
    "study_figures",
]
