"""Figures of how agents trained: the learning curve per regime met in training."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.ticker
import pandas as pd

from analysis.figures import _png, plt, regime_colour, regime_label


def learning_curve_figure(curves: Mapping[str, pd.DataFrame], *, window: int = 100) -> bytes:
    """Training return against environment steps, one line per regime met in training, one panel per agent.

    `curves[agent]` has one row per training episode (`training.learning_curve.COLUMNS`); each line is
    the mean return over that regime's last `window` episodes.
    """
    n = len(curves)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.2), squeeze=False, sharey=True)
    for ax, (agent, curve) in zip(axes[0], curves.items(), strict=True):
        for (s, regime), g in curve.groupby(["s", "regime"], sort=True):
            g = g.sort_values("timesteps", kind="stable")
            mean = g["return"].rolling(window, min_periods=1).mean()
            ax.plot(
                g["timesteps"], mean, color=regime_colour(int(s)), label=f"{regime_label(int(s), regime)}: {len(g)} ep."
            )
        ax.set_title(agent, fontsize=10)
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))  # 40k, not 40000
        ax.set_xlabel("environment steps")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel(f"training return\n(mean of the last {window} episodes)")
    fig.suptitle("Learning curves by regime")
    fig.tight_layout()
    return _png(fig)


__all__ = ["learning_curve_figure"]
