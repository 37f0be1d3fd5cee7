"""A study killed with SIGKILL mid-training and mid-collection resumes where it stopped, and its report
equals an uninterrupted run's."""

import multiprocessing
import os
import signal

import pytest

from mesaprobe import load_config, run_study
from mesaprobe.resume import STAGES_FILE, StageLedger, stage_key
from tests.app.runner import mesaprobe

CONFIG = """
name: resume
env: mesaprobe/CoinCorridor-v0
seed: 3
plugins: [killer.py]
agents:
  - {name: first, train_shift: 0.0, total_timesteps: 1024}
  - {name: second, train_shift: 0.5, total_timesteps: 1024}
collect:
  shifts: [0.0, 1.0]
  n_episodes: 24
  layers: [features_extractor.fc, value_net]
probe:
  n_folds: 3
  attribution: false
  transport: false  # probe transport reuses refitted probes: tested in test_probe_estimators
"""

# Loaded by the study as a plugin: SIGKILLs the process itself at a chosen point (MESAPROBE_TEST_KILL =
# "train:<agent>" after its first PPO rollout, or "collect:<agent>" after its first collected episodes), as a
# power cut or an OOM killer would, with no chance to clean up.
KILLER = """
import os, signal
from stable_baselines3.common.callbacks import BaseCallback
import training, mesaprobe.stages as stages

stage, _, target = os.environ.get("MESAPROBE_TEST_KILL", "").partition(":")

def die():
    os.kill(os.getpid(), signal.SIGKILL)

class KillAfterFirstRollout(BaseCallback):
    def _on_step(self):
        return True
    def _on_rollout_end(self):
        die()

if stage == "train" and not getattr(training, "_killer", False):
    original_train = training.train
    def train(*args, **kwargs):
        if kwargs.get("name") == target:
            kwargs["callbacks"] = [KillAfterFirstRollout()]
        return original_train(*args, **kwargs)
    training.train, training._killer = train, True

if stage == "collect" and not getattr(stages, "_killer", False):
    original_collect = stages.collect
    def collect(*args, **kwargs):
        if kwargs.get("run") == target:
            report = kwargs["progress"]
            kwargs["progress"] = lambda n: die() if n > 0 else report(n)
        return original_collect(*args, **kwargs)
    stages.collect, stages._killer = collect, True
"""


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    (root / "study.yaml").write_text(CONFIG)
    (root / "killer.py").write_text(KILLER)
    return root


def _study_killed_at(root, kill: str) -> None:
    os.environ["MESAPROBE_TEST_KILL"] = kill
    run_study(load_config(root / "study.yaml"), root / "out")


def killed_at(root, kill: str) -> int | None:
    """The study run in a forked process (no seconds of imports) that SIGKILLs itself at `kill`; its exit code."""
    proc = multiprocessing.get_context("fork").Process(target=_study_killed_at, args=(root, kill))
    proc.start()
    proc.join(300)
    return proc.exitcode


def test_killed_study_resumes_to_the_uninterrupted_report(study_dir):
    root, out = study_dir, study_dir / "out"
    # 1. Killed while training the second agent: the first agent's stages are finished, the second's are not.
    assert killed_at(root, "train:second") == -signal.SIGKILL
    assert set(StageLedger(out / "agents" / "first").read()) == {"train", "collect", "probe"}
    assert not (out / "agents" / "second" / STAGES_FILE).exists()
    assert not (out / "report.json").exists()
    weights = out / "agents" / "first" / "policy.safetensors"
    first_files = {p: p.stat().st_mtime_ns for p in [weights, *(out / "agents" / "first" / "rollouts").rglob("*")]}

    # 2. Killed again, while collecting the second agent's rollouts: its training is finished now.
    assert killed_at(root, "collect:second") == -signal.SIGKILL
    assert set(StageLedger(out / "agents" / "second").read()) == {"train"}
    second_weights = (out / "agents" / "second" / "policy.safetensors").stat().st_mtime_ns

    # 3. Resumed to the end, by the command a user reruns, with the two agents side by side in worker processes
    # (which load the plugin too): nothing finished is redone.
    proc = mesaprobe("study", root / "study.yaml", "--out", out, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert (
        "Reused from an earlier run (--fresh redoes them): first/train, first/collect, first/probe, second/train\n"
        in (proc.stdout)
    )
    assert "· collect first (reused)\n" in proc.stdout and "· collect second\n" in proc.stdout
    assert {p: p.stat().st_mtime_ns for p in first_files} == first_files
    assert (out / "agents" / "second" / "policy.safetensors").stat().st_mtime_ns == second_weights
    resumed = (out / "report.json").read_text()

    # 4. A changed probe config and a hand-deleted rollout file: what they touch is redone, the rest kept.
    (root / "study.yaml").write_text(CONFIG.replace("n_folds: 3", "n_folds: 4"))
    (out / "agents" / "first" / "rollouts" / "meta.json").unlink()
    changed = run_study(load_config(root / "study.yaml"), out)
    assert changed.reused == ("first/train", "second/train", "second/collect")
    assert (out / "agents" / "first" / "rollouts" / "meta.json").is_file()

    # 5. The original config run in one go, in this process, one agent after the other (--fresh: nothing reused):
    # the resumed report of step 3, to the byte.
    (root / "study.yaml").write_text(CONFIG)
    assert run_study(load_config(root / "study.yaml"), out, fresh=True).reused == ()
    assert (out / "report.json").read_text() == resumed


def test_a_damaged_ledger_is_an_empty_one(tmp_path):
    ledger = StageLedger(tmp_path)
    ledger.record("train", "k1")
    assert ledger.finished("train", "k1") and not ledger.finished("train", "k2")
    (tmp_path / STAGES_FILE).write_text("{not json")
    assert ledger.read() == {}
    ledger.clear()
    assert not (tmp_path / STAGES_FILE).exists()


def test_stage_keys_change_with_what_they_hash():
    assert stage_key("collect", "a", {"n": 1}) == stage_key("collect", "a", {"n": 1})
    assert stage_key("collect", "a", {"n": 1}) != stage_key("collect", "a", {"n": 2})
    assert stage_key("collect", "a", (1, 2)) == stage_key("collect", "a", [1, 2])
