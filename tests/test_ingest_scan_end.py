"""The windows still in flight when a scan completes (its own login session and the tail seen):
the inline fetcher stops them (their requests are not needed: the next run scans those ids from
the cursor); a fetcher that cannot stop them has them received and stored, as before."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from session_audit.db.connection import connect
from session_audit.ingest.normalize import NormalizedBatch
from session_audit.ingest.runner import IdSource, IngestRun, InlineFetcher, drive
from session_audit.ingest.scan_plan import ChunkSpec
from session_audit.simulator import Simulator
from support import assert_db_equals_truth, make_sim, sim_settings

WINDOW, BATCH, TAIL = 400, 50, 100


class Recording(InlineFetcher):
    """The inline fetcher, noting which windows were received and which were stopped."""

    def __init__(self, run: IngestRun) -> None:
        super().__init__(run)
        self.received: list[Sequence[int]] = []
        self.discarded: list[Sequence[int]] = []

    async def result(self, spec: ChunkSpec) -> NormalizedBatch:
        self.received.append(spec.ids)
        return await super().result(spec)

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
