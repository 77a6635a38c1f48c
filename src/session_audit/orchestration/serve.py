"""``session-audit serve``: the flows as scheduled deployments served by this process.

Schedules come from Settings (``ingest_cron``, ``daily_audit_cron``). Scheduled runs read their
Settings, credentials included, from this process's environment and ``.env`` at each run's entry;
no secret is ever a deployment parameter. Each deployment runs at most one flow run at a time (one
DuckDB writer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from session_audit.errors import ConfigError
from session_audit.settings import Settings

INGEST_DEPLOYMENT = "ingest-sessions"
DAILY_AUDIT_DEPLOYMENT = "daily-audit"


@dataclass(frozen=True)
class ScheduleSpec:
    """One deployment to serve: which flow, its name, its cron."""

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
    specs = [
        ScheduleSpec(
            flow="ingest_sessions",
            name=INGEST_DEPLOYMENT,
            cron=check_cron(settings.ingest_cron, field="ingest_cron"),
            description="Fetch new and still-open login sessions into DuckDB.",
        )
    ]
    if daily_audit:
        specs.append(
            ScheduleSpec(
                flow="daily_audit",
                name=DAILY_AUDIT_DEPLOYMENT,
                cron=check_cron(settings.daily_audit_cron, field="daily_audit_cron"),
                description="Ingest, then write the compliance exports with their manifest.",
            )
        )
    return specs


def build_deployments(specs: list[ScheduleSpec]) -> list[Any]:
    """Prefect RunnerDeployments for ``specs`` (flows loaded by module path, so they run from
    any working directory once the package is installed)."""
    from flows.daily_audit import daily_audit
    from flows.ingest_sessions import ingest_sessions
    from prefect.types.entrypoint import EntrypointType

    flows: dict[str, Any] = {"ingest_sessions": ingest_sessions, "daily_audit": daily_audit}
    return [
        flows[spec.flow].to_deployment(
            name=spec.name,
            cron=spec.cron,
            concurrency_limit=1,
            description=spec.description,
            tags=["session-audit"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for spec in specs
    ]


def serve_schedules(settings: Settings, *, daily_audit: bool = True) -> None:
    """Publish the deployments and run their scheduled flow runs until interrupted."""
    from prefect import serve

    from session_audit.orchestration.run import prefect_session

    specs = schedule_specs(settings, daily_audit=daily_audit)
    with prefect_session(scheduler=True):
        serve(*build_deployments(specs), print_starting_message=True)
