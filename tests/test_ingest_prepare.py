"""The database of a plain ingest opened while the process starts (``ingest.prepare``): the run
takes over exactly what it would have opened itself, and fails exactly as it would have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from session_audit.cli import run_app
from session_audit.db.connection import WriterLock, read_sidecar
from session_audit.errors import ConfigError, DatabaseLockedError
from session_audit.ingest.prepare import PreparedWriter, open_writer
from session_audit.settings import Settings


def _settings(db: Path, **extra: object) -> Settings:
    values: dict[str, object] = {"db": db, "username": "alice", "password": "pw", **extra}
    return Settings.model_validate(values)


def test_a_prepared_writer_holds_the_lock_of_a_migrated_database(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    prepared = PreparedWriter(_settings(db))
    writer = prepared.take()
    try:
        with writer.connection() as conn:
            tables = {
                r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
        assert {"user_sessions", "ingest_runs", "ingest_state"} <= tables
        with pytest.raises(DatabaseLockedError):
            WriterLock(db).__enter__()  # a second writer stops
    finally:
        writer.__exit__(None, None, None)
    prepared.close()  # taken: nothing more to release
    with pytest.raises(RuntimeError):
        prepared.take()


def test_what_preparing_raises_is_raised_by_take(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with pytest.raises(ConfigError, match="SESSION_AUDIT_USERNAME"):
        PreparedWriter(_settings(db, username="")).take()
    assert not db.exists()  # credentials are checked before the database is touched

    held = open_writer(_settings(db))
    try:
        prepared = PreparedWriter(_settings(db))
        with pytest.raises(DatabaseLockedError) as raised:
            prepared.take()
        with pytest.raises(DatabaseLockedError) as directly:
            open_writer(_settings(db))
        assert str(raised.value) == str(directly.value)
    finally:
        held.__exit__(None, None, None)


def test_a_writer_no_run_took_is_released(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    prepared = PreparedWriter(_settings(db))
    prepared.close()
    assert read_sidecar(db) is None
    again = open_writer(_settings(db))  # the lock is free again
    again.__exit__(None, None, None)


def test_bad_credentials_on_the_command_line_are_one_line_and_touch_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("USERNAME", "PASSWORD", "TENANTS"):
        monkeypatch.delenv(f"SESSION_AUDIT_{name}", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from elsewhere
    db = tmp_path / "s.duckdb"
    assert run_app(["ingest", "--db", str(db), "--start-id", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SESSION_AUDIT_USERNAME" in err
    assert not db.exists() and not Path(f"{db}.lock").exists()


def test_the_plain_command_line_run_opens_its_database_in_a_worker_thread(
    tmp_path: Path,
) -> None:
    """The CLI's plain ingest prepares the database in the ``prepare-db`` thread (the run then
    fails to reach an API that is not there: one line, exit 1, the lock released)."""
    db = tmp_path / "s.duckdb"
    code = f"""
import sys, threading
import session_audit.ingest.prepare as prepare
seen = []
opened = prepare.open_writer
def spy(settings):
    seen.append(threading.current_thread().name)
    return opened(settings)
prepare.open_writer = spy
from session_audit.cli import run_app
code = run_app(["ingest", "--no-progress", "--db", {str(db)!r}, "--start-id", "1"])
print(seen, code)
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "SESSION_AUDIT_USERNAME": "alice",
        "SESSION_AUDIT_PASSWORD": "pw",
        "SESSION_AUDIT_BASE_URL": "http://127.0.0.1:9/v1",
        "SESSION_AUDIT_MAX_ATTEMPTS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.stdout.strip() == "['prepare-db'] 1", done.stderr
    assert "Traceback" not in done.stderr
    assert read_sidecar(db) is None
