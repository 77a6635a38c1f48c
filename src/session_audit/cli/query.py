"""`session-audit query "SQL"`: ad-hoc read-only SQL, printed as a table, CSV or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from session_audit.cli.app import app
from session_audit.errors import ConfigError


@app.command("query")
def query(
    sql: Annotated[str, typer.Argument(help='SQL, e.g. "SELECT * FROM login_history"')],
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB file (default: settings)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    lock_timeout: Annotated[
        float,
        typer.Option(
            min=0, help="seconds to wait while an ingest commits a checkpoint to the file"
        ),
    ] = 10.0,
) -> None:
    """Run read-only SQL on the database (tables and views; nothing can be changed)."""
    from session_audit.analysis.query import QUERY_FORMATS, run_query, to_csv, to_json

    if fmt not in QUERY_FORMATS:
        raise ConfigError(f"--format {fmt!r}: use one of {', '.join(QUERY_FORMATS)}")
    from session_audit.settings import load_settings

    settings = load_settings(db=db)
    result = run_query(settings.db, sql, lock_timeout=lock_timeout)
    if fmt == "csv":
        typer.echo(to_csv(result), nl=False)
    elif fmt == "json":
        typer.echo(to_json(result))
    else:
        _print_table(result)


def _print_table(result: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from session_audit.analysis.query import QueryResult, plain_text

    assert isinstance(result, QueryResult)
    table = Table(show_lines=False, header_style="bold")
    for name in result.columns:
        table.add_column(name, overflow="fold")
    for row in result.rows:
        table.add_row(*(("NULL" if v is None else plain_text(v)) for v in row))
    console = Console()
    console.print(table)
    console.print(f"{len(result.rows)} row(s)", style="dim")
