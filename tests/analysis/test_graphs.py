"""Selection diagrams: Rule 1, the two-part path criterion, local tests at the regime, DoWhy's falsify_graph."""

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from analysis.graphs import SelectionDiagram
from core.errors import ConfigError, DataError


def test_the_aligned_diagram_passes_every_check():
    d = SelectionDiagram.standard()
    assert d.rule1().holds and d.rule1().path is None
    assert [c.holds for c in d.path_criterion()] == [True, True]
    assert d.missing_regime_edges() == [("y_b", ("y_m",))]  # the transport test itself
    assert "implies transport" in d.check().reading


def test_a_direct_edge_is_named_by_both_checks():
    d = SelectionDiagram.standard(direct=True)
    assert not d.rule1().holds and d.rule1().path == "s → y_b"
    depends, through = d.path_criterion()
    assert depends.holds and not through.holds and through.path == "s → y_b"
    assert d.missing_regime_edges() == []


def test_a_longer_bypass_is_named():
    d = SelectionDiagram(["s -> y_m -> y_b", "s -> coin_seen -> y_b"])
    assert d.rule1().path == "s → coin_seen → y_b"
    assert d.path_criterion()[1].path == "s → coin_seen → y_b"
    assert "bypasses the mesa signal: s → coin_seen → y_b" in d.check().reading


def test_a_confounder_of_mesa_and_base_breaks_rule1_but_not_the_path_criterion():
    # s → y_m ← U → y_b: no directed path bypasses y_m, but conditioning on the collider y_m opens one.
    d = SelectionDiagram(["s -> y_m -> y_b", "y_m <-> y_b"])
    assert d.latent == {"U_y_m_y_b"}
    assert d.rule1().path == "s → y_m ← U_y_m_y_b → y_b"
    assert [c.holds for c in d.path_criterion()] == [True, True]
    assert "collider" in d.check().reading
    # The independence y_b ⊥ s | y_m is no longer implied, so it is not among the local tests.
    assert d.missing_regime_edges() == []


def test_no_dependence_on_the_mesa_signal():
    d = SelectionDiagram(["s -> y_m", "x -> y_b"])
    depends, through = d.path_criterion()
    assert not depends.holds and through.holds
    assert d.rule1().holds  # trivially: s and y_b are unconnected


@pytest.mark.parametrize("seed", range(5))
def test_open_path_agrees_with_networkx_on_random_dags(seed):
    rng = np.random.default_rng(seed)
    nodes = ["s", "y_m", "y_b", "a", "b", "c"]
    order = list(rng.permutation(nodes))
    edges = [(u, v) for i, u in enumerate(order) for v in order[i + 1 :] if rng.random() < 0.4]
    d = SelectionDiagram(edges)
    d.graph.add_nodes_from(nodes)
    with pytest.raises(ConfigError, match="not in the diagram"):
        d.open_path("s", "nowhere")
    for given in ([], ["y_m"], ["a", "b"], ["c", "y_m"]):
        for x, y in (("s", "y_b"), ("s", "a"), ("y_m", "c")):
            if x in given or y in given:
                continue
            path = d.open_path(x, y, given)
            assert (path is None) == nx.is_d_separator(d.graph, {x}, {y}, set(given))
            if path is not None:
                assert path[0] == x and path[-1] == y


def _data(direct: float, n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n).astype(float)
    y_m = 0.8 * s + rng.normal(size=n)
    return pd.DataFrame({"s": s, "y_m": y_m, "y_b": y_m + direct * s + rng.normal(size=n)})


def test_local_test_rejects_a_missing_direct_edge_that_dowhy_falsify_does_not():
    d = SelectionDiagram.standard()
    report = d.check(_data(direct=0.5))
    (t,) = report.local_tests
    assert t.statement == "y_b ⊥ s | y_m" and t.rejected and t.p_value <= 0.001 and t.method == "pcm"
    assert "The data reject y_b ⊥ s | y_m" in report.reading
    # DoWhy's permutation test cannot falsify a three-node chain: a third of all node orders share
    # its Markov equivalence class, so it is not "falsifiable" at any sample size.
    assert report.falsify.falsifiable is False and report.falsify.falsified is False
    assert report.falsify.violations == 1
    json.dumps(report.to_dict())


def test_local_test_accepts_the_true_diagram():
    report = SelectionDiagram.standard().check(_data(direct=0.0))
    (t,) = report.local_tests
    assert not t.rejected and t.p_value > 0.05
    assert report.falsify.violations == 0
    assert "agree" in report.reading


def test_local_tests_condition_on_observed_parents_only():
    rng = np.random.default_rng(1)
    n = 800
    s = rng.integers(0, 2, n).astype(float)
    x = 0.7 * s + rng.normal(size=n)
    df = pd.DataFrame({"s": s, "x": x, "y_m": x + rng.normal(size=n), "y_b": rng.normal(size=n)})
    d = SelectionDiagram(["s -> x -> y_m -> y_b"])
    tests = {t.node: t for t in d.local_tests(df)}
    assert set(tests) == {"y_m", "y_b"}
    assert tests["y_m"].given == ("x",) and not tests["y_m"].rejected
    assert tests["y_b"].given == ("y_m",) and not tests["y_b"].rejected
    assert d.falsify(df.assign(U=0.0)) is not None  # extra columns are ignored


def test_a_constant_outcome_is_independent_not_an_error():
    report = SelectionDiagram.standard().check(_data(0.0).assign(y_b=1.0))
    (t,) = report.local_tests
    assert t.p_value == 1.0 and not t.rejected and t.method == "constant column"
    assert report.falsify.violations == 0


def test_latent_nodes_are_not_tested_and_skip_falsify():
    d = SelectionDiagram(["s -> y_m -> y_b", "s <-> y_b"])
    assert d.falsify(_data(0.0)).reason.startswith("latent nodes")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SelectionDiagram(["s -> y_m -> y_b", "y_b -> s"]), "cycle"),
        (lambda: SelectionDiagram(["s => y_m"]), "cannot read edge"),
        (lambda: SelectionDiagram([("s",)]), r"\(cause, effect\) pair"),
        (lambda: SelectionDiagram(["s -> s"]), "cannot cause itself"),
        (lambda: SelectionDiagram(["s -> y_m"], latent=["u"]), "not in the diagram"),
        (lambda: SelectionDiagram(["s -> y_m"], latent=["y_m"]), "cannot be latent"),
    ],
)
def test_bad_diagrams_are_config_errors(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_bad_data_is_a_data_error():
    d = SelectionDiagram.standard()
    with pytest.raises(DataError, match=r"lacks columns .*'y_b'.*declare the nodes latent"):
        d.local_tests(_data(0.0).drop(columns="y_b"))
    bad = _data(0.0)
    bad.loc[3, "y_m"] = np.nan
    with pytest.raises(DataError, match=r"\['y_m'\] hold NaN"):
        d.check(bad)
