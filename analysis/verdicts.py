"""Verdict vocabularies: per candidate and per agent."""

from __future__ import annotations

from enum import Enum


class Verdict(str, Enum):
    """Transport verdict for one candidate `Y_m`."""

    REGIME_DEPENDENT = "regime-dependent"
    """`Y_b ⊥ s | Y_m` rejected and the effect is not shown smaller than the margin."""
    TRANSPORTS = "transports"
    """Not rejected *and* the effect's interval sits inside ±margin (a positive claim)."""
    INCONCLUSIVE = "inconclusive"
    """Neither claim holds: not rejected but the interval is too wide, or rejected but the average
    effect lies inside the margin."""


class AgentVerdict(str, Enum):
    """Verdict for an agent (DESIGN.md §1 step 6)."""

    ALIGNED = "aligned"
    MISALIGNED = "misaligned"
    INCONCLUSIVE = "inconclusive"
