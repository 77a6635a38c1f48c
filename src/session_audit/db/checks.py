"""Data checks: every ``sql/checks/<name>.sql`` returns the rows that break one rule.

``run_checks(conn)`` runs them all and returns ``{name: number of bad rows}``; all zeros means
the database is consistent. The checks read only; they never change data.
``check_summary(name)`` is the rule in words: the first sentence of the file's header comment.
"""

from __future__ import annotations

import duckdb

from session_audit.db.sqlfiles import load_sql, sql_names
from session_audit.errors import StorageError


def check_names() -> list[str]:
    """Names of every check (file stems of ``sql/checks``), sorted."""
    return [name.split("/", 1)[1] for name in sql_names("checks")]


def run_check(conn: duckdb.DuckDBPyConnection, name: str) -> list[tuple[object, ...]]:
    """The bad rows of one check (empty = pass)."""
    try:
        return conn.execute(load_sql(f"checks/{name}")).fetchall()
    except duckdb.Error as exc:
        raise StorageError(f"data check {name} failed to run: {exc}") from exc


def run_checks(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Every check's number of bad rows."""
    return {name: len(run_check(conn, name)) for name in check_names()}


def check_summary(name: str) -> str:
    """What check ``name`` finds, from its header comment (``-- name: what it finds...``)."""
    lines: list[str] = []
    for line in load_sql(f"checks/{name}").splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    text = " ".join(lines)
    prefix = f"{name}:"
    if text.startswith(prefix):
        text = text[len(prefix) :].strip()
    return text
