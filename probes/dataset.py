"""The rollout dataset: one row per step plus one activation matrix per site, stored in open formats."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.errors import ConfigError, DataError, unknown_name
from core.io import atomic_directory, write_json_atomic

FORMAT = "mesaprobe-rollouts/1"
REQUIRED = ("run", "episode", "t", "s", "shift", "action", "reward", "return_to_go")


def site_file(site: str) -> str:
    """The file name of a site's activations (`<site>.npy`, slashes replaced)."""
    return site.replace("/", "_") + ".npy"


@dataclass(frozen=True)
class RolloutDataset:
    """Columnar rollouts: `table` (one row per step) and `activations[site]` `(n_rows, d)` aligned to it.

    Columns: `run`, `episode` (unique within the dataset), `t`, `s`, `shift`, `action`,
    `reward` (the training reward), `base_reward` (the base objective; absent in older datasets),
    `return_to_go` (of `base_reward`: the base objective still to come), ground-truth columns from the environment and `achieved_<cand>`
    (candidate achieved by this step). Site `obs` holds flattened observations. Holds no model
    reference; `select`, `filter_episodes` and `split` return new datasets.
    """

    table: pd.DataFrame
    activations: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED if c not in self.table.columns]
        if missing:
            raise DataError(f"rollout table lacks required columns {missing}.")
        for site, arr in self.activations.items():
            if arr.shape[0] != len(self.table):
                raise DataError(f"activation site {site!r} has {arr.shape[0]} rows, table has {len(self.table)}.")

    def __len__(self) -> int:
        return len(self.table)

    @property
    def sites(self) -> list[str]:
        """Names of the activation sites."""
        return list(self.activations)

    @property
    def candidates(self) -> list[str]:
        """Candidate objectives recorded as `achieved_<name>` columns."""
        return [c[len("achieved_") :] for c in self.table.columns if c.startswith("achieved_")]

    @property
    def n_episodes(self) -> int:
        """Number of distinct episodes."""
        return int(self.table["episode"].nunique())

    def site(self, name: str) -> np.ndarray:
        """The `(n_rows, d)` activations of one site (clear error for unknown names)."""
        if name not in self.activations:
            raise unknown_name("activation site", name, self.activations)
        return self.activations[name]

    def select(self, rows: np.ndarray) -> RolloutDataset:
        """A new dataset with the rows given by a boolean mask or integer index."""
        idx = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        return RolloutDataset(
            self.table.iloc[idx].reset_index(drop=True),
            {k: v[idx] for k, v in self.activations.items()},
            dict(self.meta),
        )

    def filter_episodes(self, episodes: Iterable[int]) -> RolloutDataset:
        """A new dataset with only the given episode ids."""
        return self.select(self.table["episode"].isin(list(episodes)).to_numpy())

    def first_steps(self) -> RolloutDataset:
        """One row per episode: the step `t == 0` (the agent's view before acting)."""
        return self.select((self.table["t"] == 0).to_numpy())

    def split(self, test_fraction: float = 0.25, seed: int = 0) -> tuple[RolloutDataset, RolloutDataset]:
        """Split by episode (never by step) into `(train, test)`."""
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}.")
        eps = np.sort(self.table["episode"].unique())
        rng = np.random.default_rng(seed)
        test = set(rng.choice(eps, size=max(1, int(round(test_fraction * len(eps)))), replace=False).tolist())
        mask = self.table["episode"].isin(test).to_numpy()
        return self.select(~mask), self.select(mask)

    def episodes(self) -> pd.DataFrame:
        """One row per episode: `run`, `episode`, `s`, `regime`, `shift`, `length`, `return`, `train_return`, `achieved_<cand>`.

        `return` is the base objective: the sum of `base_reward` when the table has that column
        (datasets collected before it existed fall back to `reward`); `train_return` is the sum of
        the training `reward`.
        """
        tab = self.table
        grouped = tab.groupby("episode", sort=True)
        out = grouped.agg(run=("run", "first"), s=("s", "first"), shift=("shift", "first"), length=("t", "size"))
        if "regime" in tab.columns:  # datasets collected before regimes had names lack it
            out.insert(2, "regime", grouped["regime"].first())
        out["return"] = grouped["base_reward" if "base_reward" in tab.columns else "reward"].sum()
        out["train_return"] = grouped["reward"].sum()
        for cand in self.candidates:
            out[f"achieved_{cand}"] = grouped[f"achieved_{cand}"].max().astype(bool)
        return out.reset_index()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write `table.parquet`, `activations/<site>.npy` and `meta.json` into directory `path` atomically."""
        path = Path(path)
        with atomic_directory(path) as tmp:
            self.table.to_parquet(tmp / "table.parquet", index=False)
            (tmp / "activations").mkdir()
            files = {}
            for site, arr in self.activations.items():
                files[site] = f"activations/{site_file(site)}"
                np.save(tmp / files[site], np.ascontiguousarray(arr), allow_pickle=False)
            write_json_atomic(tmp / "meta.json", {"format": FORMAT, "sites": files, **dict(self.meta)})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> RolloutDataset:
        """Read a dataset written by `save` or `collect(..., out=)` (no pickle is ever loaded).

        With `mmap` (the default) the activations are read-only memory maps of their `.npy` files: rows
        are read from disk when used, so a dataset larger than memory can be opened and subsampled.
        """
        path = Path(path)
        meta_file = path / "meta.json"
        if not meta_file.is_file():
            raise ConfigError(
                f"{path} is not a rollout dataset (no meta.json); create one with probes.collect(...).save(DIR)."
            )
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != FORMAT:
            raise ConfigError(f"{path}: unsupported dataset format {meta.get('format')!r}; expected {FORMAT!r}.")
        files = meta.pop("sites")
        meta.pop("format")
        # Column by column, releasing Arrow's buffers as it goes: a long table is not held twice while it loads.
        table = pq.read_table(path / "table.parquet").to_pandas(split_blocks=True, self_destruct=True)
        mode = "r" if mmap else None
        acts = {site: np.load(path / rel, allow_pickle=False, mmap_mode=mode) for site, rel in files.items()}
        return cls(table, acts, meta)

    @staticmethod
    def concat(datasets: Iterable[RolloutDataset]) -> RolloutDataset:
        """Stack datasets row-wise, renumbering episodes so they stay unique; sites must match."""
        datasets = list(datasets)
        if not datasets:
            raise DataError("concat needs at least one dataset.")
        sites = datasets[0].sites
        tables, offset = [], 0
        for ds in datasets:
            if ds.sites != sites:
                raise DataError(f"cannot concat datasets with different sites: {sites} vs {ds.sites}.")
            tab = ds.table.copy()
            codes, _ = pd.factorize(tab["episode"], sort=True)
            tab["episode"] = codes + offset
            offset += int(codes.max()) + 1 if len(codes) else 0
            tables.append(tab)
        acts = {s: np.concatenate([ds.activations[s] for ds in datasets]) for s in sites}
        return RolloutDataset(pd.concat(tables, ignore_index=True), acts, dict(datasets[0].meta))

    def __repr__(self) -> str:
        return (
            f"RolloutDataset(rows={len(self)}, episodes={self.n_episodes}, candidates={self.candidates}, "
            f"sites={{{', '.join(f'{k}: {v.shape[1]}' for k, v in self.activations.items())}}})"
        )

    def _repr_html_(self) -> str:
        eps = self.episodes()
        summary = eps.groupby("s").agg(
            episodes=("episode", "size"),
            mean_return=("return", "mean"),
            **{f"{c}_rate": (f"achieved_{c}", "mean") for c in self.candidates},
        )
        sites = "".join(f"<li><code>{k}</code>: {v.shape[1]} dims</li>" for k, v in self.activations.items())
        return (
            f"<b>RolloutDataset</b>: {len(self)} steps, {self.n_episodes} episodes<ul>{sites}</ul>{summary.to_html()}"
        )
