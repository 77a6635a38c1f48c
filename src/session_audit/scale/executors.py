"""Where an ingest's chunks run: the :class:`ExecutionPlan`, validated once at the edge (CLI
options, flow parameters), and the pools that carry it out.

* ``inline``: no pool, the plain loop (``ingest.runner``);
* ``threads``: a ``ThreadPoolExecutor`` of ``workers`` threads in the driving process;
* ``dask``: ``distributed.Client(address).get_executor()`` on an existing cluster, or on the
  :func:`local_cluster` of ``workers`` processes (one thread each). Dask re-runs the chunks of a
  worker that dies (``distributed.scheduler.allowed-failures``); a chunk that *raises* is not
  retried (HTTP retries live in the client, token recovery in the driver).

:func:`local_cluster` is the one place that builds a Dask cluster: Prefect's ``DaskTaskRunner``
gets it as its ``cluster_class`` (``orchestration.tasks``). A :class:`ChunkPool`'s ``submit``
returns a ``concurrent.futures.Future`` whoever runs the chunks (``orchestration.tasks`` settles
one from each Prefect future), so the staged driver has one code path. This module imports
neither prefect nor distributed at import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

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
    """Where a run's chunks go: ``submit(fn, *args)`` returns a ``concurrent.futures.Future``
    (whoever runs the chunks); ``slots`` chunks may run at once."""

    submit: Callable[..., Future[Any]]
    slots: int
    dask_client: Any = None  # distributed.Client when the chunks run on Dask


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
        with ThreadPoolExecutor(plan.slots, thread_name_prefix="session-audit-chunk") as pool:
            yield ChunkPool(pool.submit, plan.slots)
        return
    if plan.executor != "dask":
        raise ConfigError("the inline executor runs no pool")
    import importlib

    distributed: Any = importlib.import_module("distributed")
    with ExitStack() as stack:
        cluster = None if plan.address else stack.enter_context(local_cluster(plan.slots))
        try:
            client = distributed.Client(plan.address or cluster, timeout=30, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {plan.address}: {exc}") from exc
        with client:
            executor = client.get_executor(pure=False, retries=0)
            yield ChunkPool(executor.submit, dask_slots(client), client)
