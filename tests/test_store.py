"""SessionStore: merge counts, lineage, cursor in the same transaction, the run ledger."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import polars as pl
import pytest

from session_audit.db.checks import run_checks
from session_audit.db.connection import connect, writer
from session_audit.db.migrations import migrate
from session_audit.db.sqlfiles import query_sql
from session_audit.errors import StorageError
from session_audit.ingest.counts import LedgerCounts
from session_audit.ingest.normalize import normalize_pages
from session_audit.ingest.store import SessionStore


def session(sid: int, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": sid,
        "userId": 100 + sid % 3,
        "startTime": "2024-05-01T08:30:00.123Z",
        "clientAppId": 7,
        "ipAddress": "10.0.0.1",
        "appId": "Tradovate",
        "appVersion": "1.0",
    }
    obj.update(fields)
    return obj


def batch_of(*objs: Any, org: str = "default") -> Any:
    return normalize_pages([orjson.dumps(list(objs))], org=org)


@pytest.fixture
def store(conn: duckdb.DuckDBPyConnection) -> SessionStore:
    return SessionStore(conn, "default")


def table(conn: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return conn.execute(sql).fetchall()


def test_merge_counts_inserted_updated_unchanged(
    store: SessionStore, conn: duckdb.DuckDBPyConnection
) -> None:
    run = store.start_run("scan")
    first = batch_of(session(1), session(2), session(3))
    assert store.write_checkpoint(run, first, cursor=4).added == merged(3, 0, 0, 0)

    run2 = store.start_run("scan")
    second = batch_of(
        session(1),  # unchanged
        session(2, endTime="2024-05-01T09:00:00Z"),  # closed: updated
        session(4),  # new
        {"id": 5, "userId": 1},  # rejected
    )
    assert store.write_checkpoint(run2, second, cursor=6).added == merged(1, 1, 1, 1)

    rows = table(conn, "SELECT id, first_run_id, last_run_id FROM user_sessions ORDER BY id")
    assert rows == [(1, run, run), (2, run, run2), (3, run, run), (4, run2, run2)]
    closed = table(conn, "SELECT end_time, loaded_at < updated_at FROM user_sessions WHERE id=2")
    assert closed == [(datetime(2024, 5, 1, 9, tzinfo=UTC), True)]
    assert table(conn, "SELECT run_id, session_id, reason FROM rejected_sessions") == [
        (run2, 5, "missing startTime")
    ]
    assert store.open_session_ids() == [1, 3, 4]
    assert store.next_id() == 6
    assert all(v == 0 for v in run_checks(conn).values()), run_checks(conn)


def test_an_identical_refetch_changes_nothing(
    store: SessionStore, conn: duckdb.DuckDBPyConnection
) -> None:
    run = store.start_run("scan")
    batch = batch_of(session(1, endTime=None, ipAddress="bad ip"), session(2, clientAppId=None))
    store.write_checkpoint(run, batch, cursor=3)
    before = table(conn, "SELECT * FROM user_sessions ORDER BY id")
    run2 = store.start_run("scan")
    assert store.write_checkpoint(run2, batch, cursor=3).added == merged(0, 0, 2, 0)
    assert table(conn, "SELECT * FROM user_sessions ORDER BY id") == before


def test_values_round_trip_exactly_with_milliseconds(
    store: SessionStore, conn: duckdb.DuckDBPyConnection
) -> None:
    text = 'a,"b"\n=HYPERLINK("x")  ' + "é" * 70
    run = store.start_run("ids")
    store.write_checkpoint(
        run,
        batch_of(session(9, appId=text, startTime="2024-05-01T10:30:00.007+02:00")),
        cursor=None,
    )
    row = table(conn, "SELECT app_id, start_time, strftime(start_time, '%f'), anomalies "
                      "FROM user_sessions")  # fmt: skip
    assert row == [(text, datetime(2024, 5, 1, 8, 30, 0, 7000, tzinfo=UTC), "007000",
                    ["string_over_64"])]  # fmt: skip
    assert store.next_id() is None  # an ids run with cursor=None leaves the cursor alone


def test_cursor_only_moves_forward(store: SessionStore) -> None:
    run = store.start_run("scan")
    assert store.next_id() is None
    store.set_cursor_if_absent(50, run_id=run)
    store.set_cursor_if_absent(10, run_id=run)
    assert store.next_id() == 50
    store.write_checkpoint(run, batch_of(), cursor=80)
    assert store.next_id() == 80
    store.write_checkpoint(run, batch_of(session(3)), cursor=4)
    assert store.next_id() == 80


def test_a_failure_between_merge_and_cursor_writes_nothing(
    store: SessionStore, conn: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = store.start_run("scan")
    store.write_checkpoint(run, batch_of(session(1)), cursor=2)
    ledger_before = store.last_run()
    sessions_before = table(conn, "SELECT * FROM user_sessions")

    def boom(run_id: int, cursor: int) -> None:
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(store, "_advance_cursor", boom)
    batch = batch_of(session(1, endTime="2024-05-01T09:00:00Z"), session(2), {"id": 3})
    with pytest.raises(StorageError, match=r"cannot store a checkpoint: .*disk full"):
        store.write_checkpoint(run, batch, cursor=4)

    assert table(conn, "SELECT * FROM user_sessions") == sessions_before
    assert table(conn, "SELECT count(*) FROM rejected_sessions") == [(0,)]
    assert store.next_id() == 2
    assert store.last_run() == ledger_before

    monkeypatch.undo()  # the same checkpoint, retried, now lands whole
    assert store.write_checkpoint(run, batch, cursor=4).added == merged(1, 1, 0, 1)
    assert store.next_id() == 4


def test_earlier_running_runs_are_marked_interrupted(store: SessionStore) -> None:
    other = SessionStore(store.conn, "other-org")
    first = store.start_run("scan")
    foreign = other.start_run("scan")
    second = store.start_run("ids", flow_run_id="flow-1", first_id=5)
    assert second == first + 2
    interrupted = store.last_run(status="interrupted")
    assert interrupted is not None
    assert interrupted["run_id"] == first
    assert interrupted["finished_at"] is not None
    assert "interrupted" in interrupted["error"]
    foreign_row = other.last_run()
    assert foreign_row is not None
    assert foreign_row["status"] == "running"
    latest = store.last_run()
    assert latest is not None
    assert (latest["run_id"], latest["status"], latest["source"]) == (second, "running", "ids")
    assert (latest["flow_run_id"], latest["first_id"]) == ("flow-1", 5)
    assert foreign not in (first, second)


def merged(inserted: int, updated: int, unchanged: int, rejected: int) -> LedgerCounts:
    """What a checkpoint of distinct objects adds: each object fetched once."""
    fetched = inserted + updated + unchanged + rejected
    return LedgerCounts(
        fetched=fetched, inserted=inserted, updated=updated, unchanged=unchanged, rejected=rejected
    )


def test_the_ledger_row_is_the_only_total_and_finish_adds_without_replacing(
    store: SessionStore,
) -> None:
    run = store.start_run("scan")
    spent = LedgerCounts(requests=3, retries=1, bytes=100)
    checkpoint = store.write_checkpoint(
        run, batch_of(session(4), session(6), {"id": 9}), cursor=10, client=spent
    )
    assert checkpoint.added == spent + merged(2, 0, 0, 1)
    assert checkpoint.totals == checkpoint.added == stored_counts(store)
    more = LedgerCounts(requests=2, penalty_waits=1)
    second = store.write_checkpoint(run, batch_of(session(6)), cursor=None, client=more)
    assert second.added == more + merged(0, 0, 1, 0)
    assert second.totals == checkpoint.totals + second.added == stored_counts(store)
    row = store.last_run()
    assert row is not None
    assert (row["first_id"], row["last_id"]) == (4, 9)

    final = store.finish_run(run, "completed", added=LedgerCounts(requests=1, renewals=1))
    assert final == second.totals + LedgerCounts(requests=1, renewals=1) == stored_counts(store)
    row = store.last_run()
    assert row is not None
    assert (row["status"], row["finished_at"] is not None) == ("completed", True)
    with pytest.raises(StorageError, match="unknown run status"):
        store.finish_run(run, "done")
    with pytest.raises(StorageError, match="no ledger row for run 999"):
        store.finish_run(999, "completed")


def stored_counts(store: SessionStore) -> LedgerCounts:
    row = store.last_run()
    assert row is not None
    return LedgerCounts.from_row(row)


def test_the_counter_sql_adds_and_returns_exactly_the_ledger_counts(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    names = list(LedgerCounts.names())
    add = query_sql("store", "add_run_counts")
    assert re.findall(r"(\w+) = \1 \+ \$\1", add) == names
    returning = add.split("RETURNING", 1)[1].rstrip().rstrip(";")
    assert [n.strip() for n in returning.split(",")] == names
    assert "fetched" not in query_sql("store", "finish_run")  # closing a run adds, never replaces
    columns = dict(table(conn, "SELECT column_name, data_type FROM duckdb_columns() "
                               "WHERE table_name = 'ingest_runs'"))  # fmt: skip
    assert {n: columns.get(n) for n in names} == dict.fromkeys(names, "BIGINT")


def test_users_are_upserted_and_stats_kept_per_observation(
    store: SessionStore, conn: duckdb.DuckDBPyConnection
) -> None:
    run = store.start_run("scan")
    assert store.write_users(run, [{"id": 1, "name": "ann", "status": "Active"}]) == 1
    store.write_user_stats(run, [{"id": 1, "lastSessionTime": "2024-01-01T00:00:00Z",
                                  "failedPasswords": 0}])  # fmt: skip
    run2 = store.start_run("scan")
    store.write_users(run2, [{"id": 1, "name": "ann", "status": "Closed"}, {"id": 2}])
    store.write_user_stats(run2, [{"id": 1, "lastSessionTime": "2024-01-02T00:00:00Z",
                                   "failedPasswords": 4}])  # fmt: skip
    assert table(conn, "SELECT id, status, first_run_id, last_run_id FROM users ORDER BY id") == [
        (1, "Closed", run, run2),
        (2, None, run2, run2),
    ]
    assert table(conn, "SELECT run_id, failed_passwords FROM user_session_stats ORDER BY 1") == [
        (run, 0),
        (run2, 4),
    ]
    assert store.write_users(run2, []) == 0


USER_COLUMNS = (
    "id, name, email, status, professional, organization_id, linked_user_id,"
    " foreign_introducing_broker_id, created_at, first_run_id, last_run_id"
)


def test_an_unchanged_user_list_writes_no_row_and_a_changed_user_is_updated(
    store: SessionStore, conn: duckdb.DuckDBPyConnection
) -> None:
    from session_audit.simulator import Simulator, SimulatorConfig

    listed = Simulator(SimulatorConfig(users=40, sessions=0, seed=3)).truth_users()
    # NULLs, a bool, a time with milliseconds
    listed.append({"id": 999, "professional": False, "timestamp": "2026-01-02T03:04:05.678Z"})
    run1 = store.start_run("scan")
    assert store.write_users(run1, listed) == len(listed)
    first = table(conn, f"SELECT {USER_COLUMNS} FROM users ORDER BY id")
    assert len(first) == len(listed) and {r[-1] for r in first} == {run1}

    run2 = store.start_run("scan")
    assert store.write_users(run2, listed) == 0  # the same answer: no row written
    assert table(conn, f"SELECT {USER_COLUMNS} FROM users ORDER BY id") == first

    changed = [dict(u) for u in listed]
    changed[0]["email"] = "renamed@example.com"  # a value changed
    changed[-1]["name"] = "was null"  # NULL -> a value (NULL-safe comparison)
    changed[1]["professional"] = not changed[1].get("professional")
    changed.append({"id": 1000, "name": "new"})
    run3 = store.start_run("scan")
    assert store.write_users(run3, changed) == 4  # three updated, one inserted
    after = {r[0]: r for r in table(conn, f"SELECT {USER_COLUMNS} FROM users ORDER BY id")}
    moved = {uid for uid, r in after.items() if r[-1] == run3}
    assert moved == {changed[0]["id"], changed[1]["id"], 999, 1000}
    assert after[changed[0]["id"]][2] == "renamed@example.com"
    assert after[999][1] == "was null" and after[999][-2:] == (run1, run3)
    assert after[1000][-2:] == (run3, run3)
    kept = [r for r in first if r[0] not in moved]
    assert kept == [after[r[0]] for r in kept]  # the others untouched, last_run_id run1
    assert store.write_users(store.start_run("scan"), changed) == 0


def test_a_batch_of_another_org_is_refused(store: SessionStore) -> None:
    run = store.start_run("scan")
    with pytest.raises(StorageError, match="org 'x'"):
        store.write_checkpoint(run, batch_of(session(1), org="x"), cursor=None)


@pytest.mark.parametrize("stored_first", [False, True])
def test_a_batch_repeating_an_id_is_refused_and_stores_nothing(
    store: SessionStore, stored_first: bool
) -> None:
    """user_sessions has no key (schema 8): the store itself refuses a frame whose ids repeat
    (normalize and combine_batches never make one), on the plain insert and the MERGE path."""
    run = store.start_run("scan")
    if stored_first:
        store.write_checkpoint(run, batch_of(session(1)), cursor=2)
    good = batch_of(session(1, appVersion="2"), session(2))
    doubled = dataclasses.replace(good, sessions=pl.concat([good.sessions, good.sessions]))
    before = store.conn.execute("SELECT * FROM user_sessions ORDER BY id").fetchall()
    with pytest.raises(StorageError, match="repeats a session id"):
        store.write_checkpoint(run, doubled, cursor=3)
    assert store.conn.execute("SELECT * FROM user_sessions ORDER BY id").fetchall() == before
    assert store.next_id() == (2 if stored_first else None)


def test_orgs_are_kept_apart(conn: duckdb.DuckDBPyConnection) -> None:
    a, b = SessionStore(conn, "a"), SessionStore(conn, "b")
    ra, rb = a.start_run("scan"), b.start_run("scan")
    a.write_checkpoint(ra, batch_of(session(1), org="a"), cursor=2)
    b.write_checkpoint(rb, batch_of(session(1, endTime="2024-05-01T09:00:00Z"), org="b"), cursor=9)
    assert (a.next_id(), b.next_id()) == (2, 9)
    assert (a.open_session_ids(), b.open_session_ids()) == ([1], [])


def test_checkpoints_persist_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with writer(path) as connection:
        migrate(connection)
        store = SessionStore(connection, "default")
        run = store.start_run("scan")
        store.write_checkpoint(run, batch_of(session(1)), cursor=2)
    reader = connect(path, read_only=True)
    assert reader.execute("SELECT id FROM user_sessions").fetchall() == [(1,)]
    assert SessionStore(reader, "default").next_id() == 2


def test_a_workers_counters_merge_into_the_runs_field_for_field() -> None:
    from dataclasses import fields

    from session_audit.api.counters import RunCounters

    run = RunCounters(requests=5, retries={"server": 1}, penalty_wait_seconds=1.5, rows=10)
    worker = RunCounters(retries={"server": 2, "timeout": 1})
    for item in fields(RunCounters):
        if item.name != "retries":
            setattr(worker, item.name, 2 if item.name != "penalty_wait_seconds" else 0.25)
    run.merge(worker)
    assert run.requests == 7 and run.rows == 12 and run.lockouts == 2 and run.renewals == 2
    assert run.penalty_wait_seconds == 1.75
    assert run.retries == {"server": 3, "timeout": 1}
    assert worker.retries == {"server": 2, "timeout": 1}  # the worker's own are untouched
