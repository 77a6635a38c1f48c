"""The compliance export set: several datasets, each in CSV and Parquet, each in its own
directory with a verifiable ``manifest.json`` (``session-audit verify DIR``).

Plain code, no Prefect: used by the ``export_compliance`` and ``daily_audit`` flows and by the
demo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from session_audit.errors import ConfigError

#: What an auditor receives by default: login history, the account-sharing and concurrency
#: signals, new-IP logins, app versions in use and the per-user risk summary.
COMPLIANCE_DATASETS: tuple[str, ...] = (
    "login_history",
    "shared_ips",
    "concurrent_sessions",
    "new_ip_logins",
    "app_version_usage",
    "user_risk_summary",
)
FORMATS: tuple[str, ...] = ("csv", "parquet")


@dataclass(frozen=True)
class ExportedSet:
    """One dataset in one format: where it went and how many rows."""

    dataset: str
    fmt: str
    directory: Path
    rows: int
    files: int


def export_directory(out_dir: Path, dataset: str, fmt: str) -> Path:
    """``<out_dir>/<dataset>-<fmt>``: one manifest per directory."""
    return out_dir / f"{dataset}-{fmt}"


def export_compliance_set(
    db: Path,
    out_dir: Path,
    *,
    datasets: Sequence[str] = COMPLIANCE_DATASETS,
    formats: Sequence[str] = FORMATS,
    force: bool = False,
    on_export: Callable[[ExportedSet], None] | None = None,
) -> list[ExportedSet]:
    """Export every ``dataset`` in every ``format`` under ``out_dir`` from the database ``db``
    (opened read-only: it works while no ingest writes)."""
    from session_audit.analysis.export import export_dataset
    from session_audit.db.connection import connect

    if not datasets or not formats:
        raise ConfigError("choose at least one dataset and one format to export")
    if not db.exists():
        raise ConfigError(f"no database at {db}: run an ingest first")
    done: list[ExportedSet] = []
    conn = connect(db, read_only=True)
    try:
        for dataset in datasets:
            for fmt in formats:
                result = export_dataset(
                    conn,
                    dataset=dataset,
                    fmt=fmt,
                    out_dir=export_directory(out_dir, dataset, fmt),
                    force=force,
                    source=db,
                )
                item = ExportedSet(
                    dataset, fmt, result.directory, result.row_count, len(result.files)
                )
                done.append(item)
                if on_export is not None:
                    on_export(item)
    finally:
        conn.close()
    return done
