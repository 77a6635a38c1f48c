"""The ingest loop: where session ids come from, in what chunks, and when a run is done.

One loop, :func:`drive`, serves every way of running an ingest: the plain path, the Prefect flow,
and the threads / Dask executors. It asks a plan (``session_audit.ingest.scan_plan``: a
:class:`ListPlan` of open or listed ids, or a :class:`ScanPlan` of the id range) for the next
windows, hands them to a :class:`Fetcher` (this module's :class:`InlineFetcher`: the run's client
plus normalize in a worker thread; or ``scale.driver.PooledFetcher``: threads or Dask workers that
stage Parquet), tells the plan what each window held as it arrives (in window order), and stores
consecutive windows together, ONE transaction with the cursor per checkpoint
(``session_audit.ingest.checkpoints``: when the buffered windows hold ``checkpoint_rows`` rows,
``checkpoint_seconds`` after the last commit, when a plan ends, and when the run stops for any
reason; ``store_windows`` through ``call(name, step, *args)``, which the Prefect flow turns into one
task run per checkpoint). A kill -9 anywhere loses nothing and duplicates nothing: the windows not
yet committed are fetched again by the next run, which starts from the last committed cursor.

Every run, in this order:

1. users (``user/list``) and their stats (``userSessionStats/ldeps``), stored per observation; the
   login this needs opens a session of the API user (its ``Date`` header marks the scan's end);
2. the sessions still open in the database, re-fetched so that their ``endTime`` lands;
3. either the ids the user supplied (``--ids-file``), or a range scan from the stored cursor (or
   ``--start-id``, or the id ``--since DATE`` finds) until the session this run's login opened
   (see ``scan_plan``). The scan is skipped when the fresh stats show no user (other than the API
   user) with a session later than the newest we hold for them: the stats vouch nothing is new.

The run's status: ``completed``; ``incomplete`` when the scan did not reach its own login session
(the reason names the last id reached); ``rate_limited`` after a bare 429 (the API's lockout:
everything so far is committed, the run stops at once, and a run started before ``resume_at``
sends no request); ``failed``; ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import httpx

from session_audit import logs
from session_audit.api.counters import RunCounters
from session_audit.errors import ConfigError, Interrupted, RateLimitedError, SessionAuditError
from session_audit.ingest.checkpoints import (
    CheckpointBuffer,
    Window,
    combine_batches,
    combined_cursor,
)
from session_audit.ingest.counts import LedgerCounts
from session_audit.ingest.scan_plan import (
    ChunkSpec,
    ListPlan,
    ScanEnd,
    ScanPlan,
    StartSearch,
    WindowOutcome,
    WindowPlan,
)
from session_audit.settings import Settings

if TYPE_CHECKING:
    from contextvars import Token

    from session_audit.analysis.findings import FindingsSummary
    from session_audit.api.auth import LoginInfo
    from session_audit.api.client import TradovateClient
    from session_audit.db.connection import WriterLock
    from session_audit.ingest.normalize import NormalizedBatch
    from session_audit.ingest.prepare import PreparedWriter
    from session_audit.ingest.store import Checkpoint, SessionStore

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


# How long the API locks a user out after a bare 429 (the API says "up to an hour").
LOCKOUT_SECONDS = 3600.0
# The task-run names of the steps (Prefect), by chunk kind.
STEP_NAMES = {"open": "refetch_open", "ids": "fetch_ids", "scan": "scan"}


@dataclass(frozen=True)
class IdSource:
    """Which session ids a run fetches besides the open ones: a range scan from the cursor,
    ``start_id`` or the first id at or after ``since``; or the listed ``ids``."""

    kind: SourceKind = "scan"
    start_id: int | None = None
    ids: tuple[int, ...] = ()
    since: datetime | None = None

    @classmethod
    def of(
        cls,
        *,
        start_id: int | None = None,
        since: datetime | None = None,
        ids: Sequence[int] | None = None,
        ids_file: str | None = None,
    ) -> IdSource:
        """The source these options name (flow parameters): ``ids``, ``ids_file`` (read here),
        or a range scan from ``start_id`` or ``since`` (naive: UTC; neither: the cursor)."""
        named = {"start_id": start_id, "since": since, "ids": ids, "ids_file": ids_file}
        given = [name for name, value in named.items() if value is not None]
        if len(given) > 1:
            raise ConfigError(f"give at most one id source, got {' and '.join(given)}")
        if ids_file is not None:
            from session_audit.ingest.sources import read_ids_file

            ids = read_ids_file(ids_file)
        if ids is not None:
            return cls(kind="ids", ids=tuple(ids))
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return cls(kind="scan", start_id=start_id, since=since)


@dataclass
class ChunkResult:
    """One window as received (reported before it is stored: consecutive windows share a
    checkpoint). ``counts`` stays empty; the run's totals are ``IngestSummary.counts``, the ledger
    row as the last checkpoint left it."""

    step: str
    first_id: int | None
    last_id: int | None
    requested: int = 0
    counts: LedgerCounts = field(default_factory=LedgerCounts)
    max_id: int | None = None


@dataclass
class IngestSummary:
    """The outcome of one run, as printed at the end. ``counts`` is the run's ledger row as read
    back (after each checkpoint and when the run is closed), never a sum kept here;
    ``counters`` is the API client's detail (retry causes, logins, ...)."""

    run_id: int
    org: str
    source: str
    status: str = "running"
    first_id: int | None = None
    last_id: int | None = None
    counts: LedgerCounts = field(default_factory=LedgerCounts)
    users: int = 0
    open_refetched: int = 0
    next_id: int | None = None
    open_sessions: int = 0
    chunks: int = 0  # windows received
    checkpoints: int = 0  # transactions that stored windows (each with the cursor)
    seconds: float = 0.0
    counters: RunCounters = field(default_factory=RunCounters)
    error: str | None = None
    scanned_to: int | None = None  # the highest id the scan observed
    end_session_id: int | None = None  # this run's own login session, which ended the scan
    resume_at: datetime | None = None  # rate_limited: when the next run may send requests
    note: str | None = None  # how the scan ended, in words
    discovery_requests: int = 0  # item requests --since spent finding where to start
    findings: FindingsSummary | None = field(default=None, repr=False)  # the rules, new rows

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain data (the Prefect flow's result; the findings are published as
        their own artifact), the ledger row's counts also at the top (``data["inserted"]``)."""
        data = dataclasses.asdict(dataclasses.replace(self, findings=None))
        return {**data, **self.counts.as_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IngestSummary:
        """The summary from :meth:`as_dict` (or ``dataclasses.asdict``) of one."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if isinstance(values.get("counts"), Mapping):
            values["counts"] = LedgerCounts.from_row(values["counts"])
        if isinstance(values.get("counters"), Mapping):
            values["counters"] = RunCounters(**values["counters"])
        return cls(**values)

    # the store's counters, as the ledger row holds them
    @property
    def fetched(self) -> int:
        return self.counts.fetched

    @property
    def inserted(self) -> int:
        return self.counts.inserted

    @property
    def updated(self) -> int:
        return self.counts.updated

    @property
    def unchanged(self) -> int:
        return self.counts.unchanged

    @property
    def rejected(self) -> int:
        return self.counts.rejected

    def note_chunk(self, result: ChunkResult) -> None:
        """Count a stored chunk and widen the run's id range (not for open re-fetches)."""
        self.chunks += 1
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
        """The counts of the run's ledger row, by column."""
        return self.counts.as_dict()


ProgressSink = Callable[[ChunkResult, IngestSummary], None]

# --- one run -----------------------------------------------------------------------------------


@dataclass
class _HandedStore:
    """A checkpoint handed to a worker thread: whether the thread started it, or the run,
    cancelled before that, dropped it (both changed under ``IngestRun._stores``)."""

    started: bool = False
    dropped: bool = False


class IngestRun:
    """One ingest run: the database writer, the API client and the ledger row, with one store
    step per chunk. Use as ``async with IngestRun(settings, source) as run: await drive(run)``."""

    def __init__(
        self,
        settings: Settings,
        source: IdSource,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        flow_run_id: str | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        prepared: PreparedWriter | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        # the database already being opened for this run (``ingest.prepare``), or None
        self._prepared = prepared
        self._clock = clock  # the local clock: only for the lockout (never against API times)
        self._monotonic = monotonic  # local durations only: when buffered windows fall due
        self._transport = transport  # None: the network (tests pass the simulator's)
        self._flow_run_id = flow_run_id
        self._sleep = sleep
        self._started = time.monotonic()
        self._writer: WriterLock | None = None
        self._log_token: Token[Mapping[str, Any] | None] | None = None
        self._client: TradovateClient | None = None
        self._store: SessionStore | None = None
        # the client's counters already added to the ledger row (by the last checkpoint)
        self._recorded = LedgerCounts()
        # held while a delta of the client's counters is added (a checkpoint still written in
        # its thread when the run is cancelled, or the run's end): nothing is added twice
        self._ledger_lock = threading.Lock()
        # checkpoints handed to a worker thread and not finished: a cancelled await leaves its
        # thread running, and the run's end (or the windows stored on a stop) waits for it
        self._stores = threading.Condition()
        self._storing = 0
        self.summary: IngestSummary | None = None
        self._seq = 0
        self._scan: ScanPlan | None = None
        self._first_new_id: int | None = None  # new sessions of this run have ids from here
        # (batch_size, rejected_at) remembered for this API root; None: not (yet) known
        self._known_batch: tuple[int, int | None] | None = None
        # what windows normalized in a worker thread tell the plan, by seq (see normalized)
        self._outcomes: dict[int, WindowOutcome] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> IngestRun:
        from session_audit.api.client import TradovateClient
        from session_audit.ingest.prepare import open_writer
        from session_audit.ingest.store import SessionStore

        # Credentials checked first (a user mistake is said before the database is touched, so
        # that no ledger row records a run that never could start), then the writer lock, held
        # for the whole run (the file itself is open only while a checkpoint is written: readers
        # wait at most one commit), and the schema migrated; or all that already under way.
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared.settings is self.settings:
            writer = self._writer = prepared.take()
        else:
            if prepared is not None:
                prepared.close()
            writer = self._writer = open_writer(self.settings)
        try:
            store = self._store = SessionStore(writer.connection, self.settings.org)
            run_id = store.start_run(
                self.source.kind, flow_run_id=self._flow_run_id, first_id=self.source.start_id
            )
            self.summary = IngestSummary(
                run_id=run_id, org=self.settings.org, source=self.source.kind
            )
            # every log line of the run (JSON format included) names its run and org
            self._log_token = logs.bind(run_id=run_id, org=self.settings.org)
            # ids per items call: what an earlier run learned about this API root (none yet:
            # discover it before the first scan), unless discovery is off (batch_size as set)
            if self.settings.batch_discovery:
                self._known_batch = store.batch_size_for(self.settings.base_url)
            client = self._client = TradovateClient(
                self.settings,
                transport=self._transport,
                sleep=self._sleep or asyncio.sleep,
                batch_size=self._known_batch[0] if self._known_batch is not None else None,
            )
            # The API's budget is per user over a trailing hour, across runs: start with what
            # the previous runs of this org spent in that hour.
            client.budget.preload(store.recent_requests())
            await client.__aenter__()
        except BaseException:
            writer.__exit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        summary = self.summary
        handled = False
        try:
            if self._client is not None:
                await self._client.__aexit__(exc_type, exc, tb)
            if summary is not None:
                if self._client is not None:
                    summary.counters = self._client.counters
                summary.seconds = time.monotonic() - self._started
                self._scan_outcome(summary)
                if isinstance(exc, RateLimitedError) and exc.lockout:
                    # The API locked the user out: retrying extends the lockout. Everything so
                    # far is committed; the next run resumes from the cursor (after resume_at).
                    summary.status = "rate_limited"
                    summary.error = _one_line(exc)
                    summary.resume_at = self._now() + timedelta(seconds=LOCKOUT_SECONDS)
                    handled = True
                elif exc is None:
                    plan = self._scan
                    if plan is not None and plan.status != "completed":
                        summary.status = "incomplete"
                        summary.error = plan.reason or "the scan did not reach its end"
                    else:
                        summary.status = "completed"
                elif isinstance(exc, KeyboardInterrupt | SystemExit | asyncio.CancelledError):
                    summary.status = "interrupted"
                    summary.error = "interrupted"
                else:
                    summary.status = "failed"
                    summary.error = _one_line(exc)
                self._settle()
                self._finish(summary)
        finally:
            if self._writer is not None:
                self._writer.__exit__(exc_type, exc, tb)
            if self._log_token is not None:
                logs.unbind(self._log_token)
        return handled

    def _scan_outcome(self, summary: IngestSummary) -> None:
        plan = self._scan
        if plan is None:
            return
        summary.scanned_to = plan.scanned_to
        summary.end_session_id = plan.end_id
        if plan.end_id is not None:
            summary.note = f"reached this run's own login session {plan.end_id}"

    def _finish(self, summary: IngestSummary) -> None:
        """Close the ledger row. A failure here must not hide the error that ended the run: the
        next run marks a row left 'running' as 'interrupted'."""
        client = self._client
        try:
            login = client.login_info if client is not None else None
            forced = client.forced_batch_size if client is not None else None
            known = self._known_batch
            if forced is not None and known is not None and forced < known[0]:
                # the API rejected the remembered size: the next runs start lower
                self.store.remember_batch_size(self.settings.base_url, forced, known[0])
            summary.next_id = self.store.next_id()
            summary.open_sessions = len(self.store.open_session_ids())
            spent = LedgerCounts.of_client(client.counters) if client is not None else None
            with self._ledger_lock:
                # adds what the client did after the last checkpoint; the totals are the row's
                summary.counts = self.store.finish_run(
                    summary.run_id,
                    summary.status,
                    summary.error,
                    added=spent - self._recorded if spent is not None else None,
                    scanned_to=summary.scanned_to,
                    end_session_id=summary.end_session_id,
                    resume_at=summary.resume_at,
                    api_user_id=login.user_id if login is not None else None,
                    login_at=login.server_date if login is not None else None,
                )
                if spent is not None:
                    self._recorded = spent
        except SessionAuditError as exc:
            if summary.status == "completed":
                raise
            _log.warning("could not record the end of run %s: %s", summary.run_id, exc)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    @property
    def run_id(self) -> int:
        assert self.summary is not None
        return self.summary.run_id

    @property
    def client(self) -> TradovateClient:
        """The run's API client (logged in lazily): the pooled fetcher lends its token to
        workers and charges its request budget."""
        if self._client is None:
            raise RuntimeError("IngestRun.client is used outside 'async with IngestRun(...)'")
        return self._client

    @property
    def store(self) -> SessionStore:
        """The run's store (ledger row, checkpoints, cursor) on the writer's connection."""
        if self._store is None:
            raise RuntimeError("IngestRun.store is used outside 'async with IngestRun(...)'")
        return self._store

    # -- queries of the stored state --------------------------------------------------------------

    def open_ids(self) -> list[int]:
        return self.store.open_session_ids()

    def next_id(self) -> int | None:
        return self.store.next_id()

    def check_lockout(self) -> None:
        """A run that starts while an earlier run's lockout lasts sends no request at all (each
        request during a lockout extends it)."""
        resume_at = self.store.lockout_until()
        if resume_at is not None and resume_at > self._now():
            raise RateLimitedError(
                "the API locked this user out (a bare 429 in an earlier run); no request sent "
                f"before {resume_at.isoformat(timespec='seconds')}",
                lockout=True,
            )

    # -- steps ------------------------------------------------------------------------------------

    async def refresh_users(self) -> int:
        """Page through users and their stats; store both (the users, in a worker thread, while
        their stats are fetched). Returns the number of users."""
        users = await self.client.users()
        ids = sorted({int(u["id"]) for u in users if isinstance(u.get("id"), int)})
        fetching = asyncio.ensure_future(self.client.user_session_stats(ids)) if ids else None
        try:
            await asyncio.to_thread(self.store.write_users, self.run_id, users)
        except BaseException:
            if fetching is not None:
                await _stopped(fetching)  # the users' failure is the one raised
            raise
        stats = await fetching if fetching is not None else []
        self.store.write_user_stats(self.run_id, stats)
        assert self.summary is not None
        self.summary.users = len(users)
        return len(users)

    def new_chunk(self, step: str, ids: Sequence[int]) -> ChunkSpec:
        """The next chunk of this run (chunks are stored in ``seq`` order)."""
        self._seq += 1
        if isinstance(ids, range):
            return ChunkSpec.window(self._seq, ids.start, ids.stop)
        assert step in ("open", "ids")
        return ChunkSpec.listed(self._seq, "open" if step == "open" else "ids", ids)

    def checkpoint_buffer(self) -> CheckpointBuffer:
        """An empty buffer of windows, due by ``checkpoint_rows`` / ``checkpoint_seconds``."""
        return CheckpointBuffer(
            rows=self.settings.checkpoint_rows,
            seconds=self.settings.checkpoint_seconds,
            clock=self._monotonic,
        )

    def receive(self, spec: ChunkSpec, batch: NormalizedBatch) -> tuple[ChunkResult, Window]:
        """A fetched window, as received: what it tells the plan (a scan window's outcome, from
        its requested ids only) and the run's progress (not stored yet: see ``store_windows``)."""
        outcome = self._outcomes.pop(spec.seq, None)
        if outcome is None:
            outcome = self._outcome(spec, batch) if spec.advances_cursor else WindowOutcome()
        ids = spec.ids
        result = ChunkResult(
            step=spec.step,
            first_id=min(ids) if ids else None,
            last_id=max(ids) if ids else None,
            requested=len(ids),
            max_id=batch.max_id,
        )
        assert self.summary is not None
        self.summary.note_chunk(result)
        if spec.step == "open":
            self.summary.open_refetched += len(ids)
        return result, Window(spec, batch, outcome)

    async def store_windows(self, windows: Sequence[Window]) -> Checkpoint:
        """Store consecutive windows (in plan order) in ONE transaction with the cursor (in a
        worker thread: the event loop stays free to fetch ahead). The client's counters are read
        here, on the event loop that changes them.

        Cancelled (a signal) while its thread runs, the store goes on and the run's end waits
        for it (:meth:`_settle`); cancelled before its thread started, the thread never starts
        it and the windows are stored here, as on any stop (:meth:`store_on_stop`)."""
        spent = LedgerCounts.of_client(self.client.counters)
        handed = _HandedStore()
        with self._stores:
            self._storing += 1  # counted on the event loop, before the thread can start
        try:
            return await asyncio.to_thread(self._store_counted, windows, spent, handed)
        except asyncio.CancelledError:
            with self._stores:
                dropped = handed.dropped = not handed.started
                if dropped:
                    self._storing -= 1
                    self._stores.notify_all()
            if dropped:
                self.store_on_stop(windows)
            raise

    def _store_counted(
        self, windows: Sequence[Window], spent: LedgerCounts, handed: _HandedStore
    ) -> Checkpoint:
        with self._stores:
            if handed.dropped:  # cancelled while queued; the run no longer waits for it
                raise asyncio.CancelledError
            handed.started = True
        try:
            return self._store_windows(windows, spent)
        finally:
            with self._stores:
                self._storing -= 1
                self._stores.notify_all()

    def _settle(self) -> None:
        """Wait until no checkpoint is being stored in a worker thread: the run is cancelled
        while one is (its thread runs on), and its end is recorded after that commit."""
        with self._stores:
            self._stores.wait_for(lambda: self._storing == 0)

    def store_on_stop(self, windows: Sequence[Window]) -> None:
        """The run stops (a failure, a lockout, a signal): store the windows already received,
        here and now (blocking; the run is ending). If that fails too, the next run fetches them
        again from the stored cursor; the stop's own error is the one raised."""
        if not windows or self._client is None or self.summary is None:
            return
        self._settle()  # the checkpoint before them first (the cursor only moves forward)
        try:
            self._store_windows(windows, LedgerCounts.of_client(self._client.counters))
        except Exception as exc:  # the stop's cause is what the run reports
            _log.warning(
                "run %s stopped; its last %d fetched windows were not stored (the next run "
                "fetches them again): %s",
                self.run_id,
                len(windows),
                _one_line(exc),
            )

    def _store_windows(self, windows: Sequence[Window], spent: LedgerCounts) -> Checkpoint:
        batch = combine_batches([w.batch for w in windows])
        with self._ledger_lock:
            checkpoint = self.store.write_checkpoint(
                self.run_id, batch, cursor=combined_cursor(windows), client=spent - self._recorded
            )
            self._recorded = spent
        assert self.summary is not None
        self.summary.counts = checkpoint.totals  # the ledger row, as this checkpoint left it
        self.summary.checkpoints += 1
        return checkpoint

    def normalized(self, spec: ChunkSpec, pages: Sequence[bytes]) -> NormalizedBatch:
        """The pages of ``spec`` normalized (called in a worker thread), and for a window that
        moves the cursor, what it tells the plan worked out there too: :meth:`receive` takes it,
        so the event loop is spared those polars calls (~1.5 ms per window)."""
        from session_audit.ingest.normalize import normalize_pages

        batch = normalize_pages(pages, org=self.settings.org)
        if spec.advances_cursor:
            self._outcomes[spec.seq] = self._outcome(spec, batch)
        return batch

    def forget(self, spec: ChunkSpec) -> None:
        """A window that will not be received (stopped past the scan's end)."""
        self._outcomes.pop(spec.seq, None)

    def _outcome(self, spec: ChunkSpec, batch: NormalizedBatch) -> WindowOutcome:
        """What a scan window held, from the requested ids only (a stray id in an answer is
        stored or rejected like any other, but tells the plan nothing)."""
        import polars as pl

        lo, hi = spec.start, spec.stop - 1
        # only the three columns read here (filtering the whole frame cost ~0.17 s of CPU per
        # 500k sessions on the event loop); ids are unique within a batch (normalize)
        sessions = batch.sessions.select("id", "user_id", "start_time").filter(
            pl.col("id").is_between(lo, hi)
        )
        rejected = [
            i for i in batch.rejected["session_id"].to_list() if i is not None and lo <= i <= hi
        ]
        returned: list[int] = [int(i) for i in rejected]
        if sessions.height:
            returned.append(int(sessions["id"].max()))  # type: ignore[arg-type]
        end_id: int | None = None
        plan = self._scan
        if plan is not None and plan.end is not None and sessions.height:
            own = sessions.filter(
                (pl.col("user_id") == plan.end.user_id)
                & (pl.col("start_time") >= plan.end.not_before)
            )
            end_id = int(own["id"].min()) if own.height else None  # type: ignore[arg-type]
        oldest = newest = None
        if sessions.height:
            ids, starts = sessions["id"], sessions["start_time"]
            first, last = ids.arg_min(), ids.arg_max()
            assert first is not None and last is not None
            oldest = (int(ids[first]), starts[first])
            newest = (int(ids[last]), starts[last])
        return WindowOutcome(
            max(returned) if returned else None,
            end_id,
            oldest,
            newest,
        )

    # -- where the scan starts and ends ----------------------------------------------------------

    async def plan_scan(self) -> ScanPlan | None:
        """The scan of this run, or None when the stats vouch that nothing is new."""
        settings, source = self.settings, self.source
        stored = self.next_id()
        await self.client.login()
        login = self.client.login_info
        end = None
        if login is not None and login.server_date is not None:
            end = ScanEnd(login.user_id, login.server_date - timedelta(seconds=settings.end_margin))
        await self._discover_batch_size(source.start_id or stored or 1)
        if source.since is not None:
            start = await self._find_start(source.since)
        elif source.start_id is not None:
            start = source.start_id
        elif stored is not None:
            start = stored
        else:
            raise ConfigError(
                f"no scan cursor is stored for org {settings.org!r} in {settings.db}: pass "
                "--since DATE (the first day to fetch) or --start-id N (the first session id to "
                "scan), or --ids-file FILE"
            )
        if stored is not None and start > stored:
            given = "--since" if source.since is not None else "--start-id"
            raise ConfigError(
                f"{given} would start the scan at id {start}, above the stored cursor {stored} of "
                f"org {settings.org!r}: ids {stored}..{start - 1} would never be scanned; omit "
                "it to continue from the cursor"
            )
        self._first_new_id = start
        if stored is None:
            self.store.set_cursor_if_absent(start, run_id=self.run_id)
        elif start == stored and self._stats_vouch_nothing_new(login):
            assert self.summary is not None
            self.summary.note = (
                "scan skipped: the users' stats show no session later than those stored"
            )
            return None
        self._scan = ScanPlan(
            start,
            window=settings.checkpoint_ids,
            gap_limit=settings.gap_tolerance * settings.batch_size,
            end=end,
            tail=settings.scan_tail,
            history=self.store.id_rate_points(),
        )
        return self._scan

    async def _discover_batch_size(self, probe_from: int) -> None:
        """Once per API root: the largest ids-per-call the API accepts (undocumented), found
        with a few real calls and remembered in ``api_state``. In a sparse id space the batch
        size is the scan's throughput."""
        if not self.settings.batch_discovery or self._known_batch is not None:
            return
        finding = await self.client.discover_batch_size(probe_from)
        self.store.remember_batch_size(self.settings.base_url, finding.size, finding.rejected_at)
        self._known_batch = (finding.size, finding.rejected_at)
        _log.info(
            "%s accepts %d ids per userSession/items call (%d requests to find out)",
            self.settings.base_url,
            finding.size,
            finding.requests,
        )

    def note_first_new_id(self, first: int | None) -> None:
        """Where this run's new sessions begin (the rules look at sessions from there)."""
        self._first_new_id = first

    async def evaluate_findings(self) -> FindingsSummary | None:
        """The detection rules over the sessions this run stored (``sql/rules``): new findings
        are upserted into ``findings``. A failure is logged, never fails the stored ingest."""
        from session_audit.analysis.findings import evaluate_new_findings

        since = self._first_new_id
        assert self.summary is not None
        if since is None:
            return None
        limit = self.settings.findings_after_ingest_max
        if self.summary.inserted > limit:
            # a backfill: every stored session is new, and the rules over all of them need far
            # more memory than the ingest (measured: 4.2 GB at 2M sessions); leave it to the
            # explicit command, said once
            _log.warning(
                "findings not evaluated: this run stored %d new sessions (more than %d); run "
                "`session-audit findings evaluate --since-id %d`",
                self.summary.inserted,
                limit,
                since,
            )
            return None

        writer = self._writer
        assert writer is not None

        def work() -> FindingsSummary:
            with writer.connection() as conn:
                return evaluate_new_findings(conn, self.settings.org, since, settings=self.settings)

        try:
            self.summary.findings = await asyncio.to_thread(work)
        except SessionAuditError as exc:
            _log.error("findings were not evaluated for run %s: %s", self.run_id, exc)
            return None
        return self.summary.findings

    def _stats_vouch_nothing_new(self, login: LoginInfo | None) -> bool:
        api_user = login.user_id if login is not None else None
        unseen = self.store.users_with_unseen_sessions(
            self.run_id, api_user, margin_seconds=self.settings.end_margin
        )
        return unseen == 0

    async def _find_start(self, since: datetime) -> int:
        """The first scan id for ``--since``: probes of the id space (see ``StartSearch``)."""
        search = StartSearch(since, probe_ids=self.client.batch_size)
        while (probe := search.next_probe()) is not None:
            found = await self.client.session_items(probe.window)
            search.observe(probe, _id_start_pairs(found))
        assert self.summary is not None
        self.summary.discovery_requests = search.probes
        if not search.found_data:
            raise ConfigError(
                f"--since {since.isoformat()}: {search.probes} probes of the id space found no "
                "session: give --start-id N (a session id at or below the first one you want)"
            )
        _log.info(
            "--since %s: the scan starts at id %d (%d item requests; first session at or after "
            "it seen at id %s)",
            since.isoformat(),
            search.start,
            search.probes,
            search.hi,
        )
        return search.start


def _id_start_pairs(sessions: Sequence[Mapping[str, Any]]) -> list[tuple[int, datetime]]:
    """``(id, startTime)`` of the well-formed sessions of an answer (others are skipped)."""
    pairs: list[tuple[int, datetime]] = []
    for item in sessions:
        sid, start = item.get("id"), item.get("startTime")
        if not isinstance(sid, int) or isinstance(sid, bool) or not isinstance(start, str):
            continue
        try:
            when = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is not None:
            pairs.append((sid, when))
    return pairs


# --- the fetch seam ------------------------------------------------------------------------------


class Fetcher(Protocol):
    """Fetches chunks: ``start`` begins one, ``result`` waits for it (in the order started).
    ``slots`` chunks may be in flight at once. Implemented by :class:`InlineFetcher` and
    ``session_audit.scale.driver.PooledFetcher``. A fetcher may also offer ``async
    discard(spec)`` (:class:`InlineFetcher` does): stop a chunk whose result is not wanted
    (:func:`pump` calls it for the windows still in flight when a scan has completed)."""

    slots: int

    async def start(self, spec: ChunkSpec) -> None: ...

    async def result(self, spec: ChunkSpec) -> NormalizedBatch: ...

    async def aclose(self) -> None: ...


class InlineFetcher:
    """The run's own client fetches, a worker thread normalizes; two chunks in flight (one being
    stored while the next is fetched)."""

    slots = 2

    def __init__(self, run: IngestRun) -> None:
        self.run = run
        self._tasks: dict[int, asyncio.Task[NormalizedBatch]] = {}

    async def start(self, spec: ChunkSpec) -> None:
        self._tasks[spec.seq] = asyncio.create_task(self._fetch(spec))

    async def _fetch(self, spec: ChunkSpec) -> NormalizedBatch:
        pages = await self.run.client.session_item_pages(spec.ids)
        return await asyncio.to_thread(self.run.normalized, spec, pages)

    async def result(self, spec: ChunkSpec) -> NormalizedBatch:
        return await self._tasks.pop(spec.seq)

    async def discard(self, spec: ChunkSpec) -> None:
        """Stop fetching ``spec`` (its requests in flight are cancelled, their connections
        closed); waits until it has stopped. Its outcome, whatever it was, is dropped."""
        task = self._tasks.pop(spec.seq, None)
        if task is not None:
            await _stopped(task)  # a failure of a dropped window is not logged
        self.run.forget(spec)

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


# --- the one loop --------------------------------------------------------------------------------


async def drive(
    run: IngestRun,
    fetcher: Fetcher | None = None,
    call: StepCaller = call_directly,
    progress: ProgressSink | None = None,
) -> IngestSummary:
    """The one ingest loop, shared by every executor and the Prefect flow (see the module doc)."""
    settings, source = run.settings, run.source
    summary = run.summary
    assert summary is not None
    fetcher = fetcher or InlineFetcher(run)
    try:
        run.check_lockout()
        await call("refresh_users", run.refresh_users)
        size = settings.checkpoint_ids
        await pump(run, fetcher, ListPlan("open", run.open_ids(), size), call, progress)
        if source.kind == "ids":
            run.note_first_new_id(min(source.ids, default=None))
            await pump(run, fetcher, ListPlan("ids", source.ids, size), call, progress)
        else:
            plan = await run.plan_scan()
            if plan is not None:
                await pump(run, fetcher, plan, call, progress)
    finally:
        await fetcher.aclose()
    await call("evaluate_findings", run.evaluate_findings)
    return summary


async def pump(
    run: IngestRun,
    fetcher: Fetcher,
    plan: WindowPlan,
    call: StepCaller = call_directly,
    progress: ProgressSink | None = None,
) -> None:
    """Drive one plan: up to ``fetcher.slots`` windows in flight; each window observed by the
    plan and reported in the order the plan handed them out, as it arrives; consecutive windows
    stored together (ONE transaction with the cursor) when they fall due, when the plan ends, and
    when the run stops (whatever stops it, the windows received are stored first). A due store
    runs in the background while the windows in flight are received and the next ones fetched
    (one store at a time, in plan order; a failed store stops the pump at its next step). Once a
    scan has completed (its own login session and the tail observed), the windows still in
    flight are stopped when the fetcher can (``discard``): they lie past the scan's end."""
    flight: deque[ChunkSpec] = deque()
    stores = _Stores(run, STEP_NAMES[plan.step], call)
    buffer = stores.buffer
    try:
        while True:
            while len(flight) < fetcher.slots and (window := plan.next_window()) is not None:
                spec = run.new_chunk(plan.step, window)
                await _flushing_while(fetcher.start(spec), stores)
                flight.append(spec)
            if not flight:
                break
            spec = flight.popleft()
            batch = await _flushing_while(fetcher.result(spec), stores)
            result, received = run.receive(spec, batch)
            plan.observe(spec.ids, received.outcome)
            buffer.add(received)
            if progress is not None and run.summary is not None:
                progress(result, run.summary)
            if buffer.due():
                await stores.flush()  # started: the windows in flight arrive meanwhile
            if flight and isinstance(plan, ScanPlan) and plan.status == "completed":
                await _discard_past_end(fetcher, flight)
        await stores.flush()
        await stores.settle()
    except BaseException:
        await stores.finish_quietly()  # the store in progress first: the cursor moves forward
        if not stores.failed:  # after a failed store, later windows would leave a gap
            run.store_on_stop(buffer.take())
        raise


class _Stores:
    """The checkpoints of one :func:`pump`: the buffered windows and the store in progress.

    :meth:`flush` waits for the store in progress (stores run one at a time, in plan order: the
    cursor only moves forward), then starts storing the buffered windows as a task of its own
    (``call(name, run.store_windows, windows)``, whose transaction runs in a worker thread) and
    returns: the pump goes on receiving and fetching windows meanwhile. A store's failure is
    raised by the pump's next :meth:`check`, :meth:`flush` or :meth:`settle`, and sets
    ``failed``: the windows received after the failed ones must not be stored (their cursor would
    pass ids never stored)."""

    def __init__(self, run: IngestRun, name: str, call: StepCaller) -> None:
        self.buffer = run.checkpoint_buffer()
        self._run = run
        self._name = name
        self._call = call
        self.task: asyncio.Future[Any] | None = None
        self.failed = False

    def _note(self, task: asyncio.Future[Any]) -> None:
        if task.done() and not task.cancelled() and task.exception() is not None:
            self.failed = True

    def check(self) -> None:
        """Raise the failure of a store that has ended."""
        task = self.task
        if task is not None and task.done():
            self.task = None
            self._note(task)
            task.result()

    async def settle(self) -> None:
        """Wait for the store in progress (raising its failure)."""
        task, self.task = self.task, None
        if task is not None:
            try:
                await task
            finally:
                self._note(task)

    async def flush(self) -> None:
        """Start storing the buffered windows, after the store in progress."""
        await self.settle()
        windows = self.buffer.take()
        if windows:
            self.task = asyncio.ensure_future(
                self._call(self._name, self._run.store_windows, windows)
            )

    async def finish_quietly(self) -> None:
        """The pump stops: let the store in progress end (cancelled with the pump, its windows
        are stored on the stop by ``store_windows``); its own failure is not the one raised."""
        task, self.task = self.task, None
        if task is not None:
            with contextlib.suppress(BaseException):
                await task
            self._note(task)


async def _stopped(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has stopped (the caller cancelled meanwhile is still
    cancelled); a failure it ended with is retrieved, so it is not logged: the caller's own
    outcome is the one that counts."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()


async def _discard_past_end(fetcher: Fetcher, flight: deque[ChunkSpec]) -> None:
    """The scan has observed its own login session and the tail after it: every window still in
    flight lies wholly past that (windows are handed out and observed in id order). A fetcher
    that can stop them does (up to a whole window of requests the run does not need: the next
    run scans those ids from the cursor); the others' windows are received and stored."""
    discard = getattr(fetcher, "discard", None)
    if discard is None:
        return
    while flight:
        await discard(flight.popleft())


async def _flushing_while(work: Awaitable[T], stores: _Stores) -> T:
    """Await ``work`` (a fetch, or a wait for the request budget); meanwhile start storing the
    buffered windows whenever they fall due by time, so that a slow API never holds them
    uncommitted, and raise a failed store's error as soon as it ends."""
    buffer = stores.buffer
    if not len(buffer) and stores.task is None:
        return await work
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            stores.check()
            waits: set[asyncio.Future[Any]] = {task}
            if stores.task is not None:
                waits.add(stores.task)
            if len(buffer) and buffer.due():
                await stores.flush()
            elif len(buffer):
                await asyncio.wait(
                    waits,
                    timeout=max(buffer.seconds_left(), 0.01),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            else:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return task.result()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def ingest(
    settings: Settings,
    source: IdSource,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    call: StepCaller = call_directly,
    progress: ProgressSink | None = None,
    flow_run_id: str | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    fetcher: Callable[[IngestRun], Fetcher] = InlineFetcher,
    prepared: PreparedWriter | None = None,
) -> IngestSummary:
    """Run one ingest end to end and return its summary (also stored in ``ingest_runs``);
    ``fetcher`` builds the run's :class:`Fetcher` (``scale.driver.PooledFetcher``: staged);
    ``prepared``: the run's database already being opened (``ingest.prepare``)."""
    run = IngestRun(
        settings,
        source,
        transport=transport,
        flow_run_id=flow_run_id,
        sleep=sleep,
        clock=clock,
        monotonic=monotonic,
        prepared=prepared,
    )
    async with run:
        await drive(run, fetcher(run), call=call, progress=progress)
    assert run.summary is not None
    return run.summary


def run_ingest(
    settings: Settings,
    source: IdSource,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: ProgressSink | None = None,
    prepared: PreparedWriter | None = None,
) -> IngestSummary:
    """Synchronous entry for the CLI: the plain path, no orchestration start-up."""
    return run_until_signal(
        ingest(settings, source, transport=transport, progress=progress, prepared=prepared)
    )


def run_until_signal(work: Awaitable[T]) -> T:
    """``asyncio.run(work)``, stopped cleanly by SIGINT or SIGTERM: the work is cancelled (an
    ingest records its run as 'interrupted' and keeps every committed checkpoint) and
    :class:`~session_audit.errors.Interrupted` names the signal (the CLI exits 128 + signal)."""
    import signal

    received: list[int] = []

    async def main() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        signals = (signal.SIGINT, signal.SIGTERM)

        def stop(number: int) -> None:
            if not received:
                received.append(number)
                task.cancel()

        for number in signals:
            loop.add_signal_handler(number, stop, number)
        try:
            return await work
        except asyncio.CancelledError:
            if received:
                name = signal.Signals(received[0]).name
                raise Interrupted(
                    f"stopped by {name}: the run is recorded as interrupted; every committed "
                    "checkpoint is kept and the next run resumes from the cursor",
                    signal_number=received[0],
                ) from None
            raise
        finally:
            for number in signals:
                loop.remove_signal_handler(number)

    return asyncio.run(main())


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, SessionAuditError):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
