"""Prefect flow ``daily_audit``: ingest, then export the compliance set into a dated directory.

Thin: both halves are the other two flows, run as subflows (each recorded in Prefect).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow

from flows.export_compliance import export_compliance
from flows.ingest_sessions import ingest_sessions
from session_audit.settings import load_settings


@flow(name="daily_audit", log_prints=False, persist_result=False, validate_parameters=True)
async def daily_audit(db: Path | None = None, export_dir: Path | None = None) -> dict[str, Any]:
    """Bring the database up to date, then write ``<export_dir>/<UTC date>/<dataset>-<format>``
    (replacing that day's earlier export, if any)."""
    settings = load_settings(db=db, export_dir=export_dir)
    ingested = await ingest_sessions(db=settings.db)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    exported = export_compliance(out_dir=settings.export_dir / day, db=settings.db, force=True)
    return {"ingest": ingested, "export": exported}
