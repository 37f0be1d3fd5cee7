"""Run independent pieces of a study in parallel processes: a study's agents, a sweep's cells.

`run_in_processes(fn, tasks, workers=...)` calls `fn(task, progress)` for every task in spawned
worker processes and returns the results in task order. Each worker gets an equal share of the
parent's CPU threads (torch, BLAS and DoWhy's jobs; at least one), so two workers on two cores do
not fight over them. `progress(*args)` inside a worker reaches the parent's `on_progress(index, *args)`
while the work runs, which is how the CLI keeps drawing one bar per stage.

Workers are spawned, not forked: a forked child inherits torch's and OpenMP's thread pools
mid-state. A worker that dies (killed, out of memory) raises `WorkerError` here instead of leaving
the study waiting for it, as a `multiprocessing.Pool` would.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from core.errors import ConfigError, MesaprobeError

T = TypeVar("T")
R = TypeVar("R")

_POLL_S = 0.1
_GRACE_S = 2.0


class WorkerError(MesaprobeError, RuntimeError):
    """A worker process died (killed, out of memory, or it could not start) before its task finished."""


def worker_threads(workers: int, threads: int | None = None) -> int:
    """The CPU threads each of `workers` processes gets: an equal share of `threads` (default: this process's
    torch threads, which the CLI's `--threads` sets), at least one."""
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    return max(1, threads // workers)


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
    # DoWhy's own joblib workers would change its summation order, and they start slowly (~11 s on 2 cores).
    dowhy.gcm.config.default_n_jobs = threads


def _sendable(exc: BaseException) -> BaseException:
    """`exc` with its traceback as a note, or a `RuntimeError` carrying its text when it cannot be pickled."""
    exc.add_note("".join(traceback.format_exception(exc)).rstrip())
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - any exception that does not pickle is sent as text
        return RuntimeError(f"{type(exc).__name__}: {exc}\n{exc.__notes__[-1]}")
    return exc


def _worker(fn: Callable[[Any, Callable[..., None]], Any], inbox: Any, outbox: Any, threads: int) -> None:
    """A worker process: take tasks from `inbox` until `None`; send progress, results and errors to `outbox`."""
    _limit_threads(threads)
    for index, task in iter(inbox.get, None):
        outbox.put(("start", index, None))
        try:
            result = fn(task, lambda *args, i=index: outbox.put(("progress", i, args)))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
            outbox.put(("error", index, _sendable(exc)))
        else:
            outbox.put(("result", index, result))


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

    `fn` must be a module-level function and the tasks and results picklable. Tasks start in the
    order given (put the longest first). `on_progress(index, *args)` receives each `progress(*args)`
    call of task `index` as it happens, `on_result(index, result)` each result as it arrives. The
    first error of a task is raised here, with the worker's traceback as a note, after every worker
    is stopped; a worker that dies raises `WorkerError`.
    """
    check_workers(workers)
    if not tasks:
        return []
    n = min(workers, len(tasks))
    context = multiprocessing.get_context("spawn")
    inbox, outbox = context.Queue(), context.Queue()
    for item in enumerate(tasks):
        inbox.put(item)
    for _ in range(n):
        inbox.put(None)
    share = worker_threads(n, threads)
    procs = [context.Process(target=_worker, args=(fn, inbox, outbox, share), daemon=True) for _ in range(n)]
    for proc in procs:
        proc.start()
    results: dict[int, R] = {}
    started = False
    try:
        while len(results) < len(tasks):
            try:
                kind, index, value = outbox.get(timeout=_POLL_S)
            except queue.Empty:
                problem = _lost_tasks(procs, started)
                if problem is None:
                    continue
                try:  # what a worker sent just before it exited may still be on its way
                    kind, index, value = outbox.get(timeout=_GRACE_S)
                except queue.Empty:
                    raise WorkerError(problem) from None
            if kind == "start":
                started = True
            elif kind == "progress":
                if on_progress is not None:
                    on_progress(index, *value)
            elif kind == "error":
                raise value
            else:
                results[index] = value
                if on_result is not None:
                    on_result(index, value)
        return [results[i] for i in range(len(tasks))]
    finally:
        # Terminated, not joined: a worker's interpreter can wait minutes at exit for idle helper processes of
        # the libraries it used (seen: 300 s).
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join()
        inbox.close()
        outbox.close()


def _lost_tasks(procs: list, started: bool) -> str | None:
    """Why the tasks cannot finish (a worker died, or every worker is gone), or None while they can."""
    failed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
    if failed:
        hint = "out of memory, or killed?"
        if not started:
            hint += (" Or it could not start: a script that runs workers must start them under "
                     "`if __name__ == '__main__':`, since a spawned worker imports the script.")  # fmt: skip
        return (f"a worker process died (exit code {failed[0]}) before the tasks finished: {hint} "
                "Run with workers=1 to see the failure in this process.")  # fmt: skip
    if all(p.exitcode is not None for p in procs):
        return "every worker process exited before the tasks finished."
    return None


__all__ = ["WorkerError", "check_workers", "run_in_processes", "worker_threads"]
