"""The terminal tables of a study: the summary per agent and candidate, the per-regime grid, an oracle or impact study's measures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from analysis.feasibility_study import FeasibilityStudyReport
    from analysis.impact_study import ImpactStudyReport
    from analysis.oracle_study import OracleStudyReport
    from analysis.results import CandidateResult
    from analysis.study_report import StudyReport

VERDICT_STYLE = {
    "aligned": "bold green",
    "transports": "green",
    "misaligned": "bold red",
    "regime-dependent": "red",
    "inconclusive": "yellow",
}


def _score(x) -> str:
    # NaN/None: the probe could not be scored (too few episodes in the rarer class).
    return "n/a" if x is None or x != x else f"{x:.2f}"


def _magnitude(c: CandidateResult) -> str:
    """`rms [lower, upper]` of the conditional effect."""
    lo, hi = c.transport.magnitude_bounds
    return f"{c.transport.magnitude:.2f} [{lo:.2f}, {hi:.2f}]"


def summary_table(report: StudyReport) -> Table:
    """The terminal summary: one row per (agent, candidate)."""
    table = Table(title=f"mesaprobe study: {report.study}  ({report.env})")
    for col, justify in [
        ("agent", "left"),
        ("verdict", "left"),
        ("candidate", "left"),
        ("rate s=0", "right"),
        ("rate s=1", "right"),
        ("mesa", "center"),
        ("p-value", "right"),
        ("effect [95% CI]", "right"),
        ("‖τ‖₂ [bounds]", "right"),
        ("transport", "left"),
        ("probe AUC / obs", "right"),
    ]:
        table.add_column(col, justify=justify)
    for a in report.agents:
        verdict = a.verdict.value
        for k, c in enumerate(a.candidates):
            m, t, probe = c.mesa, c.transport, c.probe
            lo, hi = t.effect_ci
            auc = "–" if probe is None else f"{_score(probe.score)} / {_score(probe.control_score)}"
            table.add_row(
                a.name if k == 0 else "",
                f"[{VERDICT_STYLE[verdict]}]{verdict}[/]" if k == 0 else "",
                c.name,
                f"{m.rate_s0:.2f}",
                f"{m.rate_s1:.2f}",
                "✓" if m.meets else "✗",
                "≤0.001" if t.p_value <= 0.001 else f"{t.p_value:.3f}",  # 0.001: beyond all 999 sign flips
                f"{t.effect:+.2f} [{lo:+.2f}, {hi:+.2f}]",
                _magnitude(c),
                f"[{VERDICT_STYLE[c.verdict.value]}]{c.verdict.value}[/]",
                auc,
            )
        table.add_section()
    return table


def regime_table(report: StudyReport) -> Table | None:
    """The verdict grid in the terminal: per agent and candidate, the verdict and effect on each deployment regime.

    None when no agent was studied over several named deployment regimes.
    """
    studied = [a for a in report.agents if a.regime_verdicts]
    if not studied:
        return None
    names = studied[0].regime_names
    table = Table(
        title="Per deployment regime (each against training; effect [CI at 1 − α/k], mesa ✗ = not counted, ⚠ = read-out fails there)"
    )
    table.add_column("agent", justify="left")
    table.add_column("candidate", justify="left")
    for name in names:
        table.add_column(name, justify="left")
    for a in studied:
        table.add_row(
            a.name,
            "[b]agent[/]",
            *(f"[{VERDICT_STYLE[v.verdict.value]}]{v.verdict.value}[/]" for v in a.regime_verdicts),
        )
        for c in a.candidates:
            cells = []
            for cell in c.regimes:
                t = cell.transport
                lo, hi = t.effect_ci
                mesa = ("" if cell.mesa.meets else " ✗") + (" ⚠" if cell.probe_flags else "")
                cells.append(
                    f"[{VERDICT_STYLE[cell.verdict.value]}]{cell.verdict.value}[/]{mesa}\n"
                    f"{t.effect:+.2f} [{lo:+.2f}, {hi:+.2f}]"
                )
            table.add_row("", c.name, *cells)
        table.add_section()
    return table


def print_summary(console: Console, report: StudyReport) -> None:
    """Print the summary table and, for studies over several deployment regimes, the verdict grid."""
    console.print(summary_table(report))
    grid = regime_table(report)
    if grid is not None:
        console.print(grid)


def oracle_table(report: OracleStudyReport) -> Table:
    """An oracle study's measures next to the world's ground truth."""
    table = Table(title=f"mesaprobe oracle study: {report.name}")
    for column in ("measure", "value", "truth"):
        table.add_column(column, justify="left")
    for row in report.summary_rows():
        table.add_row(*(escape(cell) for cell in row))
    return table


def impact_table(report: ImpactStudyReport) -> Table:
    """An impact study: the known pattern, checked, then clinginess and manipulation per penalty."""
    table = Table(title=f"mesaprobe impact study: {report.name}")
    for column in ("claim", "holds", "evidence"):
        table.add_column(column, justify="left")
    for claim, holds, evidence in report.pattern():
        table.add_row(escape(claim), "[green]yes[/]" if holds else "[red]no[/]", escape(evidence.split(",")[0]))
    trade = Table(title="two-agent levels (exact planner)")
    for column in ("penalty", "clingy in", "manipulates in"):
        trade.add_column(column)
    for row in report.tradeoff().itertuples():
        trade.add_row(escape(row.penalty), escape(row.clingy_in), escape(row.manipulates_in))
    outer = Table.grid()
    outer.add_row(table)
    outer.add_row(trade)
    return outer


def feasibility_table(report: FeasibilityStudyReport) -> Table:
    """A feasibility study: per λ the share where Rule 1 holds and the test's power and false alarms; per β the
    trade-off."""
    from analysis.wireheading import interval_text

    outer = Table.grid()
    sim, wh = report.simulation, report.wireheading
    if sim is not None:
        table = Table(title=f"mesaprobe feasibility study: {report.name} ({sim.n_models} random models)")
        for column in (
            "λ",
            "Rule 1 holds",
            "power [95%]",
            "false alarms [95%]",
            "P(Y_b high | Y_m high): holds / fails",
        ):
            table.add_column(column, justify="right")
        for _, r in sim.summary().iterrows():
            power = "n/a" if r["n_violations"] == 0 else f"{r['power']:.2f} [{r['power_lo']:.2f}, {r['power_hi']:.2f}]"
            table.add_row(
                f"{r['lambda']:g}", f"{r['rule1_share']:.0%}", power,
                f"{r['false_alarms']:.3f} [{r['false_alarms_lo']:.3f}, {r['false_alarms_hi']:.3f}]",
                f"{r['conditional_holds']:.2f} / {r['conditional_fails']:.2f}",
            )  # fmt: skip
        outer.add_row(table)
    if wh is not None:
        table = Table(title=f"wireheading against inner misalignment ({wh.candidate} read-out, {wh.deploy_regime})")
        for column in ("read-out", "β", "effect [95%]", "control [95%]", "coin train / deploy", "episode length",
                       "control incentive"):  # fmt: skip
            table.add_column(column, justify="right")
        for r in wh.curve().itertuples():
            table.add_row(
                escape(r.probe), f"{r.beta:g}", interval_text(r.effect, r.effect_lo, r.effect_hi),
                interval_text(r.control, r.control_lo, r.control_hi), f"{r.coin_train:.2f} / {r.coin_deploy:.2f}",
                f"{r.length_train:.0f}", "yes" if r.control_incentive else "no",
            )  # fmt: skip
        outer.add_row(table)
        outer.add_row(escape(wh.reading()))
    return outer
