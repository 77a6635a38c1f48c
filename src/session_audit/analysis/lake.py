"""The Parquet lake: user_sessions mirrored as Parquet files partitioned by org and month.

``session-audit ingest --lake DIR`` (a local directory or an fsspec URL) brings the lake up to
date with the database after each run, hive-style::

    DIR/org=<org>/month=<YYYY-MM>/sessions.parquet     (UTC month of start_time)
    DIR/org=<org>/_lake.json                           (fingerprint of each month written)

DuckDB (and polars, Spark, Athena...) read it directly::

    SELECT * FROM read_parquet('DIR/**/*.parquet', hive_partitioning = true) WHERE org = 'acme'

DuckDB stays the system of record (exactly-once merge, cursor, ledger); the lake is a derived,
idempotent copy. A sync compares each month's fingerprint in the database (row count and newest
``updated_at``) with the one recorded in ``_lake.json`` and rewrites only the months that differ
(new sessions, sessions that closed), each file written under a temporary name and moved into
place, then the manifest. A sync interrupted half-way rewrites the same months next time.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import duckdb
import fsspec  # type: ignore[import-untyped]
import pyarrow.parquet as pq

from session_audit.db.sqlfiles import query_sql
from session_audit.errors import ConfigError, StorageError

MANIFEST = "_lake.json"
FILE_NAME = "sessions.parquet"
_ORG_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class LakeSync:
    """What one sync did for one org."""

    org: str
    months_written: int
    months_unchanged: int
    rows_written: int


def sync_lake(conn: duckdb.DuckDBPyConnection, org: str, root: str) -> LakeSync:
    """Rewrite the lake partitions of ``org`` whose rows changed in the database."""
    if not _ORG_SAFE.match(org):
        raise ConfigError(
            f"org {org!r} cannot name a lake partition: use letters, digits, '_', '.', '-'"
        )
    fs, base = fsspec.core.url_to_fs(root)
    org_dir = f"{str(base).rstrip('/')}/org={org}"
    try:
        months = conn.execute(query_sql("lake", "months"), {"org": org}).fetchall()
    except duckdb.Error as exc:
        raise StorageError(f"cannot read the months of org {org!r}: {exc}") from exc
    try:
        known = _read_manifest(fs, org_dir)
        written = rows = 0
        for month, count, last_ms in months:
            fingerprint = [int(count), int(last_ms) if last_ms is not None else None]
            if known.get(month) == fingerprint:
                continue
            rows += _write_month(conn, fs, org_dir, org, month)
            known[month] = fingerprint
            written += 1
        if written:
            _write_manifest(fs, org_dir, known)
    except OSError as exc:
        raise StorageError(f"cannot write the lake at {root}: {exc}") from exc
    return LakeSync(org, written, len(months) - written, rows)


def _write_month(
    conn: duckdb.DuckDBPyConnection, fs: Any, org_dir: str, org: str, month: str
) -> int:
    try:
        table = conn.sql(
            query_sql("lake", "month_rows"), params={"org": org, "month": month}
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise StorageError(f"cannot read org {org!r} month {month}: {exc}") from exc
    if table is None:
        return 0
    folder = f"{org_dir}/month={month}"
    fs.makedirs(folder, exist_ok=True)
    tmp = f"{folder}/.{FILE_NAME}.{uuid.uuid4().hex[:8]}.tmp"
    with fs.open(tmp, "wb") as out:
        pq.write_table(table, out, compression="zstd")
    fs.mv(tmp, f"{folder}/{FILE_NAME}")
    return int(table.num_rows)


def _read_manifest(fs: Any, org_dir: str) -> dict[str, list[int | None]]:
    path = f"{org_dir}/{MANIFEST}"
    if not fs.exists(path):
        return {}
    with fs.open(path, "rb") as src:
        data = json.loads(src.read())
    months = data.get("months", {}) if isinstance(data, dict) else {}
    return {str(k): list(v) for k, v in months.items()} if isinstance(months, dict) else {}


def _write_manifest(fs: Any, org_dir: str, months: dict[str, list[int | None]]) -> None:
    path = f"{org_dir}/{MANIFEST}"
    tmp = f"{org_dir}/.{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp"
    with fs.open(tmp, "wb") as out:
        out.write(json.dumps({"months": dict(sorted(months.items()))}, indent=1).encode())
    fs.mv(tmp, path)


def lake_relation(conn: duckdb.DuckDBPyConnection, root: str) -> duckdb.DuckDBPyRelation:
    """The whole lake as a DuckDB relation (columns of user_sessions plus org and month).

    For object storage, load DuckDB's httpfs extension and create a secret on ``conn`` first
    (see docs/scale.md)."""
    try:
        return conn.read_parquet(f"{root.rstrip('/')}/**/*.parquet", hive_partitioning=True)
    except duckdb.Error as exc:
        raise StorageError(f"cannot read the lake at {root}: {exc}") from exc


def create_lake_view(
    conn: duckdb.DuckDBPyConnection, root: str, name: str = "lake_sessions"
) -> None:
    """A temporary view ``name`` over the lake on ``conn``."""
    lake_relation(conn, root).create_view(name, replace=True)
