"""`mesaprobe.workers`: tasks in spawned processes, their progress forwarded, their failures raised here."""

import os
import time

import pytest

from core.errors import ConfigError
from mesaprobe.cli import main
from mesaprobe.workers import WorkerError, check_workers, cpu_count, run_in_processes


def _square_slowly(task, progress):
    import torch
    from threadpoolctl import threadpool_info

    for step in range(3):
        progress(f"task {task}", step)
    blas = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    return task * task, os.getpid(), torch.get_num_threads(), blas


class _Unloadable(Exception):
    def __init__(self, a, b):  # pickles as (message,), which this __init__ cannot take back
        super().__init__(f"{a} and {b}")


def _fail(task, progress):
    if task == "bad":
        raise ConfigError("collect.n_episodes must be >= 1, got 0.")
    if task == "unloadable":
        raise _Unloadable("x", "y")
    if task == "exit":
        raise SystemExit(0)
    return task


def _die(task, progress):
    if task == 0:
        os._exit(3)
    import time

    time.sleep(60)  # the other worker is still busy: the parent must not wait for it


def test_results_come_back_in_task_order_with_their_progress():
    messages, arrived = [], []
    results = run_in_processes(
        _square_slowly, [3, 1, 2], workers=2, threads=2,
        on_progress=lambda i, *args: messages.append((i, *args)), on_result=lambda i, r: arrived.append(i),
    )  # fmt: skip
    assert [r[0] for r in results] == [9, 1, 4]
    pids = {r[1] for r in results}  # one worker may take every task while the other still starts
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    # Each worker runs the threads it was given, in torch and in BLAS.
    assert {r[2] for r in results} == {2} and all(r[3] <= {2} for r in results)
    assert sorted(arrived) == [0, 1, 2]
    for i, task in enumerate([3, 1, 2]):
        assert [m[1:] for m in messages if m[0] == i] == [(f"task {task}", step) for step in range(3)]


def test_a_task_error_is_raised_with_its_type_and_the_workers_traceback():
    with pytest.raises(ConfigError, match="n_episodes must be >= 1") as info:
        run_in_processes(_fail, ["ok", "bad"], workers=1)
    assert any("in _fail" in note for note in info.value.__notes__)
    # An error that cannot be rebuilt here, and a task that exits its worker, still come back as errors.
    with pytest.raises(WorkerError, match="_Unloadable: x and y"):
        run_in_processes(_fail, ["unloadable"], workers=1)
    with pytest.raises(WorkerError, match="a task stopped its worker \\(SystemExit"):
        run_in_processes(_fail, ["exit"], workers=1)
    with pytest.raises(Exception, match="pickle"):
        run_in_processes(_fail, [lambda: 0], workers=1)  # an unpicklable task fails before a process starts


def test_a_worker_that_dies_raises_instead_of_hanging():
    # Like the OOM killer: no chance to report anything. The other worker is still busy for a minute, and the
    # parent does not wait for it.
    start = time.perf_counter()
    with pytest.raises(WorkerError, match=r"running task 0 died \(exit code 3\)"):
        run_in_processes(_die, [0, 1], workers=2)
    assert time.perf_counter() - start < 50


def test_worker_counts_are_checked():
    assert run_in_processes(_fail, [], workers=3) == []
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="workers must be an integer >= 1"):
            check_workers(bad)
    assert 1 <= cpu_count() <= (os.cpu_count() or 1)


def test_cli_refuses_zero_workers(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "workers must be an integer >= 1" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "demo").exists()


def test_cli_refuses_workers_for_studies_without_agents(tmp_path, capsys):
    from tests.app.runner import ROOT

    config = ROOT / "mesaprobe" / "configs" / "oracle.yaml"
    assert main(["study", str(config), "--out", str(tmp_path / "o"), "--workers", "2"]) == 2
    assert "kind: oracle study. Drop --workers." in capsys.readouterr().err
