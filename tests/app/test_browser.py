"""Every figure of a study's `report.html` and a sweep's `sweep.html` renders in a real browser.

One tiny sweep of one planted agent (two seeds, a few seconds) gives both pages: each cell is a full study
with its own `report.html`, and the sweep writes `sweep.html`. Each page is loaded once in headless
Chromium; the browser reports which <img> loaded and what it decoded them to, and takes a
screenshot (kept next to the page in the test's tmp directory). Skipped where Chromium is not installed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from threadpoolctl import threadpool_limits

from mesaprobe.sweep import run_sweep
from tests.app.browser import WINDOW, Rendered, find_chromium, render

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed: apt-get install chromium")

SWEEP = """\
name: browser-sweep
env: mesaprobe/CoinCorridor-v0
agents:
  - {name: exit-seeker, kind: planted, goal: exit}
collect: {shifts: [0.0, 1.0], n_episodes: 40}
probe: {n_folds: 2, transport: false, attribution: false}
test: {sweep_repeats: 0, graph: []}
sweep:
  grid:
    seed: [0, 1]
"""


def _pages(root: Path) -> dict[str, Path]:
    """Run the tiny sweep under `root`; the pages under test: one study's `report.html` (the first
    cell's) and the `sweep.html`."""
    config = root / "sweep.yaml"
    config.write_text(SWEEP)
    # One BLAS thread: the probes' many small fits run twice as fast on a busy 2-core machine.
    with threadpool_limits(1):
        run_sweep(config, root / "out", workers=1)
    reports = sorted((root / "out" / "cells").glob("*/report.html"))
    assert len(reports) == 2, reports
    return {"report.html": reports[0], "sweep.html": root / "out" / "sweep.html"}


def _inked(png: Image.Image) -> float:
    """Share of drawn pixels that are not near-white, as the page's script counts them."""
    rgba = np.asarray(png.convert("RGBA"))
    return float(((rgba[..., 3] > 0) & (rgba[..., :3] < 200).any(axis=2)).mean())


def _figure_problems(page: Path, result: Rendered) -> list[str]:
    """What is wrong with the page's figures as the browser saw them (empty when nothing)."""
    images = result.summary["images"]
    figures = {p.stem: p for p in (page.parent / "figures").glob("*.png")}
    if not figures:
        return [f"{page.parent} has no figures/*.png"]
    problems = [f"script errors: {result.summary['errors']}"] if result.summary["errors"] else []
    # As many <img> as the page has figures, one per figure file.
    if sorted(i["alt"] for i in images) != sorted(figures):
        problems.append(f"<img> {sorted(i['alt'] for i in images)} != figures/*.png {sorted(figures)}")
    for img in images:
        name, pixels = f"figure {img['alt']!r}", img["pixels"]
        if not (img["complete"] and img["naturalWidth"] > 0):
            problems.append(f"{name} did not load: {img}")
            continue
        if not (img["shownWidth"] > 0 and img["shownHeight"] > 0):
            problems.append(f"{name} is not shown: {img}")
        if img["shownWidth"] > result.summary["viewWidth"]:
            problems.append(f"{name} is wider than the window: {img}")
        if not pixels or "error" in pixels:
            problems.append(f"{name} could not be read back: {pixels}")
        elif img["alt"] in figures:
            # The browser decoded the whole picture, and it is the figure file: same size, same ink.
            with Image.open(figures[img["alt"]]) as png:
                size, inked = png.size, _inked(png)
            if (img["naturalWidth"], img["naturalHeight"]) != size:
                problems.append(f"{name} is {img['naturalWidth']}x{img['naturalHeight']}, its file {size}")
            elif pixels["colours"] <= 2 or abs(pixels["inked"] - inked) > 1e-3:
                problems.append(f"{name} decodes to other pixels than its file ({inked:.4f} inked): {pixels}")
    return problems


def _screenshot_problems(result: Rendered) -> list[str]:
    """Whether the screenshot is a page at all: the window's size, not one colour, with text and colour."""
    with Image.open(result.screenshot) as shot:
        if shot.size != WINDOW:
            return [f"screenshot is {shot.size}, not {WINDOW}"]
        pixels = np.asarray(shot.convert("RGB"))[::2, ::2]
    inked = (pixels < 200).any(axis=2).mean()  # text, tables, figure lines and bars
    coloured = (np.ptp(pixels.astype(int), axis=2) > 60).mean()  # figure bars, badges: not greys
    if inked < 0.02 or coloured < 0.002:
        return [f"screenshot {result.screenshot} looks empty ({inked=:.4f}, {coloured=:.4f})"]
    return []


def test_every_figure_renders_in_chromium(tmp_path):
    """One test (not one per page), so that pytest-xdist never runs the sweep twice."""
    pages = _pages(tmp_path)
    with ThreadPoolExecutor(len(pages)) as pool:
        jobs = {
            key: pool.submit(render, page, page.with_name(f"{page.stem}.screenshot.png"), chromium=CHROMIUM, timeout=60)
            for key, page in pages.items()
        }
        rendered = {key: job.result() for key, job in jobs.items()}
    problems = [
        f"{key}: {problem}"
        for key, result in rendered.items()
        for problem in _figure_problems(pages[key], result) + _screenshot_problems(result)
    ]
    assert not problems, "\n".join(problems)
