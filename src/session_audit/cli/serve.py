"""`session-audit serve`: run the scheduled deployments (ingest, daily audit) in this process.

Without ``PREFECT_API_URL`` it starts Prefect's own server (``prefect server start``) on
127.0.0.1 at ``--prefect-port`` / ``SESSION_AUDIT_PREFECT_PORT`` (default 4200) for as long as it
runs, and prints the UI address and the ``export PREFECT_API_URL=...`` line for Prefect's CLI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from session_audit.cli.app import app


@app.command("serve")
def serve(
    ingest_cron: Annotated[str | None, typer.Option(help="cron of ingest_sessions (UTC)")] = None,
    daily_audit_cron: Annotated[str | None, typer.Option(help="cron of daily_audit (UTC)")] = None,
    daily_audit: Annotated[
        bool, typer.Option("--daily-audit/--no-daily-audit", help="also serve daily_audit")
    ] = True,
    db: Annotated[Path | None, typer.Option(help="DuckDB file")] = None,
    prefect_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="port of the local Prefect server (API and UI) on 127.0.0.1; unused when "
            "PREFECT_API_URL is set",
        ),
    ] = None,
) -> None:
    """Serve the flows with cron schedules until Ctrl-C (or SIGTERM).

    Uses the Prefect server at PREFECT_API_URL when set (runs appear in its UI); otherwise starts
    `prefect server start` on 127.0.0.1:PORT with its state under the data dir (log in
    data/prefect/server.log), running while this command runs. The ingest and the daily audit
    share one concurrency slot: when both fall due, one waits for the other.
    """
    from session_audit.orchestration.environment import prepare_prefect_env
    from session_audit.settings import load_settings

    settings = load_settings(
        ingest_cron=ingest_cron,
        daily_audit_cron=daily_audit_cron,
        db=db,
        prefect_port=prefect_port,
    )
    if db is not None:
        # Scheduled runs read their Settings from this environment at each run's entry.
        os.environ["SESSION_AUDIT_DB"] = str(db)
    prepare_prefect_env(os.environ, settings.db.parent)

    from session_audit.orchestration.schedules import schedule_specs, serve_schedules

    specs = schedule_specs(settings, daily_audit=daily_audit)
    for spec in specs:
        typer.echo(f"serving {spec.flow} as {spec.name!r} on cron {spec.cron!r}")
    serve_schedules(specs, port=settings.prefect_port, announce=typer.echo)
    typer.echo("stopped")
