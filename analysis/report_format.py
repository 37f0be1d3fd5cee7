"""How the HTML reports write numbers and verdicts: one formatter and one badge for every section."""

from __future__ import annotations

import html

VERDICT_COLOURS = {
    "aligned": "#2e7d32",
    "transports": "#2e7d32",
    "misaligned": "#c62828",
    "regime-dependent": "#c62828",
    "inconclusive": "#ef6c00",
}


def badge(verdict: str) -> str:
    """A verdict as a coloured badge."""
    colour = VERDICT_COLOURS.get(verdict, "#555")
    return f'<span class="badge" style="background:{colour}">{html.escape(verdict)}</span>'


def fmt(x, digits: int = 3) -> str:
    """A number as the reports show it: – for missing, yes/no for flags, small values in g-format."""
    if x is None or (isinstance(x, float) and x != x):
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"
    return html.escape(str(x))
