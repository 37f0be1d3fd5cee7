"""`mesaprobe.workers`: tasks in spawned processes, their progress forwarded, their failures raised here."""

import os

import pytest

from core.errors import ConfigError
from mesaprobe.cli import main
from mesaprobe.workers import WorkerError, check_workers, run_in_processes, worker_threads


def _square_slowly(task, progress):
    import torch
    from threadpoolctl import threadpool_info

    for step in range(3):
        progress(f"task {task}", step)
    blas = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    return task * task, os.getpid(), torch.get_num_threads(), blas


def _fail(task, progress):
    if task == "bad":
        raise ConfigError("collect.n_episodes must be >= 1, got 0.")
    return task


def _die(task, progress):
    if task == 0:
        os._exit(3)
    import time

    time.sleep(60)  # the other worker is still busy: the parent must not wait for it


def test_results_come_back_in_task_order_with_their_progress():
    messages, arrived = [], []
    results = run_in_processes(
        _square_slowly, [3, 1, 2], workers=2, threads=4,
        on_progress=lambda i, *args: messages.append((i, *args)), on_result=lambda i, r: arrived.append(i),
    )  # fmt: skip
    assert [r[0] for r in results] == [9, 1, 4]
    pids = {r[1] for r in results}  # one worker may take every task while the other still starts
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    # Each of the two workers gets half of the 4 threads, for torch and for BLAS.
    assert {r[2] for r in results} == {2} and all(r[3] <= {2} for r in results)
    assert sorted(arrived) == [0, 1, 2]
    for i, task in enumerate([3, 1, 2]):
        assert [m[1:] for m in messages if m[0] == i] == [(f"task {task}", step) for step in range(3)]


def test_a_task_error_is_raised_with_its_type_and_the_workers_traceback():
    with pytest.raises(ConfigError, match="n_episodes must be >= 1") as info:
        run_in_processes(_fail, ["ok", "bad"], workers=1)
    assert any("in _fail" in note for note in info.value.__notes__)


def test_a_worker_that_dies_raises_instead_of_hanging():
    # Like the OOM killer: no chance to report anything (what it sent just before may be lost with it).
    with pytest.raises(WorkerError, match=r"a worker process died \(exit code 3\) before the tasks finished"):
        run_in_processes(_die, [0, 1], workers=2)


def test_worker_counts_are_checked_and_threads_shared():
    assert run_in_processes(_fail, [], workers=3) == []
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="workers must be an integer >= 1"):
            check_workers(bad)
    assert worker_threads(2, threads=1) == 1 and worker_threads(2, threads=5) == 2 and worker_threads(1, 3) == 3


def test_cli_refuses_zero_workers(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "workers must be an integer >= 1" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "demo").exists()
