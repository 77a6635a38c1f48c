"""The coverage proof as one line: are all users' sessions held, up to when?

``userSessionStats`` reports each user's ``lastSessionTime``; the views ``user_coverage`` and
``coverage_gaps`` compare it with the newest session start stored per user.
:func:`coverage_line` turns them into the sentence `session-audit report` and the demo print:

* ``all N users covered up to <time>``: every user observed has a stored session at or after
  the API's last session time; <time> is the newest of those API times (UTC);
* ``K of N users not covered: <user> (API last session <t>, newest held <t>); ...``: the users
  whose trail is provably incomplete (at most ``show`` named, then "and M more");
* ``coverage unknown: no userSessionStats observed yet`` when no run stored the stats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from session_audit.db.sqlfiles import query_sql
from session_audit.errors import StorageError

SHOW = 5


@dataclass(frozen=True)
class Coverage:
    """The figures behind the line."""

    users: int
    gaps: int
    covered_until: datetime | None
    gap_users: tuple[dict[str, Any], ...]

    @property
    def complete(self) -> bool:
        return self.users > 0 and self.gaps == 0


def read_coverage(
    conn: duckdb.DuckDBPyConnection, *, org: str | None = None, show: int = SHOW
) -> Coverage:
    """Query ``user_coverage``/``coverage_gaps`` (read-only)."""
    try:
        row = conn.execute(query_sql("coverage", "summary"), {"org": org}).fetchone()
        cursor = conn.execute(query_sql("coverage", "gap_users"), {"org": org, "limit": show})
        names = [d[0] for d in cursor.description or []]
        gap_users = tuple(dict(zip(names, r, strict=True)) for r in cursor.fetchall())
    except duckdb.Error as exc:
        raise StorageError(f"cannot read the coverage views: {exc}") from exc
    users, gaps, until = row if row else (0, 0, None)
    return Coverage(int(users or 0), int(gaps or 0), until, gap_users)


def coverage_line(coverage: Coverage) -> str:
    """The one-line verdict (see the module docstring)."""
    if coverage.users == 0:
        return "coverage unknown: no userSessionStats observed yet"
    if coverage.complete:
        until = _when(coverage.covered_until) if coverage.covered_until else "(no sessions)"
        return f"all {coverage.users:,} users covered up to {until}"
    named = "; ".join(
        f"{_user(g)} (API last session {_when(g['last_session_time'])}, newest held "
        f"{_when(g['newest_session_start']) if g['newest_session_start'] else 'none'})"
        for g in coverage.gap_users
    )
    more = coverage.gaps - len(coverage.gap_users)
    tail = f"; and {more:,} more (see coverage_gaps)" if more > 0 else ""
    return f"{coverage.gaps:,} of {coverage.users:,} users not covered: {named}{tail}"


def _user(gap: dict[str, Any]) -> str:
    name = gap.get("user_name")
    return f"user {gap['user_id']} ({name})" if name else f"user {gap['user_id']}"


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
