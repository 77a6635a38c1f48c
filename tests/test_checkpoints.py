"""Checkpoint buffering: windows combined exactly, due by rows or by the injected clock."""

from __future__ import annotations

from typing import Any

import duckdb
import orjson
import pytest

from session_audit.db.connection import connect
from session_audit.db.migrations import migrate
from session_audit.ingest.checkpoints import (
    CheckpointBuffer,
    Window,
    combine_batches,
    combined_cursor,
)
from session_audit.ingest.normalize import NormalizedBatch, normalize_pages
from session_audit.ingest.scan_plan import ChunkSpec, WindowOutcome
from session_audit.ingest.store import SessionStore
from test_store import session  # the same API session object the store tests use


def batch_of(*objs: Any) -> NormalizedBatch:
    return normalize_pages([orjson.dumps(list(objs))], org="default")


def scan(seq: int, start: int, stop: int, batch: NormalizedBatch, top: int | None) -> Window:
    return Window(ChunkSpec.window(seq, start, stop), batch, WindowOutcome(returned_max=top))


def test_combined_windows_store_what_the_same_objects_in_one_window_store() -> None:
    first = [session(1), session(2), {"id": 3, "userId": "x"}, session(4)]
    second = [session(5), session(2, appVersion="2.0"), session(6), "not an object"]
    combined = combine_batches([batch_of(*first), batch_of(*second)])
    single = batch_of(*first, *second)
    # the id repeated across windows keeps its last occurrence, as within one window
    assert combined.sessions.sort("id").equals(single.sessions.sort("id"))
    assert combined.sessions.filter(combined.sessions["id"] == 2)["app_version"].to_list() == [
        "2.0"
    ]
    assert combined.rejected.equals(single.rejected)  # every rejected object, in order
    assert (combined.fetched, combined.max_id, combined.duplicates) == (8, 6, 1)
    assert (single.fetched, single.max_id, single.duplicates) == (8, 6, 1)


def test_one_batch_is_combined_as_itself_and_none_is_refused() -> None:
    only = batch_of(session(1))
    assert combine_batches([only]) is only
    with pytest.raises(ValueError, match="at least one"):
        combine_batches([])


def test_combined_checkpoint_merges_like_the_windows_one_by_one() -> None:
    windows = [
        [session(1), session(2)],
        [session(3), session(2, endTime="2024-05-01T09:00:00Z")],
        [{"id": 7}, session(8)],
    ]

    def stored(conn: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
        return conn.execute(
            "SELECT id, end_time, app_version FROM user_sessions ORDER BY id"
        ).fetchall()

    with connect(":memory:") as one, connect(":memory:") as each:
        migrate(one)
        migrate(each)
        together, apart = SessionStore(one, "default"), SessionStore(each, "default")
        run_a, run_b = together.start_run("scan"), apart.start_run("scan")
        added = together.write_checkpoint(
            run_a, combine_batches([batch_of(*w) for w in windows]), cursor=9
        ).added
        for w in windows:
            apart.write_checkpoint(run_b, batch_of(*w), cursor=9)
        assert stored(one) == stored(each)
        assert together.next_id() == apart.next_id() == 9
        # one merge of the combined rows: id 2 is inserted once, as its last occurrence
        assert (added.fetched, added.inserted, added.updated, added.rejected) == (6, 4, 0, 1)


def test_the_cursor_of_combined_windows_is_the_highest_requested_id_returned_plus_one() -> None:
    empty = batch_of()
    windows = [
        scan(1, 10, 20, batch_of(session(12)), 12),
        scan(2, 20, 30, batch_of(session(25)), 25),
        scan(3, 30, 40, empty, None),  # nothing came back: the cursor stays at 26
    ]
    assert combined_cursor(windows) == 26
    assert combined_cursor(windows[2:]) is None
    listed = Window(ChunkSpec.listed(4, "open", [5, 6]), batch_of(session(5)))
    assert combined_cursor([listed]) is None  # re-fetched open sessions never move it


def test_the_buffer_is_due_by_rows() -> None:
    buffer = CheckpointBuffer(rows=3, seconds=60, clock=lambda: 0.0)
    assert not buffer.due()  # empty: never due
    buffer.add(scan(1, 1, 10, batch_of(session(1), {"id": 2}), 2))
    assert (len(buffer), buffer.rows, buffer.due()) == (1, 2, False)
    buffer.add(scan(2, 10, 20, batch_of(session(11)), 11))
    assert buffer.rows == 3 and buffer.due()
    taken = buffer.take()
    assert [w.spec.seq for w in taken] == [1, 2]
    assert (len(buffer), buffer.rows, buffer.due()) == (0, 0, False)


def test_the_buffer_is_due_by_time_since_it_was_last_emptied_on_the_injected_clock() -> None:
    now = [100.0]
    buffer = CheckpointBuffer(rows=1000, seconds=10, clock=lambda: now[0])
    now[0] = 115.0
    assert not buffer.due()  # overdue, but nothing to store
    buffer.add(scan(1, 1, 10, batch_of(session(1)), 1))
    assert buffer.due()
    buffer.take()  # the clock restarts at 115
    buffer.add(scan(2, 10, 20, batch_of(session(11)), 11))
    now[0] = 124.0
    assert not buffer.due() and buffer.seconds_left() == pytest.approx(1.0)
    now[0] = 125.0
    assert buffer.due()


def test_zero_seconds_makes_every_window_due_as_it_arrives() -> None:
    buffer = CheckpointBuffer(rows=1000, seconds=0, clock=lambda: 0.0)
    buffer.add(scan(1, 1, 10, batch_of(), None))
    assert buffer.due()


def test_only_a_contiguous_in_order_run_of_windows_is_buffered() -> None:
    buffer = CheckpointBuffer(rows=1000, seconds=60)
    buffer.add(scan(2, 10, 20, batch_of(), None))
    with pytest.raises(ValueError, match="does not follow"):
        buffer.add(scan(1, 0, 10, batch_of(), None))  # an earlier window
    with pytest.raises(ValueError, match="does not follow"):
        buffer.add(scan(3, 30, 40, batch_of(), None))  # a gap: ids 20..29 missing
    buffer.add(scan(3, 20, 30, batch_of(), None))
    assert [w.spec.seq for w in buffer.take()] == [2, 3]


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        CheckpointBuffer(rows=0, seconds=1)
    with pytest.raises(ValueError):
        CheckpointBuffer(rows=1, seconds=-1)
