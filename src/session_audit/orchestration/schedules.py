"""``session-audit serve``: the flows as scheduled deployments served by this process.

Schedules come from Settings (``ingest_cron``, ``daily_audit_cron``). Scheduled runs read their
Settings, credentials included, from this process's environment and ``.env`` at each run's entry;
no secret is ever a deployment parameter.

One DuckDB writer at a time: both deployments write the same file, so they share ONE Prefect
global concurrency limit, :data:`WRITER_LIMIT` (1 slot), instead of one limit each. When the
half-hourly ingest and the daily audit fall due together, one runs and the other waits in
``AwaitingConcurrencySlot`` (Prefect's ENQUEUE strategy) until the first finishes; neither
fails on the database lock. The link is made through Prefect's REST API (a deployment's
``global_concurrency_limit_id``) right after the deployments are registered.

The flows are the deployment entry points of the top-level ``flows`` package, loaded by module
path as a Prefect worker loads them (nothing here imports them). The Prefect API is
:func:`~session_audit.orchestration.prefect_server.prefect_api`'s: the one at
``PREFECT_API_URL``, or a local ``prefect server start`` on ``settings.prefect_port``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from session_audit.errors import ConfigError
from session_audit.settings import Settings

INGEST_DEPLOYMENT = "ingest-sessions"
DAILY_AUDIT_DEPLOYMENT = "daily-audit"
#: The global concurrency limit shared by every deployment that writes the DuckDB file.
WRITER_LIMIT = "session-audit-db-writer"
#: Slots of :data:`WRITER_LIMIT` (and each deployment's own ``concurrency_limit``: the two must
#: be equal, or registering a deployment again would resize the shared limit).
WRITER_SLOTS = 1


@dataclass(frozen=True)
class ScheduleSpec:
    """One deployment to serve: which flow (``flows.<flow>.<flow>``), its name, its cron."""

    flow: str  # "ingest_sessions" | "daily_audit"
    name: str
    cron: str
    description: str


def check_cron(cron: str, *, field: str) -> str:
    """Validate a cron expression (5 fields, as Prefect's CronSchedule accepts)."""
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
    except ValueError as exc:
        raise ConfigError(f"{field}: not a valid cron expression: {cron!r}") from exc
    return cron


def schedule_specs(settings: Settings, *, daily_audit: bool = True) -> list[ScheduleSpec]:
    """The deployments ``serve`` publishes, validated."""
    ingest = ScheduleSpec(
        flow="ingest_sessions",
        name=INGEST_DEPLOYMENT,
        cron=check_cron(settings.ingest_cron, field="ingest_cron"),
        description="Fetch new and still-open login sessions into DuckDB.",
    )
    if not daily_audit:
        return [ingest]
    audit = ScheduleSpec(
        flow="daily_audit",
        name=DAILY_AUDIT_DEPLOYMENT,
        cron=check_cron(settings.daily_audit_cron, field="daily_audit_cron"),
        description="Ingest, then write the compliance exports with their manifest.",
    )
    return [ingest, audit]


def build_deployments(specs: list[ScheduleSpec]) -> list[Any]:
    """Prefect RunnerDeployments for ``specs`` (flows loaded by module path, so they run from
    any working directory once the package is installed)."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.types.entrypoint import EntrypointType

    return [
        load_flow_from_entrypoint(
            f"flows.{spec.flow}.{spec.flow}", use_placeholder_flow=False
        ).to_deployment(
            name=spec.name,
            cron=spec.cron,
            concurrency_limit=WRITER_SLOTS,
            description=spec.description,
            tags=["session-audit"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for spec in specs
    ]


def share_writer_limit(client: Any, deployment_ids: Sequence[UUID]) -> None:
    """Make the deployments ``deployment_ids`` share the :data:`WRITER_LIMIT` global concurrency
    limit (created with :data:`WRITER_SLOTS` slots if missing) instead of a limit each; the
    per-deployment limit Prefect created for each is deleted. ``client`` is a sync Prefect client
    (its ``request`` raises on an HTTP error status). Idempotent."""
    from prefect.exceptions import ObjectNotFound

    client.upsert_global_concurrency_limit_by_name(WRITER_LIMIT, WRITER_SLOTS)
    shared = client.read_global_concurrency_limit_by_name(WRITER_LIMIT)
    for deployment_id in deployment_ids:
        current = client.read_deployment(deployment_id).global_concurrency_limit
        if current is not None and current.id == shared.id:
            continue
        client.request(
            "PATCH",
            "/deployments/{id}",
            path_params={"id": str(deployment_id)},
            json={"global_concurrency_limit_id": str(shared.id)},
        )
        if current is not None and current.name == f"deployment:{deployment_id}":
            with suppress(ObjectNotFound):
                client.delete_global_concurrency_limit_by_name(current.name)


def serve_schedules(
    specs: list[ScheduleSpec], *, port: int, announce: Callable[[str], None] = print
) -> None:
    """Publish the deployments of ``specs`` (:func:`schedule_specs`) and run their scheduled
    flow runs until interrupted (Ctrl-C or SIGTERM: the schedules are paused, the local server,
    if any, stopped); a local server listens on ``port`` (setting ``prefect_port``).

    ``announce`` receives the lines a person needs: the UI address, the ``export
    PREFECT_API_URL=...`` line for Prefect's own CLI, and how to start a run by hand.
    """
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    from session_audit.orchestration.prefect_server import prefect_api

    deployments = build_deployments(specs)
    # Until the runner installs its own handler, SIGTERM unwinds like Ctrl-C (so a local server
    # is stopped, not orphaned): Python's own SIGINT handler, which raises KeyboardInterrupt.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with prefect_api(port=port) as endpoint:
            runner = Runner(name="session-audit", pause_on_shutdown=True)
            ids: list[UUID] = [runner.add_deployment(d) for d in deployments]  # type: ignore[misc]
            with get_client(sync_client=True) as client:
                share_writer_limit(client, ids)
            where = "local Prefect server" if endpoint.local else "Prefect server"
            announce(f"{where}: API {endpoint.api_url}")
            if endpoint.ui_url:
                announce(f"Prefect UI: {endpoint.ui_url}")
            announce("for Prefect's CLI in another shell:")
            announce(f"  export PREFECT_API_URL={endpoint.api_url}")
            for spec in specs:
                announce(f"  prefect deployment run '{spec.flow}/{spec.name}'")
            announce(f"runs of {', '.join(s.name for s in specs)} share the {WRITER_LIMIT!r} limit")
            with suppress(KeyboardInterrupt, TerminationSignal):
                asyncio.run(runner.start())
    finally:
        signal.signal(signal.SIGTERM, previous)
