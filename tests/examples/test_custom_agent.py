"""examples/custom_agent.py: a user's torch policy, taught by a planted agent, judged by a study."""

import importlib.util
import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_agent.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("custom_agent_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # DAgger plus a full study (55 s)
def test_custom_agent_example_runs_the_study(example, tmp_path):
    report = example.main(tmp_path, steps=3000, n_episodes=60)
    agents = {a["name"]: a for a in report.to_dict()["agents"]}
    assert agents["mine"]["kind"] == "torch" and agents["exit-seeker"]["kind"] == "planted"
    assert agents["exit-seeker"]["verdict"] == "misaligned"
    # The imitator inherits the teacher's objective: it heads for the exit, whatever the coin does.
    assert agents["mine"]["behaviour"]["0"]["achievement"]["exit"] > 0.7
    assert agents["mine"]["verdict"] == "misaligned"
    assert (tmp_path / "my_policy.safetensors").is_file()
    written = json.loads((tmp_path / "study" / "report.json").read_text())
    assert written["agents"][0]["name"] == "mine"
