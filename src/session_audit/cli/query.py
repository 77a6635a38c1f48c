"""`session-audit query`: not built yet (issue 5)."""

from __future__ import annotations

from session_audit.cli.app import app, fail


@app.command(
    "query",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def query() -> None:
    """Not built yet (issue 5): exits non-zero."""
    fail("'query' is not built yet (issue 5)")
