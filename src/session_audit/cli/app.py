"""The Typer application and the one place where errors become exit codes.

Command modules (``session_audit.cli.<command>``) register themselves on :data:`app`. They import
heavy libraries (polars, duckdb, prefect) inside the command body, so ``session-audit --help`` and
the plain ingest path stay fast.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from session_audit.errors import ConfigError, SessionAuditError

app = typer.Typer(
    name="session-audit",
    help="Pull Tradovate login-session records into DuckDB for compliance and risk analysis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print a one-line error to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run_app(argv: list[str] | None = None) -> int:
    """Run the CLI; translate our errors into a one-line message and an exit code."""
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:  # click's standalone mode: usage errors, typer.Exit, success
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_FAILED)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_USAGE
    except SessionAuditError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_FAILED
    return EXIT_OK


def main() -> None:
    sys.exit(run_app())
