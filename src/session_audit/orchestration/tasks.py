"""Ingest steps as Prefect task runs.

``drive`` calls every step as ``await call(name, step, *args)``; :func:`prefect_step_call` is that
``call`` for flows: the step runs as one task run (an async task awaited in the flow's own event
loop, so the run's shared async HTTP client and DuckDB writer are used from one loop). A step
covers a chunk of hundreds to thousands of ids: one task run per chunk, never per id.

One retry layer per kind of failure:

* HTTP failures are retried by the API client (backoff, Retry-After, token renewal). When it gives
  up it raises an :class:`~session_audit.errors.ApiError`; retrying the whole task would repeat
  requests and risk a 429 lockout, so the task does not retry it.
* :class:`~session_audit.errors.ConfigError` is a user mistake: retrying cannot help.
* a whole-task failure of the storage (:class:`~session_audit.errors.StorageError`) is retried: a
  checkpoint is one transaction, so a retried step stores its chunk exactly once. A locked or
  unmigratable database is not retried.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from session_audit.errors import DatabaseLockedError, MigrationError, StorageError

T = TypeVar("T")

STEP_RETRIES = 2
STEP_RETRY_DELAY_SECONDS = 2.0

_started = itertools.count()
_task_runs_started = 0


def should_retry_step(exc: BaseException | None) -> bool:
    """True only for whole-task failures a retry can fix (see the module docstring)."""
    if not isinstance(exc, StorageError):
        return False
    return not isinstance(exc, DatabaseLockedError | MigrationError)


def _retry_condition(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    del task, task_run
    data = state.data
    return should_retry_step(data if isinstance(data, BaseException) else None)


@task(
    name="ingest-step",
    task_run_name="{name}",
    retries=STEP_RETRIES,
    retry_delay_seconds=STEP_RETRY_DELAY_SECONDS,
    retry_condition_fn=_retry_condition,
    cache_policy=NO_CACHE,
    persist_result=False,
)
async def ingest_step(name: str, step: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> Any:
    """Run one ingest step (one chunk of ids) as a task run named after the step."""
    del name
    return await step(*args)


def task_runs_started() -> int:
    """How many task runs (ingest steps and extraction chunks) this process has started
    (shutdown waits for them to be recorded by the server)."""
    return _task_runs_started


def note_task_run_started() -> None:
    """Count one more task run started by this process (see :func:`task_runs_started`)."""
    global _task_runs_started
    _task_runs_started = next(_started) + 1


async def prefect_step_call(name: str, step: Callable[..., Awaitable[T]], *args: Any) -> T:
    """The ``call`` passed to ``drive`` inside a flow: each step becomes one task run."""
    note_task_run_started()
    result: T = await ingest_step(name, step, args)
    return result
