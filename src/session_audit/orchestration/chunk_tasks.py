"""The staged ingest inside a flow run: each extraction chunk is one Prefect task run, executed by
the flow's task runner (threads of the flow process, or Dask workers through prefect-dask).

The flow process stays the driver (``scale.driver``): it holds the DuckDB writer, the ledger row
and the only API login, and merges the staged chunks in order. Only
:func:`~session_audit.scale.worker.extract_chunk` crosses to the task runner, as
:data:`extract_chunk_task`. Its arguments are picklable and carry no password or API secret, only
the driver's lent token (a ``TokenLease``, whose repr hides it; Prefect does not store task
parameters on the server).

Which task runner:

* ``threads``: the flow's own ``ThreadPoolTaskRunner`` (the default of every flow);
* ``dask``: the flow's task runner when it is a prefect-dask ``DaskTaskRunner``
  (``run_ingest_flow`` sets one with ``ingest_sessions.with_options(task_runner=...)``);
  otherwise, e.g. a deployment run with ``executor="dask"``, the flow body starts one of
  :func:`task_runner_for` for the duration of the ingest. The task runs are in the same flow run
  either way.

Retries: none on the task. HTTP retries are in the client; a refused lent token is recovered by
the driver, which sends the chunk again; Dask runs the chunk of a dead worker again itself
(``distributed.scheduler.allowed-failures``). One retry layer per kind of failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.callables import get_call_parameters

from session_audit.api.auth import TokenLease
from session_audit.errors import ConfigError
from session_audit.orchestration.tasks import note_task_run_started
from session_audit.scale.executors import DEFAULT_WORKERS, ChunkPool, FutureAdapter
from session_audit.scale.staging import ChunkSpec, StagedChunk, StagingArea
from session_audit.settings import Settings

STAGED_EXECUTORS: tuple[str, ...] = ("threads", "dask")


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
    """One extraction chunk (``checkpoint_ids`` ids) as a task run: ``extract`` is
    :func:`~session_audit.scale.worker.extract_chunk` (tests pass their own)."""
    return extract(spec, lease, settings, staging, batch_size)


def task_runner_for(
    executor: str, *, workers: int | None = None, address: str | None = None
) -> TaskRunner[Any]:
    """The task runner of a staged flow run: ``ThreadPoolTaskRunner`` of ``workers`` threads, or
    prefect-dask's ``DaskTaskRunner`` on ``address`` (else a ``distributed.LocalCluster`` of
    ``workers`` processes, one thread each, no dashboard)."""
    _check_options(executor, workers, address)
    if executor == "threads":
        return ThreadPoolTaskRunner(max_workers=workers or DEFAULT_WORKERS)
    from prefect_dask.task_runners import DaskTaskRunner

    if address is not None:
        return DaskTaskRunner(address=address, client_kwargs={"timeout": 30})
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": workers or DEFAULT_WORKERS,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            "silence_logs": logging.ERROR,
        },
    )


@contextmanager
def task_runner_pool(
    executor: str, *, workers: int | None = None, address: str | None = None
) -> Iterator[ChunkPool]:
    """A :class:`ChunkPool` whose chunks are task runs of the current flow run (see the module
    docstring for which task runner runs them). Call inside a flow run."""
    _check_options(executor, workers, address)
    context = FlowRunContext.get()
    if context is None or context.task_runner is None:
        raise ConfigError(f"--executor {executor} with Prefect needs a running flow run")
    runner: TaskRunner[Any] = context.task_runner
    if _runs(runner, executor):
        yield _pool(runner, executor, workers, address)
        return
    with task_runner_for(executor, workers=workers, address=address) as own:
        yield _pool(own, executor, workers, address)


def _check_options(executor: str, workers: int | None, address: str | None) -> None:
    if executor not in STAGED_EXECUTORS:
        raise ConfigError(
            f"unknown executor {executor!r} for task runs: choose {' or '.join(STAGED_EXECUTORS)}"
        )
    if workers is not None and workers < 1:
        raise ConfigError("the number of workers must be at least 1")
    if executor == "threads" and address is not None:
        raise ConfigError("--dask-address needs --executor dask")
    if address is not None and workers is not None:
        raise ConfigError("--dask-workers applies to a local cluster; omit --dask-address")


def _runs(runner: TaskRunner[Any], executor: str) -> bool:
    """Is ``runner`` of the kind ``executor`` asks for?"""
    if executor == "threads":
        return isinstance(runner, ThreadPoolTaskRunner)
    from prefect_dask.task_runners import DaskTaskRunner

    return isinstance(runner, DaskTaskRunner)


def _pool(
    runner: TaskRunner[Any], executor: str, workers: int | None, address: str | None
) -> ChunkPool:
    dask_client: Any = None
    if executor == "threads":
        threads = getattr(runner, "_max_workers", None)
        wanted = workers or DEFAULT_WORKERS
        slots = min(wanted, threads) if isinstance(threads, int) and threads > 0 else wanted
        label = f"{slots} threads (Prefect task runs)"
    else:
        dask_client = _dask_client(runner, address)
        slots = max(1, sum(dask_client.nthreads().values()))
        label = f"Dask cluster of {slots} worker threads (Prefect task runs)"

    def submit(fn: Callable[..., StagedChunk], *args: Any) -> PrefectFuture[StagedChunk]:
        parameters = get_call_parameters(extract_chunk_task.fn, (fn, *args), {})
        future: PrefectFuture[StagedChunk] = runner.submit(extract_chunk_task, parameters)
        note_task_run_started()
        return future

    return ChunkPool(FutureAdapter(submit), slots, label, dask_client)


def _dask_client(runner: TaskRunner[Any], address: str | None) -> Any:
    """The runner's ``distributed.Client`` (its first use starts the LocalCluster)."""
    from prefect_dask.task_runners import DaskTaskRunner

    assert isinstance(runner, DaskTaskRunner)
    try:
        return runner.client
    except (OSError, TimeoutError) as exc:
        where = f"the Dask scheduler at {address}" if address else "the Dask cluster"
        raise ConfigError(f"cannot reach {where}: {exc}") from exc
