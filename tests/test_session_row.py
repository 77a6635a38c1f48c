"""The session row is declared once (session_audit.session_row) and everything else agrees with it:
the migrated DDL (information_schema), the MERGE, the normalized frame, the strict msgspec struct,
the lake select and the simulator's serialisation. And adding a field is one Field in a copy of the
table plus one migration step: the frame, the MERGE, the lake and the simulator carry it."""

from __future__ import annotations

import re
import types
from datetime import UTC, datetime

import duckdb
import msgspec
import orjson
import polars as pl
import pytest

from session_audit.db.connection import connect
from session_audit.db.migrations import STEPS, Step, migrate
from session_audit.db.sqlfiles import query_sql
from session_audit.ingest.normalize import SESSION_SCHEMA, normalize_pages
from session_audit.session_row import SESSION_ROW, Field, Kind, SessionRow
from session_audit.simulator import Simulator, SimulatorConfig
from session_audit.simulator.table import NEVER, SessionTable

# information_schema's spelling of the field table's SQL types
_DDL_TYPE = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
START_MS = 1_714_552_200_123  # 2024-05-01T08:30:00.123Z
NOW = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)


def ddl(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, bool]]:
    """(column, type, nullable) of the migrated user_sessions, in table order."""
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns"
        " WHERE table_name = 'user_sessions' ORDER BY ordinal_position"
    ).fetchall()
    return [(str(name), str(kind), bool(nullable)) for name, kind, nullable in rows]


def declared(row: SessionRow) -> list[tuple[str, str, bool]]:
    return [(f.column, _DDL_TYPE.get(f.sql_type, f.sql_type), f.nullable) for f in row.fields]


def merge_lists(sql: str) -> dict[str, list[str]]:
    """The column lists of a rendered MERGE: compared, set, inserted (and their values)."""
    compared = re.findall(r"OR t\.(\w+) IS DISTINCT FROM s\.(\w+)", sql)
    assert all(a == b for a, b in compared)
    update = sql.split("THEN UPDATE SET", 1)[1].split("WHEN NOT MATCHED", 1)[0]
    insert = sql.split("THEN INSERT (", 1)[1].split(") VALUES (", 1)
    values = insert[1].split(")\nRETURNING", 1)[0]
    return {
        "compared": [a for a, _ in compared],
        "set": re.findall(r"^\s*(\w+) = ", update, re.MULTILINE),
        "inserted": re.findall(r"\w+", insert[0]),
        "values": [v.strip() for v in values.split(",")],
    }


