"""`mesaprobe study` with `kind: feasibility`: the SCM simulation and the wireheading trade-off, end to end."""

from __future__ import annotations

import json

import pytest

from analysis.feasibility_study import FeasibilityStudyReport
from core.errors import ConfigError
from mesaprobe.cli import main
from mesaprobe.config import load_config
from mesaprobe.feasibility_config import FeasibilityStudyConfig
from tests.app.runner import assert_one_line_config_error

SMALL = """\
kind: feasibility
name: small-feasibility
n_models: 6
lambdas: [0.0, 1.0]
n_episodes: 40
n_cooccurrence: 2000
wireheading_betas: [0.1]
wireheading_probes: [frozen]
wireheading_seeds: 1
wireheading_timesteps: 2048
wireheading_episodes: 30
"""


def test_a_small_feasibility_study_end_to_end(tmp_path, capsys):
    config = tmp_path / "feasibility.yaml"
    config.write_text(SMALL)
    # In-process (the command's own main): a subprocess would add seconds of imports to `make test`.
    assert main(["study", str(config), "--out", str(tmp_path / "out")]) == 0
    stdout = capsys.readouterr().out
    assert "Rule 1 holds" in stdout and "control incentive" in stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["kind"] == "feasibility" and report["format"] == "mesaprobe-feasibility-report/1"
    sim, wh = report["simulation"], report["wireheading"]
    assert len(sim["rows"]) == 12 and [r["lambda"] for r in sim["summary"]] == [0.0, 1.0]
    # β = 0 is added as the reference; the control incentive on Y_m is there exactly when β > 0.
    assert sorted({a["beta"] for a in wh["agents"]}) == [0.0, 0.1]
    assert {i["beta"]: i["on_mesa"] for i in wh["incentives"]} == {0.0: False, 0.1: True}
    assert all(a["control"] == 0.0 for a in wh["agents"] if a["beta"] == 0)
    html = (tmp_path / "out" / "report.html").read_text()
    for fig in ("feasibility_cooccurrence", "feasibility_detection", "feasibility_closed_form", "wireheading_tradeoff"):
        assert f"alt='{fig}'" in html and (tmp_path / "out" / "figures" / f"{fig}.png").is_file()
    assert "Control incentives of each training option" in html


def test_the_shipped_feasibility_config_loads_and_parts_can_be_skipped():
    config = load_config("mesaprobe/configs/feasibility.yaml")
    assert isinstance(config, FeasibilityStudyConfig) and config.n_models == 400 and config.wireheading_seeds >= 3
    from analysis.feasibility_study import run_feasibility_analysis

    report = run_feasibility_analysis(
        n_models=2, lambdas=[0.0], n_episodes=30, n_cooccurrence=200, wireheading_betas=[]
    )
    assert isinstance(report, FeasibilityStudyReport) and report.wireheading is None
    assert json.loads(json.dumps(report.to_dict()))["simulation"]["n_models"] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: feasibility\nmechanisms: [linar]\n", "Did you mean 'linear'"),
        ("kind: feasibility\nlambdas: [0.5, 2.0]\n", "lambdas must be strengths"),
        ("kind: feasibility\nwireheading_probes: [frozn]\n", "Did you mean 'frozen'"),
        ("kind: feasibility\nwireheading_betas: [-0.1]\n", "wireheading_betas must be >= 0"),
        ("kind: feasibility\nmechanisms: linear\n", "mechanisms must be a list"),
        ("kind: feasibilty\n", "kind: feasibility"),
    ],
)
def test_bad_feasibility_configs_are_one_line_errors(tmp_path, capsys, text, message):
    assert_one_line_config_error(tmp_path, capsys, text, message, (ConfigError, KeyError))
