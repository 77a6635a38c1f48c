"""Queries over a large synthetic database: the views compliance staff open, timed.

The database is generated directly with SQL (``sql/generate_sessions.sql``) into a file migrated
by :func:`session_audit.db.migrations.migrate`, so the tables, keys and views are the product's;
the canonical IP columns are then filled by the product's own schema-4 backfill, and the
``app_version_daily_rollup`` (which the view ``app_version_daily`` reads) by the same rebuild the
schema-6 migration runs (``session_audit.db.app_version_rollup.rebuild``), timed on its own.
Each query runs once cold (first after opening) and then ``repeats`` times warm; the figure is
the best warm time, the full result fetched as Arrow.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.results import Log, Results
from benchmarks.sqlfiles import bench_sql

QUERIES = "queries"


def cases(users: int) -> tuple[tuple[str, dict[str, Any], float], ...]:
    """(query file, parameters, target seconds); login_history of one mid-range user."""
    return (
        ("query_login_history", {"user_id": users // 3 + 1}, 0.05),
        ("query_shared_ips", {}, 2.0),
        ("query_app_version_daily", {}, 1.0),
    )


def build_database(path: Path, sessions: int, users: int) -> tuple[float, float]:
    """Create and fill the synthetic database; returns (seconds it took in all, seconds of
    the app_version_daily rollup rebuild within them)."""
    from session_audit.db.app_version_rollup import rebuild
    from session_audit.db.connection import connect
    from session_audit.db.migrations import backfill_canonical_ip, migrate

    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    conn = connect(path)
    try:
        migrate(conn)
        conn.execute(bench_sql("generate_sessions"), {"n": sessions, "users": users})
        backfill_canonical_ip(conn)  # ip, ip_family, ip_network as the ingest computes them
        rollup_started = time.perf_counter()
        rebuild(conn)  # app_version_daily_rollup, as the schema-6 migration fills it
        rollup = time.perf_counter() - rollup_started
        conn.execute(bench_sql("generate_users"), {"users": users})
        conn.execute("CHECKPOINT")
    finally:
        conn.close()
    return time.perf_counter() - started, rollup


def time_query(
    conn: Any, name: str, params: dict[str, Any], repeats: int
) -> tuple[float, float, int]:
    """(cold seconds, best warm seconds, rows)."""
    sql = bench_sql(name)
    timings = []
    rows = 0
    for _ in range(repeats + 1):
        started = time.perf_counter()
        table = conn.sql(sql, params=params or None).to_arrow_table()
        timings.append(time.perf_counter() - started)
        rows = table.num_rows
    return timings[0], min(timings[1:]), rows


def run_queries(
    results: Results, sessions: int, users: int, workdir: Path, log: Log, repeats: int = 3
) -> None:
    import duckdb

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "queries.duckdb"
    seconds, rollup = build_database(path, sessions, users)
    size_mb = path.stat().st_size / 1e6
    log(f"query database: {sessions:,} sessions in {seconds:.1f} s, {size_mb:.0f} MB")
    results.add(
        QUERIES,
        f"generate {sessions:,} sessions, {users:,} users (SQL)",
        seconds,
        "s",
        note=f"file {size_mb:,.0f} MB",
    )
    log(f"app_version_daily_rollup rebuilt in {rollup:.1f} s")
    results.add(
        QUERIES,
        f"rebuild app_version_daily_rollup ({sessions:,} sessions)",
        rollup,
        "s",
        note="the schema-6 migration's backfill; part of the generate figure",
    )
    conn = duckdb.connect(str(path), read_only=True)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        for name, params, target in cases(users):
            cold, warm, rows = time_query(conn, name, params, repeats)
            view = name.removeprefix("query_")
            log(f"{view}: cold {cold:.3f} s, warm {warm:.3f} s, {rows:,} rows")
            results.at_most(
                QUERIES,
                f"{view} ({sessions:,} sessions)",
                warm * 1000,
                "ms",
                target * 1000,
                note=f"{rows:,} rows; cold {cold * 1000:,.0f} ms",
            )
    finally:
        conn.close()
