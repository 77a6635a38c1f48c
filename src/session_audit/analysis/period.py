"""Period-true analysis: the aggregate views computed over the sessions of a period.

"IPs shared in Q3" are the IPs two or more users logged in from *in Q3*, not the all-time
shared IPs whose first session falls in Q3. So for a period the aggregate views are not
filtered, they are recomputed:

* :func:`bind_period` stores the period in a connection variable (bound parameters,
  ``sql/period/bind.sql``) and creates the temp view ``period_sessions`` (``sql/period/
  sessions.sql``): the sessions that ran at some moment of the period (started in it, or
  started before and still running at its start under the one open-session rule).
* Each view of :data:`PERIOD_VIEWS` is created once more as the temp view ``period_<name>``
  from its own shipped file (``sql/views/<name>.sql``), with ``user_sessions`` read as
  ``period_sessions`` and the views it reads as their period versions
  (:func:`period_sql`: identifier tokens only, found by DuckDB's own tokenizer; strings,
  comments and qualified column names are never touched). There is one definition of each
  view: the period version cannot drift from it.
* ``data_horizon`` (the newest data, standing in for "now") stays global, so an open session
  is assumed to run exactly as long in a period as in the all-time views.

Datasets not in :data:`PERIOD_VIEWS` are row events (tables, ``login_history``,
``new_ip_logins``, ``app_version_daily`` per day, findings, coverage): a period keeps the rows
whose time column lies in it, and their history-relative columns (gap since the previous
session, "new" IP) stay relative to all data. :func:`period_mode` says which applies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

import duckdb

from session_audit.db.sqlfiles import load_sql
from session_audit.errors import StorageError

# In creation order: a view comes after every period view it reads.
PERIOD_VIEWS: tuple[str, ...] = (
    "ip_networks",
    "ip_activity",
    "shared_ips",
    "concurrent_sessions",
    "app_versions",
    "user_app_versions",
    "app_version_usage",
    "user_risk_summary",
)
SESSIONS_VIEW = "period_sessions"
COMPUTED = "computed over the sessions running in the period"
ROWS = "rows whose time column lies in the period"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CREATE = re.compile(r"CREATE OR REPLACE VIEW", re.IGNORECASE)


def period_name(view: str) -> str:
    """The temp view holding ``view`` computed over the bound period."""
    return f"period_{view}"


def renames() -> dict[str, str]:
    """Every name a period query reads differently: user_sessions and the period views."""
    return {"user_sessions": SESSIONS_VIEW, **{v: period_name(v) for v in PERIOD_VIEWS}}


def period_mode(dataset: str) -> str:
    """How a period applies to ``dataset``: :data:`COMPUTED` or :data:`ROWS`."""
    return COMPUTED if dataset in PERIOD_VIEWS else ROWS


def period_sql(sql: str, names: Mapping[str, str] | None = None) -> str:
    """``sql`` with every unqualified identifier token in ``names`` (default :func:`renames`)
    replaced by its period name; string literals, comments, quoted identifiers and names after
    a dot (``s.user_sessions`` would be a column) stay as written."""
    mapping = {k.lower(): v for k, v in (names or renames()).items()}
    try:
        tokens = duckdb.tokenize(sql)
    except (duckdb.Error, RuntimeError) as exc:  # pragma: no cover - shipped SQL parses
        raise StorageError(f"cannot tokenize SQL for a period: {exc}") from exc
    out: list[str] = []
    done = 0
    for start, kind in tokens:
        if kind != duckdb.token_type.identifier:
            continue
        match = _IDENT.match(sql, start)
        if match is None or match.group().lower() not in mapping:
            continue
        if sql[:start].rstrip().endswith("."):
            continue
        out.append(sql[done:start])
        out.append(mapping[match.group().lower()])
        done = match.end()
    out.append(sql[done:])
    return "".join(out)


def view_sql(view: str) -> str:
    """The CREATE statement of the temp view ``period_<view>``, from ``sql/views/<view>.sql``."""
    text = period_sql(load_sql(f"views/{view}"))
    if len(_CREATE.findall(text)) != 1:  # pragma: no cover - guards a changed view file
        raise StorageError(f"sql/views/{view}.sql is not one CREATE OR REPLACE VIEW statement")
    return _CREATE.sub("CREATE OR REPLACE TEMP VIEW", text, count=1)


def bind_period(
    conn: duckdb.DuckDBPyConnection, since: datetime | None, until: datetime | None
) -> None:
    """Bind the period [since, until) to ``conn`` (None: open side) and (re)create
    ``period_sessions`` and every ``period_<view>`` of :data:`PERIOD_VIEWS` as temp views."""
    try:
        conn.execute(load_sql("period/bind"), {"since": since, "until": until})
        conn.execute(load_sql("period/sessions"))
        for view in PERIOD_VIEWS:
            conn.execute(view_sql(view))
    except duckdb.Error as exc:
        raise StorageError(f"cannot bind the analysis period: {exc}") from exc


__all__ = [
    "COMPUTED",
    "PERIOD_VIEWS",
    "ROWS",
    "bind_period",
    "period_mode",
    "period_name",
    "period_sql",
    "renames",
]
