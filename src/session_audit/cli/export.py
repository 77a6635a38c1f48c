"""`session-audit export`: not built yet (issue 5)."""

from __future__ import annotations

from session_audit.cli.app import app, fail


@app.command(
    "export",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def export() -> None:
    """Not built yet (issue 5): exits non-zero."""
    fail("'export' is not built yet (issue 5)")
