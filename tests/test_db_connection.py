"""Opening the database: UTC, error translation, the single-writer lock and its sidecar."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from session_audit.db.connection import (
    connect,
    is_corruption,
    read_sidecar,
    redacted_command,
    sidecar_path,
    storage_error,
    transaction,
    writer,
)
from session_audit.errors import ConfigError, DatabaseLockedError

HOLDER = textwrap.dedent(
    """
    import sys
    from session_audit.db.connection import writer
    with writer(sys.argv[1], command="session-audit ingest --db held.duckdb") as conn:
        print("ready", flush=True)
        sys.stdin.read()  # hold the lock until the test closes our stdin
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another process holding the writer lock on a database file."""
    path = tmp_path / "held.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "ready"
    try:
        yield path, proc
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=30)


def test_connections_use_utc() -> None:
    conn = connect(":memory:")
    assert conn.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    row = conn.execute("SELECT TIMESTAMPTZ '2024-03-01 12:00:00.123+02:00'::VARCHAR").fetchone()
    assert row == ("2024-03-01 10:00:00.123+00",)


def test_writer_creates_the_directory_and_a_sidecar_then_removes_it(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "s.duckdb"
    with writer(path, command="session-audit ingest") as conn:
        conn.execute("CREATE TABLE t (i INTEGER)")
        info = read_sidecar(path)
        assert info is not None
        assert info["pid"] == os.getpid()
        assert info["command"] == "session-audit ingest"
        assert info["started_at"]
    assert path.exists()
    assert not sidecar_path(path).exists()


def test_read_only_open_of_a_missing_file_says_to_ingest_first(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    with pytest.raises(ConfigError, match=r"no database at .*none\.duckdb; run `session-audit"):
        connect(missing, read_only=True)
    assert not missing.exists()


def test_a_file_that_is_not_duckdb_is_a_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.duckdb"
    junk.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(ConfigError, match="not a DuckDB database"):
        connect(junk)


def test_second_writer_is_refused_naming_the_first(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, proc = holder
    with pytest.raises(DatabaseLockedError) as info:
        connect(path)
    message = str(info.value)
    assert f"pid {proc.pid}" in message
    assert "session-audit ingest --db held.duckdb" in message
    with pytest.raises(DatabaseLockedError, match=f"pid {proc.pid}"):
        connect(path, read_only=True)


def test_a_lock_timeout_waits_for_the_first_writer(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, proc = holder
    assert proc.stdin is not None
    proc.stdin.close()  # the holder finishes shortly
    with writer(path, lock_timeout=30) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    proc.wait(timeout=30)


def test_a_stale_sidecar_does_not_name_the_wrong_process(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    sidecar_path(path).write_text('{"pid": 1, "command": "old run", "started_at": "x"}')
    with writer(path, command="new") as conn:  # a stale sidecar never blocks a writer
        conn.execute("SELECT 1")
        info = read_sidecar(path)
        assert info is not None
        assert (info["pid"], info["command"]) == (os.getpid(), "new")


def test_command_line_secrets_are_masked() -> None:
    argv = ["/usr/bin/session-audit", "ingest", "--password", "hunter2", "--secret=abc"]
    argv += ["--db", "x"]
    assert redacted_command(argv) == "session-audit ingest --password *** --secret=*** --db x"


def test_a_sandboxed_connection_reads_but_reaches_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with writer(path, command="t") as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS i")
        conn.execute("CREATE VIEW v AS SELECT i + 1 AS j FROM t")
    conn = connect(path, read_only=True, sandbox=True)
    try:
        assert conn.execute("SELECT j FROM v").fetchall() == [(2,)]
        assert conn.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
        for sql in (
            f"ATTACH '{tmp_path / 'other.duckdb'}' AS o",
            f"COPY t TO '{tmp_path / 't.csv'}'",
            f"SELECT * FROM read_text('{path}')",
            "SET TimeZone = 'Europe/Paris'",
            "SET lock_configuration = false",
        ):
            with pytest.raises(duckdb.Error):
                conn.execute(sql)
    finally:
        conn.close()
    # nothing written but the database and the writer's lock file (kept: see WriterLock)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.duckdb", "s.duckdb.lock"]


def test_corruption_is_recognised_by_duckdb_s_message_only() -> None:
    corrupt = duckdb.Error(
        "Corrupt database file: computed checksum 1 does not match stored checksum 2 in block 3"
    )
    assert is_corruption(corrupt)
    error = storage_error(corrupt, "query")
    assert str(error).startswith("query failed: the database file is corrupt: Corrupt database")
    named = duckdb.CatalogException('Table with name "Corrupt database file" does not exist!')
    assert not is_corruption(named)
    aborted = duckdb.TransactionException("Current transaction is aborted (please ROLLBACK)")
    assert not is_corruption(aborted)


def test_transaction_commits_the_block_or_rolls_it_back_with_its_error() -> None:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (a INTEGER)")
    with transaction(conn) as same:
        same.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ZeroDivisionError), transaction(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        raise ZeroDivisionError
    assert conn.execute("SELECT list(a) FROM t").fetchone() == ([1],)
    conn.execute("INSERT INTO t VALUES (3)")  # no transaction left open
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
