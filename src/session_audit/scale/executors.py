"""Where extraction chunks run: threads of this process, or a Dask cluster.

Both are a :class:`concurrent.futures.Executor`, so the staged driver has one code path:

* ``threads``: a ``ThreadPoolExecutor`` of ``workers`` threads in the driving process;
* ``dask``: ``distributed.Client(address).get_executor()`` for an existing cluster
  (``tcp://scheduler:8786``), or a ``distributed.LocalCluster`` of ``workers`` worker
  processes (one thread each) when no address is given. Dask re-runs the chunks of a worker
  that dies on another worker (``distributed.scheduler.allowed-failures``, 3 by default); a chunk
  that *raises* is not retried by Dask (HTTP retries live in the client, token recovery in the
  driver: one retry layer per kind of failure).

A third kind has no entry in :func:`open_pool`: inside a Prefect flow run, each chunk is a task
run executed by the flow's task runner (``orchestration.chunk_tasks``). :class:`FutureAdapter`
turns any ``submit(fn, *args) -> future-like`` (a ``PrefectFuture``: ``add_done_callback`` and
``result``) into the same ``Executor`` interface, so the driver still has one code path; this
module imports no prefect.

``slots`` is how many chunks the driver keeps in flight: the worker threads of the pool or
cluster. The request budget is split across them (see ``scale.driver``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from session_audit.errors import ConfigError

ExecutorKind = Literal["threads", "dask"]
EXECUTORS: tuple[str, ...] = ("threads", "dask")
DEFAULT_WORKERS = 2


@dataclass
class ChunkPool:
    """An executor of chunks and how many chunks may run at once."""

    executor: Executor
    slots: int
    label: str
    dask_client: Any = None  # distributed.Client when kind == "dask"


class FutureLike(Protocol):
    """What :class:`FutureAdapter` needs of a foreign future (``PrefectFuture`` has both)."""

    def add_done_callback(self, fn: Callable[[Any], None], /) -> None: ...

    def result(self) -> Any: ...


class FutureAdapter(Executor):
    """An ``Executor`` over ``submit(fn, *args, **kwargs) -> FutureLike``.

    Each call returns a ``concurrent.futures.Future`` settled, from the foreign future's done
    callback, with its ``result()`` or the exception that raised. The work cannot be withdrawn
    once handed over, so the returned future is already *running* (``cancel()`` is a no-op);
    whoever runs the work (a Prefect task runner) finishes or cancels it when it shuts down.
    """

    def __init__(self, submit: Callable[..., FutureLike]) -> None:
        self._submit = submit

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        handle = self._submit(fn, *args, **kwargs)
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()

        def settle(done: FutureLike) -> None:
            try:
                value = done.result()
            except BaseException as exc:  # handed to the waiter, which re-raises it
                future.set_exception(exc)
            else:
                future.set_result(value)

        handle.add_done_callback(settle)
        return future


@contextmanager
def open_pool(
    kind: str, *, workers: int | None = None, address: str | None = None
) -> Iterator[ChunkPool]:
    """A :class:`ChunkPool` for the block; clusters and pools it started are closed after."""
    if kind not in EXECUTORS:
        raise ConfigError(f"unknown executor {kind!r}: choose one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ConfigError("the number of workers must be at least 1")
    if kind == "threads":
        if address is not None:
            raise ConfigError("--dask-address needs --executor dask")
        n = workers or DEFAULT_WORKERS
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="session-audit-chunk") as pool:
            yield ChunkPool(pool, n, f"{n} threads")
        return
    with _dask_client(workers, address) as (client, label):
        slots = max(1, sum(client.nthreads().values()))
        yield ChunkPool(client.get_executor(pure=False, retries=0), slots, label, client)


@contextmanager
def _dask_client(workers: int | None, address: str | None) -> Iterator[tuple[Any, str]]:
    import importlib

    distributed: Any = importlib.import_module("distributed")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    if address is not None:
        if workers is not None:
            raise ConfigError("--dask-workers applies to a local cluster; omit --dask-address")
        try:
            client = Client(address, timeout=30, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        try:
            yield client, f"Dask cluster {address}"
        finally:
            client.close()
        return
    n = workers or DEFAULT_WORKERS
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client, f"local Dask cluster of {n} processes"
        finally:
            client.close()
    finally:
        cluster.close()
