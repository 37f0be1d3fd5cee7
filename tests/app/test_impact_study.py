"""`mesaprobe study` on an impact config (kind: impact): the small end-to-end impact study of `make test`."""

import json
import textwrap

import pytest

from analysis.impact_study import ImpactStudyReport, run_impact_analysis
from core.errors import ConfigError
from mesaprobe.cli import main
from mesaprobe.config import load_config
from mesaprobe.impact_config import ImpactStudyConfig
from tests.app.runner import assert_one_line_config_error

SMALL = textwrap.dedent(
    """\
    kind: impact
    name: small-impact
    levels: [box, door, bell, edge]
    baselines: [inaction, stepwise, iterative, iterative_persuasion]
    deviations: [relative_reachability]
    truncations: [true]
    learning_baselines: [iterative]
    learning_seeds: 2
    learning_episodes: 500
    """
)


def test_a_small_impact_study_end_to_end(tmp_path, capsys):
    config = tmp_path / "impact.yaml"
    config.write_text(SMALL)
    # In-process (the command's own main): a subprocess would add seconds of imports to `make test`.
    assert main(["study", str(config), "--out", str(tmp_path / "out")]) == 0
    stdout = capsys.readouterr().out
    assert "naive inaction is clingy" in stdout and "manipulates in" in stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["kind"] == "impact" and report["levels"] == ["box", "door", "bell", "edge"]
    assert len(report["planning"]) == 4 * 5 and len(report["learning"]) == 4 * 2
    assert report["ppo"] is None
    assert all(p["holds"] for p in report["pattern"]), report["pattern"]
    trade = {row["penalty"]: row for row in report["tradeoff"]}
    assert trade["inaction/RR/trunc"]["clingy_in"] == "door" and trade["inaction/RR/trunc"]["manipulates_in"] == "-"
    assert (
        trade["iterative/RR/trunc"]["clingy_in"] == "-"
        and trade["iterative/RR/trunc"]["manipulates_in"] == "bell, edge"
    )
    html = (tmp_path / "out" / "report.html").read_text()
    assert "alt='impact_grid'" in html and "alt='tradeoff'" in html and "The known pattern" in html


def test_the_shipped_impact_config_loads():
    config = load_config("mesaprobe/configs/impact.yaml")
    assert isinstance(config, ImpactStudyConfig) and len(config.levels) == 7 and config.beta == 30.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: impact\nlevels: [vas]\n", "Did you mean 'vase'"),
        ("kind: impact\nbaselines: [stepwis]\n", "Did you mean 'stepwise'"),
        ("kind: impact\nlevels: box\n", "levels must be a list"),
        ("kind: impact\nhorizon: 0\n", "horizon"),
    ],
)
def test_bad_impact_configs_are_one_line_errors(tmp_path, capsys, text, message):
    assert_one_line_config_error(tmp_path, capsys, text, message, (ConfigError, KeyError))


def test_the_report_object_round_trips_to_json():
    report = run_impact_analysis(levels=["box"], baselines=["stepwise"], deviations=["unreachability"])
    assert isinstance(report, ImpactStudyReport) and report.learning is None
    data = json.loads(json.dumps(report.to_dict()))
    assert data["format"] == "mesaprobe-impact-report/1" and len(data["planning"]) == 2
    assert [p["claim"] for p in data["pattern"]] == ["the unpenalised agent corners the box"]


def test_learners_without_a_simulator_cannot_use_the_iterative_baselines(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("kind: impact\nlearning_baselines: [stepwise, iterative]\nlearning_exact: false\n")
    with pytest.raises(ConfigError, match="need learning_exact: true"):
        load_config(config)


def test_ppo_agents_get_rates_like_the_q_learners():
    from analysis.impact_study import ppo_rates
    from training.impact_penalty import ImpactPenalty

    rates = ppo_rates(["box"], [ImpactPenalty("stepwise")], seeds=1, timesteps=128, horizon=20)
    assert list(rates["penalty"]) == ["stepwise/RR/trunc"] and rates["n_seeds"].tolist() == [1]
    assert 0.0 <= rates["side_effect"].iloc[0] <= 1.0 and rates["side_effect_lo"].iloc[0] == 0.0
