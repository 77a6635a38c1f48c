"""The staged ingest: chunks extracted in parallel (threads or Dask), ONE loader merges them.

The driving process holds the DuckDB writer, the ledger row and the only API login (see
``TradovateClient.lend_token``). It refreshes users itself, then fans the chunks of the run out to a
:class:`~session_audit.scale.executors.ChunkPool` — first the re-fetch of open sessions, then the
ids of ``--ids-file`` or the scan windows — and merges what the workers staged **in chunk order**,
each chunk in ONE transaction with the cursor (:meth:`IngestRun.store_batch`, the same store half
as the plain path). A chunk that finished early waits for its predecessors, so the cursor never
passes an id that is not stored: a kill -9 of the driver leaves the database at its last
checkpoint; a dead worker's chunks are run again by Dask; either way the rerun gives truth.

Scan termination keeps the plain path's rule (stop after ``gap_tolerance`` consecutive empty
batches, counted in ids). Windows are dispatched ahead of the merge:

* while the merged range ends in data, up to ``slots`` windows of ``checkpoint_ids`` ids are in
  flight (at the end of the data this overscans at most ``slots * checkpoint_ids`` ids, once);
* while it ends in a gap (and at the start), only the ids still needed to complete the gap probe
  are dispatched, split over the slots, so a rerun with nothing new still costs exactly the
  ``gap_tolerance`` probe requests.

Request budget: the hourly budget is charged centrally. Before a chunk is dispatched the driver
takes ``ceil(ids / batch_size)`` admissions from its own :class:`RequestBudget` (trailing hour and
per-second limits, shared by every chunk), and after the chunk it takes the requests the worker
spent beyond that (retries). Each worker's client also gets ``1 / slots`` of the per-second limit
and of the concurrency. Worker counters are added to the run's, so ``ingest_runs`` shows every
request.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from session_audit.api.auth import TokenLease
from session_audit.errors import SessionAuditError, TokenExpiredError
from session_audit.ingest.runner import (
    ChunkResult,
    IdSource,
    IngestRun,
    IngestSummary,
    ProgressSink,
)
from session_audit.scale.executors import ChunkPool, open_pool
from session_audit.scale.staging import ChunkSpec, StagedChunk, StagingArea, StepKind
from session_audit.scale.worker import extract_chunk
from session_audit.settings import Settings

_log = logging.getLogger("session_audit.scale")

_ADDED_COUNTERS = (
    "requests",
    "penalty_waits",
    "penalty_wait_seconds",
    "budget_waits",
    "bytes_received",
    "rows",
    "batch_size_changes",
)


def worker_settings(settings: Settings, slots: int) -> Settings:
    """The settings a worker gets: no credentials, its share of the per-second budget and of
    the concurrency (the hourly budget is charged by the driver)."""
    data = settings.model_dump()
    data.update(
        username="",
        password=SecretStr(""),
        secret=SecretStr(""),
        requests_per_hour=max(1, settings.requests_per_hour // slots),
        requests_per_second=settings.requests_per_second / slots,
        concurrency=max(1, settings.concurrency // slots),
    )
    return Settings.model_validate(data)


@dataclass
class _Pending:
    spec: ChunkSpec
    future: Future[StagedChunk]
    reserved: int
    lease: TokenLease
    resent: bool = False


class StagedLoader:
    """Dispatches chunks to a pool and merges their staged frames in chunk order."""

    def __init__(
        self,
        run: IngestRun,
        pool: ChunkPool,
        staging: StagingArea,
        progress: ProgressSink | None = None,
        *,
        extract: Any = extract_chunk,
    ) -> None:
        self.run = run
        self.pool = pool
        self.staging = staging
        self.progress = progress
        self.extract = extract
        self.settings = run.settings
        self.worker_settings = worker_settings(run.settings, pool.slots)
        self.batch_size = run.settings.batch_size
        self._seq = 0
        self._pending: deque[_Pending] = deque()

    # -- dispatch ---------------------------------------------------------------------------

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def dispatch(self, spec: ChunkSpec, *, resent: bool = False) -> None:
        client = self.run.client
        lease = await client.lend_token()
        reserved = max(1, math.ceil(len(spec) / self.batch_size))
        for _ in range(reserved):
            await client.budget.acquire()
        future = self.pool.executor.submit(
            self.extract, spec, lease, self.worker_settings, self.staging, self.batch_size
        )
        self._pending.append(_Pending(spec, future, reserved, lease, resent))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    # -- merge ------------------------------------------------------------------------------

    async def merge_next(self) -> ChunkResult:
        """Wait for the oldest chunk in flight and store it (one transaction)."""
        item = self._pending[0]
        try:
            staged = await asyncio.wrap_future(item.future)
        except TokenExpiredError:
            if item.resent:
                raise
            _log.info("chunk %d: lent token refused; recovering it and resending", item.spec.seq)
            await self.run.client.recover_token(item.lease)
            self._pending.popleft()
            # Resend at the front: merge order is chunk order.
            tail = list(self._pending)
            self._pending.clear()
            await self.dispatch(item.spec, resent=True)
            self._pending.extend(tail)
            return await self.merge_next()
        except SessionAuditError:
            raise
        except Exception as exc:
            raise SessionAuditError(
                f"chunk {item.spec.seq} ({item.spec.step}, {len(item.spec)} ids) failed on a "
                f"worker: {type(exc).__name__}: {exc}"
            ) from exc
        self._pending.popleft()
        return await self._store(item, staged)

    async def _store(self, item: _Pending, staged: StagedChunk) -> ChunkResult:
        run = self.run
        self._add_counters(staged.counters)
        extra = int(staged.counters.get("requests", 0)) - item.reserved
        for _ in range(max(0, extra)):
            await run.client.budget.acquire()
        self.batch_size = min(self.batch_size, staged.batch_size)
        batch = self.staging.read(staged, self.settings.org)
        spec = item.spec
        result = run.store_batch(spec.ids, batch, spec.step, spec.advances_cursor)
        if spec.step == "open":
            assert run.summary is not None
            run.summary.open_refetched += len(spec)
        if self.progress is not None and run.summary is not None:
            self.progress(result, run.summary)
        return result

    def _add_counters(self, counters: dict[str, Any]) -> None:
        mine = self.run.client.counters
        for name in _ADDED_COUNTERS:
            setattr(mine, name, getattr(mine, name) + counters.get(name, 0))
        for cause, n in (counters.get("retries") or {}).items():
            mine.retries[cause] = mine.retries.get(cause, 0) + int(n)

    def cancel(self) -> None:
        for item in self._pending:
            item.future.cancel()
        self._pending.clear()

    # -- runs of chunks ---------------------------------------------------------------------

    async def run_list(self, ids: Sequence[int], step: StepKind) -> None:
        """Fetch ``ids`` in chunks of ``checkpoint_ids``, ``slots`` chunks in flight."""
        size = self.settings.checkpoint_ids
        chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
        for chunk in chunks:
            if self.in_flight >= self.pool.slots:
                await self.merge_next()
            await self.dispatch(ChunkSpec.listed(self.next_seq(), step, chunk))
        while self.in_flight:
            await self.merge_next()

    async def run_scan(self, start: int) -> None:
        """Scan windows from ``start`` until ``gap_tolerance`` empty batches (see module doc)."""
        settings, slots = self.settings, self.pool.slots
        gap_ids = settings.gap_tolerance * settings.batch_size
        position = start  # end of the dispatched range
        merged_end = start  # end of the merged range
        empty_run = 0  # trailing ids without a session in the merged range
        in_data = False  # did the merged range end in data?
        while True:
            while self.in_flight < slots:
                ahead = position - merged_end
                if in_data:
                    length = settings.checkpoint_ids
                else:
                    need = gap_ids - empty_run - ahead
                    if need <= 0:
                        break
                    # split the probe over the slots in whole calls (multiples of batch_size)
                    calls = math.ceil((gap_ids - empty_run) / settings.batch_size / slots)
                    share = max(1, calls) * settings.batch_size
                    length = min(settings.checkpoint_ids, share, need)
                await self.dispatch(ChunkSpec.window(self.next_seq(), position, position + length))
                position += length
            if not self.in_flight:
                return
            window = self._pending[0].spec
            result = await self.merge_next()
            merged_end = window.stop
            if result.max_id is None or result.max_id < window.start:
                empty_run += len(window)
                in_data = False
            else:
                empty_run = window.stop - (result.max_id + 1)
                in_data = True
            if empty_run >= gap_ids:
                in_data = False


async def drive_staged(
    run: IngestRun,
    pool: ChunkPool,
    staging: StagingArea,
    progress: ProgressSink | None = None,
    *,
    extract: Any = extract_chunk,
) -> IngestSummary:
    """The staged counterpart of :func:`~session_audit.ingest.runner.drive` (same sources,
    same order, same cursor rule)."""
    source = run.source
    summary = run.summary
    assert summary is not None
    loader = StagedLoader(run, pool, staging, progress, extract=extract)
    try:
        await run.refresh_users()
        await loader.run_list(run.open_ids(), "open")
        if source.kind == "ids":
            await loader.run_list(list(source.ids), "ids")
            return summary
        await loader.run_scan(run.scan_start())
    finally:
        loader.cancel()
    return summary


async def ingest_staged(
    settings: Settings,
    source: IdSource,
    pool: ChunkPool,
    *,
    staging_root: str,
    progress: ProgressSink | None = None,
    flow_run_id: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    extract: Any = extract_chunk,
) -> IngestSummary:
    """One staged ingest run end to end; the staging directory is removed afterwards."""
    run = IngestRun(settings, source, transport=transport, flow_run_id=flow_run_id)
    async with run:
        staging = StagingArea.for_run(staging_root, run.run_id)
        try:
            await drive_staged(run, pool, staging, progress, extract=extract)
        finally:
            try:
                staging.remove()
            except SessionAuditError as exc:
                _log.warning("%s", exc)
    assert run.summary is not None
    return run.summary


def default_staging_root(settings: Settings) -> str:
    """``<db dir>/staging``: fine for threads and a LocalCluster; give a shared path or URL
    (``--staging-dir``) when workers run on other machines."""
    return str((settings.db.parent / "staging").resolve())


def run_ingest_staged(
    settings: Settings,
    source: IdSource,
    *,
    executor: str = "threads",
    workers: int | None = None,
    address: str | None = None,
    staging_root: str | None = None,
    progress: ProgressSink | None = None,
) -> IngestSummary:
    """Synchronous entry for the CLI: open the pool, run the staged ingest, close the pool."""
    root = staging_root or default_staging_root(settings)
    with open_pool(executor, workers=workers, address=address) as pool:
        return asyncio.run(
            ingest_staged(settings, source, pool, staging_root=root, progress=progress)
        )
