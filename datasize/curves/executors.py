"""Where repeated trainings go: this process, local worker processes, or a Dask cluster.

A task is any picklable record with a `spec` whose `name` is unique (a curve's `RunTask`, a fold of
`datasize.labels`); `work(task)` trains it and returns its record, never raising for a failed run.
Each executor yields (spec, record) as tasks finish, in whatever order they finish.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

from datasize.curves.run import run_one

Work = Callable[[Any], dict[str, Any]]  # a module-level function, so that workers can import it


def execute(
    tasks: list[Any], *, jobs: int, scheduler: Any, work: Work | None = None
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Run `work` (default: a curve's `run_one`) on every task; yield (spec, record) as each finishes."""
    if not tasks:
        return
    work = work or run_one
    if scheduler is not None:
        yield from _execute_dask(tasks, scheduler, work)
    elif jobs == 1:
        for task in tasks:
            yield task.spec, work(task)
    else:
        yield from _execute_processes(tasks, jobs, work)


def _execute_processes(tasks: list[Any], jobs: int, work: Work) -> Iterator[tuple[Any, dict[str, Any]]]:
    import multiprocessing

    # forkserver: forking a process that already runs torch's thread pools can deadlock.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures: dict[Future, Any] = {pool.submit(work, t): t.spec for t in tasks}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _execute_dask(tasks: list[Any], scheduler: Any, work: Work) -> Iterator[tuple[Any, dict[str, Any]]]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'datasize-toolkit[dask]'") from None
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = {
            client.submit(work, t, pure=False, key=f"datasize-{t.spec.name}-{os.getpid()}"): t.spec
            for t in tasks
        }
        try:
            for future in dask_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            client.cancel(list(futures))
            raise
    finally:
        if client is not scheduler:
            client.close()
