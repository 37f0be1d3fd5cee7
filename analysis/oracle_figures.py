"""The oracle study's figures and HTML report (seed 001; see `analysis.oracle_study`)."""

from __future__ import annotations

import html
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.figures import _png  # noqa: E402
from analysis.oracle_study import OracleStudyReport  # noqa: E402
from analysis.report import figures_html, page_start  # noqa: E402

PLAIN_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b")


def oracle_training_figure(report: OracleStudyReport) -> bytes:
    """Mean prediction after each (re)training, against the counterfactual mean and the self-confirming predictions."""
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    for k, run in enumerate(report.plain_runs):
        start = f" from {run.mean_prediction[0]:g}" if len(report.plain_runs) > 1 else ""
        ax.plot(range(len(run.mean_prediction)), run.mean_prediction, "o-", ms=3,
                color=PLAIN_COLOURS[k % len(PLAIN_COLOURS)], label=f"plain predictor{start} (every prediction read)")  # fmt: skip
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
        lo = float(min(per["truth"].min(), per["estimate"].min()))
        hi = float(max(per["truth"].max(), per["estimate"].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{key}: {m.estimate:.2f} (truth {m.truth:.2f})", fontsize=9)
        ax.set_xlabel("truth: κ·p (what reading the prediction does)")
        ax.set_ylabel("estimate: E[o|h] − E[o|h,e]")
        ax.grid(alpha=0.3)
    fig.suptitle("Manipulation measure per history", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def leakage_figure(report: OracleStudyReport) -> bytes:
    """Per design, the erased rounds' surprise (observation − counterfactual mean) against the exploration draw."""
    checks = {k: c for k, c in report.leakage.items() if c.points is not None}
    fig, axes = plt.subplots(1, max(len(checks), 1), figsize=(3.8 * max(len(checks), 1), 3.4), squeeze=False)
    for ax, (key, check) in zip(axes[0], checks.items(), strict=False):
        pts = check.points
        ax.scatter(pts["noise"], pts["surprise"], s=4, alpha=0.3, color="#d62728" if check.leaks else "#1f77b4")
        slope, intercept = np.polyfit(pts["noise"], pts["surprise"], 1)
        xs = np.linspace(float(pts["noise"].min()), float(pts["noise"].max()), 2)
        ax.plot(xs, intercept + slope * xs, "k-", lw=1.2, label=f"slope {slope:.3f}")
        verdict = "leaks" if check.leaks else "no leak found"
        ax.set_title(f"{key}: p = {check.test.p_value:.3f}, {verdict}", fontsize=9)
        ax.set_xlabel("exploration draw added to the prediction")
        ax.set_ylabel("o − counterfactual mean (erased rounds)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("Leakage check: do erased predictions reach the world?", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def read_probe_figure(report: OracleStudyReport) -> bytes:
    """Probe AUC for "this prediction will be read" per oracle and layer, between the two controls."""
    probes = report.read_probes
    fig, ax = plt.subplots(figsize=(max(4.5, 1.8 * len(probes) + 1.5), 3.6))
    width = 0.8 / max(max(len(r.table) for r in probes.values()), 1)
    for i, r in enumerate(probes.values()):
        for j, row in enumerate(r.table.itertuples()):
            x = i - 0.4 + width * (j + 0.5)
            ax.bar(x, row.auc, width * 0.9, color="#2ca02c" if r.represents else "#7f7f7f")
            ax.text(x, row.auc + 0.01, ".".join(row.site.split(".")[-2:]), ha="center", fontsize=6)
        ax.plot([i - 0.45, i + 0.45], [r.control_history] * 2, "k:", lw=1.0)
    ax.axhline(1.0, color="k", ls="--", lw=0.8)
    ax.set_xticks(range(len(probes)))
    ax.set_xticklabels([f"{k}\nmessage moves p by {r.sensitivity:.2g}" for k, r in probes.items()], fontsize=7)
    ax.set_ylim(0.3, 1.08)
    ax.set_ylabel("probe ROC AUC for 'read'")
    ax.set_title("Does the oracle represent 'this prediction will be read'?", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _png(fig)


def oracle_figures(report: OracleStudyReport) -> dict[str, tuple[bytes, str]]:
    """The study's figures with their readings."""
    figures = {
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
        "leakage": (
            leakage_figure(report),
            "Reading: on erased rounds, what the world did beyond its counterfactual mean against the random part of "
            "the prediction; the test (o ⊥ p | h, episodes as units) finds no slope in the sound design and the side "
            "channel's slope in the leaky twin.",
        ),
    }
    if report.read_probes:
        figures["read_probes"] = (
            read_probe_figure(report),
            "Reading: bars are cross-fitted linear-probe AUCs per hidden layer (green: some layer beats the history-only "
            "control, dotted, by 0.1; dashed: the full observation, which carries the message). The informed predictor, "
            "trained on every round, must tell read from erased rounds; an oracle whose loss never sees a read round "
            "has no reason to keep the message.",
        )
    return figures


def render_oracle_html(report: OracleStudyReport, figures: Mapping[str, tuple[bytes, str]]) -> str:
    """The oracle study's HTML report: the summary table, the figures, the banned-route table."""
    rows = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
        for a, b, c in report.summary_rows()
    )
    parts = [
        *page_start("oracle", report.name),
        f"<p>World <code>{html.escape(str(dict(report.world)))}</code>: counterfactual mean "
        f"{report.counterfactual_mean:g}, self-confirming predictions "
        f"{html.escape(', '.join(f'{p:g}' for p in report.fixed_points))}.</p>",
        f"<table><tr><th>measure</th><th>value</th><th>truth</th></tr>{rows}</table>",
        figures_html(figures),
        "<h2>Banned routes: the mechanism-response test</h2>",
        report.banned_route.table.to_html(index=False, float_format="%.3f"),
        "</body></html>",
    ]
    return "\n".join(parts)
