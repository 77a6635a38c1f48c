"""Shared fixture helpers for the analysis tests (views, query, export, verify, report).

Builds a real database with :func:`session_audit.db.migrations.migrate` (tables and views as
shipped) and inserts hand-written rows (the app_version_daily rollup rebuilt after each insert,
as the ingest keeps it). Holds no tests itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from session_audit.db.app_version_rollup import rebuild
from session_audit.db.connection import connect
from session_audit.db.migrations import migrate
from session_audit.ingest.normalize import canonical_ip

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """T0 plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)


def make_db(path: Path | str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A migrated database (UTC session time zone)."""
    conn = connect(path)
    migrate(conn)
    return conn


def add_sessions(conn: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Insert sessions; keys: id, user_id, start, end, ip, app, version, org, client_app_id.
    The canonical ip, ip_family and ip_network come from ``ip`` as ingest computes them; the
    app_version_daily rollup is rebuilt, as the ingest keeps it in the same transaction."""
    conn.executemany(
        "INSERT INTO user_sessions (org, id, user_id, start_time, end_time, client_app_id,"
        " ip_address, app_id, app_version, anomalies, ip, ip_family, ip_network)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                r.get("org", "default"),
                r["id"],
                r["user_id"],
                r["start"],
                r.get("end"),
                r.get("client_app_id", 7),
                r.get("ip"),
                r.get("app", "Trader"),
                r.get("version", "1.0"),
                r.get("anomalies", []),
                *_canonical(r.get("ip")),
            ]
            for r in rows
        ],
    )
    rebuild(conn)


def _canonical(ip: str | None) -> tuple[str | None, str | None, str | None]:
    value = canonical_ip(ip) if ip is not None else None
    return value if value is not None else (None, None, None)


def add_users(
    conn: duckdb.DuckDBPyConnection, users: list[tuple[int, str]], org: str = "default"
) -> None:
    """Insert users (id, name)."""
    conn.executemany(
        "INSERT INTO users (org, id, name, status) VALUES (?, ?, ?, 'Active')",
        [[org, uid, name] for uid, name in users],
    )


def add_stats(conn: duckdb.DuckDBPyConnection, rows: list[tuple[int, int, datetime, int]]) -> None:
    """Insert user_session_stats observations (run_id, user_id, observed_at, failed)."""
    conn.executemany(
        "INSERT INTO user_session_stats (org, run_id, observed_at, user_id, stats_id,"
        " last_session_time, failed_passwords) VALUES ('default', ?, ?, ?, ?, NULL, ?)",
        [[run, observed, uid, uid, failed] for run, uid, observed, failed in rows],
    )


def add_last_sessions(
    conn: duckdb.DuckDBPyConnection,
    rows: list[tuple[int, int, datetime, datetime | None]],
    org: str = "default",
) -> None:
    """Insert user_session_stats observations (run_id, user_id, observed_at,
    last_session_time) with failed_passwords 0."""
    conn.executemany(
        "INSERT INTO user_session_stats (org, run_id, observed_at, user_id, stats_id,"
        " last_session_time, failed_passwords) VALUES (?, ?, ?, ?, ?, ?, 0)",
        [[org, run, observed, uid, uid, last] for run, uid, observed, last in rows],
    )


def rows(conn: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """All rows of ``sql``."""
    return conn.execute(sql, list(params)).fetchall()


def sample_db(path: Path | str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A small but varied database used by export, query and report tests."""
    conn = make_db(path)
    add_users(conn, [(1, "alice"), (2, "bob"), (3, "carol"), (4, "<script>alert(1)</script>")])
    sessions: list[dict[str, Any]] = []
    versions = ["1.9", "1.10", "2.0-beta", "2.0"]
    sid = 100
    for day in range(40):
        for user in (1, 2, 3):
            sid += 1
            start = T0 + timedelta(days=day, hours=user)
            sessions.append(
                {
                    "id": sid,
                    "user_id": user,
                    "start": start,
                    "end": start + timedelta(minutes=45),
                    "ip": f"10.0.{user}.{day % 3}" if user != 3 else "10.0.1.0",
                    "version": versions[min(day // 10, 3)] if user != 2 else "1.9",
                }
            )
    sessions.append(
        {"id": 900, "user_id": 2, "start": at(60 * 24 * 41), "ip": "2001:db8::5", "end": None}
    )
    sessions.append(
        {
            "id": 901,
            "user_id": 2,
            "start": at(60 * 24 * 41 + 10),
            "end": at(60 * 24 * 41 + 20),
            "ip": '=HYPERLINK("http://x")',
            "app": "+cmd",
            "version": "-1",
            "anomalies": ["ip_not_parseable"],
        }
    )
    sessions.append(
        {"id": 902, "user_id": 4, "start": at(5), "end": at(50), "ip": "10.0.1.0", "version": ""}
    )
    add_sessions(conn, sessions)
    add_stats(conn, [(1, 1, at(0), 0), (1, 2, at(0), 4), (2, 2, at(10), 1)])
    return conn
