"""What every stage result shares: a section that could not run says why, in one typed shape."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Skipped:
    """A section of a study that did not run, and why (`reason`, one sentence a user can act on).

    `context` holds what was known before it stopped (e.g. the site it would have used); it is
    written beside the reason. In `report.json` a skipped section reads `{**context, "skipped": reason}`.
    """

    reason: str
    context: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {**self.context, "skipped": self.reason}

    def _repr_html_(self) -> str:
        return f"<i>Not computed: {html.escape(self.reason)}</i>"
