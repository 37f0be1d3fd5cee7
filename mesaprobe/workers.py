"""Run independent pieces of a study in parallel processes: a study's agents, a sweep's cells.

`run_in_processes(fn, tasks, workers=...)` calls `fn(task, progress)` for every task in spawned
worker processes and returns the results in task order. Each worker runs `threads` CPU threads
(torch, BLAS and DoWhy's jobs) and the parent's warning filters. `progress(*args)` inside a worker
reaches the parent's `on_progress(index, *args)` while the work runs, which is how the CLI keeps
drawing one bar per stage.

Workers are spawned, not forked: a forked child inherits torch's and OpenMP's thread pools
mid-state. Each worker has a pipe of its own, and the parent hands it one task at a time and waits
on the pipes and on the processes together: a worker that dies (killed, out of memory, or unable to
start) raises `WorkerError` at once, and no half-sent message or unsent task can hang the parent or
its exit, as they can with a `multiprocessing.Pool` or a shared queue.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import pickle
import signal
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from multiprocessing.reduction import ForkingPickler
from typing import Any, TypeVar

from core.errors import ConfigError, MesaprobeError

T = TypeVar("T")
R = TypeVar("R")

_EXIT_GRACE_S = 10.0


class WorkerError(MesaprobeError, RuntimeError):
    """A worker process died (killed, out of memory, or it could not start) or exited before its task finished."""


def cpu_count() -> int:
    """The CPU cores this process may run on (its affinity, where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows
        return os.cpu_count() or 1


def check_workers(workers: int, field: str = "workers") -> int:
    """`workers` as an int >= 1, or a `ConfigError` naming `field`."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"{field} must be an integer >= 1 (processes run at once), got {workers!r}.")
    return workers


def _limit_threads(threads: int) -> None:
    """`threads` CPU threads for torch, BLAS and DoWhy's jobs in this process."""
    import dowhy.gcm.config
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)
    dowhy.gcm.config.default_n_jobs = threads  # as `mesaprobe --threads` sets it in the parent


def _sendable(exc: BaseException) -> BaseException:
    """`exc` with the worker's traceback as a note, or a `WorkerError` carrying its text when it does not survive
    pickling (an exception whose `__init__` takes other arguments than it passes on, an unpicklable attribute)."""
    text = "".join(traceback.format_exception(exc)).rstrip()
    if not isinstance(exc, Exception):  # SystemExit, KeyboardInterrupt: the task stopped, it did not fail
        return WorkerError(f"a task stopped its worker ({type(exc).__name__}: {exc}).\n{text}")
    exc.__notes__ = [*getattr(exc, "__notes__", []), text]  # `add_note` without needing Python 3.11
    try:
        pickle.dumps(exc)
        copy.copy(exc)  # rebuilt from its reduce tuple, as the parent's unpickling will rebuild it
    except Exception:  # noqa: BLE001 - whatever does not make the round trip is sent as text
        return WorkerError(f"{type(exc).__name__}: {exc}\n{text}")
    return exc


def _worker(fn: Callable[[Any, Callable[..., None]], Any], conn: Any, threads: int, filters: list) -> None:
    """A worker process: run the tasks the parent sends on `conn` until it sends None; report on `conn`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops every worker
    _limit_threads(threads)
    warnings.filters[:] = filters
    while (message := conn.recv()) is not None:
        index, task = message
        try:
            result = fn(task, lambda *args, i=index: conn.send(("progress", i, args)))
            # Pickled here, as `conn.send` would: a result that cannot be sent is this task's error, not a lost message.
            message = ForkingPickler.dumps(("result", index, result))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
            conn.send(("error", index, _sendable(exc)))
        else:
            conn.send_bytes(message)


def run_in_processes(
    fn: Callable[[T, Callable[..., None]], R],
    tasks: Sequence[T],
    *,
    workers: int,
    threads: int | None = None,
    on_progress: Callable[..., None] | None = None,
    on_result: Callable[[int, R], None] | None = None,
) -> list[R]:
    """`[fn(task, progress) for task in tasks]`, computed in `workers` spawned processes.

    `fn` must be a module-level function, and the tasks and results picklable. Tasks start in the
    order given (put the longest first). Each worker runs `threads` CPU threads (default: an equal
    share of this process's torch threads, at least one). `on_progress(index, *args)` receives each
    `progress(*args)` call of task `index` as it happens, `on_result(index, result)` each result as it
    arrives. The first error of a task is raised here, with the worker's traceback as a note, after
    every worker is stopped; a worker that dies raises `WorkerError`.
    """
    check_workers(workers)
    if not tasks:
        return []
    for task in tasks:
        pickle.dumps(task)  # an unpicklable task fails here, before any process starts
    n = min(workers, len(tasks))
    if threads is None:
        import torch

        threads = max(1, torch.get_num_threads() // n)
    context = multiprocessing.get_context("spawn")
    procs: list[Any] = []
    conns: list[Any] = []
    results: dict[int, R] = {}
    try:
        for _ in range(n):
            parent_end, child_end = context.Pipe()
            proc = context.Process(target=_worker, args=(fn, child_end, threads, list(warnings.filters)))
            proc.start()
            child_end.close()
            procs.append(proc)
            conns.append(parent_end)
        queue = list(enumerate(tasks))
        running: dict[int, int] = {}  # worker -> index of the task it runs
        started: set[int] = set()  # workers that have reported anything
        alive = set(range(n))

        def hand_out(w: int) -> None:
            if queue:
                running[w] = queue[0][0]
                conns[w].send(queue.pop(0))
            else:
                running.pop(w, None)
                conns[w].send(None)

        for w in range(n):
            hand_out(w)
        while len(results) < len(tasks):
            if not alive:
                raise WorkerError("every worker process exited before the tasks finished.")
            ready = set(wait([x for w in alive for x in (conns[w], procs[w].sentinel)]))
            for w in sorted(alive):
                if conns[w] not in ready and procs[w].sentinel not in ready:
                    continue
                try:
                    kind, index, value = conns[w].recv()  # multiprocessing's own channel to our own workers
                except (EOFError, OSError):  # the worker is gone, perhaps half-way through a message
                    if w in running:
                        _raise_lost(procs[w], running[w], w in started)
                    alive.discard(w)
                    continue
                started.add(w)
                if kind == "progress":
                    if on_progress is not None:
                        on_progress(index, *value)
                elif kind == "error":
                    raise value
                else:
                    results[index] = value
                    if on_result is not None:
                        on_result(index, results[index])
                    hand_out(w)
        # Every worker has been sent None: let them exit on their own (and release what their libraries hold), but
        # not for long, since an interpreter can wait minutes at exit for idle helper processes (seen: 300 s).
        deadline = time.monotonic() + _EXIT_GRACE_S
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        return [results[i] for i in range(len(tasks))]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join()
        for conn in conns:
            conn.close()


def _raise_lost(proc: Any, index: int, started: bool) -> None:
    proc.join(timeout=5)
    hint = "out of memory, or killed?"
    if not started:
        hint += (
            " If it could not start: a script that runs workers must start them under "
            "`if __name__ == '__main__':`, since a spawned worker imports the script."
        )
    raise WorkerError(
        f"the worker process running task {index} died (exit code {proc.exitcode}): {hint} "
        "Run with workers=1 to see the failure in this process."
    )


__all__ = ["WorkerError", "check_workers", "cpu_count", "run_in_processes"]