def disagreements(row: SessionRow, conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Where the field table, the migrated DDL and the MERGE rendered from it disagree."""
    found = []
    if ddl(conn) != declared(row):
        found.append(f"DDL {ddl(conn)} != table {declared(row)}")
    lists = merge_lists(row.merge_sql())
    lineage = [f.column for f in row.fields if f.kind is Kind.LINEAGE]
    if lists["compared"] != list(row.stored):
        found.append(f"MERGE compares {lists['compared']}, not {list(row.stored)}")
    if lists["set"] != [*row.stored, "last_run_id", "updated_at"]:
        found.append(f"MERGE sets {lists['set']}")
    if sorted(lists["inserted"]) != sorted(row.columns):
        found.append(f"MERGE inserts {lists['inserted']}, the table has {list(row.columns)}")
    staged = [v.removeprefix("s.") for v in lists["values"] if v.startswith("s.")]
    if sorted(staged) != sorted(row.frame_schema) or len(lists["values"]) != len(row.columns):
        found.append(f"MERGE values {lists['values']}")
    if set(lineage) - {"first_run_id", "last_run_id", "loaded_at", "updated_at"}:
        found.append(f"lineage the MERGE does not set: {lineage}")
    return found


def test_the_field_table_the_ddl_and_the_merge_agree(conn: duckdb.DuckDBPyConnection) -> None:
    assert disagreements(SESSION_ROW, conn) == []


def test_a_field_the_migrations_lack_is_a_disagreement(conn: duckdb.DuckDBPyConnection) -> None:
    extra = SESSION_ROW.plus(Field("device_id", "VARCHAR", Kind.OPTIONAL, "deviceId", "d"))
    found = disagreements(extra, conn)
    assert len(found) == 1 and found[0].startswith("DDL"), found


def test_the_frame_and_the_strict_struct_derive_from_the_table() -> None:
    assert SESSION_ROW.frame_schema == SESSION_SCHEMA
    assert list(SESSION_SCHEMA) == [f.column for f in SESSION_ROW.fields if f.kind != "lineage"]
    batch = normalize_pages([orjson.dumps([SESSION_ROW.example()])], org="o")
    assert batch.sessions.schema == pl.Schema(SESSION_ROW.frame_schema)
    struct = SESSION_ROW.strict_struct()
    info = {f.name: f.required for f in msgspec.structs.fields(struct)}
    assert info == {f.api: f.required for f in SESSION_ROW.api_fields}
    decoder = msgspec.json.Decoder(types.GenericAlias(list, (struct,)))
    decoder.decode(orjson.dumps([SESSION_ROW.example(endTime=None, appId=...)]))
    with pytest.raises(msgspec.ValidationError):  # a required field missing
        decoder.decode(orjson.dumps([SESSION_ROW.example(userId=...)]))
    with pytest.raises(msgspec.ValidationError):  # a field the table does not know
        decoder.decode(orjson.dumps([SESSION_ROW.example(deviceId="x")]))


def test_the_lake_select_is_every_column_but_org(conn: duckdb.DuckDBPyConnection) -> None:
    lake = conn.execute(query_sql("lake", "month_rows"), {"org": "o", "month": "2024-05"})
    names = [d[0] for d in lake.description or ()]
    assert names == [c for c in SESSION_ROW.columns if c != "org"]


def test_the_simulator_serves_the_fields_in_table_order() -> None:
    config = SimulatorConfig(users=20, sessions=400, seed=5, foreign_share=0.0, now=NOW)
    sim = Simulator(config)
    order = [f.api for f in SESSION_ROW.api_fields]
    malformed = {i for ids in sim.malformed_ids.values() for i in ids}
    served = [s for s in sim.truth_sessions() if s["id"] not in malformed]
    assert len(served) > 300
    for item in served:
        assert list(item) == [k for k in order if k in item]
        assert {"id", "userId", "startTime"} <= set(item)


def test_a_table_that_misdeclares_itself_is_refused() -> None:
    with pytest.raises(ValueError, match="API name"):
        Field("x", "VARCHAR", Kind.DERIVED, "x")
    with pytest.raises(ValueError, match="unknown SQL type"):
        Field("x", "TEXT", Kind.OPTIONAL, "x")
    with pytest.raises(ValueError, match="declared twice"):
        SESSION_ROW.plus(Field("user_id", "BIGINT", Kind.OPTIONAL, "userId2"))


# --- the worked example of docs/design.md: adding userSession.deviceId ------------------------

DEVICE = Field("device_id", "VARCHAR", Kind.OPTIONAL, "deviceId", "dev-1", spec_max_64=True)


def test_adding_a_field_reaches_the_frame_the_merge_the_lake_and_the_simulator() -> None:
    row = SESSION_ROW.plus(DEVICE)  # 1. the field table
    step = Step(STEPS[-1].version + 1, "device id", (), backfill=row.add_columns("device_id"))
    conn = connect(":memory:")
    migrate(conn, steps=(*STEPS, step))  # 2. one migration step
    assert disagreements(row, conn) == []

    table = SessionTable(["10.0.0.1"], [(7, "Tradovate", "1.0")], row=row)
    for sid in (1, 2, 3):
        table.append(sid, 10, START_MS + sid, START_MS + 60_000, NEVER, 0, 0, False)
    table.overrides[1] = {"deviceId": "d" * 65}
    table.overrides[2] = {"deviceId": 5}
    served = table.lookup([1, 2, 3])
    assert [s.get("deviceId") for s in served] == ["dev-1", "d" * 65, 5]
    assert list(served[0]) == [f.api for f in row.api_fields]  # deviceId last, as declared

    clean = normalize_pages([orjson.dumps(served[:2])], org="default", row=row)  # strict path
    assert clean.sessions["device_id"].to_list() == ["dev-1", "d" * 65]
    assert clean.sessions["anomalies"].to_list() == [[], ["string_over_64"]]
    mixed = normalize_pages([orjson.dumps(served)], org="default", row=row)  # per-value path
    assert mixed.rejected["reason"].to_list() == ["deviceId is not a string"]
    assert mixed.sessions.equals(clean.sessions)

    def merge(frame: pl.DataFrame, run_id: int) -> list[str]:
        conn.register("staged_sessions", frame.to_arrow())
        try:
            actions = conn.execute(row.merge_sql(), {"run_id": run_id, "lo": 1, "hi": 3})
            return sorted(str(a) for (a,) in actions.fetchall())
        finally:
            conn.unregister("staged_sessions")

    assert merge(clean.sessions, 1) == ["INSERT", "INSERT"]
    assert merge(clean.sessions, 2) == []  # unchanged
    changed = clean.sessions.with_columns(device_id=pl.Series(["dev-2", "d" * 65]))
    assert merge(changed.cast(row.frame_schema), 3) == ["UPDATE"]  # type: ignore[arg-type]
    stored = conn.execute("SELECT id, device_id, last_run_id FROM user_sessions ORDER BY id")
    assert stored.fetchall() == [(1, "dev-2", 3), (2, "d" * 65, 1)]
    fresh = clean.sessions.with_columns(id=pl.Series([8, 9]))  # the store's insert-only path
    conn.register("staged_sessions", fresh.to_arrow())
    conn.execute(query_sql("store", "insert_new_sessions"), {"run_id": 4}).fetchall()
    conn.unregister("staged_sessions")
    inserted = conn.execute("SELECT device_id FROM user_sessions WHERE id > 7 ORDER BY id")
    assert inserted.fetchall() == [("dev-1",), ("d" * 65,)]
    lake = conn.execute(query_sql("lake", "month_rows"), {"org": "default", "month": "2024-05"})
    assert [d[0] for d in lake.description or ()][-1] == "device_id"
    conn.close()
