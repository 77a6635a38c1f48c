"""`session-audit query "SQL"`: ad-hoc read-only SQL, printed as a table, CSV or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from session_audit.cli.app import app
from session_audit.errors import ConfigError

if TYPE_CHECKING:
    from session_audit.analysis.query import QueryResult


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
    from session_audit.analysis.query import QUERY_FORMATS, run_query

    if fmt not in QUERY_FORMATS:
        raise ConfigError(f"--format {fmt!r}: use one of {', '.join(QUERY_FORMATS)}")
    from session_audit.settings import load_settings

    settings = load_settings(db=db)
    result = run_query(settings.db, sql, lock_timeout=lock_timeout)
    echo_result(result, fmt)


def echo_result(
    result: QueryResult,
    fmt: str,
    *,
    columns: Sequence[str] | None = None,
    null: str = "NULL",
    noun: str = "row(s)",
) -> None:
    """Print a query result as CSV, JSON or a table (the table shows ``columns`` only, when
    given, and ``null`` for NULL): the output of `query` and `findings`."""
    from session_audit.analysis.query import to_csv, to_json

    if fmt == "csv":
        typer.echo(to_csv(result), nl=False)
    elif fmt == "json":
        typer.echo(to_json(result))
    else:
        _print_table(result, columns, null, noun)


def _print_table(result: QueryResult, columns: Sequence[str] | None, null: str, noun: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from session_audit.analysis.query import plain_text

    shown = list(columns) if columns is not None else list(result.columns)
    index = [result.columns.index(c) for c in shown if c in result.columns]
    table = Table(show_lines=False, header_style="bold")
    for i in index:
        table.add_column(result.columns[i], overflow="fold")
    for row in result.rows:
        table.add_row(*((null if row[i] is None else plain_text(row[i])) for i in index))
    console = Console()
    console.print(table)
    console.print(f"{len(result.rows)} {noun}", style="dim")
