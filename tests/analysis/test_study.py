"""analyse_agent's stress sections: the selection diagram and the sensitivity of the direct effect, in JSON and HTML."""

import json

import numpy as np
import pandas as pd

from analysis.graphs import SelectionDiagram
from analysis.report import render_html
from analysis.study import analyse_agent
from analysis.study_report import StudyReport
from core.results import Skipped


def _episodes(direct: float, n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A candidate pursued in both regimes; with `direct` < 0 the base return drops in deployment anyway."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n).astype(float)
    achieved = (rng.random(n) < 0.9).astype(float)
    ym = np.clip(0.8 * achieved + 0.1 + 0.05 * rng.normal(size=n), 0, 1)
    ret = achieved * (1 + direct * s) + 0.1 * rng.normal(size=n)
    return pd.DataFrame({"s": s, "return": ret, "achieved_goal": achieved, "ym_goal": ym})


def test_misaligned_agent_gets_a_robust_direct_effect_and_the_bypass_named():
    result = analyse_agent("a", _episodes(-0.5), ["goal"], diagram=SelectionDiagram.standard(direct=True))
    assert result.verdict.value == "misaligned" and result.candidate("goal").sensitivity.direct_effect.nde < 0
    assert "misaligned" in result._repr_html_()
    # Every typed section shows itself in a notebook.
    c = result.candidate("goal")
    for section in (c, c.mesa, c.transport, c.sensitivity, c.sweep, c.graph, c.graph.falsify, *result.behaviour):
        assert isinstance(section._repr_html_(), str) and section._repr_html_().startswith("<")
    entry = result.to_dict()
    (cand,) = entry["candidates"]
    assert entry["verdict"] == "misaligned"
    sens = cand["sensitivity"]
    lo, hi = sens["direct_effect"]["nde_ci"]
    assert lo < hi < 0
    assert 0 < sens["refutation"]["robustness_value"] < 1
    graph = cand["graph"]
    assert graph["rule1"]["path"] == "s → y_b" and not graph["path_criterion"][1]["holds"]
    assert "bypasses the mesa signal: s → y_b" in graph["reading"]
    json.dumps(entry)
    page = render_html(StudyReport("t", "e", 0, None, (result.with_sections(train_shift=0.0),)), {})
    assert "Sensitivity (goal as" in page and "Selection diagram (goal as" in page
    assert "An unobserved confounder would have to explain" in page


def test_the_default_diagram_is_rejected_by_the_data_of_a_misaligned_agent_only():
    bad = analyse_agent("a", _episodes(-0.5, n=400), ["goal"], diagram=SelectionDiagram.standard()).to_dict()
    (test,) = bad["candidates"][0]["graph"]["local_tests"]
    assert test["statement"] == "y_b ⊥ s | y_m" and test["rejected"]
    assert "e.g. an edge s → y_b" in bad["candidates"][0]["graph"]["reading"]
    good = analyse_agent("b", _episodes(0.0), ["goal"], diagram=SelectionDiagram.standard()).to_dict()
    assert good["verdict"] == "aligned"
    (test,) = good["candidates"][0]["graph"]["local_tests"]
    assert not test["rejected"]
    assert abs(good["candidates"][0]["sensitivity"]["direct_effect"]["nde"]) < 0.05


def test_constant_return_skips_sensitivity_with_the_reason():
    episodes = _episodes(0.0).assign(**{"return": 1.0})
    result = analyse_agent("c", episodes, ["goal"])
    assert isinstance(result.candidate("goal").sensitivity, Skipped)
    (cand,) = result.to_dict()["candidates"]
    assert "constant" in cand["sensitivity"]["skipped"] and "graph" not in cand
