"""The result of a sweep (`mesaprobe sweep`): verdict stability over seeds and how the effect moves with the swept values.

`SweepReport.rows` has one row per cell × agent × candidate (see `mesaprobe.sweep.run_cell`);
`verdict_shares()` gives, per agent (and per setting of the swept values other than the seed), how
often each agent verdict came out, with Clopper-Pearson intervals; `effect_spread()` the candidate
effects' spread over cells. Figures and HTML render from them.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.calibration import clopper_pearson  # noqa: E402
from analysis.figures import _png  # noqa: E402
from analysis.report import figures_html, page_start  # noqa: E402

VERDICTS: tuple[str, ...] = ("aligned", "misaligned", "inconclusive")
COLOURS = {"aligned": "#2ca02c", "misaligned": "#d62728", "inconclusive": "#ff7f0e"}


@dataclass(frozen=True)
class SweepReport:
    """Every cell's rows, the swept paths and the repeats."""

    name: str
    rows: pd.DataFrame
    grid: tuple[str, ...]
    repeats: int

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping], *, grid: Sequence[str], repeats: int, name: str) -> SweepReport:
        """Rows in cell order (whatever order the cells finished in)."""
        frame = pd.DataFrame(list(rows))
        if not frame.empty:
            frame = frame.sort_values(["cell", "agent", "candidate"], kind="stable", ignore_index=True)
        return cls(name, frame, tuple(grid), repeats)

    @property
    def settings(self) -> list[str]:
        """The swept columns other than the seed: what the verdict shares are grouped by."""
        return [f"grid.{k}" for k in self.grid if k != "seed"]

    def verdict_shares(self) -> pd.DataFrame:
        """Per agent (and setting): the share of cells with each agent verdict, with its 95 % interval."""
        agents = self.rows.drop_duplicates(["cell", "agent"])
        out = []
        for keys, g in agents.groupby(["agent", *self.settings], sort=False, dropna=False):
            keys = keys if isinstance(keys, tuple) else (keys,)
            row = dict(zip(["agent", *self.settings], keys, strict=True)) | {"cells": len(g)}
            for v in VERDICTS:
                k = int((g["agent_verdict"] == v).sum())
                lo, hi = clopper_pearson(k, len(g))
                row |= {v: k / len(g), f"{v}_lo": lo, f"{v}_hi": hi}
            out.append(row)
        return pd.DataFrame(out)

    def effect_spread(self) -> pd.DataFrame:
        """Per agent × candidate (and setting): the effect's mean, spread and range over cells, and its detection λ."""
        keys = ["agent", "candidate", *self.settings]
        return (
            self.rows.groupby(keys, sort=False, dropna=False)
            .agg(
                cells=("cell", "nunique"),
                effect=("effect", "mean"),
                effect_sd=("effect", "std"),
                effect_min=("effect", "min"),
                effect_max=("effect", "max"),
                regime_dependent=("verdict", lambda v: float((v == "regime-dependent").mean())),
                detection_shift=("detection_shift", "median"),
            )
            .reset_index()
        )

    def reading(self) -> str:
        """One sentence per agent: how often it got each verdict."""
        parts = []
        for _, r in self.verdict_shares().iterrows():
            where = ", ".join(f"{k[5:]} = {r[k]}" for k in self.settings)
            shares = "; ".join(
                f"{v} in {r[v]:.0%} [{r[f'{v}_lo']:.0%}, {r[f'{v}_hi']:.0%}]" for v in VERDICTS if r[v] > 0
            )
            parts.append(f"{r['agent']}{f' ({where})' if where else ''}: {shares} of {int(r['cells'])} cells.")
        return " ".join(parts)

    def to_dict(self) -> dict:
        """Plain JSON (`sweep.json`)."""
        return {
            "format": "mesaprobe-sweep/1",
            "name": self.name,
            "grid": list(self.grid),
            "repeats": self.repeats,
            "cells": int(self.rows["cell"].nunique()) if not self.rows.empty else 0,
            "reading": self.reading(),
            "verdict_shares": self.verdict_shares().to_dict(orient="records"),
            "effect_spread": self.effect_spread().to_dict(orient="records"),
            "rows": self.rows.to_dict(orient="records"),
        }

    def render_html(self, figures: Mapping[str, tuple[bytes, str]]) -> str:
        """`sweep.html`: the reading, the verdict shares, the effect spread, the figures and every row."""
        return "\n".join(
            [
                *page_start("sweep", self.name),
                f"<p>Swept: {html.escape(', '.join(self.grid))}; {self.repeats} repeat(s) per cell; "
                f"{self.rows['cell'].nunique()} cells, each a full study under <code>cells/</code>.</p>",
                f"<p>{html.escape(self.reading())}</p>",
                "<h2>Verdict stability</h2>",
                self.verdict_shares().to_html(index=False, float_format="%.2f"),
                "<h2>Effects over cells</h2>",
                self.effect_spread().to_html(index=False, float_format="%.3f", na_rep="–"),
                figures_html(figures),
                "<h2>Every cell</h2>",
                "<div style='overflow-x:auto'>",  # many swept columns: the table scrolls, the page does not
                self.rows.to_html(index=False, float_format="%.3f", na_rep="–"),
                "</div>",
                "</body></html>",
            ]
        )

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.reading())}</p>" + self.verdict_shares().to_html(index=False, float_format="%.2f")


