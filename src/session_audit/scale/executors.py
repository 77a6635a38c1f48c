"""Where an ingest's chunks run: the :class:`ExecutionPlan`, validated once at the edge (CLI
options, flow parameters), and the pools that carry it out.

* ``inline``: no pool, the plain loop (``ingest.runner``);
* ``threads``: a ``ThreadPoolExecutor`` of ``workers`` threads in the driving process;
* ``dask``: ``distributed.Client(address).get_executor()`` on an existing cluster, or on the
  :func:`local_cluster` of ``workers`` processes (one thread each). Dask re-runs the chunks of a
  worker that dies (``distributed.scheduler.allowed-failures``); a chunk that *raises* is not
  retried (HTTP retries live in the client, token recovery in the driver).

:func:`local_cluster` is the one place that builds a Dask cluster: Prefect's ``DaskTaskRunner``
gets it as its ``cluster_class`` (``orchestration.chunk_tasks``). :class:`FutureAdapter` turns a
``PrefectFuture``-like into a ``concurrent.futures.Future``, so the staged driver has one code
path whoever runs the chunks. This module imports neither prefect nor distributed at import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from session_audit.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from session_audit.settings import Settings

ExecutorName = Literal["inline", "threads", "dask"]
EXECUTORS: tuple[str, ...] = ("inline", "threads", "dask")
DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class ExecutionPlan:
    """How one ingest run executes; every instance is valid (checked on construction).

    ``transport``: an in-process HTTP transport for every API client of the run (the simulator's,
    in tests and benchmarks); None: the network. It cannot reach Dask worker processes."""

    executor: ExecutorName = "inline"
    workers: int | None = None
    address: str | None = None
    staging_dir: str | None = None
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}: choose one of {EXECUTORS}")
        if self.executor == "inline" and (self.workers or self.address or self.staging_dir):
            raise ConfigError(
                "--dask-address, --dask-workers and --staging-dir need --executor threads|dask "
                "(flow: need executor threads|dask)"
            )
        if self.workers is not None and self.workers < 1:
            raise ConfigError("the number of workers must be at least 1")
        if self.address is not None and self.executor != "dask":
            raise ConfigError("--dask-address needs --executor dask")
        if self.address is not None and self.workers is not None:
            raise ConfigError("--dask-workers applies to a local cluster; omit --dask-address")
        if self.executor == "dask" and self.transport is not None:
            raise ConfigError("an in-process transport cannot reach Dask workers: use threads")

    @property
    def slots(self) -> int:
        """Worker threads or processes of a local pool."""
        return self.workers or DEFAULT_WORKERS

    def staging_root(self, settings: Settings) -> str:
        """``--staging-dir``, else ``<db dir>/staging``: fine for threads and a local cluster;
        give a shared path or URL when workers run on other machines."""
        return self.staging_dir or str((settings.db.parent / "staging").resolve())

    def parameters(self) -> dict[str, Any]:
        """The ``ingest_sessions`` flow parameters that say the same (none for inline)."""
        if self.executor == "inline":
            return {}
        named = {"dask_address": self.address, "dask_workers": self.workers}
        named |= {"staging_dir": self.staging_dir}
        return {"executor": self.executor, **{k: v for k, v in named.items() if v is not None}}


@dataclass
class ChunkPool:
    """An executor of chunks and how many chunks may run at once."""

    executor: Executor
    slots: int
    label: str
    dask_client: Any = None  # distributed.Client when the chunks run on Dask


class FutureLike(Protocol):
    """What :class:`FutureAdapter` needs of a foreign future (``PrefectFuture`` has both)."""

    def add_done_callback(self, fn: Callable[[Any], None], /) -> None: ...

    def result(self) -> Any: ...


class FutureAdapter(Executor):
    """An ``Executor`` over ``submit(fn, *args, **kwargs) -> FutureLike``: each call returns a
    ``Future`` settled from the foreign future's done callback. The work cannot be withdrawn once
    handed over, so the future is already *running* (``cancel()`` is a no-op)."""

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


def local_cluster(n_workers: int = DEFAULT_WORKERS, **kwargs: Any) -> Any:
    """A ``distributed.LocalCluster`` of ``n_workers`` processes, one thread each, no dashboard
    (``kwargs``: what prefect-dask adds, e.g. ``asynchronous``)."""
    import importlib

    distributed: Any = importlib.import_module("distributed")
    return distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        **kwargs,
    )


def dask_slots(client: Any) -> int:
    """The worker threads of the cluster behind ``client``."""
    return max(1, sum(cast(dict[str, int], client.nthreads()).values()))


@contextmanager
def open_pool(plan: ExecutionPlan) -> Iterator[ChunkPool]:
    """A :class:`ChunkPool` for ``plan`` (threads or dask); what it started is closed after."""
    if plan.executor == "threads":
        n = plan.slots
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="session-audit-chunk") as pool:
            yield ChunkPool(pool, n, f"{n} threads")
        return
    if plan.executor != "dask":
        raise ConfigError("the inline executor runs no pool")
    import importlib

    client_class: Any = importlib.import_module("distributed").Client
    cluster = None if plan.address is not None else local_cluster(plan.slots)
    try:
        try:
            client = client_class(plan.address or cluster, timeout=30, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {plan.address}: {exc}") from exc
        label = plan.address and f"Dask cluster {plan.address}"
        label = label or f"local Dask cluster of {plan.slots} processes"
        try:
            executor = client.get_executor(pure=False, retries=0)
            yield ChunkPool(executor, dask_slots(client), label, client)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
