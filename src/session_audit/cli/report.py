"""`session-audit report --out FILE.html [--since --until] [--template FILE]`: one
self-contained HTML report with charts, for all data or a period (e.g. a quarter)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from session_audit.cli.app import app


@app.command("report")
def report(
    out: Annotated[Path, typer.Option("--out", help="HTML file to write")],
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB file (default: settings)")] = None,
    org: Annotated[str | None, typer.Option("--org", help="only this organisation")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="period from UTC date/time (incl.)")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="period before UTC date/time (excl.)")
    ] = None,
    template: Annotated[
        Path | None,
        typer.Option(
            "--template",
            help='Jinja2 template, usually {% extends "report.html.j2" %} with a letterhead',
        ),
    ] = None,
) -> None:
    """Write an offline HTML report: findings, logins, app versions, shared IPs, concurrency,
    risk; with --since/--until every figure is computed over that period."""
    from session_audit.analysis.filters import ExportFilters, parse_when
    from session_audit.analysis.report import write_report
    from session_audit.db.connection import connect
    from session_audit.settings import load_settings

    period = ExportFilters(since=parse_when(since, "--since"), until=parse_when(until, "--until"))
    if template is not None and not template.is_file():
        from session_audit.errors import ConfigError

        raise ConfigError(f"--template {template} is not a file")
    settings = load_settings(db=db)
    conn = connect(settings.db, read_only=True)
    try:
        path = write_report(
            conn,
            out,
            org=org,
            source=str(settings.db),
            open_session_hours=settings.open_session_hours,
            since=period.since,
            until=period.until,
            template=template,
        )
    finally:
        conn.close()
    typer.echo(f"report written to {path}")
