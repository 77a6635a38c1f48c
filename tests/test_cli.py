"""The CLI shell: every command listed, fast start-up, one-line errors for user mistakes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from session_audit.cli import run_app

COMMANDS = ("demo", "simulate", "ingest", "query", "export", "verify", "report", "serve")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_importing_the_cli_loads_no_heavy_library() -> None:
    """`session-audit --help` and the plain ingest's start-up stay light: settings, polars,
    duckdb and prefect load only inside the command that uses them."""
    code = (
        "import sys, session_audit.cli; "
        "print(sorted(m for m in ('prefect', 'polars', 'duckdb', 'pydantic_settings', 'httpx')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_bad_flag_is_a_usage_error_without_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "session_audit", "ingest", "--batch-size", "0"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--batch-size" in done.stderr
