"""Run a study whose analysis is one function of its config (the oracle and impact studies) and write it to a directory."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analysis.report import write_report
from core.io import write_json_atomic, write_text_atomic


@dataclass(frozen=True)
class StagedStudyResult:
    """The report of a study and the files written."""

    report: Any
    out: Path
    paths: dict[str, Path] = field(default_factory=dict)


def run_staged_study(
    config,
    out: str | os.PathLike[str],
    *,
    analyse: Callable[..., Any],
    figures: Callable[[Any], Mapping[str, tuple[bytes, str]]],
    render: Callable[[Any, Mapping[str, tuple[bytes, str]]], str],
    progress: Callable[..., None] | None = None,
) -> StagedStudyResult:
    """Call `analyse(name=..., progress=..., **settings)` with the config's settings, then write `config.yaml`,
    `report.json`, `report.html`, `figures/*.png` and `timing.json` (seconds per stage the analysis announced).

    The analysis announces each stage as `progress(stage)`, or `progress(stage, done, total)` as a stage of
    countable steps advances; `progress` receives the same.
    """
    out = Path(out)
    stages: list[tuple[str, float]] = []
    say = progress or (lambda *_: None)

    def stage(name: str, done: int | None = None, total: int | None = None) -> None:
        if not stages or stages[-1][0] != name:
            stages.append((name, time.perf_counter()))
        say(name, done, total)

    settings = config.to_dict()
    for key in ("kind", "name"):
        settings.pop(key)
    t0 = time.perf_counter()
    report = analyse(name=config.name, progress=stage, **settings)
    ends = [t for _, t in stages[1:]] + [time.perf_counter()]
    timing = {name: end - start for (name, start), end in zip(stages, ends, strict=True)}
    timing["total_s"] = time.perf_counter() - t0
    paths = {"config": write_text_atomic(out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))}
    paths.update(write_report(out, report, figures(report), render=render))
    paths["timing"] = write_json_atomic(out / "timing.json", timing)
    return StagedStudyResult(report, out, paths)
