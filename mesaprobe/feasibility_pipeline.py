"""Run a feasibility study from its config and write it to a directory (`mesaprobe study` with `kind: feasibility`)."""

from __future__ import annotations

import os

from analysis.feasibility_figures import render_feasibility_html, study_figures
from analysis.feasibility_study import run_feasibility_analysis
from mesaprobe.feasibility_config import FeasibilityStudyConfig
from mesaprobe.staged_pipeline import StagedStudyResult, run_staged_study


def run_feasibility_study(
    config: FeasibilityStudyConfig, out: str | os.PathLike[str], *, progress=None
) -> StagedStudyResult:
    """Run every part of `config` and write `config.yaml`, `report.json`, `report.html`, `figures/*.png`, `timing.json`."""
    return run_staged_study(
        config, out, analyse=run_feasibility_analysis, figures=study_figures, render=render_feasibility_html,
        progress=progress,
    )  # fmt: skip
