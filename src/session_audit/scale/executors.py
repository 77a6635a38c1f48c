"""Where extraction chunks run: threads of this process, or a Dask cluster.

Both are a :class:`concurrent.futures.Executor`, so the staged driver has one code path:

* ``threads``: a ``ThreadPoolExecutor`` of ``workers`` threads in the driving process;
* ``dask``: ``distributed.Client(address).get_executor()`` for an existing cluster
  (``tcp://scheduler:8786``), or a ``distributed.LocalCluster`` of ``workers`` worker
  processes (one thread each) when no address is given. Dask re-runs the chunks of a worker
  that dies on another worker (``distributed.scheduler.allowed-failures``, 3 by default); a chunk
  that *raises* is not retried by Dask (HTTP retries live in the client, token recovery in the
  driver: one retry layer per kind of failure).

``slots`` is how many chunks the driver keeps in flight: the worker threads of the pool or
cluster. The request budget is split across them (see ``scale.driver``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

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
