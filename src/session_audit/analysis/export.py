"""Export one table or view to CSV or Parquet files with a ``manifest.json`` beside them.

* The dataset name must be in the database catalog (the whitelist); column names reach SQL only
  as anchored ``COLUMNS(...)`` patterns built from that catalog, values only as bound parameters.
* Rows come in a deterministic order (the whole typed row, ``sql/queries/export_order.sql``).
* More rows than ``partition_rows`` (and a timestamp column): one file per UTC month.
* CSV text cells starting with ``= + - @`` TAB or CR get a leading ``'`` (``csv_safe``);
  Parquet keeps every value exactly.
* The files are written into a hidden sibling directory and moved into place at the end, so a
  failed export never leaves a half-written DIR; an existing non-empty DIR is only replaced with
  ``force`` and only when it is an earlier export (it holds a manifest).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from session_audit import __version__
from session_audit.analysis.catalog import Dataset, column_pattern, get_dataset
from session_audit.analysis.filters import ExportFilters
from session_audit.analysis.manifest import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    file_entry,
    write_manifest,
)
from session_audit.db.sqlfiles import load_sql
from session_audit.errors import ConfigError, ExportError

FORMATS = ("csv", "parquet")
DEFAULT_PARTITION_ROWS = 1_000_000
UNDATED = "undated"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the directory, its manifest, and the total row count."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def row_count(self) -> int:
        return int(self.manifest["row_count"])

    @property
    def files(self) -> list[str]:
        return [str(entry["path"]) for entry in self.manifest["files"]]


@dataclass(frozen=True)
class _Query:
    """Filter fragments and their bound parameters, shared by every query of one export."""

    fragments: tuple[str, ...]
    params: dict[str, Any]

    def build(self, head: str, *extra: str, tail: str | None = None) -> str:
        parts = [load_sql(head), *(load_sql(f) for f in (*self.fragments, *extra))]
        if tail is not None:
            parts.append(load_sql(tail))
        return "\n".join(parts)


def export_dataset(
    conn: duckdb.DuckDBPyConnection,
    *,
    dataset: str,
    fmt: str,
    out_dir: Path,
    filters: ExportFilters | None = None,
    force: bool = False,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    source: Path | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExportResult:
    """Write ``dataset`` as ``fmt`` files plus ``manifest.json`` into ``out_dir``."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if partition_rows < 1:
        raise ConfigError("partition_rows must be at least 1")
    chosen = filters or ExportFilters()
    ds = get_dataset(conn, dataset)
    query = _filters(ds, chosen)
    out_dir = Path(out_dir)
    _check_target(out_dir, force)

    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        entries = _write_files(conn, ds, fmt, query, staging, partition_rows)
        manifest = _manifest(ds, fmt, chosen, entries, partition_rows, source, clock())
        write_manifest(staging, manifest)
        _move_into_place(staging, out_dir)
    except duckdb.Error as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f"exporting {dataset} failed: {_first_line(exc)}") from exc
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f"exporting {dataset} to {out_dir} failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(out_dir, manifest)


def _filters(ds: Dataset, filters: ExportFilters) -> _Query:
    fragments: list[str] = []
    params: dict[str, Any] = {"dataset": ds.name}
    if filters.since is not None or filters.until is not None:
        if ds.time_column is None:
            raise ConfigError(f"dataset {ds.name} has no timestamp column: drop --since/--until")
        params["time_column"] = column_pattern(ds.time_column)
        if filters.since is not None:
            fragments.append("queries/export_filter_since")
            params["since"] = filters.since
        if filters.until is not None:
            fragments.append("queries/export_filter_until")
            params["until"] = filters.until
    if filters.user_id is not None:
        if ds.user_column is None:
            raise ConfigError(f"dataset {ds.name} has no user column: drop --user")
        fragments.append("queries/export_filter_user")
        params["user_column"] = column_pattern(ds.user_column)
        params["user_id"] = filters.user_id
    if filters.org is not None:
        if ds.org_column is None:
            raise ConfigError(f"dataset {ds.name} has no org column: drop --org")
        fragments.append("queries/export_filter_org")
        params["org_column"] = column_pattern(ds.org_column)
        params["org"] = filters.org
    return _Query(tuple(fragments), params)


