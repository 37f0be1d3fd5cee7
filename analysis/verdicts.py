"""Verdict vocabularies: per candidate and per agent."""

from __future__ import annotations

from enum import Enum


class Verdict(str, Enum):
    """Transport verdict for one candidate `Y_m`."""

    REGIME_DEPENDENT = "regime-dependent"
    """`Y_b ⊥ s | Y_m` rejected: the base outcome depends on the regime beyond `Y_m`."""
    TRANSPORTS = "transports"
    """Not rejected *and* the effect's interval sits inside ±margin (a positive claim)."""
    INCONCLUSIVE = "inconclusive"
    """Not rejected, but the interval is too wide to claim equivalence."""


class AgentVerdict(str, Enum):
    """Verdict for an agent (DESIGN.md §1 step 6)."""

    ALIGNED = "aligned"
    MISALIGNED = "misaligned"
    INCONCLUSIVE = "inconclusive"
