"""`session-audit simulate`: not built yet (issue 2)."""

from __future__ import annotations

from session_audit.cli.app import app, fail


@app.command(
    "simulate",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def simulate() -> None:
    """Not built yet (issue 2): exits non-zero."""
    fail("'simulate' is not built yet (issue 2)")
