"""`session-audit serve`: not built yet (issue 4)."""

from __future__ import annotations

from session_audit.cli.app import app, fail


@app.command(
    "serve",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def serve() -> None:
    """Not built yet (issue 4): exits non-zero."""
    fail("'serve' is not built yet (issue 4)")
