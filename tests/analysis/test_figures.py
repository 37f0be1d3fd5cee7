"""Figures that must draw what the data hold: regression probes, unscored candidates, learning curves by regime."""

import io

import numpy as np
import pandas as pd
from PIL import Image

from analysis import figures, training_figures


def _image(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _scores(score, control):
    return pd.DataFrame(
        {"candidate": ["coin", "coin", "exit", "exit"], "site": ["fc", "value", "fc", "value"],
         "score": score, "control_score": control}
    )  # fmt: skip


def test_probe_scores_show_negative_r2_and_unscored_candidates():
    ridge = _scores([-0.4, 0.3, None, None], [-0.2, -0.2, None, None])
    auc = _scores([0.2, 0.9, 0.7, 0.6], [0.55, 0.55, 0.5, 0.5])
    png = figures.probe_scores_figure({"ridge agent": ridge, "auc agent": auc}, {"ridge agent": "ridge"})
    # The first site's bars (matplotlib's first colour) are an AUC of 0.2 and an R² of -0.4: both are drawn,
    # not clipped away by an axis that starts at 0.4 (only the legend's swatches would be left).
    first = np.array([31, 119, 180])
    assert (np.abs(_image(png) - first).sum(axis=2) < 30).sum() > 1500


def test_learning_curves_have_one_line_per_regime_met_in_training():
    rng = np.random.default_rng(0)
    curve = pd.DataFrame(
        {"timesteps": np.arange(1, 201) * 10, "s": rng.integers(0, 2, 200),
         "return": rng.random(200), "length": 10}
    )  # fmt: skip
    curve["regime"] = np.where(curve["s"] == 0, "train", "anywhere")
    png = training_figures.learning_curve_figure({"agent": curve})
    image = _image(png)
    blue, red = np.array([31, 119, 180]), np.array([214, 39, 40])  # regime_colour(0), regime_colour(1)
    assert (np.abs(image - blue).sum(axis=2) < 30).sum() > 50
    assert (np.abs(image - red).sum(axis=2) < 30).sum() > 50
