"""Export one table or view to CSV or Parquet files with a ``manifest.json`` beside them.

* The dataset name must be in the database catalog (the whitelist); column names reach SQL only
  as anchored ``COLUMNS(...)`` patterns built from that catalog, values only as bound parameters.
* Every statement is a named query of ``sql/queries/export.sql``; filters are bound parameters
  (NULL = off), never SQL assembled from pieces.
* Rows come in a deterministic order (the whole typed row).
* More rows than ``partition_rows`` (and a timestamp column): one file per UTC month.
* CSV text cells that a spreadsheet could read as a formula get a leading ``'`` (``csv_safe``,
  ``csv_safe_macro`` in ``sql/queries/export.sql``); Parquet keeps every value exactly.
* The files are written into a fresh hidden folder beside DIR (created, never reused) and
  renamed into place at the end, so a failed export never leaves a half-written DIR.
* DIR must not be the working directory, one of its parents, or a folder holding the database
  (``ConfigError``). An existing non-empty DIR is only replaced with ``force`` and only when it
  is an earlier export: its manifest is a session-audit manifest
  (:func:`~session_audit.analysis.manifest.load_manifest`) and it holds exactly the files the
  manifest lists (plus the manifest and its signature), nothing else; otherwise ``ExportError``.
* ``--since``/``--until`` on an aggregate view (:data:`~session_audit.analysis.period.
  PERIOD_VIEWS`: shared_ips, concurrent_sessions, app_version_usage, user_risk_summary, ...)
  compute the view over the sessions running in the period (:mod:`.period`): "shared in Q3"
  means used by two or more users in Q3. On every other dataset (tables and per-event views)
  they keep the rows whose time column lies in the period. The manifest's ``period`` says
  which: ``{"since", "until", "applied"}`` (None without a period).
* With ``sign_key`` the manifest is signed (``manifest.json.sig``, see
  :mod:`session_audit.analysis.signing`) before the folder is moved into place.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from session_audit import __version__
from session_audit.analysis.catalog import Dataset, column_pattern, get_dataset
from session_audit.analysis.filters import ExportFilters
from session_audit.analysis.manifest import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    SIGNATURE_NAME,
    TOOL_NAME,
    file_entry,
    load_manifest,
    write_manifest,
)
from session_audit.analysis.period import (
    COMPUTED,
    bind_period,
    period_mode,
    period_name,
)
from session_audit.db.sqlfiles import query_sql
from session_audit.errors import ConfigError, ExportError, VerificationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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

    @property
    def signed(self) -> bool:
        return (self.directory / SIGNATURE_NAME).is_file()


@dataclass(frozen=True)
class _Query:
    """The bound parameters of every statement of one export (the filters, NULL when off)."""

    params: dict[str, Any]

    def rows(
        self, conn: duckdb.DuckDBPyConnection, name: str, **extra: Any
    ) -> duckdb.DuckDBPyRelation:
        return conn.sql(query_sql("export", name), params={**self.params, **extra})


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
    sign_key: Ed25519PrivateKey | None = None,
) -> ExportResult:
    """Write ``dataset`` as ``fmt`` files plus ``manifest.json`` (and with ``sign_key`` its
    signature) into ``out_dir``."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if partition_rows < 1:
        raise ConfigError("partition_rows must be at least 1")
    chosen = filters or ExportFilters()
    ds = get_dataset(conn, dataset)
    query = _filters(conn, ds, chosen)
    out_dir = Path(out_dir)
    _check_target(out_dir, force, _database_paths(conn, source))

    staging: Path | None = None
    try:
        staging = _fresh_sibling(out_dir, "partial")
        entries = _write_files(conn, ds, fmt, query, staging, partition_rows)
        manifest = _manifest(ds, fmt, chosen, entries, partition_rows, source, clock())
        write_manifest(staging, manifest)
        if sign_key is not None:
            from session_audit.analysis.signing import sign_export

            sign_export(staging, sign_key)
        _move_into_place(staging, out_dir)
        staging = None
    except duckdb.Error as exc:
        raise ExportError(f"exporting {dataset} failed: {_first_line(exc)}") from exc
    except OSError as exc:
        raise ExportError(
            f"exporting {dataset} to {out_dir} failed: {exc.strerror or _first_line(exc)}"
        ) from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out_dir, manifest)


def _filters(conn: duckdb.DuckDBPyConnection, ds: Dataset, filters: ExportFilters) -> _Query:
    any_column = column_pattern(ds.column_names[0])  # bound by filters that are off
    params: dict[str, Any] = {
        "dataset": ds.name,
        "since": None,
        "until": None,
        "user_id": None,
        "org": None,
        "time_column": column_pattern(ds.time_column) if ds.time_column else any_column,
        "user_column": column_pattern(ds.user_column) if ds.user_column else any_column,
        "org_column": column_pattern(ds.org_column) if ds.org_column else any_column,
    }
    has_period = filters.since is not None or filters.until is not None
    if has_period and period_mode(ds.name) == COMPUTED:
        bind_period(conn, filters.since, filters.until)
        params["dataset"] = period_name(ds.name)  # a temp view; the name is ours, not the user's
    elif has_period:
        if ds.time_column is None:
            raise ConfigError(f"dataset {ds.name} has no timestamp column: drop --since/--until")
        params["since"] = filters.since
        params["until"] = filters.until
    if filters.user_id is not None:
        if ds.user_column is None:
            raise ConfigError(f"dataset {ds.name} has no user column: drop --user")
        params["user_id"] = filters.user_id
    if filters.org is not None:
        if ds.org_column is None:
            raise ConfigError(f"dataset {ds.name} has no org column: drop --org")
        params["org"] = filters.org
    return _Query(params)


