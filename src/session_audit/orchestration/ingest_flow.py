"""The body of the ``ingest_sessions`` flow (the flow itself, in ``flows/``, only declares its
parameters and calls :func:`ingest_flow_body`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from session_audit.errors import ConfigError
from session_audit.ingest.runner import IdSource, IngestSummary, ingest
from session_audit.orchestration.artifacts import publish_ingest_artifacts
from session_audit.orchestration.local import current_local_run, resolve_settings
from session_audit.orchestration.tasks import prefect_step_call


def resolve_source(
    *, start_id: int | None, ids: list[int] | None, ids_file: str | None
) -> IdSource:
    """The id source of a flow run: ``ids``, ``ids_file``, the in-process caller's source, or a
    range scan from ``start_id`` (None: the stored cursor)."""
    given = [
        name
        for name, value in (("start_id", start_id), ("ids", ids), ("ids_file", ids_file))
        if value is not None
    ]
    if len(given) > 1:
        raise ConfigError(f"give at most one id source, got {' and '.join(given)}")
    if ids is not None:
        return IdSource(kind="ids", ids=tuple(ids))
    if ids_file is not None:
        from session_audit.ingest.sources import read_ids_file

        return IdSource(kind="ids", ids=tuple(read_ids_file(ids_file)))
    if start_id is None:
        local = current_local_run().source
        if local is not None:
            return local
    return IdSource(kind="scan", start_id=start_id)


def summary_to_dict(summary: IngestSummary) -> dict[str, Any]:
    """The flow's return value: the run summary as plain JSON-able data."""
    return dataclasses.asdict(summary)


def summary_from_dict(data: dict[str, Any]) -> IngestSummary:
    names = {f.name for f in dataclasses.fields(IngestSummary)}
    return IngestSummary(**{k: v for k, v in data.items() if k in names})


def current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    value = flow_run.id
    return str(value) if value else None


async def ingest_flow_body(
    *,
    base_url: str | None = None,
    start_id: int | None = None,
    ids: list[int] | None = None,
    ids_file: str | None = None,
    batch_size: int | None = None,
    concurrency: int | None = None,
    db: Path | None = None,
    org: str | None = None,
) -> dict[str, Any]:
    """Read Settings once, run the ingest with each step as a task run, publish artifacts."""
    settings = resolve_settings(
        base_url=base_url, batch_size=batch_size, concurrency=concurrency, db=db, org=org
    )
    source = resolve_source(start_id=start_id, ids=ids, ids_file=ids_file)
    summary = await ingest(
        settings,
        source,
        call=prefect_step_call,
        progress=current_local_run().progress,
        flow_run_id=current_flow_run_id(),
    )
    await publish_ingest_artifacts(summary, db=str(settings.db))
    return summary_to_dict(summary)
