"""`mesaprobe sweep`: a study over a grid of config values and seeds, in parallel processes, resumable."""

from __future__ import annotations

import json
import os
import sys

import pandas as pd
import pytest

from core.errors import ConfigError
from mesaprobe.cli import main
from mesaprobe.sweep import load_sweep, run_sweep, set_path

SWEEP = """\
name: tiny-sweep
env: mesaprobe/CoinCorridor-v0
agents:
  - {name: exit-seeker, kind: planted, goal: exit}
  - {name: coin-seeker, kind: planted, goal: coin}
collect: {shifts: [0.0, 1.0], n_episodes: 40}
probe: {n_folds: 3, transport: false, attribution: false}
test: {sweep_repeats: 0, graph: []}
sweep:
  grid:
    seed: [0, 1]
    'agents[exit-seeker].beta': [3.0]
"""


def test_a_sweep_in_parallel_equals_one_cell_at_a_time_and_resumes(tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    config.write_text(SWEEP)
    assert main(["sweep", str(config), "--out", str(tmp_path / "a"), "--workers", "2"]) == 0
    assert "exit-seeker (agents[exit-seeker].beta = 3.0): misaligned in 100%" in capsys.readouterr().out
    report, _ = run_sweep(config, tmp_path / "b", workers=1)
    parallel = pd.read_parquet(tmp_path / "a" / "sweep.parquet")
    sequential = pd.read_parquet(tmp_path / "b" / "sweep.parquet")
    assert parallel.drop(columns="reused").equals(sequential.drop(columns="reused"))
    assert len(parallel) == 2 * 2 * 2  # cells × agents × candidates
    # The same cells as Ray Tune trials on a local Ray of 2 CPUs: the same sweep.parquet, to the byte.
    assert main(["sweep", str(config), "--out", str(tmp_path / "ray"), "--backend", "ray", "--workers", "2"]) == 0
    assert (tmp_path / "ray" / "sweep.parquet").read_bytes() == (tmp_path / "b" / "sweep.parquet").read_bytes()
    shares = report.verdict_shares().set_index("agent")
    assert shares.loc["exit-seeker", "misaligned"] == 1.0 and shares.loc["coin-seeker", "aligned"] == 1.0
    data = json.loads((tmp_path / "a" / "sweep.json").read_text())
    assert data["format"] == "mesaprobe-sweep/1" and data["cells"] == 2 and data["sweep"]["grid"]["seed"] == [0, 1]
    html = (tmp_path / "a" / "sweep.html").read_text()
    assert "alt='sweep_verdicts'" in html and "alt='sweep_effects'" in html
    for cell in ("c000_seed=0_beta=3.0_r0", "c001_seed=1_beta=3.0_r0"):
        assert (tmp_path / "a" / "cells" / cell / "report.json").is_file()
    # Resume: finished cells with the same config are reused, not rerun; a changed cell is redone.
    stamp = os.path.getmtime(tmp_path / "a" / "cells" / "c000_seed=0_beta=3.0_r0" / "report.json")
    again, _ = run_sweep(config, tmp_path / "a", workers=1)
    assert again.rows["reused"].all()
    assert os.path.getmtime(tmp_path / "a" / "cells" / "c000_seed=0_beta=3.0_r0" / "report.json") == stamp
    config.write_text(
        SWEEP.replace("beta: [3.0]", "beta: [3.0]\n  repeats: 1").replace("n_episodes: 40", "n_episodes: 30")
    )
    changed, _ = run_sweep(config, tmp_path / "a", workers=1)
    assert not changed.rows["reused"].any()


def test_dotted_paths_reach_sections_and_named_agents():
    data = {"seed": 0, "collect": {"n_episodes": 10}, "agents": [{"name": "a"}, {"name": "b"}]}
    set_path(data, "collect.n_episodes", 20)
    set_path(data, "agents[b].total_timesteps", 500)
    set_path(data, "test.method", "gcm")
    assert data["collect"]["n_episodes"] == 20 and data["agents"][1]["total_timesteps"] == 500
    assert data["test"] == {"method": "gcm"}
    with pytest.raises(ConfigError, match="no agents entry named 'c'"):
        set_path(data, "agents[c].seed", 1)
    with pytest.raises(ConfigError, match="names a whole entry"):
        set_path(data, "agents[a]", 1)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("sweep: {grid: {seed: 3}}", "sweep.grid.seed must be a non-empty list"),
        ("sweep: {grid: {}}", "sweep.grid must map dotted config paths"),
        ("sweep: {grid: {seed: [0]}, repeat: 2}", "unknown fields \\['repeat'\\]"),
        ("sweep: {grid: {collect.n_episode: [5]}}", "unknown field 'n_episode'"),
        ("sweep: {grid: {'agents[nobody].seed': [1]}}", "no agents entry named 'nobody'"),
        ("", "has no sweep: block"),
    ],
)
def test_bad_sweeps_are_one_line_errors_before_anything_runs(tmp_path, capsys, block, message):
    config = tmp_path / "sweep.yaml"
    config.write_text(SWEEP.split("sweep:")[0] + block + "\n")
    with pytest.raises(ConfigError, match=message):
        load_sweep(config)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_an_output_path_that_is_a_file_is_refused(tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    config.write_text(SWEEP)
    (tmp_path / "taken").write_text("not a directory")
    assert main(["sweep", str(config), "--out", str(tmp_path / "taken")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_a_run_directory_that_is_a_file_and_a_cut_off_agent_json_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a directory")
    assert main(["study", "mesaprobe/configs/planted_coin_corridor.yaml", "--out", str(tmp_path / "taken")]) == 2
    assert "is a file" in capsys.readouterr().err
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "agent.json").write_text('{"kind": "sb3", "na')
    assert main(["collect", str(tmp_path / "agent"), "--out", str(tmp_path / "rollouts")]) == 2
    err = capsys.readouterr().err
    assert "agent.json is not valid JSON" in err and err.count("\n") == 1 and "Traceback" not in err


def test_the_ray_backend_without_ray_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    config = tmp_path / "sweep.yaml"
    config.write_text(SWEEP)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the `ray` extra were not installed
    monkeypatch.delitem(sys.modules, "mesaprobe.sweep_ray", raising=False)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'mesaprobe[ray]'" in err and err.count("\n") == 1 and not (tmp_path / "out" / "cells").exists()
