"""The Ray backend of `mesaprobe sweep`: each cell a Ray Tune trial (`--backend ray`).

Ray is the optional extra `mesaprobe[ray]`. Without `RAY_ADDRESS` a local Ray is started with
`num_cpus=workers`; with it, the sweep joins that cluster. Every trial runs `mesaprobe.sweep.run_cell`
on one CPU (`tune.with_resources`) into the same `OUT/cells/<cell>/` directories as the local
backend, and hands its rows back through Tune's own reporting (`tune.report`), so both backends
write the same `sweep.parquet`. On a cluster, `OUT` must be a path every node can write (a shared
file system), as for any Tune experiment that writes its own files.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

# Tune's own console reporter prints its experiment paths and tables even at verbose=0; the sweep draws its own
# progress bar, and the classic reporter is silent at verbose=0.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import ray  # noqa: E402  (the optional extra: mesaprobe.sweep turns its absence into a ConfigError)
from ray import tune  # noqa: E402

from core.errors import MesaprobeError  # noqa: E402

_PROGRESS: dict[int, Callable[[int, int], None]] = {}
"""The progress functions of running sweeps, by key: Tune pickles its callbacks with the experiment's state,
and a terminal's progress bar cannot be pickled."""


class _CellProgress(tune.Callback):
    """Reports each finished trial to the sweep's progress function."""

    def __init__(self, key: int, total: int) -> None:
        self.key, self.total, self.done = key, total, 0

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.done += 1
        report = _PROGRESS.get(self.key)
        if report is not None:
            report(self.done, self.total)


def _trial(config: dict, *, cells, out: str, fresh: bool) -> None:
    """One Tune trial: run cell `config["cell"]` and report its rows."""
    from mesaprobe.sweep import run_cell

    cell = cells[config["cell"]]
    rows = run_cell(cell, Path(out) / "cells" / cell.name, fresh=fresh)
    # One JSON string: Tune flattens nested metrics, and rows must come back exactly as run_cell made them.
    tune.report({"cell": config["cell"], "rows": json.dumps(rows)})


def run_cells_on_ray(
    cells: Sequence,
    out: Path,
    *,
    workers: int,
    fresh: bool,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Run every cell as a Ray Tune trial (at most `workers` at once, one CPU each); return all rows.

    A cell that fails raises `MesaprobeError` naming the cell and Ray's error; the other cells' directories
    stay, so a rerun reuses them.
    """
    key = id(cells)
    if progress is not None:
        _PROGRESS[key] = progress
    started = not ray.is_initialized()
    if started:
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=False, logging_level=logging.ERROR)  # an existing cluster: its resources, not ours
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        trainable = tune.with_resources(
            tune.with_parameters(_trial, cells=list(cells), out=str(out.resolve()), fresh=fresh), {"cpu": 1}
        )
        tuner = tune.Tuner(
            trainable,
            param_space={"cell": tune.grid_search(list(range(len(cells))))},
            tune_config=tune.TuneConfig(max_concurrent_trials=workers),
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str((out / "ray").resolve()),
                verbose=0,
                callbacks=[_CellProgress(key, len(cells))],
            ),
        )
        results = tuner.fit()
    finally:
        _PROGRESS.pop(key, None)
        if started:
            ray.shutdown()
    failed = [(cells[r.config["cell"]].name, r.error) for r in results if r.error is not None]
    if failed:
        name, error = failed[0]
        more = f" (and {len(failed) - 1} more cells)" if len(failed) > 1 else ""
        raise MesaprobeError(f"sweep cell {name} failed on Ray{more}: {error}")
    return [row for r in results for row in json.loads(r.metrics["rows"])]


__all__ = ["run_cells_on_ray"]
