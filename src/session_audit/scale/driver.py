"""The pooled fetcher: chunks extracted in parallel (threads or Dask), the one loop stores them.

The driving process holds the DuckDB writer, the ledger row and the only API login (see
``TradovateClient.lend_token``). It runs the same loop as the plain path
(:func:`~session_audit.ingest.runner.drive`: users, open sessions, listed ids or the scan plan,
the same end rule and cursor rule); only the fetching differs: :class:`PooledFetcher` hands each
chunk to a :class:`~session_audit.scale.executors.ChunkPool`, where a worker fetches it with a lent
token, normalizes it and stages Parquet, and the loop takes the staged frames **in chunk order**
and stores consecutive chunks together, ONE transaction with the cursor per checkpoint (see
``session_audit.ingest.checkpoints``). A chunk that finished early waits for its predecessors,
so the cursor never passes an id that is not stored: a kill -9 of the driver leaves the database
at its last checkpoint; a dead worker's chunks are run again by Dask; either way the rerun gives
truth. ``slots`` chunks are in flight: the workers of the pool.

Request budget: the hourly budget is charged centrally. Before a chunk is dispatched the driver
takes ``ceil(ids / batch_size)`` admissions from its own :class:`RequestBudget` (trailing hour and
per-second limits, shared by every chunk), and after the chunk it takes the requests the worker
spent beyond that (retries). Each worker's client also gets ``1 / slots`` of the per-second limit
and of the concurrency. Worker counters are added to the run's, so ``ingest_runs`` shows every
request.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from session_audit.api.auth import TokenLease
from session_audit.errors import SessionAuditError, TokenExpiredError
from session_audit.ingest.normalize import NormalizedBatch
from session_audit.ingest.runner import (
    IdSource,
    IngestRun,
    IngestSummary,
    ProgressSink,
    ingest,
    run_until_signal,
)
from session_audit.ingest.scan_plan import ChunkSpec
from session_audit.scale.executors import ChunkPool, ExecutionPlan, open_pool
from session_audit.scale.staging import StagedChunk, StagingArea
from session_audit.scale.worker import extract_chunk
from session_audit.settings import Settings

_log = logging.getLogger("session_audit.scale")


def worker_settings(settings: Settings, slots: int) -> Settings:
    """The settings a worker gets: no credentials, its share of the per-second budget and of
    the concurrency (the hourly budget is charged by the driver)."""
    return settings.model_copy(
        update={
            "username": "",
            "password": SecretStr(""),
            "secret": SecretStr(""),
            "requests_per_hour": max(1, settings.requests_per_hour // slots),
            "requests_per_second": settings.requests_per_second / slots,
            "concurrency": max(1, settings.concurrency // slots),
        }
    )


@dataclass
class _Pending:
    spec: ChunkSpec
    future: Future[StagedChunk]
    reserved: int
    lease: TokenLease
    resent: bool = False


class PooledFetcher:
    """The :class:`~session_audit.ingest.runner.Fetcher` of the threads and Dask executors: its
    run's staging directory is under ``plan.staging_root``, removed when the fetcher closes."""

    def __init__(self, run: IngestRun, pool: ChunkPool, plan: ExecutionPlan, extract: Any) -> None:
        self.run = run
        self.pool = pool
        self.staging = StagingArea.for_run(plan.staging_root(run.settings), run.run_id)
        # an in-process transport (threads only) goes with each chunk to its worker's client
        transport = plan.transport
        self.extract = functools.partial(extract, transport=transport) if transport else extract
        self.slots = pool.slots
        self.worker_settings = worker_settings(run.settings, pool.slots)
        self.batch_size = run.settings.batch_size
        self._pending: dict[int, _Pending] = {}

    async def start(self, spec: ChunkSpec, *, resent: bool = False) -> None:
        client = self.run.client
        lease = await client.lend_token()
        self.batch_size = min(self.batch_size, client.batch_size)
        reserved = max(1, math.ceil(len(spec) / self.batch_size))
        for _ in range(reserved):
            await client.budget.acquire()
        future = self.pool.submit(
            self.extract, spec, lease, self.worker_settings, self.staging, self.batch_size
        )
        self._pending[spec.seq] = _Pending(spec, future, reserved, lease, resent)

    async def result(self, spec: ChunkSpec) -> NormalizedBatch:
        """Wait for ``spec``'s chunk and read what its worker staged."""
        item = self._pending[spec.seq]
        try:
            staged = await asyncio.wrap_future(item.future)
        except TokenExpiredError:
            if item.resent:
                raise
            _log.info("chunk %d: lent token refused; recovering it and resending", spec.seq)
            await self.run.client.recover_token(item.lease)
            del self._pending[spec.seq]
            await self.start(spec, resent=True)
            return await self.result(spec)
        except SessionAuditError:
            raise
        except Exception as exc:
            raise SessionAuditError(
                f"chunk {spec.seq} ({spec.step}, {len(spec)} ids) failed on a "
                f"worker: {type(exc).__name__}: {exc}"
            ) from exc
        del self._pending[spec.seq]
        self.run.client.counters.merge(staged.counters)
        extra = staged.counters.requests - item.reserved
        for _ in range(max(0, extra)):
            await self.run.client.budget.acquire()
        self.batch_size = min(self.batch_size, staged.batch_size)
        return self.staging.read(staged)

    async def aclose(self) -> None:
        for item in self._pending.values():
            item.future.cancel()
        self._pending.clear()
        try:
            self.staging.remove()
        except SessionAuditError as exc:
            _log.warning("%s", exc)


async def ingest_staged(
    settings: Settings,
    source: IdSource,
    plan: ExecutionPlan,
    pool: ChunkPool,
    *,
    progress: ProgressSink | None = None,
    flow_run_id: str | None = None,
    extract: Any = extract_chunk,
) -> IngestSummary:
    """One staged ingest run end to end: :func:`~session_audit.ingest.runner.ingest` with a
    :class:`PooledFetcher` on ``pool``, staging under ``plan.staging_root``."""
    return await ingest(
        settings,
        source,
        transport=plan.transport,
        progress=progress,
        flow_run_id=flow_run_id,
        fetcher=lambda run: PooledFetcher(run, pool, plan, extract),
    )


def run_ingest_staged(
    settings: Settings,
    source: IdSource,
    plan: ExecutionPlan,
    *,
    progress: ProgressSink | None = None,
) -> IngestSummary:
    """Synchronous entry for the CLI: open the plan's pool, run the staged ingest, close it."""
    with open_pool(plan) as pool:
        return run_until_signal(ingest_staged(settings, source, plan, pool, progress=progress))
