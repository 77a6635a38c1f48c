"""The database catalog as export sees it: which datasets exist and what their columns are.

Dataset names given by a user are only ever used after they matched a name read from the
database's own catalog (``sql/queries/catalog.sql``, ``datasets``): that list is the whitelist.
Every table is a dataset, so schema 5's ``findings`` (time column ``first_seen``) and
``ip_geo`` (time column ``looked_up_at``) are exported like the others.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import duckdb

from session_audit.db.sqlfiles import query_sql
from session_audit.errors import ConfigError, StorageError

# Columns that name a dataset's main timestamp, most specific first; else the first temporal one.
_TIME_PREFERENCE = (
    "start_time",
    "day",
    "observed_at",
    "started_at",
    "rejected_at",
    "first_seen",
    "last_login",
    "created_at",
    "looked_up_at",  # ip_geo (its other times are database build dates)
)
_TEMPORAL = re.compile(r"^(TIMESTAMP|DATE)")
_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Dataset:
    """A table or view of the main schema with its columns (name, DuckDB type) in order."""

    name: str
    kind: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def time_column(self) -> str | None:
        """The column --since/--until and month partitions use, or None."""
        temporal = [name for name, type_ in self.columns if _TEMPORAL.match(type_)]
        for preferred in _TIME_PREFERENCE:
            if preferred in temporal:
                return preferred
        return temporal[0] if temporal else None

    @property
    def user_column(self) -> str | None:
        """The column --user filters on: user_id, or id for the users table."""
        if "user_id" in self.column_names:
            return "user_id"
        if self.name == "users" and "id" in self.column_names:
            return "id"
        return None

    @property
    def org_column(self) -> str | None:
        return "org" if "org" in self.column_names else None


def list_datasets(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every exportable dataset name with its kind ('table' or 'view')."""
    try:
        found = conn.execute(query_sql("catalog", "datasets")).fetchall()
    except duckdb.Error as exc:
        raise StorageError(f"cannot read the database catalog: {exc}") from exc
    return {str(name): str(kind) for name, kind in found if _SIMPLE_NAME.match(str(name))}


def get_dataset(conn: duckdb.DuckDBPyConnection, name: str) -> Dataset:
    """The dataset called ``name``; ConfigError (with suggestions) when there is none."""
    known = list_datasets(conn)
    if name not in known:
        close = difflib.get_close_matches(name, list(known), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown dataset {name!r}{hint} (tables and views: {', '.join(sorted(known))})"
        )
    try:
        columns = conn.execute(query_sql("catalog", "columns"), {"name": name}).fetchall()
    except duckdb.Error as exc:
        raise StorageError(f"cannot read the columns of {name}: {exc}") from exc
    return Dataset(name, known[name], tuple((str(c), str(t)) for c, t in columns))


def column_pattern(column: str) -> str:
    """The anchored regex that makes DuckDB's COLUMNS(...) select exactly ``column``."""
    return f"^{re.escape(column)}$"
