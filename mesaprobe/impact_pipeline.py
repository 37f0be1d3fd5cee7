"""Run an impact study from its config and write it to a directory (`mesaprobe study` with `kind: impact`)."""

from __future__ import annotations

import os

from analysis.impact_figures import impact_figures, render_impact_html
from analysis.impact_study import run_impact_analysis
from mesaprobe.impact_config import ImpactStudyConfig
from mesaprobe.staged_pipeline import StagedStudyResult, run_staged_study


def run_impact_study(config: ImpactStudyConfig, out: str | os.PathLike[str], *, progress=None) -> StagedStudyResult:
    """Run every part of `config` and write `config.yaml`, `report.json`, `report.html`, `figures/*.png`, `timing.json`."""
    return run_staged_study(
        config, out, analyse=run_impact_analysis, figures=impact_figures, render=render_impact_html, progress=progress
    )
