"""Prefect orchestration: environment, flows run in-process, schedules (issue 4).

Importing this package does not import prefect: ``should_use_prefect`` and
``prepare_prefect_env`` are cheap; ``run_ingest_flow`` imports prefect when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from session_audit.orchestration.environment import (
    prefect_home_for,
    prepare_prefect_env,
    should_use_prefect,
)

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from session_audit.ingest.runner import IdSource, IngestSummary, ProgressSink
    from session_audit.settings import Settings


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
    """Run the ``ingest_sessions`` flow in this process (see ``orchestration.run``);
    ``executor="threads"|"dask"`` fans the extraction chunks out as task runs."""
    from session_audit.orchestration.run import run_ingest_flow as run

    return run(
        settings,
        source,
        progress=progress,
        env=env,
        executor=executor,
        dask_address=dask_address,
        dask_workers=dask_workers,
        staging_dir=staging_dir,
    )


__all__: list[str] = [
    "prefect_home_for",
    "prepare_prefect_env",
    "run_ingest_flow",
    "should_use_prefect",
]
