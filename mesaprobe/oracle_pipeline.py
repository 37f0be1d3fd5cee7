"""Run an oracle study from its config and write it to a directory (`mesaprobe study` with `kind: oracle`)."""

from __future__ import annotations

import os

from analysis.oracle_figures import oracle_figures, render_oracle_html
from analysis.oracle_study import run_oracle_analysis
from mesaprobe.oracle_config import OracleStudyConfig
from mesaprobe.staged_pipeline import StagedStudyResult, run_staged_study


def run_oracle_study(config: OracleStudyConfig, out: str | os.PathLike[str], *, progress=None) -> StagedStudyResult:
    """Run every part of `config` and write `config.yaml`, `report.json`, `report.html`, `figures/*.png`, `timing.json`."""
    return run_staged_study(
        config, out, analyse=run_oracle_analysis, figures=oracle_figures, render=render_oracle_html, progress=progress
    )
