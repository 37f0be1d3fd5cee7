"""`mesaprobe study` on an oracle config (kind: oracle): the small end-to-end oracle study of `make test`."""

import json
import textwrap

import pytest

from analysis.oracle_study import OracleStudyReport, run_oracle_analysis
from core.errors import ConfigError
from mesaprobe.cli import main
from mesaprobe.config import load_config
from mesaprobe.oracle_config import OracleStudyConfig
from tests.app.runner import assert_one_line_config_error

SMALL = textwrap.dedent(
    """\
    kind: oracle
    name: small-oracle
    seed: 0
    world: {mu: 10.0, kappa: 0.9}
    erasure: 0.3
    iterations_counterfactual: 2
    iterations_plain: 25
    n_episodes: 20
    epochs: 100
    manipulation_episodes: 60
    leakage_episodes: 200
    banned_route_episodes: 2000
    probe_episodes: 40
    iterations_informed: 5
    """
)


def test_a_small_oracle_study_end_to_end(tmp_path, capsys):
    config = tmp_path / "oracle.yaml"
    config.write_text(SMALL)
    # In-process (the command's own main): a subprocess would add seconds of imports to `make test`.
    assert main(["study", str(config), "--out", str(tmp_path / "out")]) == 0
    stdout = capsys.readouterr().out
    assert "counterfactual oracle: mean prediction" in stdout and "E[o|h] − E[o|h,e]" in stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["kind"] == "oracle" and report["truth"] == {
        "counterfactual_mean": 10.0,
        "fixed_points": [pytest.approx(100.0)],
    }
    assert report["oracles"]["counterfactual"]["mean_prediction"][-1] == pytest.approx(10.0, abs=0.5)
    plain = report["oracles"]["plain"]["mean_prediction"]
    assert plain[-1] > 85.0 and plain[-1] > plain[5] > plain[0]  # retraining on its own world climbs towards 100
    assert report["oracles"]["model_based"]["mean_prediction"] == pytest.approx(10.0, abs=0.5)
    for key in ("counterfactual", "plain"):
        assert report["manipulation"][key]["relative_error"] < 0.1
    assert not report["leakage"]["sound"]["leaks"] and report["leakage"]["leaky"]["leaks"]
    tv = {a["agent"]: a["tv"] for a in report["banned_route"]["agents"]}
    assert tv["classical"] >= 0.3 and tv["factored"] <= 0.05
    # Only the predictor trained on every round keeps "this prediction will be read" in its layers.
    probes = report["read_probes"]
    assert probes["informed"]["represents"] and not probes["counterfactual"]["represents"]
    assert probes["informed"]["sensitivity"] > 10.0 > 1e-3 > probes["counterfactual"]["sensitivity"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Banned routes" in html and "alt='oracle_training'" in html and "alt='manipulation'" in html
    assert "alt='leakage'" in html and "alt='read_probes'" in html
    assert (tmp_path / "out" / "figures" / "manipulation.png").is_file() and (
        tmp_path / "out" / "config.yaml"
    ).is_file()


def test_the_shipped_oracle_config_loads():
    config = load_config("mesaprobe/configs/oracle.yaml")
    assert isinstance(config, OracleStudyConfig) and config.erasure == 0.3
    threshold = load_config("mesaprobe/configs/oracle_threshold.yaml")
    assert threshold.world["world"] == "threshold" and threshold.plain_starts == [12.0, 4.0]
    assert threshold.reward_oracle_timesteps > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: oracel\n", "kind: 'oracel' is not a study kind"),
        ("kind: oracle\nerasure: 0.0\n", "erasure must lie strictly between 0 and 1"),
        ("kind: oracle\nerasur: 0.3\n", "Did you mean 'erasure'"),
        ("kind: oracle\nworld: {shift: 0.5}\n", "world must not set 'shift'"),
        ("kind: oracle\nplain_starts: []\n", "plain_starts must be a non-empty list"),
        ("kind: oracle\nplain_starts: [low]\n", "plain_starts must be a list of numbers"),
        ("kind: oracle\nprobe_episodes: -1\n", "probe_episodes must be >= 0"),
    ],
)
def test_bad_oracle_configs_are_one_line_errors(tmp_path, capsys, text, message):
    assert_one_line_config_error(tmp_path, capsys, text, message, ConfigError)


def test_the_report_object_round_trips_to_json():
    report = run_oracle_analysis(
        iterations_counterfactual=1, iterations_plain=2, n_episodes=5, epochs=20, manipulation_episodes=20,
        leakage_episodes=40, banned_route_episodes=200, probe_episodes=0, plain_starts=(0.0, 150.0),
    )  # fmt: skip
    assert isinstance(report, OracleStudyReport) and report.read_probes == {} and len(report.plain_runs) == 2
    data = json.loads(json.dumps(report.to_dict()))
    assert data["format"] == "mesaprobe-oracle-report/1" and len(report.summary_rows()) == 10
    assert [r["start"] for r in data["oracles"]["plain_runs"]] == [0.0, 150.0]
