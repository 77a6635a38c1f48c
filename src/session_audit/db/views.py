"""The analysis views and the macros they share: names, in creation order.

:func:`session_audit.db.migrations.migrate` first runs each ``sql/macros/<name>.sql`` of
:data:`MACROS` (``CREATE OR REPLACE MACRO``: rules implemented once, e.g. the version order and
the open-session rule), then each ``sql/views/<name>.sql`` of :data:`VIEWS`
(``CREATE OR REPLACE VIEW``) in this order, so a view comes after every view it reads. Each
file's header comment documents its columns. Helper views (``ip_networks``, ``data_horizon``,
``app_versions``, ``user_app_versions``, ``user_coverage``) are public too: staff can query them
directly.

:func:`use_open_session_hours` applies the ``open_session_hours`` setting to one connection
(read-only ones included); without it the views assume the default, 24 hours.
"""

from __future__ import annotations

import duckdb

from session_audit.db.sqlfiles import query_sql
from session_audit.errors import StorageError

MACROS: tuple[str, ...] = ("open_session_hours", "version_key")

VIEWS: tuple[str, ...] = (
    "ip_networks",
    "data_horizon",
    "login_history",
    "ip_activity",
    "shared_ips",
    "new_ip_logins",
    "concurrent_sessions",
    "app_versions",
    "user_app_versions",
    "app_version_usage",
    "app_version_daily",
    "user_risk_summary",
    "user_coverage",
    "coverage_gaps",
)


def use_open_session_hours(conn: duckdb.DuckDBPyConnection, hours: float) -> None:
    """Make the views of ``conn`` assume an open session runs at most ``hours`` hours (a
    connection variable read by the ``open_session_hours()`` macro; the file is not changed)."""
    if not hours > 0:
        raise StorageError(f"open_session_hours must be > 0, not {hours!r}")
    try:
        conn.execute(query_sql("views", "set_open_session_hours"), {"hours": float(hours)})
    except duckdb.Error as exc:
        raise StorageError(f"cannot apply open_session_hours: {exc}") from exc
