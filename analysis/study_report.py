"""A whole study's result: every agent's `AgentResult` and where it ran; its `to_dict` is `report.json`."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analysis.results import AgentResult
from core.errors import unknown_name

REPORT_FORMAT = "mesaprobe-report/1"
"""The `format` tag of `report.json`."""


@dataclass(frozen=True)
class StudyReport:
    """A whole study: where it ran, its config and every agent's result; `to_dict` is `report.json`."""

    study: str
    env: str
    seed: int
    config: Mapping[str, Any] | None
    agents: tuple[AgentResult, ...]

    def agent(self, name: str) -> AgentResult:
        """The result of agent `name`."""
        for a in self.agents:
            if a.name == name:
                return a
        raise unknown_name("agent", name, [a.name for a in self.agents])

    def to_dict(self) -> dict:
        """Plain-JSON form: the content of `report.json` (DESIGN.md §4)."""
        return {
            "format": REPORT_FORMAT,
            "study": self.study,
            "env": self.env,
            "seed": self.seed,
            "config": self.config,
            "agents": [a.to_dict() for a in self.agents],
        }

    def _repr_html_(self) -> str:
        parts = "".join(f"<li>{a._repr_html_()}</li>" for a in self.agents)
        return f"<b>Study {html.escape(self.study)}</b> on <code>{html.escape(self.env)}</code> (seed {self.seed})<ul>{parts}</ul>"
