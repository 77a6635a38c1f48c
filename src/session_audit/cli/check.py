"""`session-audit check`: run every data check (``sql/checks/*.sql``) on the database.

Each check returns the rows that break one rule. The command prints one line per check, and for
each failing one its name, bad-row count and rule; it exits 0 when every check returns no row
and 1 when one or more do (2 for a usage or settings error). Read-only: it never changes data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from session_audit.cli.app import EXIT_FAILED, app


@app.command("check")
def check(
    db: Annotated[Path | None, typer.Option(help="DuckDB file")] = None,
    lock_timeout: Annotated[
        float | None, typer.Option(min=0, help="seconds to wait while a writer holds the file")
    ] = None,
) -> None:
    """Run every data check in sql/checks on the database; exit 1 when one finds bad rows."""
    from session_audit.db.checks import check_names, check_summary, run_check
    from session_audit.db.connection import connect
    from session_audit.settings import load_settings

    settings = load_settings(db=db, lock_timeout=lock_timeout)
    failing: list[str] = []
    names = check_names()
    with connect(settings.db, read_only=True, lock_timeout=settings.lock_timeout) as conn:
        for name in names:
            rows = len(run_check(conn, name))
            if rows:
                failing.append(name)
                typer.echo(f"FAIL  {name}: {rows:,} row(s): {check_summary(name)}")
            else:
                typer.echo(f"ok    {name}")
    if failing:
        typer.echo(f"{len(failing)} of {len(names)} checks failed: {', '.join(failing)}", err=True)
        raise typer.Exit(EXIT_FAILED)
    typer.echo(f"all {len(names)} checks passed on {settings.db}")
