"""`session-audit ingest`: not built yet (issue 3)."""

from __future__ import annotations

from session_audit.cli.app import app, fail


@app.command(
    "ingest",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def ingest() -> None:
    """Not built yet (issue 3): exits non-zero."""
    fail("'ingest' is not built yet (issue 3)")
