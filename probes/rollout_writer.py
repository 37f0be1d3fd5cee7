"""Where `probes.collect` puts its steps: rows in episode order, activations in memory or streamed to `.npy` files.

Environments run side by side, so steps arrive interleaved across episodes. `RolloutWriter` buffers
them and, whenever `chunk_rows` have arrived, moves every episode that can no longer grow (ids below
the oldest one still running: episodes start in id order) into the output, sorted by `(episode, t)`.
The buffer therefore holds at most about `n_envs × max_steps` rows beyond a chunk, whatever the
number of steps.

With `directory` (`probes.collect(..., out=...)` passes a temporary one that replaces `out` only when
the collection finishes), each site's activations are appended to `activations/<site>.npy` as they
are moved (`NpyAppender`: a fixed-size header rewritten with the final shape at the end), and the
table and `meta.json` are written at the end; `RolloutDataset.load` then reads the activations
through read-only memory maps. Nothing but the table is kept in memory, so memory does not grow
with the activations collected (`benchmarks/collect_memory.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.io import write_json_atomic
from probes.dataset import FORMAT, RolloutDataset, site_file

CHUNK_ROWS = 16_384
"""Rows buffered before finished episodes are moved out (the memory a streamed collection holds)."""


class NpyAppender:
    """A `.npy` file of `(rows, *shape)` written by appending blocks; its header gets the row count on `close`.

    The header is written first with room for any row count (padded, as the format allows), so the
    file is a valid `.npy` array once closed and is never read back while it grows.
    """

    _HEADER_BYTES = 128

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self.file.write(b"\0" * self._HEADER_BYTES)
        self.rows = 0
        self.dtype: np.dtype | None = None
        self.shape: tuple[int, ...] | None = None

    def append(self, block: np.ndarray) -> None:
        """Append `block` `(k, *shape)`; every block has the first block's dtype and row shape."""
        block = np.ascontiguousarray(block)
        if self.dtype is None:
            self.dtype, self.shape = block.dtype, block.shape[1:]
        elif block.dtype != self.dtype or block.shape[1:] != self.shape:
            raise ValueError(f"{self.path.name}: block {block.dtype}{block.shape[1:]} != {self.dtype}{self.shape}")
        self.file.write(block.tobytes())
        self.rows += block.shape[0]

    def close(self, empty_shape: tuple[int, ...] = (0,), empty_dtype: Any = np.float32) -> None:
        """Write the header with the final shape (`(0, *empty_shape)` of `empty_dtype` when nothing came)."""
        dtype = np.dtype(self.dtype if self.dtype is not None else empty_dtype)
        shape = (self.rows, *(self.shape if self.shape is not None else empty_shape))
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
        text = repr(header).encode("latin1")
        room = self._HEADER_BYTES - 10 - 1  # magic (6) + version (2) + length (2), and the closing newline
        if len(text) > room:
            raise ValueError(f"{self.path.name}: shape {shape} does not fit the reserved .npy header")
        body = text + b" " * (room - len(text)) + b"\n"
        self.file.seek(0)
        self.file.write(b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body)
        self.file.close()


