"""``session-audit demo`` as a newcomer runs it: a subprocess, an empty HOME, a fresh directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from session_audit.db.connection import connect
from session_audit.db.views import VIEWS
from session_audit.demo_pipeline import DemoOptions, reset_outputs

TABLES = {"user_sessions", "rejected_sessions", "users", "user_session_stats", "ingest_runs",
          "ingest_state"}  # fmt: skip


def _demo_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "SESSION_AUDIT_")) and k != "DO_NOT_TRACK"
    }
    env["HOME"] = str(home)
    return env


@pytest.mark.slow
def test_demo_first_run_with_empty_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "clone"
    work.mkdir()
    exe = Path(sys.executable).parent / "session-audit"
    proc = subprocess.run(
        [str(exe), "demo", "--users", "300", "--sessions", "8000", "--no-progress"],
        cwd=work,
        env=_demo_env(home),
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    assert "ERROR" not in output
    assert "sessions stored" in output and "session-audit query" in output

    data = work / "data"
    db = data / "demo.duckdb"
    with connect(db, read_only=True) as conn:
        names = {
            (name, kind)
            for name, kind in conn.execute(
                "SELECT table_name, table_type FROM information_schema.tables"
            ).fetchall()
        }
        sessions = conn.execute("SELECT count(*) FROM user_sessions").fetchone()
        runs = conn.execute("SELECT status, flow_run_id FROM ingest_runs").fetchall()
    assert {(t, "BASE TABLE") for t in TABLES} <= names
    assert {(v, "VIEW") for v in VIEWS} <= names
    # the demo's first run fetches the last 30 of 60 days (--since): about half of the 8,000
    assert sessions is not None and 3_000 < sessions[0] < 5_500
    assert len(runs) == 1 and runs[0][0] == "completed" and runs[0][1]

    # Prefect's state stayed in the project, not in HOME
    assert (data / "prefect").is_dir()
    assert not any(home.iterdir()), list(home.iterdir())
    assert (data / "demo-report.html").stat().st_size > 1000
    exports = data / "demo-exports"
    assert (exports / "login_history-csv" / "manifest.json").is_file()
    verify = subprocess.run(
        [str(exe), "verify", str(exports / "login_history-parquet")],
        cwd=work,
        env=_demo_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_reset_outputs_removes_only_earlier_demo_files(tmp_path: Path) -> None:
    options = DemoOptions(data_dir=tmp_path / "data")
    options.exports.joinpath("login_history-csv").mkdir(parents=True)
    options.exports.joinpath("login_history-csv", "x.csv").write_text("a\n")
    options.db.write_bytes(b"old")
    options.report.write_text("<html>")
    keep = options.data_dir / "sessions.duckdb"
    keep.write_bytes(b"production data")
    prefect_home = options.data_dir / "prefect"
    prefect_home.mkdir()

    reset_outputs(options)

    assert not options.db.exists() and not options.report.exists()
    assert not options.exports.exists()
    assert keep.read_bytes() == b"production data"
    assert prefect_home.is_dir()
