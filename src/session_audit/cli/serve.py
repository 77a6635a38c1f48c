"""`session-audit serve`: run the scheduled deployments (ingest, daily audit) in this process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from session_audit.cli.app import app


@app.command("serve")
def serve(
    ingest_cron: Annotated[
        str | None, typer.Option(help="cron of ingest_sessions [env SESSION_AUDIT_INGEST_CRON]")
    ] = None,
    daily_audit_cron: Annotated[
        str | None,
        typer.Option(help="cron of daily_audit [env SESSION_AUDIT_DAILY_AUDIT_CRON]"),
    ] = None,
    daily_audit: Annotated[
        bool, typer.Option("--daily-audit/--no-daily-audit", help="also serve daily_audit")
    ] = True,
    db: Annotated[Path | None, typer.Option(help="DuckDB file [env SESSION_AUDIT_DB]")] = None,
) -> None:
    """Serve the flows with cron schedules until Ctrl-C.

    Uses the Prefect server at PREFECT_API_URL when set (runs appear in its UI); otherwise a local
    one with its state under the data dir, running while this command runs.
    """
    from session_audit.orchestration.environment import prepare_prefect_env
    from session_audit.settings import load_settings

    settings = load_settings(ingest_cron=ingest_cron, daily_audit_cron=daily_audit_cron, db=db)
    if db is not None:
        # Scheduled runs read their Settings from this environment at each run's entry.
        os.environ["SESSION_AUDIT_DB"] = str(db)
    prepare_prefect_env(os.environ, settings.db.parent)

    from session_audit.orchestration.serve import schedule_specs, serve_schedules

    specs = schedule_specs(settings, daily_audit=daily_audit)
    for spec in specs:
        typer.echo(f"serving {spec.flow} as {spec.name!r} on cron {spec.cron!r}")
    try:
        serve_schedules(settings, daily_audit=daily_audit)
    except KeyboardInterrupt:
        typer.echo("stopped")
