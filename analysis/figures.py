"""Figures of a study, drawn with matplotlib (Agg) and returned as PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.results import RegimeBehaviour  # noqa: E402
from core.errors import ConfigError  # noqa: E402
from probes.retargeting import MOVED, STEERED, UNSTEERED, is_control  # noqa: E402

REGIME_COLOURS = {0: "#1f77b4", 1: "#d62728"}
REGIME_LABELS = {0: "s=0 (training)", 1: "s=1 (deployment)"}
_MORE_COLOURS = ("#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
VERDICT_COLOURS = {
    "regime-dependent": "#d62728",
    "transports": "#2e7d32",
    "inconclusive": "#9e9e9e",
    "misaligned": "#8e0000",
    "aligned": "#1b5e20",
}


def regime_colour(s: int) -> str:
    """The colour of regime `s` in every figure (training blue, the first deployment regime red)."""
    return REGIME_COLOURS.get(s, _MORE_COLOURS[(s - 2) % len(_MORE_COLOURS)])


def regime_label(s: int, name: str | None = None) -> str:
    """`s=0 (training)`, `s=1 (deployment)`, or `s=k (name)` for named regimes."""
    if name is None or (s == 0 and name == "train"):
        return REGIME_LABELS.get(s, f"s={s}")
    return f"s={s} ({name})"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def achievement_figure(behaviour: Mapping[str, Sequence[RegimeBehaviour]], threshold: float | None = None) -> bytes:
    """Bars of base return and candidate achievement rates per regime, one panel per agent.

    `behaviour[agent]` holds one `RegimeBehaviour` per regime (`AgentResult.behaviour`);
    `threshold` (the mesa condition's rate) is drawn as a dashed line.
    """
    n = len(behaviour)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False, sharey=True)
    for ax, (agent, regimes) in zip(axes[0], behaviour.items(), strict=True):
        candidates = list(regimes[0].achievement) if regimes else []
        x = np.arange(1 + len(candidates))
        width = 0.76 / max(len(regimes), 1)
        for k, b in enumerate(sorted(regimes, key=lambda b: b.s)):
            vals = [b.base_return, *(b.achievement[c] for c in candidates)]
            offset = (k - (len(regimes) - 1) / 2) * width
            ax.bar(x + offset, vals, width, color=regime_colour(b.s), label=regime_label(b.s, b.regime))
        ax.set_xticks(x, ["base return", *candidates])
        if threshold is not None:
            ax.axhline(threshold, color="k", lw=1, ls="--", label=f"mesa threshold {threshold:g}")
        ax.set_ylim(0, 1.05)
        ax.set_title(agent)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("rate / mean return")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Behaviour by regime")
    fig.tight_layout()
    return _png(fig)


def _panel_grid(n: int, width: float, height: float):
    """A figure with `n` panels, at most 4 per row: `(fig, axes)` with `axes` a 2-d array."""
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    return plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)


def _finish_grid(fig, axes, n: int, title: str) -> bytes:
    """Hide unused panels, put the legend on the first, title the figure and return its PNG."""
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def ym_yb_figure(panels: Sequence[tuple[str, pd.DataFrame]], seed: int = 0) -> bytes:
    """`Y_b` against `Y_m` coloured by regime, one panel per (title, frame with `y_m`, `y_b`, `s`).

    Points are jittered vertically (returns are often 0/1); lines are binned means per regime.
    """
    rng = np.random.default_rng(seed)
    n = len(panels)
    fig, axes = _panel_grid(n, 3.6, 3.2)
    for ax, (title, df) in zip(axes.flat[: len(panels)], panels, strict=True):
        for s in sorted(set(df["s"].astype(int))):
            part = df[df["s"] == s]
            name = str(part["regime"].iloc[0]) if "regime" in df.columns and len(part) else None
            jitter = rng.uniform(-0.04, 0.04, len(part))
            colour = regime_colour(s)
            ax.scatter(part["y_m"], part["y_b"] + jitter, s=6, alpha=0.35, color=colour, label=regime_label(s, name))
            if len(part) >= 10:
                edges = np.unique(np.quantile(part["y_m"], np.linspace(0, 1, 7)))
                if len(edges) > 2:
                    idx = np.clip(np.digitize(part["y_m"], edges[1:-1]), 0, len(edges) - 2)
                    means = part.groupby(idx).agg(x=("y_m", "mean"), y=("y_b", "mean"))
                    ax.plot(means["x"], means["y"], "-o", color=colour, lw=2, ms=4)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("Y_m (probe read-out)")
        ax.set_ylabel("Y_b (episode return)")
        ax.grid(alpha=0.3)
    return _finish_grid(fig, axes, n, "Base outcome against candidate signal, by regime")


def regime_grid_figure(
    rows: Sequence[tuple[str, Sequence[tuple]]],
) -> bytes:
    """The verdict grid: one row per (agent, candidate), one column per deployment regime.

    `rows` holds `(label, cells)` with one `(regime, verdict, effect, (lo, hi), meets[, flagged])`
    per regime; a cell is coloured by its verdict (pale where the candidate does not meet the mesa
    condition there, so the verdict does not count towards the agent's) and shows the effect and
    interval; `flagged` cells (the read-out the verdict conditions on does not transport to that
    regime) are marked ⚠. Rows of agent verdicts (`aligned`, `misaligned`, ...) have NaN effects and
    show the verdict only.
    """
    regimes = [cell[0] for cell in rows[0][1]]
    fig, ax = plt.subplots(figsize=(1.9 + 2.0 * len(regimes), 0.9 + 0.62 * len(rows)))
    for i, (_, cells) in enumerate(rows):
        for j, (_, verdict, effect, (lo, hi), meets, *flagged) in enumerate(cells):
            ax.add_patch(
                plt.Rectangle((j, i), 1, 1, color=VERDICT_COLOURS[verdict], alpha=0.85 if meets else 0.25, lw=0)
            )
            text = verdict if np.isnan(effect) else f"{verdict}\n{effect:+.2f} [{lo:+.2f}, {hi:+.2f}]"
            text += "" if meets else "\n(mesa unmet)"
            text += "\n⚠ read-out fails here" if flagged and flagged[0] else ""
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=7, color="white" if meets else "black")
    ax.set_xlim(0, len(regimes))
    ax.set_ylim(len(rows), 0)
    ax.set_xticks(np.arange(len(regimes)) + 0.5, regimes)
    ax.set_yticks(np.arange(len(rows)) + 0.5, [label for label, _ in rows], fontsize=8)
    ax.xaxis.tick_top()
    for k in range(1, len(rows)):
        ax.axhline(k, color="white", lw=2)
    for k in range(1, len(regimes)):
        ax.axvline(k, color="white", lw=2)
    ax.set_title(
        "Transport verdict per deployment regime (effect against training, interval at level 1 − α/k)",
        fontsize=9,
        pad=22,
    )
    fig.tight_layout()
    return _png(fig)


def regime_probe_figure(rows: Sequence[tuple[str, Sequence[tuple[str, float, float, str]]]]) -> bytes:
    """Probe transport across regimes: one row per read-out, one column per regime.

    `rows` holds `(label, cells)` with one `(regime, out_of_regime_auc, in_regime_auc, status)` per
    regime (`status` `works`, `fails` or `unscored`); the colour is the out-of-regime AUC (the
    probe fitted on the other regimes), a fails cell is outlined in red.
    """
    regimes = [cell[0] for cell in rows[0][1]]
    grid = np.array([[cell[1] for cell in cells] for _, cells in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(2.2 + 1.7 * len(regimes), 1.0 + 0.55 * len(rows)))
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0.5, vmax=1.0, aspect="auto")
    for i, (_, cells) in enumerate(rows):
        for j, (_, out, inside, status) in enumerate(cells):
            text = "n/a" if not np.isfinite(out) else f"{out:.2f}"
            text += f"\n(in {inside:.2f})" if np.isfinite(inside) else ""
            dark = np.isfinite(out) and out < 0.8
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
            if status == "fails":
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="#d62728", lw=2.5))
    ax.set_xticks(np.arange(len(regimes)), regimes)
    ax.set_yticks(np.arange(len(rows)), [label for label, _ in rows], fontsize=8)
    ax.xaxis.tick_top()
    fig.colorbar(im, ax=ax, label="ROC AUC, probe fitted on the other regimes")
    ax.set_title("Probe read-outs across regimes (red outline: the read-out fails there)", fontsize=9, pad=22)
    fig.tight_layout()
    return _png(fig)


def effect_function_figure(panels: Sequence[tuple[str, Mapping, float]]) -> bytes:
    """The conditional regime effect `τ̂(y_m)` with its simultaneous band, one panel per (title, curve, margin).

    `curve` has the lists `y`, `tau`, `lower`, `upper` of `EffectCurve.to_dict()`; `±margin` is
    shaded: a band inside it everywhere is what `transports` certifies.
    """
    n = len(panels)
    fig, axes = _panel_grid(n, 3.6, 3.0)
    for ax, (title, curve, margin) in zip(axes.flat[:n], panels, strict=True):
        y = np.asarray(curve["y"], float)
        ax.axhspan(-margin, margin, color="#2e7d32", alpha=0.12, lw=0, label=f"±margin {margin:g}")
        ax.fill_between(y, curve["lower"], curve["upper"], color="#6a1b9a", alpha=0.25, lw=0, label="simultaneous band")
        ax.plot(y, curve["tau"], color="#6a1b9a", lw=2, label="τ̂(y_m)")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("Y_m (first coordinate)")
        ax.set_ylabel("E[Y_b|Y_m,s=1] − E[Y_b|Y_m,s=0]")
        ax.grid(alpha=0.3)
    return _finish_grid(fig, axes, n, "Conditional regime effect over the overlap of the regimes")


def probe_scores_figure(scores: Mapping[str, pd.DataFrame], kinds: Mapping[str, str] | None = None) -> bytes:
    """Probe scores per candidate and site next to the raw-observation control, one panel per agent.

    `kinds[agent]` is the probes' score kind: `logistic` (ROC AUC, chance 0.5) or `ridge` (R², chance 0).
    A candidate with no score (a constant or too rare target) is marked n/a instead of leaving a gap.
    """
    n = len(scores)
    kinds = kinds or {}
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.4), squeeze=False)
    for ax, (agent, table) in zip(axes[0], scores.items(), strict=True):
        auc = kinds.get(agent, "logistic") == "logistic"
        cands = list(dict.fromkeys(table["candidate"]))
        sites = list(dict.fromkeys(table["site"]))
        width = 0.8 / (len(sites) + 1)
        x = np.arange(len(cands))
        values = pd.to_numeric(table["score"], errors="coerce")
        for k, site in enumerate(sites):
            vals = [float(values[(table.candidate == c) & (table.site == site)].iloc[0]) for c in cands]
            ax.bar(x + k * width, vals, width, label=site)
        ctrl = [
            float(pd.to_numeric(table[table.candidate == c]["control_score"], errors="coerce").iloc[0]) for c in cands
        ]
        ax.bar(x + len(sites) * width, ctrl, width, color="#999999", hatch="//", label="obs (control)")
        chance = 0.5 if auc else 0.0
        ax.axhline(chance, color="k", lw=0.8, ls=":")
        finite = [v for v in [*values, *ctrl] if np.isfinite(v)]
        low = min([chance - 0.1, *finite]) - 0.02
        ax.set_ylim(min(0.4, low) if auc else low, 1.02)
        for i, c in enumerate(cands):
            if not np.isfinite(values[table.candidate == c]).any():
                ax.text(i + 0.4 - width / 2, chance, "n/a: target constant\nor too rare", ha="center", va="bottom",
                        fontsize=7, color="#555555")  # fmt: skip
        ax.set_xticks(x + 0.4 - width / 2, cands)
        ax.set_xlim(-width, len(cands) - 0.2)  # every group in the frame, scored or not
        ax.set_title(agent)
        ax.set_ylabel("out-of-fold ROC AUC" if auc else "out-of-fold R²")
        ax.grid(axis="y", alpha=0.3)
        # Each agent has its own sites (a planted agent's `goal`, a PPO agent's layers): a legend per panel.
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    fig.suptitle("Probe scores against the observation control")
    fig.tight_layout()
    return _png(fig)


def sweep_figure(sweeps: Sequence[tuple[str, pd.DataFrame]]) -> bytes:
    """Power of the transport and behaviour-only tests, and the transport effect with its interval, against λ.

    One column per (title, summary) with the columns of `ShiftSweep.summary`; λ on a log axis
    because detection happens at small shares of deployment episodes.
    """
    n = len(sweeps)
    fig, axes = plt.subplots(2, n, figsize=(4.4 * n, 5.2), squeeze=False, sharex=True)
    for k, (title, table) in enumerate(sweeps):
        lam = table["shift"].to_numpy(float)
        top, bottom = axes[0][k], axes[1][k]
        top.plot(lam, table["power_transport"], "o-", color="#6a1b9a", label="transport test Y_b ⊥ s | Y_m")
        top.plot(lam, table["power_behaviour"], "s--", color="#607d8b", label="behaviour only (return by regime)")
        top.set_ylim(-0.03, 1.03)
        top.set_title(title, fontsize=10)
        top.grid(alpha=0.3)
        bottom.fill_between(lam, table["effect_lo"], table["effect_hi"], color="#6a1b9a", alpha=0.2, lw=0)
        bottom.plot(lam, table["effect"], "o-", color="#6a1b9a")
        bottom.axhline(0, color="k", lw=0.8)
        bottom.set_xscale("log")
        bottom.set_xlabel("λ (share of deployment episodes)")
        bottom.grid(alpha=0.3)
    axes[0][0].set_ylabel("detection rate (power)")
    axes[1][0].set_ylabel("effect on Y_b (median, interval)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("Shift sweep: when does each test see the regime?")
    fig.tight_layout()
    return _png(fig)


def retargeting_figure(panels: dict[str, pd.DataFrame], *, goal: str = "goal") -> bytes:
    """Success against edit strength, one panel per agent: steered, random controls (range), unsteered, goal moved (PNG)."""
    if not panels:
        raise ValueError("retargeting_figure needs at least one table.")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    axes = axes[0]
    for ax, (title, rates) in zip(axes, panels.items(), strict=True):
        scaled = rates.dropna(subset=["scale"])
        steered = scaled[scaled["condition"] == STEERED].sort_values("scale")
        ctl = scaled[is_control(scaled["condition"])].groupby("scale")["success_rate"]
        ax.plot(
            steered["scale"], steered["success_rate"], "o-", color="tab:red", label=f"steered along the {goal} probe"
        )
        if len(ctl.size()):
            lo, hi, mid = ctl.min(), ctl.max(), ctl.mean()
            ax.fill_between(mid.index, lo.values, hi.values, color="tab:gray", alpha=0.3)
            ax.plot(mid.index, mid.values, "s--", color="tab:gray", label="random control (same norm)")
        flat = rates[rates["scale"].isna()].set_index("condition")["success_rate"]
        if UNSTEERED in flat:
            ax.axhline(flat[UNSTEERED], color="black", lw=1, ls=":", label=UNSTEERED)
        if MOVED in flat:
            ax.axhline(flat[MOVED], color="tab:blue", lw=1, ls="-.", label=f"{goal} moved in the input")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(steered["scale"].to_list(), [f"{x:g}" for x in steered["scale"]])
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("edit strength (× the probe's margin)")
        ax.set_ylabel("reached the target cell")
        ax.set_title(title, fontsize=10)
    # One legend for all panels, below them, so that it covers no curve.
    handles, labels = max((ax.get_legend_handles_labels() for ax in axes), key=lambda hl: len(hl[1]))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _png(fig)


def attribution_figure(
    heatmaps: Mapping[str, np.ndarray],
    obs_example=None,
    *,
    channels: Sequence[str] | None = None,
    cmap: str = "magma",
) -> bytes:
    """Heatmaps `{title: (H, W)}` on the grid, one panel each, as PNG bytes (matplotlib Agg, no pyplot).

    With `obs_example` `(C, H, W)` a first panel shows the observation (each cell coloured by its
    last active channel) and every heatmap marks the object cells with their channel's initial
    (`channels` names them; walls, the first channel named `wall`, are left unmarked).
    """
    from matplotlib.figure import Figure

    if not heatmaps:
        raise ConfigError("attribution_figure needs at least one heatmap.")
    maps = {str(t): np.asarray(h, dtype=np.float64) for t, h in heatmaps.items()}
    shapes = {h.shape for h in maps.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ConfigError(f"heatmaps must all be (H, W) of one shape; got {sorted(shapes)}.")
    shape = next(iter(shapes))
    ob = None
    if obs_example is not None:
        ob = np.asarray(obs_example, dtype=np.float64)
        if ob.ndim != 3 or ob.shape[1:] != shape:
            raise ConfigError(f"obs_example must be (C, {shape[0]}, {shape[1]}); got shape {ob.shape}.")
        if channels is not None and len(channels) != ob.shape[0]:
            raise ConfigError(f"{len(channels)} channel names for an observation with {ob.shape[0]} channels.")
    names = (
        list(channels) if channels is not None else ([f"c{i}" for i in range(ob.shape[0])] if ob is not None else [])
    )
    n = len(maps) + (ob is not None)
    h, w = shape
    panel_w = max(2.2, min(5.0, 0.32 * w + 0.8))
    fig = Figure(figsize=(panel_w * n, max(2.0, 0.32 * h + 1.0)))
    axes = fig.subplots(1, n, squeeze=False)[0]
    k = 0
    if ob is not None:
        active = ob > 0.5
        # Each cell shows its last active channel (objects are listed after walls); -1 = empty.
        label = np.where(active.any(axis=0), ob.shape[0] - 1 - np.argmax(active[::-1], axis=0), -1)
        import matplotlib.colors as mcolors

        colours = ["#ffffff", *[f"C{i % 10}" for i in range(ob.shape[0])]]
        axes[0].imshow(label + 1, cmap=mcolors.ListedColormap(colours), vmin=-0.5, vmax=ob.shape[0] + 0.5)
        handles = [axes[0].scatter([], [], marker="s", color=f"C{i % 10}", label=names[i]) for i in range(ob.shape[0])]
        axes[0].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.02), ncol=2)
        axes[0].set_title("observation", fontsize=9)
        k = 1
    marks: dict[tuple[int, int], str] = {}
    if ob is not None:
        for c, name in enumerate(names):
            if name == "wall":
                continue
            for r, col in zip(*np.nonzero(ob[c] > 0.5), strict=True):
                marks[(int(r), int(col))] = marks.get((int(r), int(col)), "") + name[:1].upper()
    for ax, (title, m) in zip(axes[k:], maps.items(), strict=True):
        im = ax.imshow(m, cmap=cmap, vmin=0.0 if m.min() >= 0 else None)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        for (r, col), letter in marks.items():
            ax.text(col, r, letter, ha="center", va="center", fontsize=7, color="cyan", fontweight="bold")
        ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return _png(fig)
