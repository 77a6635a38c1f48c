"""The task runs of an ingest flow run: one per ingest step, one per staged extraction chunk.

* :class:`PrefectSteps` is the ``call`` that ``drive`` gets inside a flow: each step (users, a
  chunk of hundreds to thousands of ids, the findings) is one run of :data:`ingest_step`, awaited
  in the flow's own event loop (the run's HTTP client and DuckDB writer stay on one loop).
* :func:`task_runner_pool` (``threads`` or ``dask``): a ``ChunkPool`` whose chunks are runs of
  :data:`extract_chunk_task` on the task runner of :func:`task_runner_for` (threads, or
  prefect-dask on ``address`` or on ``scale.executors.local_cluster``), started for the ingest;
  :func:`settled_future` turns each task run's future into the driver's kind. The flow process
  keeps the DuckDB writer, the ledger row and the only login; a chunk carries no password or
  secret, only the lent token (a ``TokenLease``, whose repr hides it; task parameters are not
  stored).
* :class:`TaskRunTally` counts the task runs one caller started, so that the local server it
  stops afterwards waits until they are recorded (``prefect_server.prefect_api``).

One retry layer per kind of failure: HTTP failures are retried by the client (an ``ApiError``
means it gave up: a task retry would risk a 429 lockout); a ConfigError is a user mistake; a
refused lent token is recovered by the driver; Dask re-runs a dead worker's chunk. Only a
whole-step ``StorageError`` (not a locked or unmigratable database) is retried: a checkpoint is
one transaction, so a retried step stores its chunk exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.futures import PrefectFuture
from prefect.logging import get_run_logger
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.callables import get_call_parameters

from session_audit.api.auth import TokenLease
from session_audit.errors import ConfigError, DatabaseLockedError, MigrationError, StorageError
from session_audit.ingest.scan_plan import ChunkSpec
from session_audit.scale.executors import ChunkPool, ExecutionPlan, dask_slots, local_cluster
from session_audit.scale.staging import StagedChunk, StagingArea
from session_audit.settings import Settings

T = TypeVar("T")

STEP_RETRIES = 2
STEP_RETRY_DELAY_SECONDS = 2.0


@dataclass
class TaskRunTally:
    """How many task runs one caller's flow runs started."""

    started: int = 0


def _retry_condition(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only a whole-step ``StorageError`` that is not a locked or unmigratable database
    (see the module docstring)."""
    del task, task_run
    exc = state.data
    return isinstance(exc, StorageError) and not isinstance(
        exc, DatabaseLockedError | MigrationError
    )


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


@task(
    name="extract-chunk",
    task_run_name="extract-{spec.step}-{spec.seq}",
    retries=0,
    cache_policy=NO_CACHE,
    persist_result=False,
    log_prints=False,
)
def extract_chunk_task(
    extract: Callable[..., StagedChunk],
    spec: ChunkSpec,
    lease: TokenLease,
    settings: Settings,
    staging: StagingArea,
    batch_size: int,
) -> StagedChunk:
    """One extraction chunk as a task run: :func:`~session_audit.scale.worker.extract_chunk`
    (or what the caller passed instead)."""
    return extract(spec, lease, settings, staging, batch_size)


@dataclass
class PrefectSteps:
    """The ``call`` passed to ``drive`` inside a flow: each step becomes one task run."""

    tally: TaskRunTally

    async def __call__(self, name: str, step: Callable[..., Awaitable[T]], *args: Any) -> T:
        self.tally.started += 1
        result: T = await ingest_step(name, step, args)
        return result


def task_runner_for(plan: ExecutionPlan) -> TaskRunner[Any]:
    """The task runner of a staged plan: threads, or Dask on ``address`` or a local cluster."""
    if plan.executor == "threads":
        return ThreadPoolTaskRunner(max_workers=plan.slots)
    if plan.executor != "dask":
        raise ConfigError("the inline executor runs no chunk tasks")
    from prefect_dask.task_runners import DaskTaskRunner

    if plan.address is not None:
        return DaskTaskRunner(address=plan.address, client_kwargs={"timeout": 30})
    return DaskTaskRunner(cluster_class=local_cluster, cluster_kwargs={"n_workers": plan.slots})


@contextmanager
def task_runner_pool(plan: ExecutionPlan, tally: TaskRunTally) -> Iterator[ChunkPool]:
    """A :class:`ChunkPool` whose chunks are task runs of the current flow run, on a task runner
    of :func:`task_runner_for` started for the block. Call inside a flow run."""
    with task_runner_for(plan) as runner:
        slots, where = plan.slots, f"{plan.slots} threads"
        if plan.executor == "dask":
            try:  # prefect-dask connects (or starts its cluster) on first use of the client
                slots = dask_slots(runner.client)  # type: ignore[attr-defined]
            except (OSError, TimeoutError) as exc:
                where = f"the Dask scheduler at {plan.address}" if plan.address else "Dask"
                raise ConfigError(f"cannot reach {where}: {exc}") from exc
            where = f"Dask cluster of {slots} worker threads"
        get_run_logger().info("extracting chunks as task runs on %s (Prefect task runs)", where)

        def submit(fn: Callable[..., StagedChunk], *args: Any) -> Future[StagedChunk]:
            parameters = get_call_parameters(extract_chunk_task.fn, (fn, *args), {})
            tally.started += 1
            return settled_future(runner.submit(extract_chunk_task, parameters))

        yield ChunkPool(submit, slots)


def settled_future(handle: PrefectFuture[T]) -> Future[T]:
    """A ``concurrent.futures.Future`` settled from ``handle``'s done callback (the staged
    driver's one kind of future). The work cannot be withdrawn once handed over, so the future
    is already *running* (``cancel()`` is a no-op)."""
    future: Future[T] = Future()
    future.set_running_or_notify_cancel()

    def settle(done: PrefectFuture[T]) -> None:
        try:
            value = done.result()
        except BaseException as exc:  # handed to the waiter, which re-raises it
            future.set_exception(exc)
        else:
            future.set_result(value)

    handle.add_done_callback(settle)
    return future
