"""Run the ``ingest_sessions`` flow from this process and get its summary back.

Used by ``session-audit ingest`` when a Prefect server is configured (the run is recorded as a
flow run there) and by the demo (an ephemeral server, started and stopped cleanly). Call
:func:`~session_audit.orchestration.environment.prepare_prefect_env` before the first prefect
import, or pass ``env`` here and let this do it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from session_audit.errors import ConfigError
from session_audit.ingest.runner import IdSource, IngestSummary, ProgressSink
from session_audit.orchestration.environment import prepare_prefect_env
from session_audit.settings import Settings


def flow_parameters(settings: Settings, source: IdSource) -> dict[str, Any]:
    """The flow parameters shown in Prefect for an in-process run: small and never secret (the
    Settings themselves, credentials included, reach the flow in-process)."""
    params: dict[str, Any] = {
        "base_url": settings.base_url,
        "db": str(settings.db),
        "org": settings.org,
        "batch_size": settings.batch_size,
        "concurrency": settings.concurrency,
    }
    if source.kind == "scan" and source.start_id is not None:
        params["start_id"] = source.start_id
    return params


@contextmanager
def prefect_session(*, scheduler: bool = False) -> Iterator[str]:
    """A Prefect API for the block (configured, or local and cleanly stopped; ``scheduler``:
    a local server that also creates the runs of cron schedules)."""
    from session_audit.orchestration.server import prefect_api
    from session_audit.orchestration.tasks import task_runs_started

    baseline = task_runs_started()
    with prefect_api(
        expected_task_runs=lambda: task_runs_started() - baseline, scheduler=scheduler
    ) as url:
        yield url


def executor_parameters(
    executor: str,
    *,
    dask_address: str | None = None,
    dask_workers: int | None = None,
    staging_dir: str | None = None,
) -> dict[str, Any]:
    """The flow parameters of the fan-out (none for the default inline loop)."""
    if executor == "inline":
        if (dask_address, dask_workers, staging_dir) != (None, None, None):
            raise ConfigError(
                "--dask-address, --dask-workers and --staging-dir need --executor threads|dask"
            )
        return {}
    params: dict[str, Any] = {"executor": executor}
    for name, value in (
        ("dask_address", dask_address),
        ("dask_workers", dask_workers),
        ("staging_dir", staging_dir),
    ):
        if value is not None:
            params[name] = value
    return params


def run_ingest_flow(
    settings: Settings,
    source: IdSource,
    *,
    progress: ProgressSink | None = None,
    env: MutableMapping[str, str] | None = None,
    executor: str = "inline",
    dask_address: str | None = None,
    dask_workers: int | None = None,
    staging_dir: str | None = None,
) -> IngestSummary:
    """Run ``ingest_sessions`` as a Prefect flow run and return its summary.

    ``executor="threads"|"dask"``: the flow runs the staged driver with the task runner of
    ``chunk_tasks.task_runner_for`` (a ``ThreadPoolTaskRunner``, or prefect-dask's
    ``DaskTaskRunner`` on ``dask_address`` or a LocalCluster of ``dask_workers`` processes).

    Raises the run's :class:`~session_audit.errors.SessionAuditError` when it fails (the ledger
    row and the flow run both record the failure), as the plain path does.
    """
    params = flow_parameters(settings, source)
    params.update(
        executor_parameters(
            executor, dask_address=dask_address, dask_workers=dask_workers, staging_dir=staging_dir
        )
    )
    if env is not None:
        prepare_prefect_env(env, settings.db.parent, quiet=True)
    from flows.ingest_sessions import ingest_sessions

    from session_audit.orchestration.ingest_flow import summary_from_dict
    from session_audit.orchestration.local import local_run

    flow = ingest_sessions
    if executor != "inline":
        from session_audit.orchestration.chunk_tasks import task_runner_for

        runner = task_runner_for(executor, workers=dask_workers, address=dask_address)
        flow = ingest_sessions.with_options(task_runner=runner)

    with (
        local_run(settings=settings, source=source, progress=progress),
        prefect_session(),
    ):
        result = asyncio.run(flow(**params))
    return summary_from_dict(result)
