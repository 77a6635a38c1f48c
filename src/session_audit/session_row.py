"""The session row, declared once: one field table from which every copy of its shape derives.

:data:`SESSION_ROW` lists the columns of ``user_sessions`` in the order of the migrated table
(``information_schema``), each with its API name (if the API sends it), its SQL type and its
kind:

* ``context``  given by the run, not the API (``org``);
* ``key``      the API's id: required, the row's identity together with ``org``;
* ``required`` an API field that must be present, non-null and of its type (else the object is
  rejected with a reason);
* ``optional`` an API field that may be absent or null (stored NULL); a value of the wrong JSON
  type still rejects the object;
* ``derived``  computed at ingest from the API fields (``anomalies``, the canonical IP columns);
* ``lineage``  set by the MERGE (first/last run, loaded/updated time).

What derives from it (nothing else names the columns):

* :attr:`SessionRow.frame_schema` — the polars schema of ``NormalizedBatch.sessions``
  (``ingest.normalize.SESSION_SCHEMA``);
* :meth:`SessionRow.strict_struct` — the msgspec struct that decodes a well-typed page in C;
* the per-value checks, reject reasons and the ``string_over_64`` / ``missing_<column>`` flags of
  ``ingest.normalize``;
* :meth:`SessionRow.merge_sql` — ``sql/queries/merge_sessions.sql`` with its column lists
  rendered (a template line holding ``{column}`` is repeated once per stored column);
* :meth:`SessionRow.add_columns` — the ``ALTER TABLE`` of a migration step that adds fields;
* the simulator's serialisation (``simulator.table.SessionTable.as_dict`` walks
  :attr:`SessionRow.api_fields` in API order) and the test helpers (``example`` values).

The lake select (``month_rows`` in ``sql/queries/lake.sql``) is ``SELECT * EXCLUDE (org)`` of the
migrated table; ``tests/test_session_row.py`` fails when this table, the migrated DDL and the
MERGE disagree. Adding a field: one :class:`Field` here, one migration step, the view that shows
it (docs/design.md, "Adding a field").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import duckdb
import msgspec
import polars as pl

from session_audit.db.sqlfiles import load_sql

TS = pl.Datetime("us", "UTC")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]


class Kind(StrEnum):
    """Where a column's value comes from (see the module docstring)."""

    CONTEXT = "context"
    KEY = "key"
    REQUIRED = "required"
    OPTIONAL = "optional"
    DERIVED = "derived"
    LINEAGE = "lineage"


# SQL type -> (polars dtype, JSON type an API field of that SQL type has)
_TYPES: dict[str, tuple[pl.DataType, type | None]] = {
    "BIGINT": (pl.Int64(), int),
    "VARCHAR": (pl.String(), str),
    "TIMESTAMPTZ": (TS, str),  # ISO 8601 text in the API, UTC microseconds stored
    "VARCHAR[]": (pl.List(pl.String()), None),
}


@dataclass(frozen=True)
class Field:
    """One column of ``user_sessions``.

    ``example`` is a valid JSON value of an API field (test rows, the simulator's value for a
    field it does not model). ``spec_max_64``: the spec limits the string to 64 characters;
    longer values are kept and flagged ``string_over_64``. ``flag_missing``: an absent or null
    value is kept and flagged ``missing_<column>``. ``not_null`` is implied for context, key and
    required columns."""

    column: str
    sql_type: str
    kind: Kind
    api: str | None = None
    example: Any = None
    spec_max_64: bool = False
    flag_missing: bool = False
    not_null: bool = False

    def __post_init__(self) -> None:
        if self.sql_type not in _TYPES:
            raise ValueError(f"field {self.column}: unknown SQL type {self.sql_type!r}")
        from_api = self.kind in (Kind.KEY, Kind.REQUIRED, Kind.OPTIONAL)
        if from_api != (self.api is not None):
            raise ValueError(f"field {self.column}: an API name goes with key/required/optional")
        if from_api and _TYPES[self.sql_type][1] is None:
            raise ValueError(f"field {self.column}: {self.sql_type} is not an API type")

    @property
    def nullable(self) -> bool:
        return not (self.not_null or self.kind in (Kind.CONTEXT, Kind.KEY, Kind.REQUIRED))

    @property
    def dtype(self) -> pl.DataType:
        return _TYPES[self.sql_type][0]

    @property
    def json_type(self) -> type:
        """The JSON type the API sends (int or str); only for API fields."""
        kind = _TYPES[self.sql_type][1]
        assert kind is not None
        return kind

    @property
    def is_time(self) -> bool:
        return self.sql_type == "TIMESTAMPTZ"

    @property
    def required(self) -> bool:
        return self.kind in (Kind.KEY, Kind.REQUIRED)


_TEMPLATE_LINE = "{column}"


