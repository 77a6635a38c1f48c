"""Prefect flow ``export_compliance``: the compliance datasets as CSV and Parquet with manifests.

Thin: the work is ``session_audit.analysis.compliance.export_compliance_set``. The database is
opened read-only, so an export can run while no ingest writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from prefect import flow

from session_audit.analysis.compliance import COMPLIANCE_DATASETS, export_compliance_set
from session_audit.settings import load_settings


@flow(name="export_compliance", log_prints=False, persist_result=False, validate_parameters=True)
def export_compliance(
    out_dir: Path | None = None,
    datasets: list[str] | None = None,
    formats: list[Literal["csv", "parquet"]] | None = None,
    db: Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Export ``datasets`` (default: the compliance set) in ``formats`` (default: both) into
    ``out_dir`` (default: the export_dir setting), one directory with a manifest each."""
    settings = load_settings(db=db)
    done = export_compliance_set(
        settings.db,
        out_dir or settings.export_dir,
        datasets=datasets or list(COMPLIANCE_DATASETS),
        formats=formats or ["csv", "parquet"],
        force=force,
    )
    return {
        "db": str(settings.db),
        "exports": [
            {"dataset": e.dataset, "format": e.fmt, "directory": str(e.directory), "rows": e.rows}
            for e in done
        ],
    }
