"""Ad-hoc read-only SQL on the database, rendered as a table, CSV or JSON.

User SQL runs on a sandboxed connection (``connect(..., sandbox=True)``): read-only, no file
system access (ATTACH, COPY, EXPORT/IMPORT DATABASE, read_csv/read_text/glob...), no extension
install or load, and a locked configuration (SET/RESET/PRAGMA fail). Views and tables of the
database itself work as usual. On top of that only reading statements are accepted
(:data:`READ_STATEMENTS`: SELECT in all its forms, EXPLAIN, PRAGMA, CALL, PIVOT), so ATTACH,
COPY, SET, CREATE... are refused before they run. Anything refused fails like any bad SQL: one
:class:`ConfigError` line naming the reason. CSV output neutralises formula-like text
cells with the same rule as exports (:func:`needs_neutralising`, twin of
``csv_safe_macro`` in ``sql/queries/export.sql``).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import orjson

from session_audit.db.connection import connect, is_corruption, storage_error
from session_audit.errors import ConfigError

QUERY_FORMATS = ("table", "csv", "json")
# Statement types user SQL may use (MULTI is PIVOT); the sandboxed connection stops the rest too.
READ_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "CALL", "MULTI"})
_FORMULA_CHARS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")  # ASCII and full-width = + - @
_ALWAYS_QUOTED = ("\t", "\r")


@dataclass(frozen=True)
class QueryResult:
    """Column names and DuckDB types with the rows of one query."""

    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def run_query(db: Path, sql: str, *, lock_timeout: float | None = None) -> QueryResult:
    """Run ``sql`` on a read-only connection to ``db`` (waiting up to ``lock_timeout`` seconds
    while a writer holds the file; None: the reader default)."""
    if not sql.strip():
        raise ConfigError("the query is empty")
    conn = connect(db, read_only=True, sandbox=True, lock_timeout=lock_timeout)
    try:
        return execute(conn, sql)
    finally:
        conn.close()


def execute(conn: duckdb.DuckDBPyConnection, sql: str) -> QueryResult:
    """Run the reading statements ``sql`` on ``conn``; bad or writing SQL becomes a one-line
    ConfigError."""
    try:
        for statement in conn.extract_statements(sql):
            kind = statement.type.name
            if kind not in READ_STATEMENTS:
                raise ConfigError(
                    f"query refused: {kind} statements are not allowed; `query` only reads "
                    f"({', '.join(sorted(READ_STATEMENTS - {'MULTI'}))}, PIVOT)"
                )
        cursor = conn.execute(sql)
        description = cursor.description or []
        rows = cursor.fetchall() if description else []
    except duckdb.Error as exc:
        if is_corruption(exc):
            raise storage_error(exc, "query") from exc
        first = str(exc).strip().splitlines()
        raise ConfigError(f"query failed: {first[0] if first else type(exc).__name__}") from exc
    return QueryResult(
        tuple(str(d[0]) for d in description),
        tuple(str(d[1]) for d in description),
        rows,
    )


def needs_neutralising(text: str) -> bool:
    """True when a spreadsheet could read ``text`` as a formula: it starts with TAB or CR, or
    its first character after leading whitespace (``str.isspace``) and invisible format
    characters (category Cf: bidi controls, zero-width characters, BOM) is = + - @ or their
    full-width forms."""
    if text.startswith(_ALWAYS_QUOTED):
        return True
    for char in text:
        if char.isspace() or unicodedata.category(char) == "Cf":
            continue
        return char in _FORMULA_CHARS
    return False


def csv_safe_text(value: Any) -> str:
    """A value as CSV cell text; formula-like text (:func:`needs_neutralising`) gets a
    leading quote."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if needs_neutralising(value) else value
    return plain_text(value)


def plain_text(value: Any) -> str:
    """A readable text form of a DuckDB value (ISO times, lists as JSON)."""
    if value is None:
        return ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | dict | tuple):
        return orjson.dumps(_jsonable(value)).decode()
    return str(value)


def to_csv(result: QueryResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([csv_safe_text(v) for v in row])
    return out.getvalue()


def to_json(result: QueryResult) -> str:
    records = [dict(zip(result.columns, map(_jsonable, row), strict=True)) for row in result.rows]
    return orjson.dumps(records, option=orjson.OPT_INDENT_2).decode()


def _jsonable(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value
