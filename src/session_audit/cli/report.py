"""`session-audit report --out FILE.html`: one self-contained HTML report with charts."""

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
) -> None:
    """Write an offline HTML report: logins, app versions, shared IPs, concurrency, risk."""
    from session_audit.analysis.report import write_report
    from session_audit.db.connection import connect
    from session_audit.settings import load_settings

    settings = load_settings(db=db)
    conn = connect(settings.db, read_only=True)
    try:
        path = write_report(
            conn,
            out,
            org=org,
            source=str(settings.db),
            open_session_hours=settings.open_session_hours,
        )
    finally:
        conn.close()
    typer.echo(f"report written to {path}")
