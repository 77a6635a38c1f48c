"""The pump's overlap of fetching and storing, and where a scan's fetching stops.

The windows still in flight when a scan completes (its own login session and the tail seen): the
inline fetcher stops them (their requests are not needed: the next run scans those ids from the
cursor); a fetcher that cannot stop them has them received and stored, as before. A due
checkpoint is stored while the windows in flight are received; a store that fails stops the
run with its error, the cursor where the last good checkpoint left it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from session_audit.db.connection import connect
from session_audit.errors import StorageError
from session_audit.ingest.checkpoints import Window
from session_audit.ingest.counts import LedgerCounts
from session_audit.ingest.normalize import NormalizedBatch
from session_audit.ingest.runner import IdSource, IngestRun, InlineFetcher, drive, ingest
from session_audit.ingest.scan_plan import ChunkSpec
from session_audit.ingest.store import SessionStore
from session_audit.simulator import Simulator
from support import assert_db_equals_truth, make_sim, sim_settings

WINDOW, BATCH, TAIL = 400, 50, 100


class Recording(InlineFetcher):
    """The inline fetcher, noting which windows were asked for (``received``), which had
    arrived when the pump got them (``arrived``) and which were stopped."""

    def __init__(self, run: IngestRun) -> None:
        super().__init__(run)
        self.received: list[Sequence[int]] = []
        self.arrived: list[Sequence[int]] = []
        self.discarded: list[Sequence[int]] = []

    async def result(self, spec: ChunkSpec) -> NormalizedBatch:
        self.received.append(spec.ids)
        batch = await super().result(spec)
        self.arrived.append(spec.ids)
        return batch

    async def discard(self, spec: ChunkSpec) -> None:
        self.discarded.append(spec.ids)
        await super().discard(spec)


class CannotStop:
    """A fetcher without ``discard`` (as the pooled one): every window is received."""

    slots = 2

    def __init__(self, run: IngestRun) -> None:
        self.inner = Recording(run)
        self.received = self.inner.received

    async def start(self, spec: ChunkSpec) -> None:
        await self.inner.start(spec)

    async def result(self, spec: ChunkSpec) -> NormalizedBatch:
        return await self.inner.result(spec)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _scan(
    sim: Simulator, db: Path, make: type[Recording] | type[CannotStop]
) -> tuple[IngestRun, Recording | CannotStop]:
    settings = sim_settings(
        sim, db, batch_size=BATCH, checkpoint_ids=WINDOW, scan_tail=TAIL, gap_tolerance=50
    )
    run = IngestRun(
        settings, IdSource("scan", start_id=sim.table.ids[0]), transport=sim.transport()
    )

    async def main() -> Recording | CannotStop:
        async with run:
            fetcher = make(run)
            await drive(run, fetcher)
        return fetcher

    return run, asyncio.run(main())


def _stored_ids(db: Path) -> list[int]:
    with connect(db, read_only=True) as conn:
        return [
            int(r[0]) for r in conn.execute("SELECT id FROM user_sessions ORDER BY id").fetchall()
        ]


def test_the_window_past_a_completed_scan_is_stopped(tmp_path: Path) -> None:
    sim = make_sim(users=40, sessions=1500, seed=3)
    db = tmp_path / "s.duckdb"
    run, fetcher = _scan(sim, db, Recording)
    assert isinstance(fetcher, Recording)
    summary = run.summary
    assert summary is not None and summary.status == "completed"
    own = summary.end_session_id
    assert own is not None
    last = fetcher.received[-1]
    assert isinstance(last, range) and own + TAIL in last  # the scan ended in this window
    # the one window handed out ahead of it was stopped, never received nor stored
    assert fetcher.discarded == [range(last.stop, last.stop + WINDOW)]
    assert summary.scanned_to == last.stop - 1
    assert_db_equals_truth(sim, db)
    assert max(_stored_ids(db)) < last.stop


def test_a_fetcher_that_cannot_stop_has_the_window_stored(tmp_path: Path) -> None:
    sim = make_sim(users=40, sessions=1500, seed=3)
    db = tmp_path / "s.duckdb"
    run, fetcher = _scan(sim, db, CannotStop)
    summary = run.summary
    assert summary is not None and summary.status == "completed"
    own = summary.end_session_id
    assert own is not None
    before_last, last = fetcher.received[-2:]
    assert isinstance(before_last, range) and own + TAIL in before_last
    assert last == range(before_last.stop, before_last.stop + WINDOW)  # received as before
    assert summary.scanned_to == last.stop - 1
    assert_db_equals_truth(sim, db)


def test_windows_are_received_while_a_checkpoint_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_sim(users=40, sessions=1500, seed=3)
    db = tmp_path / "s.duckdb"
    made: list[Recording] = []
    during: list[int] = []
    store = IngestRun._store_windows

    def held_store(self: IngestRun, windows: Sequence[Window], spent: LedgerCounts) -> object:
        if not during:  # the first checkpoint waits until the pump has a later window
            stop = windows[-1].spec.stop

            def later() -> int:
                return sum(
                    1 for ids in made[0].arrived if isinstance(ids, range) and ids[0] >= stop
                )

            deadline = time.monotonic() + 60  # a hang guard: a later window comes at once
            while not later() and time.monotonic() < deadline:
                time.sleep(0.005)
            during.append(later())
        return store(self, windows, spent)

    def recording(run: IngestRun) -> Recording:
        made.append(Recording(run))
        return made[-1]

    monkeypatch.setattr(IngestRun, "_store_windows", held_store)
    settings = sim_settings(sim, db, batch_size=BATCH, checkpoint_ids=WINDOW, checkpoint_seconds=0)
    summary = asyncio.run(
        ingest(
            settings,
            IdSource("scan", start_id=sim.table.ids[0]),
            transport=sim.transport(),
            fetcher=recording,
        )
    )
    assert summary.status == "completed"
    assert during and during[0] >= 1  # the pump went on while the store was held
    assert_db_equals_truth(sim, db)


def test_a_failed_store_stops_the_run_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_sim(users=40, sessions=1500, seed=3)
    db = tmp_path / "s.duckdb"
    calls: list[int] = []
    write = SessionStore.write_checkpoint

    def failing(self: SessionStore, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise StorageError("cannot store a checkpoint: disk full")
        return write(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SessionStore, "write_checkpoint", failing)
    settings = sim_settings(sim, db, batch_size=BATCH, checkpoint_ids=WINDOW, checkpoint_seconds=0)
    first = sim.table.ids[0]
    with pytest.raises(StorageError, match="disk full"):
        asyncio.run(ingest(settings, IdSource("scan", start_id=first), transport=sim.transport()))
    with connect(db, read_only=True) as conn:
        ledger = conn.execute("SELECT status, error FROM ingest_runs").fetchall()
        cursor = conn.execute("SELECT next_id FROM ingest_state").fetchone()
        top = conn.execute("SELECT max(id) FROM user_sessions").fetchone()
    assert ledger == [("failed", "cannot store a checkpoint: disk full")]
    # the first checkpoint (one window) is kept; nothing of the failed one, nor of the windows
    # received after it (stored, they would move the cursor past the failed ones: a gap)
    assert cursor is not None and top is not None and top[0] < first + WINDOW <= cursor[0] + 1
    # the pump stopped at once: a store failure is not noticed only at the scan's end
    assert len(calls) <= 4


def test_a_windows_outcome_is_worked_out_where_it_is_normalized(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The polars calls that find what a scan window tells the plan run in the worker thread
    that normalized it, not on the event loop; the scan ends as before."""
    sim = make_sim(users=40, sessions=1500, seed=3)
    db = tmp_path / "s.duckdb"
    threads: list[str] = []
    outcome = IngestRun._outcome

    def recorded(self: IngestRun, spec: ChunkSpec, batch: NormalizedBatch) -> object:
        threads.append(threading.current_thread().name)
        return outcome(self, spec, batch)

    monkeypatch.setattr(IngestRun, "_outcome", recorded)
    run, fetcher = _scan(sim, db, Recording)
    assert run.summary is not None and run.summary.status == "completed"
    assert len(threads) >= len(fetcher.received) >= 3  # (and a stopped one, maybe)
    assert threading.main_thread().name not in threads
    assert not run._outcomes  # every one taken by receive, or forgotten with its window
    assert_db_equals_truth(sim, db)
