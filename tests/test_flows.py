"""The Prefect flows run for real, under ONE session-scoped ``prefect_test_harness`` (the
``prefect_harness`` fixture of conftest.py): the in-process flow run against the simulator's
in-process transport (passed in its plan), the deployment entry points of ``flows/`` as a worker
runs them, settings from the environment and the simulator over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from session_audit.db.connection import connect
from session_audit.ingest.runner import IdSource
from session_audit.scale.executors import ExecutionPlan
from session_audit.settings import Settings
from session_audit.simulator import Simulator
from support import assert_db_equals_truth, served, sim_config, sim_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def sim() -> Simulator:
    return Simulator(
        sim_config(
            users=120, sessions=4000, seed=11, max_ids=40, fault_rate=0.02, slow_seconds=0.01
        )
    )


@pytest.fixture
def url(sim: Simulator) -> Iterator[str]:
    """``sim`` over HTTP, for the deployment entry points (they read settings from the env)."""
    with served(sim) as (base_url,):
        yield base_url


def _settings(sim: Simulator, db: Path) -> Settings:
    return sim_settings(sim, db, batch_size=40, checkpoint_ids=1500)


def test_ingest_flow_run_equals_truth_and_is_recorded(
    prefect_harness: None, sim: Simulator, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client

    from session_audit.orchestration.ingest_flow import run_ingest_flow

    db = tmp_path / "flow.duckdb"
    seen: list[str] = []
    summary = run_ingest_flow(
        _settings(sim, db),
        IdSource("scan", start_id=sim.table.ids[0]),
        ExecutionPlan(transport=sim.transport()),
        progress=lambda result, _summary: seen.append(result.step),
    )

    assert summary.status == "completed"
    assert_db_equals_truth(sim, db)
    assert "scan" in seen  # progress reached the in-process caller

    with connect(db, read_only=True) as conn:
        ledger = conn.execute(
            "SELECT run_id, status, flow_run_id, inserted FROM ingest_runs"
        ).fetchall()
    assert len(ledger) == 1
    run_id, status, flow_run_id, inserted = ledger[0]
    assert (run_id, status, inserted) == (summary.run_id, "completed", summary.inserted)
    assert flow_run_id

    async def recorded() -> tuple[Any, Any, list[Any]]:
        async with get_client() as client:
            flow_run = await client.read_flow_run(flow_run_id)
            flow = await client.read_flow(flow_run.flow_id)
            task_runs = await client.read_task_runs()
            artifacts = await client.read_artifacts()
            mine = [t for t in task_runs if t.flow_run_id == flow_run.id]
            keys = {a.key for a in artifacts if a.flow_run_id == flow_run.id}
            return flow_run, (flow.name, keys), mine

    flow_run, (flow_name, keys), task_runs = asyncio.run(recorded())
    assert flow_name == "ingest_sessions"
    assert flow_run.state is not None and flow_run.state.is_completed()
    assert {"ingest-summary-default", "ingest-counts-default"} <= keys
    # one task run per chunk (hundreds to thousands of ids), never one per id
    # (plus the users step and the findings step)
    assert 2 <= len(task_runs) <= summary.chunks + 2
    assert {t.name for t in task_runs} >= {"refresh_users", "scan"}


def _env_credentials(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = sim.credentials
    for key, value in {
        "USERNAME": creds.username,
        "PASSWORD": creds.password,
        "CID": creds.cid,
        "SECRET": creds.sec,
        "REQUESTS_PER_HOUR": "1000000",
        "REQUESTS_PER_SECOND": "100000",
        "BACKOFF_BASE": "0.01",
        "BACKOFF_CAP": "0.05",
        "CHECKPOINT_IDS": "1500",
    }.items():
        monkeypatch.setenv(f"SESSION_AUDIT_{key}", value)


def test_flow_reads_settings_from_env_and_rerun_changes_nothing(
    prefect_harness: None,
    sim: Simulator,
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As a deployment runs it: parameters only, credentials from the environment; the rerun
    on two threads (the deployment entry builds its execution plan from its parameters)."""
    from flows.ingest_sessions import ingest_sessions

    _env_credentials(sim, monkeypatch)
    db = tmp_path / "env.duckdb"
    params: dict[str, Any] = {"base_url": url, "db": db, "batch_size": 40}
    first = asyncio.run(ingest_sessions(start_id=sim.table.ids[0], **params))
    assert first["status"] == "completed"
    assert_db_equals_truth(sim, db)

    staged: dict[str, Any] = {
        "executor": "threads",
        "dask_workers": 2,
        "staging_dir": str(tmp_path / "st"),
    }
    second = asyncio.run(ingest_sessions(**params, **staged))  # from the stored cursor
    assert second["status"] == "completed"
    assert (second["inserted"], second["updated"]) == (0, 0)
    assert_db_equals_truth(sim, db)
    with connect(db, read_only=True) as conn:
        flow_run_ids = conn.execute(
            "SELECT flow_run_id FROM ingest_runs ORDER BY run_id"
        ).fetchall()
    assert len({r[0] for r in flow_run_ids}) == 2 and all(r[0] for r in flow_run_ids)


def test_flow_rejects_invalid_parameters(prefect_harness: None, tmp_path: Path) -> None:
    from flows.ingest_sessions import ingest_sessions

    with pytest.raises(Exception, match="batch_size"):
        asyncio.run(ingest_sessions(batch_size=0, db=tmp_path / "x.duckdb"))


def test_daily_audit_ingests_the_changes_then_exports(
    prefect_harness: None,
    sim: Simulator,
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.daily_audit import daily_audit

    from session_audit.analysis.compliance import COMPLIANCE_DATASETS
    from session_audit.analysis.verify import verify_export
    from session_audit.ingest.runner import run_ingest

    db = tmp_path / "audit.duckdb"
    source = IdSource("scan", start_id=sim.table.ids[0])
    run_ingest(_settings(sim, db), source, transport=sim.transport())
    sim.advance(6 * 3600)  # sessions close, new ones arrive
    _env_credentials(sim, monkeypatch)
    monkeypatch.setenv("SESSION_AUDIT_BASE_URL", url)
    monkeypatch.setenv("SESSION_AUDIT_BATCH_SIZE", "40")

    result = asyncio.run(daily_audit(db=db, export_dir=tmp_path / "exports"))

    assert result["ingest"]["status"] == "completed"
    assert result["ingest"]["inserted"] > 0
    assert_db_equals_truth(sim, db)
    exports = result["export"]["exports"]
    assert len(exports) == 2 * len(COMPLIANCE_DATASETS)
    for item in exports:
        verify_export(Path(item["directory"]))
    dated = {Path(item["directory"]).parent for item in exports}
    assert len(dated) == 1 and dated.pop().parent == tmp_path / "exports"
