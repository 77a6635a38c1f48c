"""The app_version_daily rollup: kept exact by recomputing the UTC days a write changes.

``app_version_daily_rollup`` (``sql/schema/app_version_daily_rollup.sql``) holds per (org, UTC
day, app, version) the sessions, distinct users and distinct app users that the view
``app_version_daily`` shows, so the view reads thousands of rows instead of every session.
The user counts are distinct counts, so the rollup is never patched with deltas: every day a
write may change is deleted and recomputed from ``user_sessions`` (``fill`` in ``sql/queries/
app_version_rollup.sql``, pruned to those days' row groups by a ``start_time`` range).
Runs of consecutive days less than :data:`MERGE_GAP_DAYS` apart share one statement (its range
spans the gap, which is read but not recomputed); farther ones get their own, so a re-fetch that
changed a session of last month and one of today reads two days, not the month between.
A write's cost is the sessions of the days it changes: a scan checkpoint changes one or two days;
a re-fetch that changed sessions on every day of the history costs a full rebuild.

Contract for every writer of ``user_sessions`` (all inside the writer's own transaction, so the
rollup commits or rolls back with the sessions):

* :func:`touched_days` BEFORE the write, with the staged rows registered as ``rollup_staged``
  (see :func:`staged`): the days of new ids, and the old and new days of stored ids whose
  user, start, app or version change; a writer that has checked that none of its ids is
  stored may take :func:`new_days` of its frame instead (the same keys, no join);
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

from session_audit.db.connection import arrow_view
from session_audit.db.sqlfiles import query_sql

if TYPE_CHECKING:
    import polars as pl

STAGED = "rollup_staged"
DAYS = "rollup_days"
MERGE_GAP_DAYS = 7
_COLUMNS = ("org", "id", "user_id", "start_time", "app_id", "app_version")

DayKey = tuple[str, date]


def touched_days(conn: duckdb.DuckDBPyConnection, lo: int, hi: int) -> list[DayKey]:
    """The (org, day) keys that merging ``rollup_staged`` (ids ``lo``..``hi``) will change;
    call before the merge, in its transaction."""
    rows = conn.execute(
        query_sql("app_version_rollup", "touched_days"), {"lo": lo, "hi": hi}
    ).fetchall()
    return [(str(org), day) for org, day in rows]


def refresh_days(conn: duckdb.DuckDBPyConnection, keys: Iterable[DayKey]) -> int:
    """Recompute the rollup rows of the (org, day) ``keys`` from ``user_sessions``; returns the
    clear + fill statement pairs run (see the module docstring)."""
    by_org: dict[str, list[date]] = {}
    for org, day in set(keys):
        by_org.setdefault(org, []).append(day)
    pairs = 0
    for org, days in sorted(by_org.items()):
        for group in day_groups(sorted(days)):
            _refresh(conn, org, group)
            pairs += 1
    return pairs


def rebuild(conn: duckdb.DuckDBPyConnection) -> None:
    """Recompute the whole rollup from ``user_sessions``: every day of every org that has a
    session or a rollup row."""
    rows = conn.execute(query_sql("app_version_rollup", "all_days")).fetchall()
    refresh_days(conn, [(str(org), day) for org, day in rows])


def new_days(sessions: pl.DataFrame) -> list[DayKey]:
    """The (org, day) keys that inserting ``sessions``, none of whose ids is stored, changes:
    the UTC days of their starts (what :func:`touched_days` finds for new ids, without the
    join with ``user_sessions``)."""
    import polars as pl

    keys = sessions.select("org", pl.col("start_time").dt.date().alias("day")).unique()
    return [(str(org), day) for org, day in keys.iter_rows()]


@contextmanager
def staged(conn: duckdb.DuckDBPyConnection, sessions: pl.DataFrame) -> Iterator[None]:
    """``sessions`` (user_sessions columns, ids unique) registered as ``rollup_staged`` (polars'
    string views as they are: no copy)."""
    conn.register(STAGED, arrow_view(sessions.select(_COLUMNS)))
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):  # aborted: keep the error that caused it
            conn.unregister(STAGED)


@contextmanager
def maintained(
    conn: duckdb.DuckDBPyConnection, sessions: pl.DataFrame, *, new: bool = False
) -> Iterator[None]:
    """Keep the rollup exact across the block, which merges ``sessions`` into user_sessions
    (same transaction): the days it changes are found before and recomputed after. ``new``:
    the caller has checked that none of the ids is stored (the days are then those of the
    frame, :func:`new_days`)."""
    if sessions.height == 0:
        yield
        return
    if new:
        keys = new_days(sessions)
    else:
        lo, hi = sessions["id"].min(), sessions["id"].max()
        assert isinstance(lo, int) and isinstance(hi, int)
        with staged(conn, sessions):
            keys = touched_days(conn, lo, hi)
    yield
    if keys:
        refresh_days(conn, keys)


def day_groups(days: list[date]) -> list[list[date]]:
    """Sorted distinct ``days`` split where two are at least :data:`MERGE_GAP_DAYS` apart."""
    groups: list[list[date]] = []
    for day in days:
        if groups and (day - groups[-1][-1]).days < MERGE_GAP_DAYS:
            groups[-1].append(day)
        else:
            groups.append([day])
    return groups


def _refresh(conn: duckdb.DuckDBPyConnection, org: str, days: list[date]) -> None:
    """Clear and refill the rollup rows of ``org`` on ``days`` (sorted, not empty)."""
    import pyarrow as pa

    lo_day, hi_day = days[0], days[-1] + timedelta(days=1)
    conn.register(DAYS, pa.table({"day": pa.array(days, pa.date32())}))
    try:
        conn.execute(
            query_sql("app_version_rollup", "clear"),
            {"org": org, "lo_day": lo_day, "hi_day": hi_day},
        )
        conn.execute(
            query_sql("app_version_rollup", "fill"),
            {"org": org, "lo": _midnight(lo_day), "hi": _midnight(hi_day)},
        )
    finally:
        with contextlib.suppress(duckdb.Error):  # aborted: keep the error that caused it
            conn.unregister(DAYS)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