@dataclass(frozen=True)
class SessionRow:
    """The field table (``fields`` in table order) and what derives from it."""

    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        names = [f.column for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("a column is declared twice")
        apis = [f.api for f in self.fields if f.api is not None]
        if len(set(apis)) != len(apis):
            raise ValueError("an API field is declared twice")
        if [f.column for f in self.fields if f.kind is Kind.KEY] != ["id"]:
            raise ValueError("the key is the one API field 'id'")

    def plus(self, *fields: Field) -> SessionRow:
        """This table with ``fields`` appended (as a migration appends columns)."""
        return SessionRow((*self.fields, *fields))

    def field(self, column: str) -> Field:
        for f in self.fields:
            if f.column == column:
                return f
        raise KeyError(column)

    @functools.cached_property
    def columns(self) -> tuple[str, ...]:
        """Every column of the table, in table order."""
        return tuple(f.column for f in self.fields)

    @functools.cached_property
    def api_fields(self) -> tuple[Field, ...]:
        """The fields the API sends, in table order (the order the API writes them)."""
        return tuple(f for f in self.fields if f.api is not None)

    @functools.cached_property
    def frame_schema(self) -> dict[str, pl.DataType]:
        """Polars schema of a normalized batch: every column but lineage, in table order."""
        return {f.column: f.dtype for f in self.fields if f.kind is not Kind.LINEAGE}

    @functools.cached_property
    def stored(self) -> tuple[str, ...]:
        """The columns a MERGE compares and sets: API fields but the key, and derived ones."""
        return tuple(
            f.column for f in self.fields if f.kind in (Kind.REQUIRED, Kind.OPTIONAL, Kind.DERIVED)
        )

    @functools.cached_property
    def derived(self) -> tuple[str, ...]:
        return tuple(f.column for f in self.fields if f.kind is Kind.DERIVED)

    def strict_struct(self) -> type[msgspec.Struct]:
        """A msgspec struct (attributes named as the API names them) that only a well-typed
        object decodes into: required fields present and not null, every value of its JSON type,
        integers within 64 bits, no other field."""
        return _strict_struct(self)

    def example(self, **overrides: Any) -> dict[str, Any]:
        """A valid API object built from the ``example`` values, in API order; ``overrides`` by
        API name replace values (``...`` drops the field)."""
        obj: dict[str, Any] = {f.api: f.example for f in self.api_fields if f.api is not None}
        obj.update(overrides)  # a name the table does not know is appended
        return {k: v for k, v in obj.items() if v is not ...}

    def merge_sql(self) -> str:
        """``sql/queries/merge_sessions.sql`` with its column lists rendered: every line holding
        ``{column}`` (comments aside) is repeated once per :attr:`stored` column."""
        return _render(load_sql("queries/merge_sessions"), self.stored)

    def add_columns(self, *columns: str) -> Callable[[duckdb.DuckDBPyConnection], None]:
        """A migration step's body adding ``columns`` (declared here) to ``user_sessions``:
        ``Step(N, "...", (), backfill=SESSION_ROW.add_columns("device_id"))``."""
        statements = [
            f"ALTER TABLE user_sessions ADD COLUMN {f.column} {f.sql_type}"
            for f in (self.field(c) for c in columns)
        ]

        def run(conn: duckdb.DuckDBPyConnection) -> None:
            for statement in statements:
                conn.execute(statement)

        return run


@functools.cache
def _strict_struct(row: SessionRow) -> type[msgspec.Struct]:
    spec: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for f in row.api_fields:
        assert f.api is not None
        kind: Any = Int64 if f.json_type is int else str
        spec.append((f.api, kind) if f.required else (f.api, kind | None, None))
    return msgspec.defstruct(
        "StrictSession", spec, kw_only=True, forbid_unknown_fields=True, gc=False
    )


@functools.cache
def _render(template: str, columns: tuple[str, ...]) -> str:
    out: list[str] = []
    for line in template.splitlines():
        if _TEMPLATE_LINE in line and not line.lstrip().startswith("--"):
            out.extend(line.replace(_TEMPLATE_LINE, column) for column in columns)
        else:
            out.append(line)
    text = "\n".join(out) + "\n"
    body = "\n".join(x for x in text.splitlines() if not x.lstrip().startswith("--"))
    if re.search(r"\{\w+\}", body):
        raise ValueError("merge_sessions.sql holds a placeholder other than {column}")
    return text


SESSION_ROW = SessionRow(
    (
        Field("org", "VARCHAR", Kind.CONTEXT),
        Field("id", "BIGINT", Kind.KEY, "id", 1),
        Field("user_id", "BIGINT", Kind.REQUIRED, "userId", 10),
        Field("start_time", "TIMESTAMPTZ", Kind.REQUIRED, "startTime", "2024-05-01T08:30:00.123Z"),
        Field("end_time", "TIMESTAMPTZ", Kind.OPTIONAL, "endTime", "2024-05-01T09:30:00.456Z"),
        Field("client_app_id", "BIGINT", Kind.OPTIONAL, "clientAppId", 7, flag_missing=True),
        Field("ip_address", "VARCHAR", Kind.OPTIONAL, "ipAddress", "192.168.0.1", True),
        Field("app_id", "VARCHAR", Kind.OPTIONAL, "appId", "Tradovate", True),
        Field("app_version", "VARCHAR", Kind.OPTIONAL, "appVersion", "1.241.0", True),
        Field("anomalies", "VARCHAR[]", Kind.DERIVED, not_null=True),
        Field("first_run_id", "BIGINT", Kind.LINEAGE),
        Field("last_run_id", "BIGINT", Kind.LINEAGE),
        Field("loaded_at", "TIMESTAMPTZ", Kind.LINEAGE),
        Field("updated_at", "TIMESTAMPTZ", Kind.LINEAGE),
        Field("ip", "VARCHAR", Kind.DERIVED),
        Field("ip_family", "VARCHAR", Kind.DERIVED),
        Field("ip_network", "VARCHAR", Kind.DERIVED),
    )
)
