"""The ingest loop: where session ids come from, in what chunks, and when the scan stops.

One loop, :func:`drive`, serves every way of running an ingest. It calls each step through a
``call(name, step, *args)`` function: the plain path (:func:`run_ingest`) simply awaits the step,
the Prefect flow wraps it in a task run, so both run exactly the same code.

Each step is a method of :class:`IngestRun` that fetches one chunk of ids (hundreds to thousands)
and stores it in ONE transaction together with the cursor, so a kill -9 anywhere loses nothing and
duplicates nothing: the rerun starts from the last committed cursor.

Where ids come from, in this order, on every run:

1. users (``user/list``) and their stats (``userSessionStats/ldeps``), stored per observation;
2. the sessions still open in the database, re-fetched so that their ``endTime`` lands;
3. either the ids the user supplied (``--ids-file``), or a range scan from ``--start-id`` / the
   stored cursor until ``gap_tolerance`` consecutive empty batches.

The cursor is the highest session id stored (or rejected) plus one, never the end of a batch: new
sessions take ids right after the highest one seen, inside the last batch scanned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar

import httpx

from session_audit.errors import ConfigError, SessionAuditError
from session_audit.settings import Settings

T = TypeVar("T")
_log = logging.getLogger("session_audit.ingest")

SourceKind = Literal["scan", "ids"]


class StepCaller(Protocol):
    """Runs one step: directly, or as a Prefect task run."""

    def __call__(
        self, name: str, step: Callable[..., Awaitable[T]], *args: Any
    ) -> Awaitable[T]: ...


async def call_directly(name: str, step: Callable[..., Awaitable[T]], *args: Any) -> T:
    """The plain path: no orchestration, just await the step."""
    del name
    return await step(*args)


@dataclass(frozen=True)
class IdSource:
    """Which session ids a run fetches besides the open ones."""

    kind: SourceKind = "scan"
    start_id: int | None = None
    ids: tuple[int, ...] = ()


@dataclass
class ChunkResult:
    """What one step fetched and stored."""

    step: str
    first_id: int | None
    last_id: int | None
    requested: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    max_id: int | None = None


@dataclass
class IngestSummary:
    """The outcome of one run, as printed at the end and stored in ``ingest_runs``."""

    run_id: int
    org: str
    source: str
    status: str = "running"
    first_id: int | None = None
    last_id: int | None = None
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    users: int = 0
    open_refetched: int = 0
    next_id: int | None = None
    open_sessions: int = 0
    chunks: int = 0
    seconds: float = 0.0
    counters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def add(self, result: ChunkResult) -> None:
        self.chunks += 1
        self.fetched += result.fetched
        self.inserted += result.inserted
        self.updated += result.updated
        self.unchanged += result.unchanged
        self.rejected += result.rejected
        if result.step == "open":  # the id range of a run is that of its source, not re-fetches
            return
        if result.first_id is not None:
            self.first_id = (
                result.first_id if self.first_id is None else min(self.first_id, result.first_id)
            )
        if result.last_id is not None:
            self.last_id = (
                result.last_id if self.last_id is None else max(self.last_id, result.last_id)
            )

    def ledger_counts(self) -> dict[str, int]:
        """The counts stored in ``ingest_runs``."""
        retries = self.counters.get("retries", {})
        return {
            "requests": int(self.counters.get("requests", 0)),
            "fetched": self.fetched,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "retries": int(sum(retries.values())) if isinstance(retries, Mapping) else 0,
            "penalty_waits": int(self.counters.get("penalty_waits", 0)),
            "renewals": int(self.counters.get("renewals", 0)),
            "bytes": int(self.counters.get("bytes_received", 0)),
        }


ProgressSink = Callable[[ChunkResult, IngestSummary], None]

# --- the in-process transport seam -------------------------------------------------------------

_TRANSPORTS: dict[str, httpx.AsyncBaseTransport] = {}


def register_transport(base_url: str, transport: httpx.AsyncBaseTransport) -> None:
    """Route every client for ``base_url`` through ``transport`` (tests, benchmarks, Prefect runs
    against the in-process simulator: no sockets)."""
    _TRANSPORTS[base_url.rstrip("/")] = transport


def unregister_transport(base_url: str) -> None:
    _TRANSPORTS.pop(base_url.rstrip("/"), None)


def transport_for(base_url: str) -> httpx.AsyncBaseTransport | None:
    return _TRANSPORTS.get(base_url.rstrip("/"))


# --- one run -----------------------------------------------------------------------------------


class IngestRun:
    """One ingest run: the database writer, the API client and the ledger row, with one step
    per chunk. Use as ``async with IngestRun(settings, source) as run: await drive(run, ...)``."""

    def __init__(
        self,
        settings: Settings,
        source: IdSource,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        flow_run_id: str | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self._transport = transport or transport_for(settings.base_url)
        self._flow_run_id = flow_run_id
        self._sleep = sleep
        self._started = time.monotonic()
        self._writer: Any = None
        self._conn: Any = None
        self._client: Any = None
        self.store: Any = None
        self.summary: IngestSummary | None = None
        self._planned: list[int] | None = None
        self._prefetch: tuple[tuple[int, ...], asyncio.Task[list[bytes]]] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> IngestRun:
        from session_audit.api.auth import build_login_request
        from session_audit.api.client import TradovateClient
        from session_audit.db.connection import writer
        from session_audit.db.migrations import migrate
        from session_audit.ingest.store import SessionStore

        # Bad credentials settings are a user mistake: say so before touching the database, so
        # that no ledger row records a run that never could start.
        build_login_request(self.settings)
        self._writer = writer(self.settings.db, lock_timeout=self.settings.lock_timeout)
        self._conn = self._writer.__enter__()
        try:
            migrate(self._conn)
            self.store = SessionStore(self._conn, self.settings.org)
            run_id = self.store.start_run(
                self.source.kind, flow_run_id=self._flow_run_id, first_id=self.source.start_id
            )
            self.summary = IngestSummary(
                run_id=run_id, org=self.settings.org, source=self.source.kind
            )
            kwargs: dict[str, Any] = {"transport": self._transport}
            if self._sleep is not None:
                kwargs["sleep"] = self._sleep
            self._client = TradovateClient(self.settings, **kwargs)
            # The API's budget is per user over a trailing hour, across runs: start with what
            # the previous runs of this org spent in that hour.
            self._client.budget.preload(self.store.recent_requests())
            await self._client.__aenter__()
        except BaseException:
            self._writer.__exit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        summary = self.summary
        try:
            await self._drop_prefetch()
            if self._client is not None:
                await self._client.__aexit__(exc_type, exc, tb)
            if summary is not None:
                summary.counters = self._client.counters.as_dict() if self._client else {}
                summary.seconds = time.monotonic() - self._started
                if exc is None:
                    summary.status = "completed"
                elif isinstance(exc, KeyboardInterrupt | SystemExit):
                    summary.status = "interrupted"
                    summary.error = "interrupted"
                else:
                    summary.status = "failed"
                    summary.error = _one_line(exc)
                self._finish(summary)
        finally:
            self._writer.__exit__(exc_type, exc, tb)

    def _finish(self, summary: IngestSummary) -> None:
        """Close the ledger row. A failure here must not hide the error that ended the run: the
        next run marks a row left 'running' as 'interrupted'."""
        try:
            summary.next_id = self.store.next_id()
            summary.open_sessions = len(self.store.open_session_ids())
            self.store.finish_run(
                summary.run_id, summary.status, summary.ledger_counts(), summary.error
            )
        except SessionAuditError as exc:
            if summary.status == "completed":
                raise
            _log.warning("could not record the end of run %s: %s", summary.run_id, exc)

    @property
    def run_id(self) -> int:
        assert self.summary is not None
        return self.summary.run_id

    @property
    def client(self) -> Any:
        """The run's :class:`~session_audit.api.client.TradovateClient` (logged in lazily): the
        staged executors lend its token to workers and charge its request budget."""
        return self._client

    # -- queries of the stored state --------------------------------------------------------------

    def open_ids(self) -> list[int]:
        ids: list[int] = self.store.open_session_ids()
        return ids

    def next_id(self) -> int | None:
        value: int | None = self.store.next_id()
        return value

    # -- steps: each fetches one chunk and stores it in one transaction --------------------------

    async def refresh_users(self) -> int:
        """Page through users and their stats; store both. Returns the number of users."""
        users = await self._client.users()
        self.store.write_users(self.run_id, users)
        ids = sorted({int(u["id"]) for u in users if isinstance(u.get("id"), int)})
        stats = await self._client.user_session_stats(ids) if ids else []
        self.store.write_user_stats(self.run_id, stats)
        assert self.summary is not None
        self.summary.users = len(users)
        return len(users)

    async def fetch_ids(self, ids: Sequence[int], advance_cursor: bool) -> ChunkResult:
        """Fetch ``ids`` and store them; with ``advance_cursor`` the cursor moves to the highest
        id seen + 1 in the same transaction."""
        return await self._fetch(ids, "scan" if advance_cursor else "ids", advance_cursor)

    async def refetch_open(self, ids: Sequence[int]) -> ChunkResult:
        """Re-fetch sessions still open so that their end time lands; the cursor stays."""
        result = await self._fetch(ids, "open", False)
        assert self.summary is not None
        self.summary.open_refetched += len(ids)
        return result

    async def _fetch(self, ids: Sequence[int], step: str, advance_cursor: bool) -> ChunkResult:
        from session_audit.ingest.normalize import normalize_pages

        pages = await self._pages(ids)
        # While this chunk is normalized and stored (in a worker thread: the event loop stays
        # free), the chunk planned next is already being fetched.
        planned, self._planned = self._planned, None
        if planned:
            task = asyncio.create_task(self._client.session_item_pages(planned))
            self._prefetch = (tuple(planned), task)
        batch = await asyncio.to_thread(normalize_pages, pages, org=self.settings.org)
        return await asyncio.to_thread(self.store_batch, ids, batch, step, advance_cursor)

    # -- fetching ahead ---------------------------------------------------------------------------

    def plan_next(self, ids: Sequence[int] | None) -> None:
        """Say which ids the next step will fetch: the current step starts fetching them as soon
        as its own pages are in, so fetching overlaps normalizing and storing."""
        self._planned = list(ids) if ids else None

    def prefetched_window(self) -> list[int] | None:
        """The ids being fetched ahead, if any (the next step should take exactly these)."""
        return list(self._prefetch[0]) if self._prefetch is not None else None

    async def _pages(self, ids: Sequence[int]) -> list[bytes]:
        if self._prefetch is not None and self._prefetch[0] == tuple(ids):
            task = self._prefetch[1]
            self._prefetch = None
            return await task
        await self._drop_prefetch()
        pages: list[bytes] = await self._client.session_item_pages(ids)
        return pages

    async def _drop_prefetch(self) -> None:
        if self._prefetch is None:
            return
        task = self._prefetch[1]
        self._prefetch = None
        task.cancel()
        with contextlib.suppress(BaseException):
            await task

    def store_batch(
        self, ids: Sequence[int], batch: Any, step: str, advance_cursor: bool
    ) -> ChunkResult:
        """Store one fetched chunk (a ``NormalizedBatch`` of ``ids``) in ONE transaction with
        the cursor; the store half of every step, also used by the staged (Dask) executors."""
        cursor = batch.max_id + 1 if advance_cursor and batch.max_id is not None else None
        counts = self.store.write_checkpoint(
            self.run_id, batch, cursor=cursor, requests=self._client.counters.requests
        )
        result = ChunkResult(
            step=step,
            first_id=min(ids) if ids else None,
            last_id=max(ids) if ids else None,
            requested=len(ids),
            fetched=batch.fetched,
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=counts.unchanged,
            rejected=counts.rejected,
            max_id=batch.max_id,
        )
        assert self.summary is not None
        self.summary.add(result)
        return result

    def scan_start(self) -> int:
        """Where the range scan starts: ``--start-id`` if given, else the stored cursor. A first
        scan records its start as the cursor, so that the next run has one even when this run
        finds nothing (an existing cursor never moves backwards)."""
        stored = self.next_id()
        start = self.source.start_id if self.source.start_id is not None else stored
        if start is None:
            raise ConfigError(
                f"no scan cursor is stored for org {self.settings.org!r} in {self.settings.db}: "
                "pass --start-id N (the first session id to scan from) or --ids-file FILE"
            )
        if stored is None:
            self.store.set_cursor_if_absent(start)
        return start


def chunked(ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


async def drive(
    run: IngestRun,
    call: StepCaller = call_directly,
    progress: ProgressSink | None = None,
) -> IngestSummary:
    """The one ingest loop, shared by the plain path and the Prefect flow."""
    settings, source = run.settings, run.source
    summary = run.summary
    assert summary is not None

    def report(result: ChunkResult) -> None:
        if progress is not None:
            progress(result, summary)

    await call("refresh_users", run.refresh_users)

    open_chunks = list(chunked(run.open_ids(), settings.checkpoint_ids))
    for i, chunk in enumerate(open_chunks):
        run.plan_next(open_chunks[i + 1] if i + 1 < len(open_chunks) else None)
        report(await call("refetch_open", run.refetch_open, list(chunk)))

    if source.kind == "ids":
        id_chunks = list(chunked(list(source.ids), settings.checkpoint_ids))
        for i, chunk in enumerate(id_chunks):
            run.plan_next(id_chunks[i + 1] if i + 1 < len(id_chunks) else None)
            report(await call("fetch_ids", run.fetch_ids, list(chunk), False))
        return summary

    start = run.scan_start()
    # The scan ends after `gap_tolerance` consecutive empty batches, measured in ids so that a
    # batch size shrunk by the server does not change where the scan stops.
    gap_ids = settings.gap_tolerance * settings.batch_size
    position = start
    empty_run = 0  # consecutive ids at the end of the scanned range with no session
    # The first chunk is only as long as the gap probe: a rerun with nothing new costs exactly
    # `gap_tolerance` requests. Chunks grow to `checkpoint_ids` while sessions keep coming.
    length = min(settings.checkpoint_ids, gap_ids)
    in_data = False  # the last chunk ended with a session: more are likely right after it
    while empty_run < gap_ids:
        ahead = run.prefetched_window()
        if ahead and ahead[0] == position:
            length = len(ahead)  # fetched ahead already: store all of it, nothing is wasted
        ids = list(range(position, position + length))
        # Fetch the next full window ahead only in the middle of the data; at its end this
        # spends at most one window beyond the gap probe, once per run (its sessions, if any,
        # are stored all the same).
        end = position + length
        run.plan_next(range(end, end + settings.checkpoint_ids) if in_data else None)
        result = await call("scan", run.fetch_ids, ids, True)
        report(result)
        if result.max_id is None or result.max_id < position:
            empty_run += length
        else:
            empty_run = end - (result.max_id + 1)
        in_data = empty_run == 0
        position = end
        remaining = gap_ids - empty_run
        length = (
            settings.checkpoint_ids
            if empty_run == 0
            else min(settings.checkpoint_ids, max(remaining, 1))
        )
    return summary


async def ingest(
    settings: Settings,
    source: IdSource,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    call: StepCaller = call_directly,
    progress: ProgressSink | None = None,
    flow_run_id: str | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> IngestSummary:
    """Run one ingest end to end and return its summary (also stored in ``ingest_runs``)."""
    run = IngestRun(settings, source, transport=transport, flow_run_id=flow_run_id, sleep=sleep)
    async with run:
        await drive(run, call, progress)
    assert run.summary is not None
    return run.summary


def run_ingest(settings: Settings, source: IdSource, **kwargs: Any) -> IngestSummary:
    """Synchronous entry for the CLI: the plain path, no orchestration start-up."""
    import asyncio

    return asyncio.run(ingest(settings, source, **kwargs))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, SessionAuditError):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