def verdict_figure(report: SweepReport) -> bytes:
    """Per agent (and setting): the share of each verdict over cells with its 95 % interval."""
    shares = report.verdict_shares()
    labels = [
        " · ".join([str(r["agent"])] + [f"{k[5:]}={r[k]}" for k in report.settings]) for _, r in shares.iterrows()
    ]
    fig, ax = plt.subplots(figsize=(8.0, 0.75 * len(labels) + 1.6))
    y = np.arange(len(labels))
    for j, v in enumerate(VERDICTS):
        yy = y + (j - 1) * 0.25
        lo, hi = shares[v] - shares[f"{v}_lo"], shares[f"{v}_hi"] - shares[v]
        ax.barh(yy, shares[v], height=0.25, color=COLOURS[v], label=v)
        ax.errorbar(shares[v], yy, xerr=[lo, hi], fmt="none", color="k", capsize=2, lw=0.8)
        # The count says what a bar of length 0 cannot (0 of n, with an interval that still reaches up).
        for yk, share, n in zip(yy, shares[v], shares["cells"], strict=True):
            ax.text(1.01, yk, f"{round(share * n)}/{n}", va="center", fontsize=7, transform=ax.get_yaxis_transform())
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of cells (Clopper-Pearson 95 %)")
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.08, 1.0))
    ax.set_title(f"Agent verdicts over {report.rows['cell'].nunique()} cells", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def effect_figure(report: SweepReport) -> bytes:
    """Each candidate's effect with its interval in every cell, against the first swept value."""
    key = f"grid.{report.grid[0]}"
    pairs = list(report.rows.groupby(["agent", "candidate"], sort=False))
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.6 * len(pairs), 3.2), squeeze=False, sharey=True)
    for ax, ((agent, cand), g) in zip(axes[0], pairs, strict=True):
        x = g[key].astype(str).to_numpy()
        ax.errorbar(x, g["effect"], yerr=[g["effect"] - g["effect_lo"], g["effect_hi"] - g["effect"]], fmt="o",
                    capsize=3, alpha=0.8)  # fmt: skip
        ax.axhline(0, color="k", lw=0.6)
        ax.margins(y=0.15)  # effects of exactly 0 (and their intervals) stay inside the frame
        ax.set_title(f"{agent}: {cand}", fontsize=9)
        ax.set_xlabel(report.grid[0])
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("effect of the regime beyond Y_m")
    fig.tight_layout()
    return _png(fig)


def sweep_figures(report: SweepReport) -> dict[str, tuple[bytes, str]]:
    """The sweep's figures with their readings."""
    if report.rows.empty:
        return {}
    return {
        "sweep_verdicts": (
            verdict_figure(report),
            "Reading: a verdict that holds in every cell is stable over the swept seeds and settings; a split "
            "means the verdict depends on the seed, so one run of the study would not have been enough.",
        ),
        "sweep_effects": (
            effect_figure(report),
            "Reading: each point is one cell's effect of the regime beyond the candidate, with its interval; "
            "their spread is what a single seed does not show.",
        ),
    }


__all__ = ["SweepReport", "sweep_figures"]
