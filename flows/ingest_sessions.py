"""Prefect flow ``ingest_sessions``: fetch Tradovate login sessions into DuckDB.

Thin on purpose: parameters are declared and validated here, the work is in
``session_audit.orchestration.ingest_flow`` (the same ``drive`` loop as ``session-audit ingest``,
each chunk of ids one task run). Credentials never are parameters: they come from the environment
(``SESSION_AUDIT_USERNAME`` ...) or ``.env`` of the process running the flow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from prefect import flow
from pydantic import AnyHttpUrl, Field

from session_audit.orchestration.ingest_flow import ingest_flow_body

PositiveId = Annotated[int, Field(ge=1)]


@flow(name="ingest_sessions", log_prints=False, persist_result=False, validate_parameters=True)
async def ingest_sessions(
    base_url: AnyHttpUrl | None = None,
    start_id: PositiveId | None = None,
    ids: list[PositiveId] | None = None,
    ids_file: str | None = None,
    batch_size: Annotated[int, Field(ge=1, le=10_000)] | None = None,
    concurrency: Annotated[int, Field(ge=1, le=256)] | None = None,
    db: Path | None = None,
    org: Annotated[str, Field(min_length=1, max_length=64)] | None = None,
) -> dict[str, Any]:
    """Refresh users, re-fetch open sessions, then scan from ``start_id`` (or the stored cursor)
    or fetch ``ids`` / ``ids_file``. Returns the run summary (also in ``ingest_runs``)."""
    return await ingest_flow_body(
        base_url=str(base_url) if base_url is not None else None,
        start_id=start_id,
        ids=ids,
        ids_file=ids_file,
        batch_size=batch_size,
        concurrency=concurrency,
        db=db,
        org=org,
    )
