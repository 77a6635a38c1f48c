"""Prefect flow ``ingest_sessions``: fetch Tradovate login sessions into DuckDB.

Thin on purpose, the entry point of deployments: parameters are declared and validated here, then
turned ONCE into Settings (environment + ``.env`` + parameters: credentials never are
parameters), an id source and an ``ExecutionPlan``, handed to
``session_audit.orchestration.ingest_flow.ingest_in_flow`` (the same ``drive`` loop as
``session-audit ingest``, each chunk of ids one task run).

``executor="threads"|"dask"`` runs the staged driver in this flow run: the flow process keeps the
DuckDB writer and the login, and each extraction chunk is one task run of a task runner started
for the ingest: threads, or Dask workers via prefect-dask (``dask_address``, else a local cluster
of ``dask_workers`` processes).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from prefect import flow
from pydantic import AnyHttpUrl, Field

from session_audit.ingest.runner import IdSource
from session_audit.orchestration.ingest_flow import ingest_in_flow
from session_audit.scale.executors import ExecutionPlan
from session_audit.settings import load_settings

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
    plan = ExecutionPlan(
        executor, workers=dask_workers, address=dask_address, staging_dir=staging_dir
    )
    settings = load_settings(
        base_url=str(base_url) if base_url is not None else None,
        batch_size=batch_size,
        concurrency=concurrency,
        db=db,
        org=org,
    )
    source = IdSource.of(start_id=start_id, since=since, ids=ids, ids_file=ids_file)
    return (await ingest_in_flow(settings, source, plan)).as_dict()
