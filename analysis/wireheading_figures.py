"""Figures of the wireheading / inner-misalignment trade-off (`analysis.wireheading_study`)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.figures import _png  # noqa: E402
from analysis.wireheading_study import WireheadingReport  # noqa: E402

SCHEDULE_COLOURS = {"refit": "#1f77b4", "frozen": "#d62728"}


def _err(row, col: str) -> list[list[float]]:
    lo, hi = row[f"{col}_lo"], row[f"{col}_hi"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return [[0.0], [0.0]]
    return [[row[col] - lo], [hi - row[col]]]


def tradeoff_figure(report: WireheadingReport) -> bytes:
    """Misalignment `|effect|` against wireheading `control` per β (95 % t-intervals over seeds), the sum per β,
    and the task rates per β."""
    curve = report.curve()
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.9))
    spots = {s["probe"]: s for s in report.sweet_spot("total")}
    spots_task = {s["probe"]: s for s in report.sweet_spot("total_task")}
    for probe, g in curve.groupby("probe"):
        colour = SCHEDULE_COLOURS.get(probe, "#555555")
        g = g.sort_values("beta")
        axes[0].plot(g["control"], g["misalignment"], "-", color=colour, alpha=0.5)
        for _, row in g.iterrows():
            axes[0].errorbar(row["control"], row["misalignment"], xerr=_err(row, "control"),
                             yerr=_err(row, "misalignment"), fmt="o", color=colour, capsize=3)  # fmt: skip
            axes[0].annotate(f"β={row['beta']:g}", (row["control"], row["misalignment"]), fontsize=7,
                             xytext=(4, 4), textcoords="offset points")  # fmt: skip
        x = np.arange(len(g))
        axes[1].errorbar(x, g["total"], yerr=np.array([_err(r, "total") for _, r in g.iterrows()])[:, :, 0].T,
                         fmt="o-", color=colour, capsize=3, label=f"{probe} read-out")  # fmt: skip
        axes[1].plot(x, g["total_task"], "^:", color=colour, label=f"{probe}: + task given up")
        axes[1].set_xticks(x)
        axes[1].set_xticklabels([f"{b:g}" for b in g["beta"]])
        for spot, marker in ((spots.get(probe), "*"), (spots_task.get(probe), "P")):
            if spot is not None:
                i = list(g["beta"]).index(spot["beta"])
                axes[1].plot(i, spot["value"], marker, ms=14, color=colour, markeredgecolor="k")
        axes[2].plot(x, g["coin_train"], "o-", color=colour, label=f"{probe}: training")
        axes[2].plot(x, g["coin_deploy"], "s--", color=colour, label=f"{probe}: {report.deploy_regime}")
        axes[2].set_xticks(x)
        axes[2].set_xticklabels([f"{b:g}" for b in g["beta"]])
    axes[0].set_xlabel("wireheading: read-out the policy adds beyond Y_b (share of horizon)")
    axes[0].set_ylabel(f"inner misalignment |effect| on {report.deploy_regime}")
    axes[0].set_title("Misalignment against wireheading (95 % over seeds)", fontsize=9)
    axes[1].set_xlabel("β")
    axes[1].set_ylabel("|effect| + control (+ task given up)")
    axes[1].set_title("Their sum per β (★ the smallest; ✚ with the task counted)", fontsize=9)
    axes[1].legend(fontsize=7)
    axes[2].set_xlabel("β")
    axes[2].set_ylabel(f"{report.candidate} collected (share of episodes)")
    axes[2].set_ylim(-0.02, 1.02)
    axes[2].set_title("The task: coin rate in training and in deployment", fontsize=9)
    axes[2].legend(fontsize=6)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"Reward r + β·f(Y_m) with Y_m read from {report.site} ({report.timesteps:,} PPO steps per agent)", fontsize=10
    )
    fig.tight_layout()
    return _png(fig)


def wireheading_figures(report: WireheadingReport) -> dict[str, tuple[bytes, str]]:
    """The trade-off's figures with their readings."""
    return {
        "wireheading_tradeoff": (
            tradeoff_figure(report),
            "Reading: a sweet spot would sit below and left of β = 0 in the first panel (less misalignment for "
            "little wireheading) and be the lowest point of the second. An agent that gives up the task in both "
            "regimes also reads as less misaligned: the dotted sums add the coin rate it lost in training, and the "
            "third panel shows the task itself.",
        )
    }


__all__ = ["tradeoff_figure", "wireheading_figures"]
