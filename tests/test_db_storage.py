"""The database file opens in the DuckDB 1.x CLI (issue 11, item 6).

``connect`` creates new files in storage format ``STORAGE_VERSION``: the file header's version
number is one that DuckDB 1.5.x reads (64-68; DuckDB 2.x's default format is not). With a DuckDB
1.x CLI at hand (``DUCKDB_CLI=/path/to/duckdb``, the ``duckdb`` on PATH, or the ``duckdb-cli``
PyPI package installed), the ingested file is opened by it and every view is queried.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from session_audit.db.connection import STORAGE_VERSION, connect
from session_audit.ingest.runner import IdSource, run_ingest
from support import make_sim, sim_settings

#: Storage version numbers the DuckDB 1.5.x CLI reads ("between 64 and 68").
READABLE_BY_1X = range(64, 69)


def _header_version(path: Path) -> int:
    head = path.read_bytes()[:20]
    assert head[8:12] == b"DUCK", head
    version: int = struct.unpack("<Q", head[12:20])[0]
    return version


def _cli() -> str | None:
    given = os.environ.get("DUCKDB_CLI")
    if given:
        return given
    spec = importlib.util.find_spec("duckdb_cli")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "duckdb"
        if bundled.is_file():
            return str(bundled)
    return shutil.which("duckdb")


def _ingested(tmp_path: Path) -> Path:
    sim = make_sim(users=20, sessions=300, seed=9)
    db = tmp_path / "s.duckdb"
    source = IdSource("scan", start_id=sim.table.ids[0])
    summary = run_ingest(sim_settings(sim, db), source, transport=sim.transport())
    assert summary.status == "completed", summary.error
    return db


def test_a_new_file_is_written_in_a_format_duckdb_1x_reads(tmp_path: Path) -> None:
    db = _ingested(tmp_path)
    assert _header_version(db) in READABLE_BY_1X
    with connect(db, read_only=True) as conn:
        setting = conn.execute("SELECT current_setting('storage_compatibility_version')")
        assert setting.fetchone() == (STORAGE_VERSION,)


def test_the_duckdb_1x_cli_opens_the_file_and_every_view(tmp_path: Path) -> None:
    cli = _cli()
    if cli is None:
        pytest.skip("no DuckDB CLI here (set DUCKDB_CLI or install the duckdb-cli package)")
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True)
    if not version.stdout.startswith("v1."):
        pytest.skip(f"the DuckDB CLI here is not 1.x: {version.stdout.strip()}")
    db = _ingested(tmp_path)
    with connect(db, read_only=True) as conn:
        views = [v for (v,) in conn.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"
        ).fetchall()]  # fmt: skip
        expected = {v: conn.execute(f'SELECT count(*) FROM "{v}"').fetchone() for v in views}
        sessions = conn.execute("SELECT count(*) FROM user_sessions").fetchone()
    assert views and sessions is not None
    sql = "".join(f"SELECT '{v}', count(*) FROM \"{v}\";" for v in views)
    done = subprocess.run(
        [
            cli,
            "-readonly",
            "-csv",
            "-noheader",
            str(db),
            f"SELECT count(*) FROM user_sessions;{sql}",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == str(sessions[0])
    got = dict(line.split(",", 1) for line in lines[1:])
    assert got == {v: str(count[0]) for v, count in expected.items() if count is not None}
