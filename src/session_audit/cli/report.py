"""`session-audit report`: not built yet (issue 5)."""

from __future__ import annotations

from session_audit.cli.app import app, fail


@app.command(
    "report",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def report() -> None:
    """Not built yet (issue 5): exits non-zero."""
    fail("'report' is not built yet (issue 5)")
