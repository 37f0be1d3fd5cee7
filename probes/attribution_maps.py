"""Summaries of input attributions for reports: heatmaps per cell, the top cells, the share of each channel.

`candidate_attributions` runs the study's attribution section: for the chosen action and each
candidate's read-out, where in the first observation of an episode it looks
(`probes.attribution.attribute_inputs`), as a typed `CandidateAttributions`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import AgentError, ConfigError, DataError
from core.results import Skipped
from probes.attribution import ReadoutModule, attribute_inputs, linear_readout
from probes.candidates import CandidateProbes

__all__ = [
    "CandidateAttributions",
    "TargetAttribution",
    "candidate_attributions",
    "cell_heatmap",
    "channel_breakdown",
    "channel_heatmaps",
    "top_cells",
]


@dataclass(frozen=True)
class TargetAttribution:
    """Where one target (the chosen action, or a candidate's read-out at `site`) looks: its `top_cells`
    (`rank`, `row`, `col`, `value`, `share`) and the share of each input channel (`channels`)."""

    site: str | None
    top_cells: pd.DataFrame
    channels: pd.DataFrame

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {
            "site": self.site,
            "top_cells": self.top_cells.to_dict(orient="records"),
            "channels": self.channels.to_dict(orient="records"),
        }

    def _repr_html_(self) -> str:
        where = "the chosen action" if self.site is None else f"the read-out at <code>{html.escape(self.site)}</code>"
        return f"<b>Attribution</b> of {where}{self.top_cells.to_html(index=False)}{self.channels.to_html(index=False)}"


@dataclass(frozen=True)
class CandidateAttributions:
    """The attribution section of one agent: per target (`action`, then each candidate) a
    `TargetAttribution` or why it was skipped, the `(H, W)` heatmaps by panel title, and the
    example observation `(C, H, W)` the figure draws beside them."""

    targets: Mapping[str, TargetAttribution | Skipped]
    n_obs: int
    """First observations (one per episode) the attributions average over."""
    heatmaps: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False)
    example_obs: np.ndarray | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        """Plain-JSON form: `{target: {...}}`."""
        return {name: t.to_dict() for name, t in self.targets.items()}

    def _repr_html_(self) -> str:
        rows = []
        for name, t in self.targets.items():
            if isinstance(t, Skipped):
                rows.append(f"<tr><td>{name}</td><td colspan=2>{t._repr_html_()}</td></tr>")
                continue
            cell = t.top_cells.iloc[0]
            chan = t.channels.sort_values("share").iloc[-1]
            rows.append(
                f"<tr><td>{name}</td><td>({int(cell['row'])}, {int(cell['col'])}) {cell['share']:.2f}</td>"
                f"<td>{chan['channel']} {chan['share']:.2f}</td></tr>"
            )
        return (
            "<b>Attribution</b><table><tr><th>target</th><th>top cell (share)</th><th>top channel (share)</th></tr>"
            + "".join(rows)
            + "</table>"
        )


def _check_attr(attr, channels: Sequence[str] | None) -> np.ndarray:
    a = np.asarray(attr, dtype=np.float64)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ConfigError(f"attributions are (B, C, H, W) or (C, H, W); got shape {a.shape}.")
    if channels is not None and len(channels) != a.shape[1]:
        raise ConfigError(f"{len(channels)} channel names for attributions with {a.shape[1]} channels.")
    return a


def cell_heatmap(attr, channels: Sequence[str] | None = None) -> np.ndarray:
    """`(H, W)`: mean over the batch of |attribution|, summed over channels (how much each cell matters)."""
    return np.abs(_check_attr(attr, channels)).sum(axis=1).mean(axis=0)


def top_cells(heatmap, k: int = 5) -> pd.DataFrame:
    """The `k` cells of an `(H, W)` heatmap with the largest values: `rank`, `row`, `col`, `value`, `share`.

    `share` is the cell's fraction of the map's total; ties go to the earlier cell in row-major order.
    """
    h = np.asarray(heatmap, dtype=np.float64)
    if h.ndim != 2:
        raise ConfigError(f"a heatmap is (H, W); got shape {h.shape}.")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}.")
    flat = h.reshape(-1)
    idx = np.argsort(-flat, kind="stable")[:k]
    total = float(np.abs(flat).sum())
    rows, cols = np.unravel_index(idx, h.shape)
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(idx) + 1),
            "row": rows.astype(int),
            "col": cols.astype(int),
            "value": flat[idx],
            "share": flat[idx] / total if total > 0 else np.zeros(len(idx)),
        }
    )


def channel_heatmaps(attr, channels: Sequence[str]) -> dict[str, np.ndarray]:
    """`{channel: (H, W)}`: mean over the batch of |attribution| in each channel."""
    a = np.abs(_check_attr(attr, channels)).mean(axis=0)
    return {name: a[c] for c, name in enumerate(channels)}


def channel_breakdown(attr, channels: Sequence[str]) -> pd.DataFrame:
    """One row per channel: `total` |attribution| (batch mean), its `share`, and the channel's top cell."""
    maps = channel_heatmaps(attr, channels)
    grand = sum(float(m.sum()) for m in maps.values())
    rows = []
    for name, m in maps.items():
        r, c = np.unravel_index(int(np.argmax(m)), m.shape)
        total = float(m.sum())
        rows.append(
            {
                "channel": name,
                "total": total,
                "share": total / grand if grand > 0 else 0.0,
                "top_row": int(r),
                "top_col": int(c),
                "top_value": float(m[r, c]),
            }
        )
    return pd.DataFrame(rows)


def candidate_attributions(
    agent,
    data,
    probes: CandidateProbes,
    obs_shape: tuple[int, int, int],
    channels: Sequence[str],
    *,
    n_obs: int = 64,
    top_k: int = 5,
    seed: int = 0,
) -> CandidateAttributions | Skipped:
    """Where each candidate's read-out (and the action) looks in the first observation of episodes.

    For every candidate, the study's probe at its best site (`probes.probe(candidate)`, fitted on
    all episodes' first-step activations of `data`; not refitted here) is read as a linear
    read-out, and integrated gradients attribute its logit, and the chosen action's logit, to input
    cells on up to `n_obs` first observations of `data` (a `RolloutDataset` that stored site `obs`). Returns a `CandidateAttributions` (per target a
    `TargetAttribution`, or `Skipped` with the reason: a non-differentiable agent, a one-class
    label), or `Skipped` when the rollouts hold no observations.
    """
    first = data.first_steps()
    if "obs" not in first.activations:
        return Skipped("the rollouts did not store observations")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(first), size=min(n_obs, len(first)), replace=False))
    obs = first.site("obs")[rows].reshape(-1, *obs_shape)
    episodes = data.episodes().set_index("episode").loc[first.table["episode"].to_numpy()]
    summary: dict[str, TargetAttribution | Skipped] = {}
    heatmaps: dict[str, np.ndarray] = {}
    targets: list[tuple[str, str | ReadoutModule, str | None]] = [("action", "action", None)]
    for cand, site in probes.best_site.items():
        y = episodes[f"achieved_{cand}"].to_numpy(float)
        if y.min() == y.max():
            summary[cand] = Skipped(f"{cand} is {'always' if y[0] else 'never'} achieved: no probe", {"site": site})
            continue
        try:
            w, b = linear_readout(probes.probe(cand, site))
        except DataError as err:  # a non-linear probe: no single direction to attribute
            summary[cand] = Skipped(str(err), {"site": site})
            continue
        targets.append((cand, ReadoutModule(agent, site, w, b), site))
    for name, target, site in targets:
        try:
            attr = attribute_inputs(agent, obs, target=target)
        except AgentError as err:
            summary[name] = Skipped(str(err), {"site": site})
            continue
        heat = cell_heatmap(attr)
        heatmaps[f"{name}" if site is None else f"{name} (probe at {site})"] = heat
        summary[name] = TargetAttribution(site, top_cells(heat, top_k), channel_breakdown(attr, channels))
    return CandidateAttributions(summary, len(obs), heatmaps, obs[0])
