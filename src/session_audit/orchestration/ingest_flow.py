"""The body of the ``ingest_sessions`` flow (the flow itself, in ``flows/``, only declares its
parameters and calls :func:`ingest_flow_body`).

Two shapes, one flow run either way:

* ``executor="inline"``: the plain ``drive`` loop, each step (users, a chunk of ids) one task run
  awaited in the flow's event loop;
* ``executor="threads"|"dask"``: the staged driver (``scale.driver.ingest_staged``). The flow
  process keeps the DuckDB writer and the login; each extraction chunk is one task run executed by
  the flow's task runner (``orchestration.chunk_tasks``), staged as Parquet and merged in order.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from session_audit.errors import ConfigError
from session_audit.ingest.runner import IdSource, IngestSummary, ProgressSink, ingest
from session_audit.orchestration.artifacts import publish_ingest_artifacts
from session_audit.orchestration.local import current_local_run, resolve_settings
from session_audit.orchestration.tasks import prefect_step_call
from session_audit.settings import Settings

Executor = Literal["inline", "threads", "dask"]


def resolve_source(
    *,
    start_id: int | None,
    ids: list[int] | None,
    ids_file: str | None,
    since: datetime | None = None,
) -> IdSource:
    """The id source of a flow run: ``ids``, ``ids_file``, the in-process caller's source, or a
    range scan from ``start_id`` or ``since`` (neither: the stored cursor)."""
    given = [
        name
        for name, value in (
            ("start_id", start_id),
            ("since", since),
            ("ids", ids),
            ("ids_file", ids_file),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise ConfigError(f"give at most one id source, got {' and '.join(given)}")
    if ids is not None:
        return IdSource(kind="ids", ids=tuple(ids))
    if ids_file is not None:
        from session_audit.ingest.sources import read_ids_file

        return IdSource(kind="ids", ids=tuple(read_ids_file(ids_file)))
    if start_id is None and since is None:
        local = current_local_run().source
        if local is not None:
            return local
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return IdSource(kind="scan", start_id=start_id, since=since)


def summary_to_dict(summary: IngestSummary) -> dict[str, Any]:
    """The flow's return value: the run summary as plain data (the findings are published as
    their own artifact, not returned)."""
    return dataclasses.asdict(dataclasses.replace(summary, findings=None))


def summary_from_dict(data: dict[str, Any]) -> IngestSummary:
    return IngestSummary.from_dict(data)


def current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    value = flow_run.id
    return str(value) if value else None


async def ingest_flow_body(
    *,
    base_url: str | None = None,
    start_id: int | None = None,
    since: datetime | None = None,
    ids: list[int] | None = None,
    ids_file: str | None = None,
    batch_size: int | None = None,
    concurrency: int | None = None,
    db: Path | None = None,
    org: str | None = None,
    executor: Executor = "inline",
    dask_address: str | None = None,
    dask_workers: int | None = None,
    staging_dir: str | None = None,
) -> dict[str, Any]:
    """Read Settings once, run the ingest (inline steps, or staged chunks, as task runs),
    publish artifacts."""
    if executor == "inline" and (dask_address, dask_workers, staging_dir) != (None, None, None):
        raise ConfigError("dask_address, dask_workers and staging_dir need executor threads|dask")
    settings = resolve_settings(
        base_url=base_url, batch_size=batch_size, concurrency=concurrency, db=db, org=org
    )
    source = resolve_source(start_id=start_id, ids=ids, ids_file=ids_file, since=since)
    progress = current_local_run().progress
    if executor == "inline":
        summary = await ingest(
            settings,
            source,
            call=prefect_step_call,
            progress=progress,
            flow_run_id=current_flow_run_id(),
        )
    else:
        summary = await _ingest_staged(
            settings,
            source,
            progress,
            executor=executor,
            address=dask_address,
            workers=dask_workers,
            staging_dir=staging_dir,
        )
    await publish_ingest_artifacts(summary, db=str(settings.db))
    if summary.findings is not None:
        from session_audit.orchestration.artifacts import publish_findings

        await publish_findings(summary.findings, alert_block=settings.alert_block)
    return summary_to_dict(summary)


async def _ingest_staged(
    settings: Settings,
    source: IdSource,
    progress: ProgressSink | None,
    *,
    executor: str,
    address: str | None,
    workers: int | None,
    staging_dir: str | None,
) -> IngestSummary:
    """The staged driver in this flow run, its chunks task runs of the flow's task runner."""
    from session_audit.orchestration.chunk_tasks import task_runner_pool
    from session_audit.scale.driver import default_staging_root, ingest_staged
    from session_audit.scale.worker import extract_chunk

    extract = current_local_run().extract or extract_chunk
    with task_runner_pool(executor, workers=workers, address=address) as pool:
        from prefect.logging import get_run_logger

        get_run_logger().info("extracting chunks as task runs on %s", pool.label)
        return await ingest_staged(
            settings,
            source,
            pool,
            staging_root=staging_dir or default_staging_root(settings),
            progress=progress,
            flow_run_id=current_flow_run_id(),
            extract=extract,
        )
