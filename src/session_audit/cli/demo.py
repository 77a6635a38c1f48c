"""`session-audit demo`: not built yet (issue 4)."""

from __future__ import annotations

from session_audit.cli.app import app, fail


@app.command(
    "demo",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def demo() -> None:
    """Not built yet (issue 4): exits non-zero."""
    fail("'demo' is not built yet (issue 4)")
