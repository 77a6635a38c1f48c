"""The Parquet lake (issue 7): user_sessions mirrored by org and month, read back by DuckDB."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import duckdb
import pytest

from session_audit.analysis.lake import MANIFEST, create_lake_view, lake_relation, sync_lake
from session_audit.db.connection import connect
from session_audit.errors import ConfigError
from session_audit.ingest.runner import IdSource, ingest
from session_audit.simulator import Simulator
from support import sim_config, sim_settings

COLUMNS = (
    "id, user_id, start_time, end_time, client_app_id, ip_address, app_id, app_version, "
    "anomalies, first_run_id, last_run_id, loaded_at, updated_at"
)


async def _no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


def _ingest(sim: Simulator, db: Path, org: str, start: bool) -> None:
    source = IdSource("scan", start_id=sim.table.ids[0] if start else None)
    settings = sim_settings(sim, db, org=org)
    asyncio.run(ingest(settings, source, transport=sim.transport(), sleep=_no_sleep))


def _db_rows(db: Path, org: str) -> list[tuple[Any, ...]]:
    with connect(db, read_only=True) as conn:
        return conn.execute(
            "SELECT " + COLUMNS + ", strftime(timezone('UTC', start_time), '%Y-%m')"
            " FROM user_sessions WHERE org = ? ORDER BY id",
            [org],
        ).fetchall()


def _lake_rows(lake: Path, org: str) -> list[tuple[Any, ...]]:
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        create_lake_view(conn, str(lake))
        return conn.execute(
            "SELECT " + COLUMNS + ", month FROM lake_sessions WHERE org = ? ORDER BY id", [org]
        ).fetchall()


def _sync(db: Path, org: str, lake: Path) -> Any:
    with connect(db, read_only=True) as conn:
        return sync_lake(conn, org, str(lake))


@pytest.fixture
def sim() -> Simulator:
    return Simulator(sim_config(users=80, sessions=1500, seed=5, span_days=90))


def test_lake_mirrors_each_org_by_month_and_duckdb_reads_it(sim: Simulator, tmp_path: Path) -> None:
    db, lake = tmp_path / "s.duckdb", tmp_path / "lake"
    _ingest(sim, db, "acme", start=True)
    other = Simulator(sim_config(users=40, sessions=500, seed=6, span_days=30))
    _ingest(other, db, "globex", start=True)

    first = _sync(db, "acme", lake)
    _sync(db, "globex", lake)
    assert first.months_written >= 3 and first.months_unchanged == 0
    assert first.rows_written == len(_db_rows(db, "acme"))
    for org in ("acme", "globex"):
        assert _lake_rows(lake, org) == _db_rows(db, org)  # every column, values exact
    files = sorted(p.relative_to(lake).as_posix() for p in lake.rglob("*.parquet"))
    assert files and all(f.startswith(("org=acme/month=", "org=globex/month=")) for f in files)
    assert all(f.endswith("/sessions.parquet") for f in files)  # one file per partition

    again = _sync(db, "acme", lake)
    assert (again.months_written, again.rows_written) == (0, 0)  # nothing changed


def test_after_the_api_advanced_only_changed_months_are_rewritten(
    sim: Simulator, tmp_path: Path
) -> None:
    db, lake = tmp_path / "s.duckdb", tmp_path / "lake"
    _ingest(sim, db, "acme", start=True)
    first = _sync(db, "acme", lake)
    stamps = {p: p.stat().st_mtime_ns for p in lake.rglob("*.parquet")}
    sim.advance(3 * 3600)  # open sessions close, new sessions start (recent months only)
    _ingest(sim, db, "acme", start=False)
    second = _sync(db, "acme", lake)
    assert 1 <= second.months_written < first.months_written
    untouched = [p for p, t in stamps.items() if p.stat().st_mtime_ns == t]
    assert len(untouched) == first.months_written - second.months_written
    assert _lake_rows(lake, "acme") == _db_rows(db, "acme")


def test_a_sync_that_lost_its_manifest_rewrites_idempotently(
    sim: Simulator, tmp_path: Path
) -> None:
    db, lake = tmp_path / "s.duckdb", tmp_path / "lake"
    _ingest(sim, db, "acme", start=True)
    first = _sync(db, "acme", lake)
    (lake / "org=acme" / MANIFEST).unlink()  # as if killed between partitions and manifest
    redo = _sync(db, "acme", lake)
    assert redo.months_written == first.months_written
    assert _lake_rows(lake, "acme") == _db_rows(db, "acme")  # no duplicate rows


def test_lake_relation_and_bad_org_names(sim: Simulator, tmp_path: Path) -> None:
    db, lake = tmp_path / "s.duckdb", tmp_path / "lake"
    _ingest(sim, db, "acme", start=True)
    _sync(db, "acme", lake)
    with duckdb.connect() as conn:
        rel = lake_relation(conn, str(lake))
        assert {"org", "month", "id", "end_time"} <= set(rel.columns)
    with connect(db, read_only=True) as conn, pytest.raises(ConfigError, match="lake partition"):
        sync_lake(conn, "../escape", str(lake))