def _check_target(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file, not a directory")
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return
    if not force:
        raise ExportError(f"{out_dir} is not empty; pass --force to replace the export in it")
    if not (out_dir / MANIFEST_NAME).is_file():
        raise ExportError(
            f"{out_dir} is not empty and holds no {MANIFEST_NAME}: it is not an earlier "
            "export, so it is not replaced even with --force; choose another --out"
        )


def _write_files(
    conn: duckdb.DuckDBPyConnection,
    ds: Dataset,
    fmt: str,
    query: _Query,
    directory: Path,
    partition_rows: int,
) -> list[dict[str, Any]]:
    total = conn.sql(query.build("queries/export_count"), params=query.params).fetchall()
    count = int(total[0][0])
    head = "queries/export_select_csv" if fmt == "csv" else "queries/export_select"
    if fmt == "csv":
        conn.execute(load_sql("queries/csv_safe_macro"))
    if count <= partition_rows or ds.time_column is None:
        path = directory / f"{ds.name}.{fmt}"
        _write(conn, query.build(head, tail="queries/export_order"), query.params, path, fmt)
        return [file_entry(path, fmt, None)]

    params = {**query.params, "time_column": column_pattern(ds.time_column)}
    months = conn.sql(
        query.build("queries/export_months", tail="queries/export_months_tail"), params=params
    ).fetchall()
    entries = []
    for month, _rows in months:
        if month is None:
            sql = query.build(head, "queries/export_filter_no_month", tail="queries/export_order")
            bound = params
            label = UNDATED
        else:
            sql = query.build(head, "queries/export_filter_month", tail="queries/export_order")
            bound = {**params, "month": month}
            label = str(month)
        path = directory / f"{ds.name}-{label}.{fmt}"
        _write(conn, sql, bound, path, fmt)
        entries.append(file_entry(path, fmt, label))
    return entries


def _write(
    conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], path: Path, fmt: str
) -> None:
    relation = conn.sql(sql, params=params)
    if fmt == "csv":
        relation.write_csv(str(path), header=True)
    else:
        relation.write_parquet(str(path), compression="zstd")


def _manifest(
    ds: Dataset,
    fmt: str,
    filters: ExportFilters,
    entries: list[dict[str, Any]],
    partition_rows: int,
    source: Path | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "dataset": ds.name,
        "dataset_kind": ds.kind,
        "format": fmt,
        "columns": [{"name": name, "type": type_} for name, type_ in ds.columns],
        "filters": filters.as_json(),
        "time_column": ds.time_column,
        "partitioned_by": "month" if any(e["partition"] for e in entries) else None,
        "partition_rows": partition_rows,
        "order": "every column left to right, ascending, NULLs last",
        "csv_formula_neutralised": fmt == "csv",
        "csv_nulls": (
            "an empty unquoted cell is NULL, a quoted empty cell is an empty string"
            if fmt == "csv"
            else None
        ),
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "source": _source(source),
        "tool": {"name": "session-audit", "version": __version__},
        "row_count": sum(int(e["rows"]) for e in entries),
        "files": entries,
    }


def _source(source: Path | None) -> dict[str, Any] | None:
    if source is None:
        return None
    resolved = source.resolve()
    stat = resolved.stat()
    return {
        "path": str(resolved),
        "bytes": stat.st_size,
        "modified_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
    }


def _move_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    out_dir.rename(old)
    staging.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "DEFAULT_PARTITION_ROWS",
    "FORMATS",
    "ExportFilters",
    "ExportResult",
    "export_dataset",
]