class RolloutWriter:
    """Collects steps (rows and per-site activation blocks) and returns them as one `RolloutDataset`."""

    def __init__(self, sites: Iterable[str], directory: str | os.PathLike[str] | None = None, *,
                 chunk_rows: int | None = None) -> None:  # fmt: skip
        self.sites = list(sites)
        self.chunk_rows = int(CHUNK_ROWS if chunk_rows is None else chunk_rows)
        self.peak_rows = 0
        """The most rows this writer has buffered at once (bounded by a chunk plus the episodes still running)."""
        self._dir = None if directory is None else Path(directory)
        self._files: dict[str, str] = {}
        self._appenders: dict[str, NpyAppender] = {}
        if self._dir is not None:
            (self._dir / "activations").mkdir()
            for site in self.sites:
                self._files[site] = f"activations/{site_file(site)}"
                self._appenders[site] = NpyAppender(self._dir / self._files[site])
        self._rows: list[dict[str, Any]] = []
        self._cols: dict[str, list[np.ndarray]] = {}
        self._acts: dict[str, list[np.ndarray]] = {s: [] for s in self.sites}
        self._pending = 0
        self._rest: pd.DataFrame | None = None
        self._rest_acts: dict[str, np.ndarray] = {}
        self._table = _TableSink(None if self._dir is None else self._dir / "table.parquet")
        self._memory: dict[str, list[np.ndarray]] = {s: [] for s in self.sites}

    def add_rows(self, rows: list[dict[str, Any]], acts: Mapping[str, np.ndarray]) -> None:
        """One step's rows (dicts with the same keys in the same order as every other step's) and activations."""
        self._rows.extend(rows)
        self._add_acts(acts, len(rows))

    def add_columns(self, columns: Mapping[str, np.ndarray], acts: Mapping[str, np.ndarray]) -> None:
        """One step's rows as columns (every step with the same keys in the same order) and activations."""
        n = len(next(iter(columns.values())))
        for key, values in columns.items():
            self._cols.setdefault(key, []).append(values)
        self._add_acts(acts, n)

    def _add_acts(self, acts: Mapping[str, np.ndarray], n: int) -> None:
        for site in self.sites:
            self._acts[site].append(acts[site])
        self._pending += n

    def ready(self) -> bool:
        """Whether a chunk's worth of rows is buffered (call `flush` with the oldest running episode)."""
        return self._pending >= self.chunk_rows

    def flush(self, running_from: int | None) -> None:
        """Move out every buffered episode with an id below `running_from` (None: every episode), in order."""
        frames = [] if self._rest is None else [self._rest]
        if self._rows:
            frames.append(pd.DataFrame(self._rows))
        if self._cols:
            frames.append(pd.DataFrame({k: np.concatenate(v) for k, v in self._cols.items()}))
        if not frames:
            return
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        self.peak_rows = max(self.peak_rows, len(frame))
        acts = {s: np.concatenate(([self._rest_acts[s]] if self._rest is not None else []) + self._acts[s])
                for s in self.sites}  # fmt: skip
        self._rows, self._cols, self._pending = [], {}, 0
        self._acts = {s: [] for s in self.sites}
        episode = frame["episode"].to_numpy()
        order = np.lexsort((frame["t"].to_numpy(), episode))
        n_out = len(order) if running_from is None else int(np.searchsorted(episode[order], running_from))
        out, keep = order[:n_out], order[n_out:]
        if n_out:
            self._table.append(_with_return_to_go(frame.iloc[out].reset_index(drop=True)))
            for site in self.sites:
                block = acts[site][out]
                if self._appenders:
                    self._appenders[site].append(block)
                else:
                    self._memory[site].append(block)
        self._rest = frame.iloc[keep].reset_index(drop=True) if len(keep) else None
        self._rest_acts = {s: acts[s][keep] for s in self.sites} if len(keep) else {}

    def close(self) -> None:
        """Close the open files (after a failure; `finish` closes them itself)."""
        for appender in self._appenders.values():
            appender.file.close()
        self._table.close()

    def finish(self, meta: Mapping[str, Any]) -> RolloutDataset | None:
        """Flush everything: the dataset in memory, or None once it is written to `directory`."""
        self.flush(None)
        table = self._table.finish()
        if self._dir is None:
            acts = {s: np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
                    for s, chunks in self._memory.items()}  # fmt: skip
            return RolloutDataset(table, acts, dict(meta))
        for appender in self._appenders.values():
            appender.close()
        write_json_atomic(self._dir / "meta.json", {"format": FORMAT, "sites": self._files, **dict(meta)})
        return None


def _with_return_to_go(chunk: pd.DataFrame) -> pd.DataFrame:
    """`chunk` (whole episodes, in `(episode, t)` order) with `return_to_go`, the base objective still to come."""
    # Y_b at a step is the base objective still to come, so it sums base_reward, not the training reward.
    backwards = chunk[["episode", "base_reward"]].iloc[::-1]
    chunk["return_to_go"] = backwards.groupby("episode")["base_reward"].cumsum().iloc[::-1].to_numpy()
    return chunk


class _TableSink:
    """The rows moved out, kept as frames or appended to a Parquet file as row groups.

    Streaming needs every chunk to have the first chunk's columns and types, as the built-in worlds'
    chunks do; an environment whose `info` changes its keys from episode to episode makes the sink
    read back what it wrote and keep the rest in memory (written at the end).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._frames: list[pd.DataFrame] = []
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def append(self, chunk: pd.DataFrame) -> None:
        if self.path is None or self._frames:
            self._frames.append(chunk)
            return
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.path, self._schema)
        elif not table.schema.equals(self._schema, check_metadata=False):
            self._writer.close()
            self._writer = None
            self._frames = [pd.read_parquet(self.path), chunk]
            return
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish(self) -> pd.DataFrame | None:
        """The whole table in memory, or None once it is written to `path`."""
        frames = self._frames
        if self.path is None:
            return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if self._writer is None and not frames:  # nothing was collected
            frames = [pd.DataFrame()]
        if frames:
            pd.concat(frames, ignore_index=True).to_parquet(self.path, index=False)
        self.close()
        return None