def _database_paths(conn: duckdb.DuckDBPyConnection, source: Path | None) -> list[Path]:
    """The files of the databases the export reads (attached to ``conn``, and ``source``)."""
    try:
        found = conn.execute(query_sql("export", "database_paths")).fetchall()
    except duckdb.Error as exc:
        raise ExportError(f"cannot read the database list: {_first_line(exc)}") from exc
    paths = [Path(str(path)) for (path,) in found if path]
    return [*paths, source] if source is not None else paths


def _check_target(out_dir: Path, force: bool, databases: list[Path]) -> None:
    """Refuse (one line) any --out that is not a new folder or an earlier export to replace."""
    try:
        target = out_dir.resolve()
        cwd = Path.cwd().resolve()
        if target == cwd or target in cwd.parents:
            raise ConfigError(
                f"--out {out_dir} is the working directory or one of its parents; "
                "choose a new folder for the export"
            )
        for database in databases:
            if target in database.resolve().parents or target == database.resolve():
                raise ConfigError(
                    f"--out {out_dir} holds the database {database}; choose another folder"
                )
        if out_dir.is_symlink():
            raise ConfigError(f"--out {out_dir} is a symbolic link; give the real folder")
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(f"--out {out_dir} is a file, not a directory")
        if not out_dir.exists():
            return
        present = sorted(out_dir.iterdir())
    except OSError as exc:
        raise ExportError(f"cannot use --out {out_dir}: {exc.strerror or exc}") from exc
    if not present:
        return
    if not force:
        raise ExportError(f"{out_dir} is not empty; pass --force to replace the export in it")
    _check_replaceable(out_dir, present)


def _check_replaceable(out_dir: Path, present: list[Path]) -> None:
    """An earlier export: a session-audit manifest and exactly its files, all regular files."""
    refuse = (
        f"{out_dir} is not an earlier export, so it is not replaced even with --force; "
        "choose another --out"
    )
    try:
        manifest = load_manifest(out_dir)
    except VerificationError as exc:
        raise ExportError(f"{refuse} ({exc})") from exc
    allowed = manifest.names | {MANIFEST_NAME, SIGNATURE_NAME}
    names = {p.name for p in present}
    foreign = sorted(names - allowed)
    if foreign:
        raise ExportError(
            f"{refuse} (it holds files its {MANIFEST_NAME} does not list: {', '.join(foreign[:5])})"
        )
    missing = sorted(manifest.names - names)
    if missing:
        raise ExportError(
            f"{refuse} (files its {MANIFEST_NAME} lists are missing: {', '.join(missing[:5])})"
        )
    odd = sorted(p.name for p in present if p.is_symlink() or not p.is_file())
    if odd:
        raise ExportError(f"{refuse} (not regular files: {', '.join(odd[:5])})")


def _write_files(
    conn: duckdb.DuckDBPyConnection,
    ds: Dataset,
    fmt: str,
    query: _Query,
    directory: Path,
    partition_rows: int,
) -> list[dict[str, Any]]:
    conn.execute(query_sql("export", "rows_macro"))
    count = int(query.rows(conn, "count").fetchall()[0][0])
    csv = "_csv" if fmt == "csv" else ""
    if fmt == "csv":
        conn.execute(query_sql("export", "csv_safe_macro"))
    if count <= partition_rows or ds.time_column is None:
        path = directory / f"{ds.name}.{fmt}"
        _write(query.rows(conn, f"select{csv}"), path, fmt)
        return [file_entry(path, fmt, None)]

    entries = []
    for month, _rows in query.rows(conn, "months").fetchall():
        label = UNDATED if month is None else str(month)
        path = directory / f"{ds.name}-{label}.{fmt}"
        part = query.rows(conn, f"select_month{csv}", month=month, undated=month is None)
        _write(part, path, fmt)
        entries.append(file_entry(path, fmt, label))
    return entries


def _write(relation: duckdb.DuckDBPyRelation, path: Path, fmt: str) -> None:
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
        "period": _period(ds, filters),
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
        "tool": {"name": TOOL_NAME, "version": __version__},
        "row_count": sum(int(e["rows"]) for e in entries),
        "files": entries,
    }


def _period(ds: Dataset, filters: ExportFilters) -> dict[str, Any] | None:
    """The period of the export and how it applied (None: all data)."""
    if filters.since is None and filters.until is None:
        return None
    return {
        "since": filters.since.isoformat() if filters.since else None,
        "until": filters.until.isoformat() if filters.until else None,
        "applied": period_mode(ds.name),
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


def _fresh_sibling(out_dir: Path, kind: str) -> Path:
    """Create a new hidden folder beside ``out_dir`` (never an existing one)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    path = out_dir.parent / f".{out_dir.name}.{kind}-{secrets.token_hex(8)}"
    path.mkdir()
    return path


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Rename ``staging`` to ``out_dir``; an existing (checked) ``out_dir`` is set aside first
    and removed only once the new export is in place (restored if the rename fails)."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    old = out_dir.parent / f".{out_dir.name}.old-{secrets.token_hex(8)}"
    out_dir.rename(old)
    try:
        staging.rename(out_dir)
    except BaseException:
        old.rename(out_dir)
        raise
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
