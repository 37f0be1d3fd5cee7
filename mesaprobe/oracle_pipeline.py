"""Run an oracle study from its config and write it to a directory (`mesaprobe study` with `kind: oracle`)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analysis.oracle_figures import oracle_figures, render_oracle_html
from analysis.oracle_study import OracleStudyReport, run_oracle_analysis
from analysis.report import write_report
from core.io import write_json_atomic, write_text_atomic
from mesaprobe.oracle_config import OracleStudyConfig


@dataclass(frozen=True)
class OracleStudyResult:
    """The report of an oracle study and the files written."""

    report: OracleStudyReport
    out: Path
    paths: dict[str, Path] = field(default_factory=dict)


def run_oracle_study(config: OracleStudyConfig, out: str | os.PathLike[str], *, progress=None) -> OracleStudyResult:
    """Run every part of `config` and write `config.yaml`, `report.json`, `report.html`, `figures/*.png`, `timing.json`."""
    out = Path(out)
    stages: list[tuple[str, float]] = []
    say = progress or (lambda _: None)

    def stage(name: str) -> None:
        stages.append((name, time.perf_counter()))
        say(name)

    settings = config.to_dict()
    for key in ("kind", "name"):
        settings.pop(key)
    t0 = time.perf_counter()
    report = run_oracle_analysis(name=config.name, progress=stage, **settings)
    ends = [t for _, t in stages[1:]] + [time.perf_counter()]
    timing = {name: end - start for (name, start), end in zip(stages, ends, strict=True)}
    timing["total_s"] = time.perf_counter() - t0
    paths = {"config": write_text_atomic(out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))}
    paths.update(write_report(out, report, oracle_figures(report), render=render_oracle_html))
    paths["timing"] = write_json_atomic(out / "timing.json", timing)
    return OracleStudyResult(report, out, paths)
