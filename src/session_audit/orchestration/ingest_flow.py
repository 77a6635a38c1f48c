"""The ``ingest_sessions`` flow's work, and that flow run from this process.

:func:`ingest_in_flow` is what every ``ingest_sessions`` flow run does with the Settings, id
source and :class:`~session_audit.scale.executors.ExecutionPlan` it is handed: the ``drive``
loop (``inline``: each step one task run; ``threads``/``dask``: the staged driver, each
extraction chunk one task run, see ``orchestration.tasks``), then the run's artifacts and
findings alert. Two callers hand them over, nothing is looked up from globals:

* the deployment entry ``flows/ingest_sessions.py`` (imported by nothing here) builds them from
  its parameters and the environment (credentials never are parameters);
* :func:`run_ingest_flow` (``session-audit ingest`` with ``PREFECT_API_URL`` set, the demo, tests)
  already holds them, credentials and an in-process transport included, so it runs a flow of the
  same name whose body closes over them; its parameters only show them (small, never secret).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from session_audit.ingest.runner import IdSource, IngestSummary, ProgressSink, ingest
from session_audit.orchestration.artifacts import publish_findings, publish_ingest_artifacts
from session_audit.orchestration.prefect_server import prefect_api
from session_audit.orchestration.tasks import PrefectSteps, TaskRunTally, task_runner_pool
from session_audit.scale.driver import ingest_staged
from session_audit.scale.executors import ExecutionPlan
from session_audit.scale.staging import StagedChunk
from session_audit.scale.worker import extract_chunk
from session_audit.settings import Settings

FLOW_NAME = "ingest_sessions"


async def ingest_in_flow(
    settings: Settings,
    source: IdSource,
    plan: ExecutionPlan,
    *,
    progress: ProgressSink | None = None,
    extract: Callable[..., StagedChunk] = extract_chunk,
    tally: TaskRunTally | None = None,
) -> IngestSummary:
    """Run the ingest inside the current flow run (steps or chunks as task runs), then publish
    its artifacts and alert its new findings. ``extract`` runs a staged chunk."""
    flow_run_id = str(flow_run.id) if flow_run.id else None
    tally = tally or TaskRunTally()
    if plan.executor == "inline":
        summary = await ingest(
            settings,
            source,
            call=PrefectSteps(tally),
            progress=progress,
            flow_run_id=flow_run_id,
            transport=plan.transport,
        )
    else:
        with task_runner_pool(plan, tally) as pool:
            summary = await ingest_staged(
                settings,
                source,
                plan,
                pool,
                progress=progress,
                flow_run_id=flow_run_id,
                extract=extract,
            )
    await publish_ingest_artifacts(summary, db=str(settings.db))
    if summary.findings is not None:
        await publish_findings(summary.findings, alert_block=settings.alert_block)
    return summary


def flow_parameters(settings: Settings, source: IdSource, plan: ExecutionPlan) -> dict[str, Any]:
    """The parameters an in-process flow run shows in Prefect: small and never secret."""
    params: dict[str, Any] = {
        "base_url": settings.base_url,
        "db": str(settings.db),
        "org": settings.org,
        "batch_size": settings.batch_size,
        "concurrency": settings.concurrency,
    }
    if source.kind == "scan" and source.start_id is not None:
        params["start_id"] = source.start_id
    return {**params, **plan.parameters()}


class _Handed:
    """What :func:`run_ingest_flow` hands to its flow run: the run's work. It never leaves this
    process: when Prefect ships the flow run's context (the flow and its closure) to Dask
    workers, it pickles as an empty one (credentials and callbacks stay here; workers only run
    chunk tasks)."""

    def __init__(self, work: Callable[[], Awaitable[IngestSummary]] | None = None) -> None:
        self.work = work

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Handed, ())


def run_ingest_flow(
    settings: Settings,
    source: IdSource,
    plan: ExecutionPlan | None = None,
    *,
    progress: ProgressSink | None = None,
    extract: Callable[..., StagedChunk] = extract_chunk,
    tally: TaskRunTally | None = None,
) -> IngestSummary:
    """Run an ``ingest_sessions`` flow run in this process and return its summary.

    The Prefect API is the configured one, else a local server for the call (see
    ``prefect_server.prefect_api``; ``tally`` counts the task runs for a caller that holds its
    own). Prepare Prefect's environment before importing this module (``environment``). Raises
    the run's :class:`~session_audit.errors.SessionAuditError` when it fails, as the plain path
    does.
    """
    plan, tally = plan or ExecutionPlan(), tally or TaskRunTally()
    work = functools.partial(
        ingest_in_flow, settings, source, plan, progress=progress, extract=extract, tally=tally
    )
    handed = _Handed(work)

    async def body(**parameters: Any) -> dict[str, Any]:
        del parameters  # they only show what the run was handed
        assert handed.work is not None, "handed over in-process only"
        return (await handed.work()).as_dict()

    in_process = flow(name=FLOW_NAME, log_prints=False, persist_result=False)(body)
    with prefect_api(tally=tally):
        result = asyncio.run(in_process(**flow_parameters(settings, source, plan)))
    return IngestSummary.from_dict(result)
