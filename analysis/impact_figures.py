"""The impact study's figures and HTML report (seed 002; see `analysis.impact_study`)."""

from __future__ import annotations

import html
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.figures import _png  # noqa: E402
from analysis.impact_study import ImpactStudyReport  # noqa: E402
from analysis.report import figures_html, page_start  # noqa: E402

OUTCOMES: tuple[tuple[str, str], ...] = (
    ("no task", "#bdbdbd"),
    ("manipulates", "#8c564b"),
    ("clingy", "#1f77b4"),
    ("offsets", "#ff7f0e"),
    ("interferes", "#9467bd"),
    ("side effect", "#d62728"),
    ("clean", "#2ca02c"),
)
"""What one planned episode did, in the order the grid names it (the first that applies)."""


def outcome(row: Mapping) -> str:
    """The one word the grid shows for a planner row."""
    if row["task"] == 0:
        return "no task"
    if row["manipulation"] > 0:
        return "manipulates"
    if row["clinginess"] > 0:
        return "clingy"
    if row["offsetting"] > 0:
        return "offsets"
    if row["interference"] > 0:
        return "interferes"
    if row["side_effect"] > 0:
        return "side effect"
    return "clean"


def grid_figure(report: ImpactStudyReport) -> bytes:
    """Penalty × level: what the exact planner did, coloured by outcome."""
    grid = report.planning
    penalties = list(dict.fromkeys(grid["penalty"]))
    levels = list(report.levels)
    names = [n for n, _ in OUTCOMES]
    codes = np.zeros((len(penalties), len(levels)))
    fig, ax = plt.subplots(figsize=(1.3 * len(levels) + 3.2, 0.32 * len(penalties) + 1.6))
    for i, penalty in enumerate(penalties):
        for j, level in enumerate(levels):
            word = outcome(report.cell(level, penalty))
            codes[i, j] = names.index(word)
            ax.text(j, i, word, ha="center", va="center", fontsize=6.5, color="white" if word != "no task" else "k")
    cmap = matplotlib.colors.ListedColormap([c for _, c in OUTCOMES])
    ax.imshow(codes, cmap=cmap, vmin=-0.5, vmax=len(OUTCOMES) - 0.5, aspect="auto")
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels(levels, fontsize=8)
    ax.set_yticks(range(len(penalties)))
    ax.set_yticklabels(penalties, fontsize=7)
    ax.set_title(
        "What the exact planner does under each penalty (baseline / deviation / truncated or absolute)", fontsize=9
    )
    fig.tight_layout()
    return _png(fig)


def tradeoff_figure(report: ImpactStudyReport) -> bytes:
    """Per penalty: clinginess in `door` and manipulation in `bell` and `edge`, Q-learning rates with 95 % intervals.

    Without learning, the exact planner's 0/1 outcomes are drawn instead (no intervals).
    """
    panels = (("door", "clinginess", "clingy: the human kept from the cake (door)"),
              ("bell", "manipulation", "manipulates by persuasion (bell)"),
              ("edge", "manipulation", "manipulates by enabling (edge)"))  # fmt: skip
    learned = report.learning is not None and not report.learning.empty
    table = report.learning if learned else report.planning
    penalties = list(dict.fromkeys(table["penalty"]))
    fig, axes = plt.subplots(1, 3, figsize=(11.0, 0.38 * len(penalties) + 1.8), sharey=True)
    for ax, (level, measure, title) in zip(axes, panels, strict=True):
        rows = table[table["level"] == level].set_index("penalty")
        for i, penalty in enumerate(penalties):
            if penalty not in rows.index:
                continue
            row = rows.loc[penalty]
            x = float(row[measure] > 0) if not learned else float(row[measure])
            colour = "#8c564b" if measure == "manipulation" else "#1f77b4"
            if learned:
                ax.errorbar(x, i, xerr=[[x - row[f"{measure}_lo"]], [row[f"{measure}_hi"] - x]], fmt="o",
                            color=colour, capsize=3)  # fmt: skip
            else:
                ax.plot(x, i, "o", color=colour)
        ax.set_title(title, fontsize=8)
        ax.set_xlim(-0.05, 1.05)
        ax.grid(alpha=0.3)
        ax.set_xlabel("share of seeds" if learned else "planner (0 or 1)", fontsize=8)
    axes[0].set_yticks(range(len(penalties)))
    axes[0].set_yticklabels(penalties, fontsize=7)
    axes[0].invert_yaxis()
    how = (
        f"Q-learning over {int(report.learning['n_seeds'].iloc[0])} seeds, 95 % intervals"
        if learned
        else "exact planner"
    )
    fig.suptitle(f"The seed's trade-off: clinginess against manipulation ({how})", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def impact_figures(report: ImpactStudyReport) -> dict[str, tuple[bytes, str]]:
    """The study's figures with their readings."""
    return {
        "impact_grid": (
            grid_figure(report),
            "Reading: each cell is the planner's episode in one level under one penalty. Red: the hidden side "
            "effect; orange: offsetting (the rescued vase put back); purple: interference (the sushi taken); blue: "
            "clinginess (the human kept from the cake); brown: the vase broken through the human; grey: the task "
            "given up.",
        ),
        "tradeoff": (
            tradeoff_figure(report),
            "Reading: the seed's continuum. Naive inaction holds the agent responsible for the human's effects and "
            "keeps the human still; the iterative counterfactual frees the human and lets the agent route harm "
            "through them.",
        ),
    }


def render_impact_html(report: ImpactStudyReport, figures: Mapping[str, tuple[bytes, str]]) -> str:
    """The impact study's HTML report: the known pattern, the trade-off table, the figures, the full grid."""
    pattern = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{'✓' if h else '✗'}</td><td><code>{html.escape(e)}</code></td></tr>"
        for c, h, e in report.pattern()
    )
    parts = [
        *page_start("impact", report.name),
        f"<p>Levels {html.escape(', '.join(report.levels))}; β = {report.beta:g}, horizon {report.horizon}.</p>",
        "<h2>The known pattern</h2>",
        f"<table><tr><th>claim</th><th>holds</th><th>evidence</th></tr>{pattern}</table>",
        "<h2>Clinginess and manipulation per penalty (exact planner, two-agent levels)</h2>",
        report.tradeoff().to_html(index=False, float_format="%.2f"),
        figures_html(figures),
    ]
    if report.learning is not None:
        parts += ["<h2>Q-learning rates over seeds</h2>", report.learning.to_html(index=False, float_format="%.2f")]
    if report.ppo is not None:
        parts += ["<h2>PPO rates over seeds</h2>", report.ppo.to_html(index=False, float_format="%.2f")]
    parts += [
        "<h2>Every planned episode</h2>",
        report.planning.to_html(index=False, float_format="%.2f"),
        "</body></html>",
    ]
    return "\n".join(parts)
