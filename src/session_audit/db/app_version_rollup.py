"""The app_version_daily rollup: kept exact by recomputing the UTC days a write changes.

``app_version_daily_rollup`` (``sql/schema/app_version_daily_rollup.sql``) holds per (org, UTC
day, app, version) the sessions, distinct users and distinct app users that the view
``app_version_daily`` shows, so the view reads thousands of rows instead of every session.
The user counts are distinct counts, so the rollup is never patched with deltas: every day a
write may change is deleted and recomputed from ``user_sessions`` (``sql/queries/
app_version_rollup_fill.sql``, one range of consecutive days per statement, pruned to those
days' row groups by ``start_time``).

Contract for every writer of ``user_sessions`` (all inside the writer's own transaction, so the
rollup commits or rolls back with the sessions):

* :func:`touched_days` BEFORE the write, with the staged rows registered as ``rollup_staged``
  (see :func:`staged`): the days of new ids, and the old and new days of stored ids whose
  user, start, app or version change;
* :func:`refresh_days` AFTER the write, with those days.

:func:`maintained` does both around a block (``SessionStore.write_checkpoint`` uses it).
:func:`rebuild` recomputes the whole rollup (the schema-6 migration of an older file, the
benchmark's SQL-generated database, tests that insert sessions directly).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import duckdb

from session_audit.db.sqlfiles import load_sql

if TYPE_CHECKING:
    import polars as pl

STAGED = "rollup_staged"
_COLUMNS = ("org", "id", "user_id", "start_time", "app_id", "app_version")

DayKey = tuple[str, date]


def touched_days(conn: duckdb.DuckDBPyConnection, lo: int, hi: int) -> list[DayKey]:
    """The (org, day) keys that merging ``rollup_staged`` (ids ``lo``..``hi``) will change;
    call before the merge, in its transaction."""
    rows = conn.execute(
        load_sql("queries/app_version_rollup_touched_days"), {"lo": lo, "hi": hi}
    ).fetchall()
    return [(str(org), day) for org, day in rows]


def refresh_days(conn: duckdb.DuckDBPyConnection, keys: Iterable[DayKey]) -> int:
    """Recompute the rollup rows of ``keys`` from ``user_sessions`` (one clear + fill per run of
    consecutive days of one org); returns the statements' ranges refreshed."""
    ranges = day_ranges(keys)
    for org, lo_day, hi_day in ranges:
        _refresh_range(conn, org, lo_day, hi_day)
    return len(ranges)


def rebuild(conn: duckdb.DuckDBPyConnection) -> None:
    """Recompute the whole rollup from ``user_sessions`` (every org, every day)."""
    extent = conn.execute(load_sql("queries/app_version_rollup_extent")).fetchall()
    for org, lo_day, hi_day in extent:
        _refresh_range(conn, str(org), lo_day, hi_day)


def day_ranges(keys: Iterable[DayKey]) -> list[tuple[str, date, date]]:
    """``keys`` as (org, first day, day after the last) runs of consecutive days, sorted."""
    ranges: list[tuple[str, date, date]] = []
    for org, day in sorted(set(keys)):
        if ranges and ranges[-1][0] == org and ranges[-1][2] == day:
            ranges[-1] = (org, ranges[-1][1], day + timedelta(days=1))
        else:
            ranges.append((org, day, day + timedelta(days=1)))
    return ranges


@contextmanager
def staged(conn: duckdb.DuckDBPyConnection, sessions: pl.DataFrame) -> Iterator[None]:
    """``sessions`` (user_sessions columns, ids unique) registered as ``rollup_staged``."""
    conn.register(STAGED, sessions.select(_COLUMNS).to_arrow())
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):  # aborted: keep the error that caused it
            conn.unregister(STAGED)


@contextmanager
def maintained(conn: duckdb.DuckDBPyConnection, sessions: pl.DataFrame) -> Iterator[None]:
    """Keep the rollup exact across the block, which merges ``sessions`` into user_sessions
    (same transaction): the days it changes are found before and recomputed after."""
    if sessions.height == 0:
        yield
        return
    lo, hi = sessions["id"].min(), sessions["id"].max()
    assert isinstance(lo, int) and isinstance(hi, int)
    with staged(conn, sessions):
        keys = touched_days(conn, lo, hi)
    yield
    if keys:
        refresh_days(conn, keys)


def _refresh_range(conn: duckdb.DuckDBPyConnection, org: str, lo_day: date, hi_day: date) -> None:
    conn.execute(
        load_sql("queries/app_version_rollup_clear"),
        {"org": org, "lo_day": lo_day, "hi_day": hi_day},
    )
    conn.execute(
        load_sql("queries/app_version_rollup_fill"),
        {"org": org, "lo": _midnight(lo_day), "hi": _midnight(hi_day)},
    )


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
