"""Command-line interface: ``session-audit COMMAND``.

Each command lives in its own module and registers on the shared Typer app when imported here.
"""

from __future__ import annotations

from session_audit.cli import (  # noqa: F401  (imported for their @app.command side effect)
    check,
    demo,
    export,
    findings,
    ingest,
    keygen,
    query,
    report,
    serve,
    simulate,
    verify,
)
from session_audit.cli.app import app, main, run_app

__all__ = ["app", "main", "run_app"]
