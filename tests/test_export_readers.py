"""Every dataset `session-audit export` writes reads back alike in pyarrow, polars and DuckDB.

For each table and view of a varied database, CSV and Parquet are exported with the CLI, then
read by the three readers. Parquet must give back exactly the stored values (no INTERVAL, which
pyarrow reads as fixed_size_binary[12] and polars cannot read); CSV cells must be the documented
text of each value (formula-like text quoted) in all three readers, and typed inference must
succeed in all three.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from session_audit.analysis.catalog import list_datasets
from session_audit.analysis.query import csv_safe_text
from session_audit.cli import run_app
from test_views_data import add_last_sessions, add_sessions, at, rows, sample_db


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    base = tmp_path_factory.mktemp("readers")
    db = base / "s.duckdb"
    conn = sample_db(db)
    add_sessions(  # an incident, an IPv6 spelling, an open record: every view gets rows
        conn,
        [
            {"id": 950, "user_id": 1, "start": at(0), "end": at(50), "ip": "2001:DB8::5"},
            {"id": 951, "user_id": 1, "start": at(10), "end": None, "ip": "10.0.9.9"},
        ],
    )
    add_last_sessions(conn, [(3, 1, at(9000), at(99_999)), (3, 3, at(9000), at(0))])
    datasets = sorted(list_datasets(conn))
    conn.close()
    out = base / "out"
    for name in datasets:
        for fmt in ("csv", "parquet"):
            args = ["export", "--dataset", name, "--format", fmt, "--db", str(db)]
            assert run_app([*args, "--out", str(out / f"{name}-{fmt}")]) == 0, name
    return db, out, datasets


def _files(folder: Path, ext: str) -> list[Path]:
    files = sorted(folder.rglob(f"*.{ext}"))
    assert files, folder
    return files


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, list):
        return [_utc(v) for v in value]
    return value


def _sorted(rows_: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted((tuple(_utc(v) for v in r) for r in rows_), key=repr)


def _source(db: Path, name: str) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        cursor = conn.execute(f'SELECT * FROM "{name}"')
        columns = [d[0] for d in cursor.description or []]
        data = cursor.fetchall()
        types = [r[1] for r in conn.execute(f'DESCRIBE "{name}"').fetchall()]
    finally:
        conn.close()
    return columns, types, data


def test_every_dataset_was_exported(exported: tuple[Path, Path, list[str]]) -> None:
    _, _, datasets = exported
    for view in ("login_history", "shared_ips", "concurrent_sessions", "coverage_gaps"):
        assert view in datasets


def test_no_exported_view_has_an_interval_column(exported: tuple[Path, Path, list[str]]) -> None:
    db, _, datasets = exported
    for name in datasets:
        _, types, _ = _source(db, name)
        assert not [t for t in types if t.startswith("INTERVAL")], name


def test_parquet_reads_back_exactly_in_pyarrow_polars_and_duckdb(
    exported: tuple[Path, Path, list[str]],
) -> None:
    db, out, datasets = exported
    for name in datasets:
        columns, _, expected = _source(db, name)
        files = _files(out / f"{name}-parquet", "parquet")
        table = pa.concat_tables([pq.read_table(f) for f in files])
        assert table.column_names == columns, name
        for col in table.schema:
            bad = pa.types.is_fixed_size_binary(col.type) or pa.types.is_interval(col.type)
            assert not bad, f"{name}.{col.name}: {col.type}"
        by_arrow = [tuple(r[c] for c in columns) for r in table.to_pylist()]
        by_polars = [r for f in files for r in pl.read_parquet(f).rows()]
        with duckdb.connect() as conn:
            conn.execute("SET TimeZone = 'UTC'")
            by_duckdb = conn.execute(
                "SELECT * FROM read_parquet(?)", [[str(f) for f in files]]
            ).fetchall()
        want = _sorted(expected)
        assert _sorted(by_arrow) == want, f"{name} via pyarrow"
        assert _sorted(by_polars) == want, f"{name} via polars"
        assert _sorted(by_duckdb) == want, f"{name} via duckdb"


def _cell_matches(text: str, value: Any, type_: str, conn: duckdb.DuckDBPyConnection) -> bool:
    """``text`` is the documented CSV form of the stored ``value`` (of DuckDB type ``type_``);
    a list is text DuckDB casts back to the same list."""
    if value is None:
        return text == ""
    if isinstance(value, str):
        return text == csv_safe_text(value)
    if isinstance(value, bool):
        return text == ("true" if value else "false")
    if isinstance(value, int):
        return text == str(value)
    if isinstance(value, float):
        return float(text) == value
    if isinstance(value, datetime):
        return datetime.fromisoformat(text) == value
    if isinstance(value, date):
        return date.fromisoformat(text) == value
    if isinstance(value, timedelta):
        return False  # durations are seconds, never an INTERVAL
    if isinstance(value, list):
        back = conn.execute(f"SELECT CAST(? AS {type_})", [text]).fetchone()
        return back is not None and _utc(back[0]) == _utc(value)
    raise AssertionError(f"unexpected value type {type(value).__name__}")


def test_csv_reads_back_alike_in_pyarrow_polars_and_duckdb(
    exported: tuple[Path, Path, list[str]],
) -> None:
    db, out, datasets = exported
    for name in datasets:
        columns, types, expected = _source(db, name)
        files = _files(out / f"{name}-csv", "csv")
        text_types = {c: pa.string() for c in columns}
        by_arrow: list[tuple[Any, ...]] = []
        by_polars: list[tuple[Any, ...]] = []
        for f in files:
            table = pacsv.read_csv(f, convert_options=pacsv.ConvertOptions(column_types=text_types))
            assert table.column_names == columns, name
            by_arrow += [tuple(r[c] or "" for c in columns) for r in table.to_pylist()]
            frame = pl.read_csv(f, infer_schema=False, empty_string_is_null=False)
            by_polars += [tuple(v or "" for v in r) for r in frame.rows()]
            # typed inference works in every reader (a CSV nobody can load helps no one)
            assert pacsv.read_csv(f).num_rows == pl.read_csv(f).height
        with duckdb.connect() as conn:
            by_duckdb = [
                tuple(v or "" for v in r)
                for r in conn.execute(
                    "SELECT * FROM read_csv(?, header = true, all_varchar = true)",
                    [[str(f) for f in files]],
                ).fetchall()
            ]
        assert sorted(by_arrow) == sorted(by_polars) == sorted(by_duckdb), name
        assert len(by_arrow) == len(expected), name
        # the export orders rows by the typed row; match each text row to its stored row
        remaining = list(expected)
        with duckdb.connect() as conn:
            for text_row in by_arrow:
                match = next(
                    (
                        r
                        for r in remaining
                        if all(
                            _cell_matches(t, v, k, conn)
                            for t, v, k in zip(text_row, r, types, strict=True)
                        )
                    ),
                    None,
                )
                assert match is not None, f"{name}: no stored row reads as {text_row}"
                remaining.remove(match)


def test_login_history_durations_are_seconds_in_every_reader(
    exported: tuple[Path, Path, list[str]],
) -> None:
    db, out, _ = exported
    conn = duckdb.connect(str(db), read_only=True)
    want = dict(rows(conn, "SELECT session_id, duration_seconds FROM login_history"))
    conn.close()
    assert want[950] == 3000.0 and want[951] is None
    parquet = _files(out / "login_history-parquet", "parquet")[0]
    csv = _files(out / "login_history-csv", "csv")[0]
    arrow = pq.read_table(parquet)
    assert arrow.schema.field("duration_seconds").type == pa.float64()
    columns = arrow.select(["session_id", "duration_seconds"]).to_pydict()
    assert dict(zip(columns["session_id"], columns["duration_seconds"], strict=True)) == want
    frame = pl.read_csv(csv)
    assert frame.schema["duration_seconds"] == pl.Float64
    assert dict(frame.select("session_id", "duration_seconds").rows()) == want
