"""Sweeps: the same study over a grid of config values and repeats (`mesaprobe sweep CONFIG`).

A study YAML with a `sweep:` block names a grid of config fields by dotted path and how many
times to repeat each cell:

    sweep:
      grid:
        seed: [0, 1, 2]
        agents[coin-at-exit].total_timesteps: [20000, 40000]
        collect.n_episodes: [100, 200]
        test.method: [auto, gcm]
      repeats: 1          # repeat r adds r to the cell's seed

Every cell is a full study in `OUT/cells/<cell>/` (its own `report.json`, `report.html`, agents).
A cell whose `cell.json` records the same config (by hash) and a finished report is reused, so a
killed sweep picks up where it stopped (a killed cell keeps its finished agents, rollouts and probes);
`fresh=True` starts over. The local backend runs cells in parallel processes (`workers`, one torch
thread each); the Ray backend runs each cell as a Ray Tune trial (`mesaprobe.sweep_ray`). `run_sweep` returns a `SweepReport`
(`analysis.sweep_report`): one row per cell × agent × candidate, written as `sweep.parquet`,
`sweep.json` and `sweep.html`.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.sweep_report import SweepReport, sweep_figures
from core.errors import ConfigError, suggest
from core.io import write_bytes_atomic, write_json_atomic, write_parquet_atomic, write_text_atomic
from mesaprobe.config import StudyConfig, read_yaml, with_paths_from
from mesaprobe.schema import from_dict
from mesaprobe.workers import check_workers, run_in_processes

BACKENDS = ("local", "ray")
"""Where cells run: `local` processes (`workers` at once), or Ray Tune trials (`mesaprobe.sweep_ray`)."""

_PATH = re.compile(r"^(?P<head>[A-Za-z_]\w*)(?:\[(?P<key>[^\]]+)\])?$")


@dataclass(frozen=True)
class Cell:
    """One study of the sweep: its directory name, the swept values and the full config."""

    name: str
    values: dict[str, Any]
    repeat: int
    config: StudyConfig

    @property
    def config_hash(self) -> str:
        """A hash of the cell's full config: a finished cell is reused only when it matches."""
        text = json.dumps(self.config.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def set_path(data: dict, path: str, value: Any) -> None:
    """Set `value` at dotted `path` in a config mapping: `seed`, `collect.n_episodes`,
    `agents[coin-at-exit].total_timesteps` (a list entry chosen by its `name`)."""
    node: Any = data
    parts = path.split(".")
    for i, part in enumerate(parts):
        m = _PATH.match(part)
        if m is None:
            raise ConfigError(f"sweep.grid: {path!r} is not a dotted path (e.g. collect.n_episodes, agents[a].seed).")
        head, key, last = m["head"], m["key"], i == len(parts) - 1
        if key is None:
            if last:
                node[head] = value
                return
            node = node.setdefault(head, {})
            if not isinstance(node, dict):
                raise ConfigError(f"sweep.grid: {path!r}: {head} is not a section of the config.")
            continue
        entries = node.get(head)
        if not isinstance(entries, list):
            raise ConfigError(f"sweep.grid: {path!r}: {head} is not a list of named entries.")
        match = [e for e in entries if isinstance(e, dict) and e.get("name") == key]
        if not match:
            names = [e.get("name") for e in entries if isinstance(e, dict)]
            raise ConfigError(f"sweep.grid: {path!r}: no {head} entry named {key!r} (names: {names}).")
        if last:
            raise ConfigError(f"sweep.grid: {path!r} names a whole entry; name one of its fields.")
        node = match[0]


def _slug(values: Mapping[str, Any], repeat: int) -> str:
    parts = [f"{k.split('.')[-1].split('[')[0]}={v}" for k, v in values.items()] + [f"r{repeat}"]
    return re.sub(r"[^A-Za-z0-9=._-]+", "-", "_".join(parts))[:120]


def load_sweep(path: str | os.PathLike[str]) -> tuple[dict, dict, list[Cell]]:
    """Read a sweep YAML: `(base config mapping, sweep block, cells)`; every cell's config is validated here,
    before anything runs."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict) or "sweep" not in data:
        raise ConfigError(f"{path} has no sweep: block; add sweep: {{grid: {{seed: [0, 1, 2]}}}} (see README, Sweeps).")
    if data.get("kind") not in (None,):
        raise ConfigError(f"sweeps run agent studies; {path} has kind: {data['kind']}.")
    block = data.pop("sweep")
    if not isinstance(block, dict) or not isinstance(block.get("grid"), dict) or not block["grid"]:
        raise ConfigError("sweep.grid must map dotted config paths to lists of values, e.g. {seed: [0, 1, 2]}.")
    unknown = sorted(set(block) - {"grid", "repeats"})
    if unknown:
        raise ConfigError(f"sweep: unknown fields {unknown}; valid: grid, repeats.")
    repeats = block.get("repeats", 1)
    if not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"sweep.repeats must be an integer >= 1, got {repeats!r}.")
    grid = block["grid"]
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.grid.{key} must be a non-empty list of values, got {values!r}.")
    cells = []
    for combo in itertools.product(*grid.values()):
        values = dict(zip(grid, combo, strict=True))
        for r in range(repeats):
            cfg = copy.deepcopy(data)
            for key, value in values.items():
                set_path(cfg, key, value)
            cfg["seed"] = int(cfg.get("seed", 0)) + r
            config = with_paths_from(from_dict(StudyConfig, cfg), path.parent)
            cells.append(Cell(f"c{len(cells):03d}_{_slug(values, r)}", values, r, config))
    return data, block, cells


def _finished(cell: Cell, out: Path) -> bool:
    meta = out / "cell.json"
    if not (meta.is_file() and (out / "report.json").is_file()):
        return False
    try:
        return json.loads(meta.read_text()).get("config_hash") == cell.config_hash
    except (json.JSONDecodeError, OSError):
        return False


def run_cell(cell: Cell, out: str | os.PathLike[str], *, fresh: bool = False) -> list[dict]:
    """Run one cell's study into `out` (or reuse it when finished with the same config) and return its rows.

    A cell killed halfway reuses the agents, rollouts and probes it had finished (`run_study`), unless `fresh`.
    """
    import dowhy.gcm.config
    import torch

    from mesaprobe.pipeline import run_study

    out = Path(out)
    if not fresh and _finished(cell, out):
        rows = json.loads((out / "cell.json").read_text())["rows"]
        return [r | {"reused": True} for r in rows]
    # Cells run side by side, one core each; DoWhy's jobs too, as `mesaprobe study` runs them (its own joblib
    # workers cannot start inside a pool's worker, and they would change its summation order).
    torch.set_num_threads(1)
    dowhy.gcm.config.default_n_jobs = 1
    report = run_study(cell.config, out, fresh=fresh).report
    rows = []
    for agent in report.agents:
        for cand in agent.candidates:
            t = cand.transport
            sweep = cand.sweep if hasattr(cand.sweep, "detection_shift") else None
            rows.append(
                {
                    "cell": cell.name,
                    "repeat": cell.repeat,
                    **{f"grid.{k}": v for k, v in cell.values.items()},
                    "seed": cell.config.seed,
                    "agent": agent.name,
                    "agent_verdict": agent.verdict.value,
                    "candidate": cand.name,
                    "verdict": cand.verdict.value,
                    "mesa": bool(cand.mesa.meets),
                    "p_value": float(t.p_value),
                    "effect": float(t.effect),
                    "effect_lo": float(t.effect_ci[0]),
                    "effect_hi": float(t.effect_ci[1]),
                    "magnitude_upper": float(t.magnitude_bounds[1]),
                    "detection_shift": None if sweep is None else sweep.detection_shift(),
                }
            )
    write_json_atomic(out / "cell.json", {"config_hash": cell.config_hash, "values": cell.values, "rows": rows})
    return [r | {"reused": False} for r in rows]


def _run_cell_task(task: tuple[Cell, Path, bool], _progress) -> list[dict]:
    cell, out, fresh = task
    return run_cell(cell, out, fresh=fresh)


def run_sweep(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    backend: str = "local",
    workers: int = 1,
    fresh: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[SweepReport, dict[str, Path]]:
    """Run every cell of the sweep in `path` into `out`; write `sweep.parquet`, `sweep.json`, `sweep.html`."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; use one of {list(BACKENDS)}.{suggest(backend, BACKENDS)}")
    check_workers(workers, "--workers")
    base, block, cells = load_sweep(path)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; give sweep --out a directory.")
    rows: list[dict] = []
    done = 0
    if backend == "ray":
        try:
            from mesaprobe.sweep_ray import run_cells_on_ray
        except ImportError as err:
            raise ConfigError(
                f"--backend ray needs Ray ({err}): pip install 'mesaprobe[ray]' (or 'ray[tune]>=2.40,<3')."
            ) from None
        rows = run_cells_on_ray(cells, out, workers=workers, fresh=fresh, progress=progress)
    elif workers == 1:
        for cell in cells:
            rows += run_cell(cell, out / "cells" / cell.name, fresh=fresh)
            done += 1
            if progress:
                progress(done, len(cells))
    else:

        def cell_done(_index: int, cell_rows: list[dict]) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, len(cells))

        tasks = [(cell, out / "cells" / cell.name, fresh) for cell in cells]
        finished = run_in_processes(_run_cell_task, tasks, workers=workers, threads=1, on_result=cell_done)
        rows = [row for cell_rows in finished for row in cell_rows]
    report = SweepReport.from_rows(
        rows, grid=list(block["grid"]), repeats=int(block.get("repeats", 1)), name=str(base.get("name", "sweep"))
    )
    return report, write_sweep(out, report, block)


def write_sweep(out: Path, report: SweepReport, block: Mapping) -> dict[str, Path]:
    """`sweep.parquet` (rows in cell order), `sweep.json`, `sweep.html` and `figures/*.png`, each written atomically."""
    paths = {"parquet": write_parquet_atomic(out / "sweep.parquet", report.rows)}
    paths["json"] = write_json_atomic(out / "sweep.json", report.to_dict() | {"sweep": dict(block)})
    figures = sweep_figures(report)
    for key, (png, _caption) in figures.items():
        paths[key] = write_bytes_atomic(out / "figures" / f"{key}.png", png)
    paths["html"] = write_text_atomic(out / "sweep.html", report.render_html(figures))
    return paths


__all__ = ["Cell", "load_sweep", "run_cell", "run_sweep", "set_path", "write_sweep"]
