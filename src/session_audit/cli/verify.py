"""`session-audit verify`: not built yet (issue 5)."""

from __future__ import annotations

from session_audit.cli.app import app, fail


@app.command(
    "verify",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def verify() -> None:
    """Not built yet (issue 5): exits non-zero."""
    fail("'verify' is not built yet (issue 5)")
