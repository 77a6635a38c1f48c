"""Prefect flow ``ingest_sessions``: fetch Tradovate login sessions into DuckDB.

Thin on purpose: parameters are declared and validated here, the work is in
``session_audit.orchestration.ingest_flow`` (the same ``drive`` loop as ``session-audit ingest``,
each chunk of ids one task run). Credentials never are parameters: they come from the environment
(``SESSION_AUDIT_USERNAME`` ...) or ``.env`` of the process running the flow.

``executor="threads"|"dask"`` runs the staged driver in this flow run: the flow process keeps the
DuckDB writer and the login, and each extraction chunk is one task run of the flow's task runner,
threads, or Dask workers via prefect-dask's ``DaskTaskRunner`` (``dask_address``, else a
``distributed.LocalCluster`` of ``dask_workers`` processes). Pick the runner at call time with
``ingest_sessions.with_options(task_runner=task_runner_for(...))``
(``session_audit.orchestration.chunk_tasks``); a run whose task runner does not match (a
deployment run with ``executor="dask"``) starts a matching one for the ingest.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from prefect import flow
from pydantic import AnyHttpUrl, Field

from session_audit.orchestration.ingest_flow import ingest_flow_body

PositiveId = Annotated[int, Field(ge=1)]


@flow(name="ingest_sessions", log_prints=False, persist_result=False, validate_parameters=True)
async def ingest_sessions(
    base_url: AnyHttpUrl | None = None,
    start_id: PositiveId | None = None,
    since: datetime | None = None,
    ids: list[PositiveId] | None = None,
    ids_file: str | None = None,
    batch_size: Annotated[int, Field(ge=1, le=10_000)] | None = None,
    concurrency: Annotated[int, Field(ge=1, le=256)] | None = None,
    db: Path | None = None,
    org: Annotated[str, Field(min_length=1, max_length=64)] | None = None,
    executor: Literal["inline", "threads", "dask"] = "inline",
    dask_address: Annotated[str, Field(min_length=1)] | None = None,
    dask_workers: Annotated[int, Field(ge=1, le=1024)] | None = None,
    staging_dir: Annotated[str, Field(min_length=1)] | None = None,
) -> dict[str, Any]:
    """Refresh users, re-fetch open sessions, then scan from the stored cursor (first run:
    ``since``, a UTC date or datetime, or ``start_id``) up to the session this run's login
    opened, or fetch ``ids`` / ``ids_file``. Returns the run summary (also in ``ingest_runs``);
    its ``status`` says completed, incomplete or rate_limited.

    ``executor``: ``inline`` (one loop) or ``threads``/``dask`` (chunks extracted in parallel as
    task runs, staged as Parquet under ``staging_dir``, merged in order by this process)."""
    return await ingest_flow_body(
        base_url=str(base_url) if base_url is not None else None,
        start_id=start_id,
        since=since,
        ids=ids,
        ids_file=ids_file,
        batch_size=batch_size,
        concurrency=concurrency,
        db=db,
        org=org,
        executor=executor,
        dask_address=dask_address,
        dask_workers=dask_workers,
        staging_dir=staging_dir,
    )
