"""Steering: edit an activation during rollouts and see whether behaviour follows.

An `Intervention` is a small serialisable config — a module name (`site`), a `direction` over the
module's output (flattened per row), a `scale`, optional `positions` (flat indices the direction
covers; the rest of the output is left alone) and a `mode` (`add` the scaled direction, or `set`
those entries to it). `steer(agent, interventions)` applies them through forward hooks while its
block runs, so `collect` and any other rollout code run the steered agent unchanged; the hooks are
removed on exit, also after an exception.

`steering_rate` measures it: the share of episodes in which a steered agent does what the
intervention should make it do (e.g. reach the cell the edited goal representation names), next
to the same rollouts under `random_control` interventions — random directions of the same norm at
the same positions — and unsteered.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from core.errors import ConfigError, DataError
from core.hooks import forward_hooks
from core.io import write_json_atomic
from core.modules import resolve_modules
from probes.collect import collect

MODES: tuple[str, ...] = ("add", "set")


@dataclass(frozen=True)
class Intervention:
    """Edit `site`'s output: `out[positions] += scale * direction` (`add`) or `= scale * direction` (`set`).

    `direction` has one value per position (or per output element when `positions` is None);
    outputs are flattened per row as `probes.capture` records them, so a probe's weight vector is
    a direction as it stands.
    """

    site: str
    direction: tuple[float, ...]
    scale: float = 1.0
    positions: tuple[int, ...] | None = None
    mode: Literal["add", "set"] = "add"
    name: str = "intervention"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {list(MODES)}, got {self.mode!r}.")
        if not self.direction:
            raise ConfigError("direction must hold at least one value.")
        if not np.all(np.isfinite(self.direction)) or not np.isfinite(self.scale):
            raise ConfigError("direction and scale must be finite.")
        if self.positions is not None:
            if len(self.positions) != len(self.direction):
                raise ConfigError(
                    f"positions has {len(self.positions)} entries but direction {len(self.direction)}; "
                    f"give one direction value per position."
                )
            if min(self.positions) < 0 or len(set(self.positions)) != len(self.positions):
                raise ConfigError("positions must be distinct non-negative flat indices.")

    @classmethod
    def at_cells(
        cls, site: str, cells: Sequence[tuple[int, int]], shape: tuple[int, int, int], *, channel: int = 0, **kw
    ) -> Intervention:
        """An intervention on grid cells `(row, col)` of channel `channel` of a `(C, H, W)` output."""
        c, h, w = shape
        for r, col in cells:
            if not (0 <= r < h and 0 <= col < w) or not 0 <= channel < c:
                raise ConfigError(f"cell ({r}, {col}) of channel {channel} is outside the output's shape {shape}.")
        positions = tuple(channel * h * w + r * w + col for r, col in cells)
        return cls(site=site, direction=(1.0,) * len(cells), positions=positions, **kw)

    @property
    def norm(self) -> float:
        """`‖scale · direction‖`."""
        return float(abs(self.scale) * np.linalg.norm(self.direction))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        out = asdict(self)
        out["direction"] = list(self.direction)
        out["positions"] = None if self.positions is None else list(self.positions)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Intervention:
        """Inverse of `to_dict` (unknown keys are an error naming them)."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown intervention fields {unknown}; fields: {sorted(known)}.")
        data = dict(data)
        data["direction"] = tuple(float(x) for x in data.get("direction", ()))
        if data.get("positions") is not None:
            data["positions"] = tuple(int(p) for p in data["positions"])
        return cls(**data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON config atomically."""
        return write_json_atomic(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Intervention:
        """Read a config written by `save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


CONTROLS: tuple[str, ...] = ("gaussian", "permute")


def random_control(intervention: Intervention, seed: int = 0, kind: str = "gaussian") -> Intervention:
    """The same intervention with a random direction of the same norm.

    `gaussian`: a Gaussian direction rescaled to the norm (for dense directions such as a probe's
    weights). `permute`: the direction's own values shuffled across the positions (same norm and
    same values; a one-hot "goal here" edit becomes "goal at a random place").
    """
    if kind not in CONTROLS:
        raise ConfigError(f"kind must be one of {list(CONTROLS)}, got {kind!r}.")
    rng = np.random.default_rng(seed)
    if kind == "permute":
        d = rng.permutation(np.asarray(intervention.direction, float))
    else:
        d = rng.normal(size=len(intervention.direction))
        d *= np.linalg.norm(intervention.direction) / np.linalg.norm(d)
    return replace(intervention, direction=tuple(float(x) for x in d), name=f"{intervention.name} ({kind} {seed})")


class _OutputHook:
    """A forward hook that edits a module's output (the first element of a tuple output)."""

    def __call__(self, _module, _inputs, output):
        if isinstance(output, (tuple, list)):
            return type(output)([self.edit(output[0]), *output[1:]])
        return self.edit(output)

    def edit(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class _Edit(_OutputHook):
    """One intervention as a forward hook; its tensors are built once and moved to the output's device once."""

    def __init__(self, iv: Intervention) -> None:
        self.iv = iv
        self.delta = torch.as_tensor(iv.direction, dtype=torch.float64) * iv.scale
        self.idx = None if iv.positions is None else torch.as_tensor(iv.positions)

    def _check(self, width: int) -> None:
        top = len(self.delta) - 1 if self.idx is None else int(self.idx.max())
        if (self.idx is None and len(self.delta) != width) or top >= width:
            raise DataError(
                f"intervention {self.iv.name!r} on {self.iv.site!r} covers {len(self.delta)} values up to index {top}, "
                f"but the output has {width} values per row."
            )

    def edit(self, out: torch.Tensor) -> torch.Tensor:
        flat = out.reshape(out.shape[0], -1).clone()
        self._check(flat.shape[1])
        if self.delta.device != flat.device or self.delta.dtype != flat.dtype:
            self.delta = self.delta.to(flat.device, flat.dtype)
            self.idx = None if self.idx is None else self.idx.to(flat.device)
        cols = slice(None) if self.idx is None else self.idx
        if self.iv.mode == "add":
            flat[:, cols] = flat[:, cols] + self.delta
        else:
            flat[:, cols] = self.delta.expand(flat.shape[0], -1)
        return flat.reshape(out.shape)


@contextlib.contextmanager
def steer(agent, interventions: Intervention | Sequence[Intervention]) -> Iterator[None]:
    """Apply `interventions` to `agent` (an `Agent` or `nn.Module`) through forward hooks while the block runs."""
    ivs = [interventions] if isinstance(interventions, Intervention) else list(interventions)
    modules = resolve_modules(agent, [iv.site for iv in ivs])
    with forward_hooks([(modules[iv.site], _Edit(iv)) for iv in ivs]):
        yield


class _RowEdit(_OutputHook):
    """Per-row interventions on one site as one forward hook: row `i` of every batch gets `ivs[i]` (or nothing)."""

    def __init__(self, ivs: Sequence[Intervention | None]) -> None:
        self.ivs = list(ivs)
        self.tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _build(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, width = flat.shape
        add = torch.zeros(n, width, dtype=torch.float64)
        mask = torch.zeros(n, width, dtype=torch.bool)
        vals = torch.zeros(n, width, dtype=torch.float64)
        for i, iv in enumerate(self.ivs):
            if iv is None:
                continue
            edit = _Edit(iv)
            edit._check(width)
            cols = slice(None) if edit.idx is None else edit.idx
            if iv.mode == "add":
                add[i, cols] += edit.delta
            else:
                mask[i, cols] = True
                vals[i, cols] = edit.delta
        return add.to(flat.device, flat.dtype), mask.to(flat.device), vals.to(flat.device, flat.dtype)

    def edit(self, out: torch.Tensor) -> torch.Tensor:
        flat = out.reshape(out.shape[0], -1)
        if flat.shape[0] != len(self.ivs):
            raise DataError(
                f"steer_rows holds {len(self.ivs)} per-row interventions but the batch has {flat.shape[0]} rows; "
                f"call the agent on exactly one row per intervention."
            )
        if self.tensors is None or self.tensors[0].shape != flat.shape:
            self.tensors = self._build(flat)
        add, mask, vals = self.tensors
        return torch.where(mask, vals, flat + add).reshape(out.shape)


@contextlib.contextmanager
def steer_rows(agent, interventions: Sequence[Intervention | None]) -> Iterator[None]:
    """Row `i` of every forward pass gets `interventions[i]` (`None`: left alone), for batched rollouts of many edits.

    All interventions that are not `None` must be on one site (the batch is one call). Use it to
    roll out one episode per row, each with its own edit (a different target cell per maze).
    """
    sites = {iv.site for iv in interventions if iv is not None}
    if len(sites) > 1:
        raise ConfigError(f"steer_rows edits one site per call; got {sorted(sites)}.")
    if not sites:
        yield
        return
    site = sites.pop()
    with forward_hooks([(resolve_modules(agent, [site])[site], _RowEdit(interventions))]):
        yield


def steering_rate(
    agent,
    env,
    intervention: Intervention,
    success: Callable[[pd.DataFrame], bool],
    *,
    n_episodes: int = 100,
    n_controls: int = 3,
    control: str = "gaussian",
    shift: float = 1.0,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Share of episodes where `success(episode_rows)` holds: steered, under `n_controls` random controls, and unsteered.

    Every condition runs the same `n_episodes` (same seeds, so the same mazes or rooms);
    `success` gets one episode's rows of the rollout table (with the environment's ground-truth
    columns such as `agent_row`, `agent_col`); `control` is `random_control`'s kind. Returns one row per condition: `condition`,
    `success_rate`, `n_episodes`, `norm`.
    """
    if n_episodes < 1 or n_controls < 0:
        raise ConfigError(f"n_episodes must be >= 1 and n_controls >= 0, got {n_episodes}, {n_controls}.")
    conditions: list[tuple[str, Intervention | None]] = [("unsteered", None), ("steered", intervention)]
    conditions += [
        (f"random control {k}", random_control(intervention, seed=seed + k, kind=control)) for k in range(n_controls)
    ]
    rows = []
    for label, iv in conditions:
        ctx = steer(agent, iv) if iv is not None else contextlib.nullcontext()
        with ctx:
            data = collect(
                agent, env, shift=shift, n_episodes=n_episodes, seed=seed, env_kwargs=env_kwargs, store_obs=False
            )
        hits = [bool(success(ep)) for _, ep in data.table.groupby("episode", sort=True)]
        rows.append(
            {
                "condition": label,
                "success_rate": float(np.mean(hits)),
                "n_episodes": len(hits),
                "norm": 0.0 if iv is None else iv.norm,
            }
        )
    return pd.DataFrame(rows)


__all__ = ["CONTROLS", "MODES", "Intervention", "random_control", "steer", "steer_rows", "steering_rate"]
