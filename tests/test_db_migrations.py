"""Schema migrations: fresh databases, idempotence, in-place upgrades, newer files, views."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import cast

import duckdb
import orjson
import pytest

from session_audit.db import migrations
from session_audit.db.connection import connect
from session_audit.db.migrations import CURRENT_VERSION, STEPS, Step, migrate, schema_version
from session_audit.db.sqlfiles import load_sql, sql_names
from session_audit.errors import MigrationError, StorageError
from session_audit.ingest.normalize import normalize_pages
from session_audit.ingest.store import SessionStore

DESIGN_COLUMNS = {
    "user_sessions": [
        "org", "id", "user_id", "start_time", "end_time", "client_app_id", "ip_address",
        "app_id", "app_version", "anomalies", "first_run_id", "last_run_id", "loaded_at",
        "updated_at", "ip", "ip_family", "ip_network",
    ],
    "rejected_sessions": ["org", "run_id", "session_id", "raw_json", "reason", "rejected_at"],
    "users": [
        "org", "id", "name", "email", "status", "professional", "organization_id",
        "linked_user_id", "foreign_introducing_broker_id", "created_at", "first_run_id",
        "last_run_id",
    ],
    "user_session_stats": [
        "org", "run_id", "observed_at", "user_id", "stats_id", "last_session_time",
        "failed_passwords",
    ],
    "ingest_runs": [
        "run_id", "org", "flow_run_id", "started_at", "finished_at", "status", "source",
        "first_id", "last_id", "requests", "fetched", "inserted", "updated", "unchanged",
        "rejected", "retries", "penalty_waits", "renewals", "bytes", "error", "scanned_to",
        "end_session_id", "resume_at", "api_user_id", "login_at",
    ],
    "ingest_state": ["org", "next_id", "run_id", "updated_at"],
    "api_state": ["base_url", "batch_size", "rejected_at", "updated_at"],
}  # fmt: skip


def columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def test_fresh_database_gets_every_design_table_and_the_version() -> None:
    conn = connect(":memory:")
    assert migrate(conn) == CURRENT_VERSION
    for table, expected in DESIGN_COLUMNS.items():
        assert columns(conn, table) == expected, table
    rows = conn.execute("SELECT version, description FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == [s.version for s in STEPS]
    assert schema_version(conn) == CURRENT_VERSION


def test_timestamps_are_timestamptz_and_sessions_keyed_by_org_and_id_by_the_store() -> None:
    conn = connect(":memory:")
    migrate(conn)
    types = dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'user_sessions'"
        ).fetchall()
    )
    assert types["start_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["anomalies"] == "VARCHAR[]"
    insert = (
        "INSERT INTO user_sessions (org, id, user_id, start_time, anomalies) "
        "VALUES (?, 1, 1, TIMESTAMPTZ '2024-01-01 00:00:00+00', [])"
    )
    conn.execute(insert, ["a"])
    conn.execute(insert, ["b"])  # the same id in another org is another session
    # Schema 8: no PRIMARY KEY (its index cost every checkpoint); the store keeps (org, id)
    # unique: a re-fetch of a stored id (a second checkpoint) updates the one row.
    keys = conn.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'user_sessions'"
        " AND constraint_type = 'PRIMARY KEY'"
    ).fetchone()
    assert keys == (0,)
    store = SessionStore(conn, "a")
    run = store.start_run("scan")
    first = {"id": 1, "userId": 1, "startTime": "2024-01-01T00:00:00Z", "clientAppId": 1}
    for obj in (first, {**first, "endTime": "2024-01-01T01:00:00Z"}):
        batch = normalize_pages([orjson.dumps([obj, {**obj, "id": 2}])], org="a")
        store.write_checkpoint(run, batch, cursor=3)
    rows = conn.execute(
        "SELECT org, id, count(*), count(end_time) FROM user_sessions GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert rows == [("a", 1, 1, 1), ("a", 2, 1, 1), ("b", 1, 1, 0)]


def test_migrate_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    conn = connect(path)
    migrate(conn)
    conn.execute("INSERT INTO ingest_state (org, next_id) VALUES ('default', 42)")
    conn.close()
    conn = connect(path)
    assert migrate(conn) == CURRENT_VERSION
    assert migrate(conn) == CURRENT_VERSION
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(STEPS),)
    assert conn.execute("SELECT next_id FROM ingest_state").fetchone() == (42,)


NEXT = CURRENT_VERSION + 1


def _with_next(monkeypatch: pytest.MonkeyPatch, sql: str) -> tuple[Step, ...]:
    """STEPS plus a next-version step whose SQL is ``sql`` (served as 'schema/test_next')."""

    def fake_load(name: str) -> str:
        return sql if name == "schema/test_next" else load_sql(name)

    monkeypatch.setattr(migrations, "load_sql", fake_load)
    return (*STEPS, Step(NEXT, "test: add a column", ("schema/test_next",)))


def test_a_version_1_file_upgrades_in_place_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    conn = connect(path)
    assert migrate(conn, steps=STEPS[:1], views=()) == 1
    conn.execute(
        "INSERT INTO user_sessions (id, user_id, start_time, anomalies)"
        " VALUES (5, 9, TIMESTAMPTZ '2026-01-01 00:00:00+00', [])"
    )
    conn.close()
    conn = connect(path)
    assert migrate(conn) == CURRENT_VERSION
    assert conn.execute("SELECT id, user_id FROM user_sessions").fetchall() == [(5, 9)]
    indexes = {r[0] for r in conn.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    assert "user_sessions_user_idx" in indexes
    assert conn.execute("SELECT count(*) FROM login_history").fetchone() == (1,)


def test_a_version_7_file_loses_the_key_and_keeps_every_row_and_the_user_index(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v7.duckdb"
    conn = connect(path)
    assert migrate(conn, steps=[s for s in STEPS if s.version <= 7]) == 7
    store = SessionStore(conn, "default")
    run = store.start_run("scan")
    objs = [
        {"id": i, "userId": i % 3, "startTime": f"2024-01-0{i}T00:00:00.5Z", "appId": "x" * i}
        for i in range(1, 8)
    ]
    store.write_checkpoint(run, normalize_pages([orjson.dumps(objs)], org="default"), cursor=8)
    before = conn.execute("SELECT * FROM user_sessions ORDER BY id").fetchall()
    columns_before = conn.execute("DESCRIBE user_sessions").fetchall()
    conn.close()
    conn = connect(path)
    assert migrate(conn) == CURRENT_VERSION
    assert conn.execute("SELECT * FROM user_sessions ORDER BY id").fetchall() == before
    # same columns, types, NULL-ability and defaults; only the key is gone
    after = conn.execute("DESCRIBE user_sessions").fetchall()
    assert [r[:3] + r[4:] for r in after] == [r[:3] + r[4:] for r in columns_before]
    assert [r[0] for r in columns_before if r[3] == "PRI"] == ["org", "id"]
    assert all(r[3] != "PRI" for r in after)
    indexes = {r[0] for r in conn.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    assert "user_sessions_user_idx" in indexes
    assert conn.execute("SELECT count(*) FROM login_history").fetchone() == (7,)


def test_a_version_3_file_gets_its_canonical_ips_backfilled(tmp_path: Path) -> None:
    path = tmp_path / "v3.duckdb"
    conn = connect(path)
    assert migrate(conn, steps=STEPS[:3], views=()) == 3
    stored = [
        (1, "2001:DB8:0:0:0:0:0:1"),
        (2, "::ffff:1.2.3.4"),
        (3, "unknown"),
        (4, None),
        (5, "10.0.0.1"),
        (6, "2001:db8::1"),
    ]
    conn.executemany(
        "INSERT INTO user_sessions (org, id, user_id, start_time, ip_address, anomalies,"
        " last_run_id, updated_at) VALUES ('default', ?, 9, TIMESTAMPTZ '2026-01-01 00:00:00+00',"
        " ?, [], 1, TIMESTAMPTZ '2026-01-02 00:00:00+00')",
        [list(r) for r in stored],
    )
    conn.close()
    conn = connect(path)
    assert migrate(conn) == CURRENT_VERSION
    got = conn.execute(
        "SELECT id, ip_address, ip, ip_family, ip_network, last_run_id,"
        " CAST(updated_at AS VARCHAR) FROM user_sessions ORDER BY id"
    ).fetchall()
    kept = (1, "2026-01-02 00:00:00+00")  # lineage untouched: the API's values did not change
    assert got == [
        (1, "2001:DB8:0:0:0:0:0:1", "2001:db8::1", "v6", "2001:db8::/64", *kept),
        (2, "::ffff:1.2.3.4", "1.2.3.4", "v4", "1.2.3.0/24", *kept),
        (3, "unknown", None, None, None, *kept),
        (4, None, None, None, None, *kept),
        (5, "10.0.0.1", "10.0.0.1", "v4", "10.0.0.0/24", *kept),
        (6, "2001:db8::1", "2001:db8::1", "v6", "2001:db8::/64", *kept),
    ]
    # the views group on the backfilled columns: sessions 1 and 6 are one address
    v6 = conn.execute("SELECT ip, ip_texts FROM ip_activity WHERE ip_family = 'v6'").fetchall()
    assert v6 == [("2001:db8::1", ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"])]


def test_an_older_file_upgrades_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.duckdb"
    conn = connect(path)
    assert migrate(conn, steps=STEPS[:1], views=()) == 1
    conn.execute("INSERT INTO ingest_state (org, next_id) VALUES ('default', 7)")
    conn.close()

    steps = _with_next(monkeypatch, "ALTER TABLE ingest_state ADD COLUMN note VARCHAR;")
    conn = connect(path)
    assert migrate(conn, steps=steps) == NEXT
    assert conn.execute("SELECT next_id, note FROM ingest_state").fetchall() == [(7, None)]
    versions = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    assert [r[0] for r in versions] == list(range(1, NEXT + 1))
    assert migrate(conn, steps=steps) == NEXT  # and again: nothing to do


def test_a_failing_step_rolls_back_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.duckdb"
    conn = connect(path)
    migrate(conn, views=())
    steps = _with_next(
        monkeypatch, "ALTER TABLE ingest_state ADD COLUMN note VARCHAR; SELECT * FROM no_such;"
    )
    with pytest.raises(MigrationError, match="migrating the database failed"):
        migrate(conn, steps=steps)
    assert schema_version(conn) == CURRENT_VERSION
    assert "note" not in columns(conn, "ingest_state")


def test_a_newer_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connect(tmp_path / "new.duckdb")
    migrate(conn, steps=_with_next(monkeypatch, "CREATE TABLE extra (i INTEGER);"))
    with pytest.raises(MigrationError, match="newer than this session-audit knows"):
        migrate(conn, steps=STEPS)


def test_every_listed_view_is_created_and_queryable() -> None:
    views = migrations.view_names()
    conn = connect(":memory:")
    migrate(conn)
    created = {
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW'"
        ).fetchall()
    }
    assert set(views) <= created
    for view in views:  # each view binds against the empty schema
        assert conn.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)


def test_load_sql_finds_files_and_refuses_unknown_names() -> None:
    assert "CREATE TABLE user_sessions" in load_sql("schema/user_sessions")
    assert load_sql("schema/user_sessions").startswith("--")  # header comment
    with pytest.raises(StorageError, match="unknown SQL file 'queries/nope'"):
        load_sql("queries/nope")
    with pytest.raises(StorageError, match="bad SQL file name"):
        load_sql("../etc/passwd")


@pytest.mark.parametrize("folder", ["schema", "queries", "checks", "macros"])
def test_every_sql_file_starts_with_a_header_comment(folder: str) -> None:
    names = sql_names(folder)
    assert names
    for name in names:
        assert load_sql(name).startswith("-- "), name


class _Recording:
    """A connection that records the text of every statement it executes."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn
        self.statements: list[str] = []

    def execute(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
        self.statements.append(sql)
        return self.conn.execute(sql, params)

    def creates(self) -> list[str]:
        """The statements that created a macro or a view."""
        return [s for s in self.statements if "CREATE OR REPLACE" in s.upper()]


def _migrate_recorded(
    conn: duckdb.DuckDBPyConnection, steps: tuple[Step, ...] = STEPS
) -> list[str]:
    """Migrate ``conn``; the statements that created a macro or a view."""
    recording = _Recording(conn)
    assert migrate(cast(duckdb.DuckDBPyConnection, recording), steps=steps) == steps[-1].version
    return recording.creates()


def _views_and_macros() -> int:
    return len(migrations.view_names()) + len(migrations.macro_names())


def test_unchanged_views_are_not_recreated(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    conn = connect(path)
    assert len(_migrate_recorded(conn)) == _views_and_macros()  # a new file: all of them
    assert _migrate_recorded(conn) == []
    conn.close()
    conn = connect(path)  # the catalog's view SQL reads the same from a reopened file
    assert _migrate_recorded(conn) == []
    assert conn.execute("SELECT count(*) FROM login_history").fetchone() == (0,)


def test_a_changed_view_text_recreates_the_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.duckdb"
    conn = connect(path)
    migrate(conn)
    shipped = load_sql("views/data_horizon")
    assert "AS newest_start" not in shipped and shipped.count("FROM user_sessions") == 1
    # the same view with one more column, as a new release might ship it
    changed = shipped.replace("FROM user_sessions", ", 7 AS newest_start FROM user_sessions")

    def new_version(name: str) -> str:  # a new session-audit whose data_horizon differs
        return changed if name == "views/data_horizon" else load_sql(name)

    monkeypatch.setattr(migrations, "load_sql", new_version)
    conn.close()
    conn = connect(path)
    created = _migrate_recorded(conn)
    assert changed in created and len(created) == _views_and_macros()
    assert "newest_start" in [d[0] for d in conn.execute("FROM data_horizon").description]
    assert _migrate_recorded(conn) == []  # recorded: the next run creates nothing
    monkeypatch.undo()  # the shipped text again (an older session-audit of the same schema)
    assert len(_migrate_recorded(conn)) == _views_and_macros()
    assert "newest_start" not in [d[0] for d in conn.execute("FROM data_horizon").description]


def test_a_view_dropped_by_hand_or_a_deleted_digest_recreates_the_views(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db.duckdb")
    migrate(conn)
    conn.execute("DROP VIEW coverage_gaps")
    assert len(_migrate_recorded(conn)) == _views_and_macros()
    assert conn.execute("SELECT count(*) FROM coverage_gaps").fetchone() == (0,)
    assert _migrate_recorded(conn) == []
    conn.execute("CREATE OR REPLACE VIEW shared_ips AS SELECT 42 AS answer")
    conn.execute("DELETE FROM schema_objects")  # the documented way to force a recreation
    assert len(_migrate_recorded(conn)) == _views_and_macros()
    assert "answer" not in [d[0] for d in conn.execute("FROM shared_ips").description]


def test_a_new_schema_version_recreates_the_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connect(tmp_path / "db.duckdb")
    migrate(conn)
    steps = _with_next(monkeypatch, "ALTER TABLE ingest_state ADD COLUMN note VARCHAR;")
    assert len(_migrate_recorded(conn, steps=steps)) == _views_and_macros()
    assert _migrate_recorded(conn, steps=steps) == []


def test_a_file_before_schema_objects_always_gets_its_views(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db.duckdb")
    old = STEPS[: migrations.OBJECTS_VERSION - 1]
    recording = _Recording(conn)
    for _ in range(2):  # no table to record digests in: the views are created every time
        recording.statements.clear()
        migrate(cast(duckdb.DuckDBPyConnection, recording), steps=old)
        assert len(recording.creates()) == _views_and_macros()
    assert len(_migrate_recorded(conn)) == _views_and_macros()  # the upgrade records them
    assert _migrate_recorded(conn) == []
    digests = conn.execute("SELECT name, digest FROM schema_objects").fetchall()
    expected = migrations.objects_digest(
        CURRENT_VERSION, migrations.macro_names(), migrations.view_names()
    )
    assert digests == [("views", expected)]


def test_migrating_a_new_file_does_not_import_pyarrow() -> None:
    """The schema-4 backfill needs pyarrow only for stored addresses (a new file has none):
    importing it cost every first run about 30 ms of CPU."""
    script = (
        "import sys\n"
        "from session_audit.db.connection import connect\n"
        "from session_audit.db.migrations import migrate\n"
        "migrate(connect(':memory:'))\n"
        "print('pyarrow' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False", done.stderr
