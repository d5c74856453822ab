"""Where a curve's runs go: this process, local worker processes, or a Dask cluster.

Each executor yields (spec, record) as runs finish, in whatever order they finish.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

from datasize.curves.plan import RunSpec
from datasize.curves.run import RunTask, run_one


def execute(tasks: list[RunTask], *, jobs: int, scheduler: Any) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    if not tasks:
        return
    if scheduler is not None:
        yield from _execute_dask(tasks, scheduler)
    elif jobs == 1:
        for task in tasks:
            yield task.spec, run_one(task)
    else:
        yield from _execute_processes(tasks, jobs)


def _execute_processes(tasks: list[RunTask], jobs: int) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    import multiprocessing

    # forkserver: forking a process that already runs torch's thread pools can deadlock.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures: dict[Future, RunSpec] = {pool.submit(run_one, t): t.spec for t in tasks}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _execute_dask(tasks: list[RunTask], scheduler: Any) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'datasize-toolkit[dask]'") from None
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = {
            client.submit(run_one, t, pure=False, key=f"datasize-{t.spec.name}-{os.getpid()}"): t.spec
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
