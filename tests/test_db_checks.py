"""Data checks: a clean database passes, each rule catches the problem it names, and
`session-audit check` exits 0 on a clean file and 1, naming the check, on a broken one."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pytest

from session_audit.cli.app import run_app
from session_audit.db.checks import check_names, check_summary, run_check, run_checks
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


def _file_db(path: Path) -> Path:
    """A database file with three sessions, written the way an ingest writes it."""
    connection = connect(path)
    try:
        migrate(connection)
        store = SessionStore(connection, "default")
        run = store.start_run("scan")
        objs = [
            {"id": i, "userId": 1, "startTime": "2024-01-01T00:00:00Z", "clientAppId": 1}
            for i in (1, 2, 3)
        ]
        batch = normalize_pages([orjson.dumps(objs)], org="default")
        store.write_checkpoint(run, batch, cursor=4)
        store.finish_run(run, "completed")
    finally:
        connection.close()
    return path


def test_check_command_passes_a_clean_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _file_db(tmp_path / "s.duckdb")
    assert run_app(["check", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"all {len(check_names())} checks passed" in out
    assert all(f"ok    {name}" in out for name in check_names())


def test_check_command_fails_on_a_planted_duplicate_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _file_db(tmp_path / "s.duckdb")
    with connect(db) as conn:  # the key forbids a duplicate: plant it in a keyless copy
        conn.execute("CREATE TABLE keyless AS SELECT * FROM user_sessions")
        conn.execute("DROP TABLE user_sessions")
        conn.execute("ALTER TABLE keyless RENAME TO user_sessions")
        conn.execute("INSERT INTO user_sessions SELECT * FROM user_sessions WHERE id = 2")
    assert run_app(["check", "--db", str(db)]) == 1
    captured = capsys.readouterr()
    failing = [line for line in captured.out.splitlines() if line.startswith("FAIL")]
    assert failing == [
        f"FAIL  duplicate_session_ids: 1 row(s): {check_summary('duplicate_session_ids')}"
    ]
    assert "1 of" in captured.err and "duplicate_session_ids" in captured.err


def test_check_command_on_a_missing_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_app(["check", "--db", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no database")


def test_every_check_says_what_it_finds() -> None:
    for name in check_names():
        summary = check_summary(name)
        assert summary and not summary.startswith(name), name
    assert check_summary("duplicate_session_ids").startswith("a session id stored more than once")
