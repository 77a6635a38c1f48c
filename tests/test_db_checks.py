"""Data checks: a clean database passes, each rule catches the problem it names."""

from __future__ import annotations

import duckdb
import orjson
import pytest

from session_audit.db.checks import check_names, run_check, run_checks
from session_audit.db.connection import connect
from session_audit.db.migrations import migrate
from session_audit.ingest.normalize import normalize_pages
from session_audit.ingest.store import SessionStore


@pytest.fixture
def conn() -> duckdb.DuckDBPyConnection:
    connection = connect(":memory:")
    migrate(connection, views=())
    store = SessionStore(connection, "default")
    run = store.start_run("scan")
    objs = [
        {"id": i, "userId": 1, "startTime": "2024-01-01T00:00:00Z", "clientAppId": 1}
        for i in (1, 2, 3)
    ]
    store.write_checkpoint(run, normalize_pages([orjson.dumps(objs)], org="default"), cursor=4)
    store.finish_run(run, "completed")
    return connection


def test_a_consistent_database_passes_every_check(conn: duckdb.DuckDBPyConnection) -> None:
    assert set(run_checks(conn)) == set(check_names())
    assert all(count == 0 for count in run_checks(conn).values())


@pytest.mark.parametrize(
    ("check", "breakage"),
    [
        ("cursor_behind_scanned_ids", "UPDATE ingest_state SET next_id = 2"),
        ("anomaly_flags_inconsistent", "UPDATE user_sessions SET client_app_id = NULL WHERE id=1"),
        ("anomaly_flags_inconsistent",
         "UPDATE user_sessions SET end_time = TIMESTAMPTZ '2023-01-01 00:00:00+00' WHERE id=1"),
        ("unknown_anomaly_codes", "UPDATE user_sessions SET anomalies = ['weird'] WHERE id=1"),
        ("sessions_without_lineage", "UPDATE user_sessions SET first_run_id = 99 WHERE id=1"),
        ("finished_runs_without_time", "UPDATE ingest_runs SET finished_at = NULL"),
    ],
)  # fmt: skip
def test_each_check_catches_its_problem(
    conn: duckdb.DuckDBPyConnection, check: str, breakage: str
) -> None:
    conn.execute(breakage)
    assert len(run_check(conn, check)) >= 1
    assert run_checks(conn)[check] >= 1


def test_duplicates_are_caught_in_a_copy_without_the_key(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    # The primary key makes a duplicate impossible in user_sessions itself; run the check's SQL
    # against a keyless table of the same name in a scratch schema to prove it detects one.
    conn.execute("CREATE SCHEMA scratch")
    conn.execute("CREATE TABLE scratch.user_sessions AS SELECT * FROM user_sessions")
    conn.execute("INSERT INTO scratch.user_sessions SELECT * FROM user_sessions WHERE id = 1")
    conn.execute("SET search_path = 'scratch'")
    assert run_check(conn, "duplicate_session_ids") == [("default", 1, 2)]
