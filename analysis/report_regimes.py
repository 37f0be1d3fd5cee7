"""The report's sections for a study over several deployment regimes: the verdict grid and the read-outs across regimes."""

from __future__ import annotations

import html

from analysis.report_format import badge as _badge
from analysis.report_format import fmt as _fmt
from analysis.results import AgentResult
from probes.candidates import CONTROL_SITE


def regimes_section(a: AgentResult) -> str:
    """The agent × regime grid as a table: per deployment regime, the agent's verdict and each candidate's."""
    cands = a.candidates
    out = [
        "<h3>Per deployment regime</h3><p>Each regime tested against training; p-values Holm-adjusted over the "
        "regimes, effects with intervals at level 1 − α/k. A candidate's verdict counts towards the agent's only "
        "where it meets the mesa condition (achieved at a high rate in training and in that regime).</p>",
        "<div class='scroll'><table><tr><th>regime</th><th>agent</th>"
        + "".join(f"<th>{html.escape(c.name)}<br>effect [CI], Holm p</th>" for c in cands)
        + "</tr>",
    ]
    for k, rv in enumerate(a.regime_verdicts):
        cells = []
        for c in cands:
            cell = c.regimes[k]
            t = cell.transport
            lo, hi = t.effect_ci
            mesa = "" if cell.mesa.meets else "<br><span class='warn'>mesa unmet</span>"
            if cell.probe_flags:
                mesa += (
                    f"<br><span class='warn' title='{html.escape('; '.join(cell.probe_flags))}'>⚠ read-out fails "
                    "here</span>"
                )
            cells.append(
                f"<td>{_badge(cell.verdict.value)}<br>{_fmt(t.effect)} [{_fmt(lo)}, {_fmt(hi)}], {_fmt(t.p_adjusted)}"
                f"{mesa}</td>"
            )
        parts_row = (
            f"<tr><td>{html.escape(rv.regime)}</td><td>{_badge(rv.verdict.value)}</td>" + "".join(cells) + "</tr>"
        )
        out.append(parts_row)
    out.append("</table></div>")
    reading = " ".join(f"On {rv.regime}, {rv.verdict.value}: {rv.reason}." for rv in a.regime_verdicts)
    out.append(f"<p><b>Reading</b>: {html.escape(reading)}</p>")
    joint = "; ".join(
        f"{html.escape(c.name)}: joint p = {_fmt(c.family.p_value)} ({html.escape(c.family.reading())})"
        for c in cands
        if c.family is not None
    )
    out.append(f"<p>{joint}</p>")
    if a.regime_probe_transport is not None:
        out.append(_regime_probes_section(a))
    return "".join(out)


def _regime_probes_section(a: AgentResult) -> str:
    """How each candidate's read-out fares on every regime, and the verdicts that condition on a failing one."""
    rpt = a.regime_probe_transport
    head = "".join(f"<th>{html.escape(r)}</th>" for r in rpt.regimes)
    out = [
        "<h3>Read-outs across regimes</h3><p>Each regime read by the candidate's probe fitted on the other regimes "
        "(ROC AUC; in brackets the study's read-out, fitted on every regime, on this one; the raw-observation "
        f"control below it). A read-out fails on a regime when it falls more than {rpt.drop_tolerance:g} below its "
        f"in-distribution score or does not beat the control by {rpt.control_margin:g}.</p>",
        f"<div class='scroll'><table><tr><th>read-out</th>{head}</tr>",
    ]
    marked = []
    for c in a.candidates:
        if c.probe is None:
            continue
        for site in (c.probe.site, CONTROL_SITE):
            if site not in set(rpt.scores["site"]):
                continue
            row = []
            for _, score, inside, status in rpt.cells(c.name, site):
                mark = " class='warn'" if status == "fails" else ""
                row.append(f"<td{mark}>{_fmt(score)} ({_fmt(inside)}){' ⚠' if status == 'fails' else ''}</td>")
            label = f"{c.name} @ {site}" + (" (control)" if site == CONTROL_SITE else "")
            out.append(f"<tr><td>{html.escape(label)}</td>{''.join(row)}</tr>")
        if rpt.only_some(c.name, c.probe.site):
            marked.append(f"{c.name}'s read-out works only on some regimes")
        for cell in c.regimes:
            if cell.probe_flags:
                marked.append(f"the {c.name} verdict on {cell.regime} conditions on it: {'; '.join(cell.probe_flags)}")
    out.append("</table></div>")
    if marked:
        out.append(f"<p class='warn'>⚠ {html.escape('. '.join(marked))}.</p>")
    return "".join(out)
