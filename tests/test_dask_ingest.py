"""The staged ingest (issue 7): chunks extracted on threads or Dask workers, staged as Parquet,
merged by one loader. It must give the same truth and the same exactly-once guarantees as the
plain loop, with a single API login however many workers run."""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle  # type: ignore[import-untyped]
import pytest

from session_audit.api.auth import TokenLease
from session_audit.db.connection import connect
from session_audit.errors import ConfigError, SessionAuditError
from session_audit.ingest.runner import (
    ChunkResult,
    IdSource,
    IngestSummary,
)
from session_audit.ingest.scan_plan import ChunkSpec
from session_audit.scale.driver import ingest_staged, run_ingest_staged, worker_settings
from session_audit.scale.executors import ChunkPool, ExecutionPlan, open_pool
from session_audit.scale.staging import StagedChunk, StagingArea
from session_audit.scale.worker import extract_chunk
from session_audit.settings import Settings
from session_audit.simulator import Simulator
from session_audit.simulator.server import start_background_server
from support import assert_db_equals_truth, sim_config, sim_settings

# Worker processes cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _sim(**config: Any) -> Simulator:
    base = {"users": 120, "sessions": 2500, "seed": 11, "slow_seconds": 0.01}
    return Simulator(sim_config(**{**base, **config}))


@pytest.fixture
def in_process(request: pytest.FixtureRequest) -> Simulator:
    """A simulator reached through its in-process transport (passed in each run's plan)."""
    return _sim(**getattr(request, "param", {}))


def _threads(sim: Simulator, workers: int | None = None, **options: Any) -> ExecutionPlan:
    return ExecutionPlan("threads", workers=workers, transport=sim.transport(), **options)


def _cursor(db: Path) -> int | None:
    with connect(db, read_only=True) as conn:
        row = conn.execute("SELECT next_id FROM ingest_state").fetchone()
    return None if row is None else int(row[0])


def _scan(sim: Simulator) -> IdSource:
    return IdSource("scan", start_id=sim.table.ids[0])


# --- threads: the same staged path, in-process simulator ------------------------------------------


def test_threads_executor_gets_truth_with_one_login_and_an_economic_rerun(
    in_process: Simulator, tmp_path: Path
) -> None:
    sim, db = in_process, tmp_path / "s.duckdb"
    settings = sim_settings(sim, db, checkpoint_ids=400, batch_size=50, gap_tolerance=5)
    first = run_ingest_staged(settings, _scan(sim), _threads(sim, 3))
    assert first.status == "completed"
    assert_db_equals_truth(sim, db)
    assert sim.stats.logins == 1  # workers borrow the driver's token, they never log in
    assert _cursor(db) == (sim.max_session_id or 0) + 1
    # every request a worker made is in the ledger
    with connect(db, read_only=True) as conn:
        requests = conn.execute("SELECT requests FROM ingest_runs").fetchone()
    assert requests == (sim.stats.total,)
    assert not any((tmp_path / "staging").iterdir())  # the run's staging dir is removed

    with connect(db, read_only=True) as conn:
        open_ids = conn.execute("SELECT count(*) FROM user_sessions WHERE end_time IS NULL")
        n_open = open_ids.fetchone()
    assert n_open is not None
    sim.reset_stats()
    again = run_ingest_staged(settings, IdSource("scan"), _threads(sim, 3))
    assert (again.inserted, again.updated) == (0, 0)
    # a rerun spends the open re-fetch only: the stats vouch that nothing is new
    open_calls = -(-n_open[0] // 50)
    assert sim.stats.by_path["/userSession/items"] == open_calls
    assert again.note is not None and "scan skipped" in again.note
    assert_db_equals_truth(sim, db)


def test_threads_executor_after_the_api_advanced_brings_db_back_to_truth(
    in_process: Simulator, tmp_path: Path
) -> None:
    sim, db = in_process, tmp_path / "s.duckdb"
    settings = sim_settings(sim, db, checkpoint_ids=300)
    run_ingest_staged(settings, _scan(sim), _threads(sim, 2))
    sim.advance(6 * 3600)  # sessions close, new ones arrive
    summary = run_ingest_staged(settings, IdSource("scan"), _threads(sim, 2))
    assert summary.updated > 0 and summary.inserted > 0
    assert_db_equals_truth(sim, db)


def test_ids_source_is_fanned_out_and_stored(in_process: Simulator, tmp_path: Path) -> None:
    sim, db = in_process, tmp_path / "s.duckdb"
    ids = tuple(sim.table.ids[::3])
    settings = sim_settings(sim, db, checkpoint_ids=200)
    summary = run_ingest_staged(settings, IdSource("ids", ids=ids), _threads(sim))
    assert summary.status == "completed"
    with connect(db, read_only=True) as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM user_sessions").fetchall()}
        rejected = {
            r[0] for r in conn.execute("SELECT session_id FROM rejected_sessions").fetchall()
        }
        cursor = conn.execute("SELECT count(*) FROM ingest_state").fetchone()
    assert stored | rejected == set(ids)
    assert cursor == (0,)  # an ids run never moves the scan cursor


def _slow_first_chunk(
    spec: ChunkSpec,
    lease: TokenLease,
    settings: Settings,
    staging: StagingArea,
    batch: int,
    transport: Any = None,
) -> StagedChunk:
    if spec.seq == 1:
        time.sleep(0.3)  # finishes after its successors
    return extract_chunk(spec, lease, settings, staging, batch, transport)


def test_chunks_finishing_out_of_order_are_merged_in_order(
    in_process: Simulator, tmp_path: Path
) -> None:
    sim, db = in_process, tmp_path / "s.duckdb"
    settings = sim_settings(sim, db, checkpoint_ids=250)
    merged: list[ChunkResult] = []

    def progress(result: ChunkResult, summary: IngestSummary) -> None:
        merged.append(result)

    async def main() -> IngestSummary:
        plan = _threads(sim, 4, staging_dir=str(tmp_path / "staging"))
        with open_pool(plan) as pool:
            return await ingest_staged(
                settings, _scan(sim), plan, pool, progress=progress, extract=_slow_first_chunk
            )

    asyncio.run(main())
    scans = [r for r in merged if r.step == "scan"]
    starts = [r.first_id or 0 for r in scans]
    assert starts == sorted(starts) and len(scans) > 3
    # windows tile the scanned range: no id skipped, none twice
    for before, after in itertools.pairwise(scans):
        assert before.last_id is not None and after.first_id == before.last_id + 1
    assert_db_equals_truth(sim, db)


def _failing_at(
    seq: int,
    spec: ChunkSpec,
    lease: TokenLease,
    settings: Settings,
    staging: StagingArea,
    batch: int,
    transport: Any = None,
) -> StagedChunk:
    if spec.seq == seq:
        raise RuntimeError("worker lost its disk")
    return extract_chunk(spec, lease, settings, staging, batch, transport)


def test_a_failed_chunk_fails_the_run_keeps_committed_chunks_and_the_rerun_gets_truth(
    in_process: Simulator, tmp_path: Path
) -> None:
    sim, db = in_process, tmp_path / "s.duckdb"
    settings = sim_settings(sim, db, checkpoint_ids=300)
    merged: list[ChunkResult] = []

    async def main() -> IngestSummary:
        plan = _threads(sim, 2, staging_dir=str(tmp_path / "staging"))
        with open_pool(plan) as pool:
            return await ingest_staged(
                settings,
                _scan(sim),
                plan,
                pool,
                progress=lambda r, s: merged.append(r),
                extract=functools.partial(_failing_at, 4),
            )

    with pytest.raises(SessionAuditError, match=r"chunk 4 .* worker lost its disk"):
        asyncio.run(main())
    # chunks 1-3 were merged in order; the cursor stops right after them
    last = max(r.max_id or 0 for r in merged)
    assert _cursor(db) == last + 1
    with connect(db, read_only=True) as conn:
        status = conn.execute("SELECT status, error FROM ingest_runs").fetchone()
    assert status is not None and status[0] == "failed" and "chunk 4" in status[1]
    summary = run_ingest_staged(settings, IdSource("scan"), _threads(sim))
    assert summary.status == "completed"
    assert_db_equals_truth(sim, db)


def test_a_token_refused_on_a_worker_is_recovered_centrally_and_the_chunk_resent(
    in_process: Simulator, tmp_path: Path
) -> None:
    sim, db = in_process, tmp_path / "s.duckdb"
    settings = sim_settings(sim, db, checkpoint_ids=300)
    expired: list[bool] = []

    def progress(result: ChunkResult, summary: IngestSummary) -> None:
        if not expired and result.step == "scan":
            sim.expire_tokens()  # every token issued so far is refused from now on
            expired.append(True)

    summary = run_ingest_staged(settings, _scan(sim), _threads(sim, 2), progress=progress)
    assert summary.status == "completed" and expired
    assert_db_equals_truth(sim, db)
    assert sim.stats.logins == 2  # the driver logged in again once; no worker ever did


def test_worker_settings_carry_no_credentials_and_a_share_of_the_budget(tmp_path: Path) -> None:
    base = Settings.model_validate(
        {
            "username": "u",
            "password": "pw-123",
            "secret": "sec-456",
            "cid": "9",
            "requests_per_hour": 4000,
            "requests_per_second": 5.0,
            "concurrency": 4,
            "db": tmp_path / "x.duckdb",
        }
    )
    shared = worker_settings(base, 4)
    assert shared.password.get_secret_value() == "" and shared.secret.get_secret_value() == ""
    assert shared.username == ""
    assert (shared.requests_per_hour, shared.requests_per_second, shared.concurrency) == (
        1000,
        1.25,
        1,
    )
    lease = TokenLease(
        token=__import__("pydantic").SecretStr("tok-789"), expires_at=1.0, generation=1
    )
    assert "tok-789" not in repr(lease) and "pw-123" not in repr(shared)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"executor": "spark"}, "unknown executor"),
        ({"executor": "inline", "workers": 2}, "need --executor threads"),
        ({"executor": "inline", "staging_dir": "/s"}, "need --executor threads"),
        ({"executor": "threads", "workers": 0}, "at least 1"),
        ({"executor": "threads", "address": "tcp://x:1"}, "needs --executor dask"),
        ({"executor": "dask", "address": "tcp://x:1", "workers": 2}, "local cluster"),
        ({"executor": "dask", "transport": object()}, "cannot reach Dask workers"),
    ],
)
def test_an_execution_plan_is_valid_or_a_config_error(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ExecutionPlan(**options)


def test_an_execution_plan_is_frozen_and_says_its_flow_parameters(tmp_path: Path) -> None:
    plan = ExecutionPlan("dask", address="tcp://s:8786")
    assert plan.parameters() == {"executor": "dask", "dask_address": "tcp://s:8786"}
    assert ExecutionPlan().parameters() == {}
    assert ExecutionPlan("threads").slots == 2 and ExecutionPlan("threads", workers=5).slots == 5
    settings = Settings(db=tmp_path / "x.duckdb")
    assert plan.staging_root(settings) == str((tmp_path / "staging").resolve())
    assert ExecutionPlan("threads", staging_dir="s3://b/st").staging_root(settings) == "s3://b/st"
    with pytest.raises(AttributeError):
        plan.executor = "threads"  # type: ignore[misc]
    with (
        pytest.raises(ConfigError, match="inline executor runs no pool"),
        open_pool(plan=ExecutionPlan()),
    ):
        pass


# --- Dask: a LocalCluster of worker processes against the simulator over HTTP ---------------------


def _dask_plan(tmp_path: Path) -> ExecutionPlan:
    return ExecutionPlan("dask", workers=2, staging_dir=str(tmp_path / "staging"))


@pytest.fixture(scope="module")
def dask_pool() -> Iterator[ChunkPool]:
    """One LocalCluster of 2 worker processes for the Dask tests (start-up costs seconds)."""
    with open_pool(ExecutionPlan("dask", workers=2)) as pool:
        yield pool


@pytest.fixture
def served() -> Iterator[tuple[Simulator, str]]:
    sim = _sim()
    url, stop = start_background_server(sim)
    try:
        yield sim, url
    finally:
        stop()


@pytest.mark.slow
def test_dask_local_cluster_of_two_processes_gets_truth(
    served: tuple[Simulator, str], dask_pool: ChunkPool, tmp_path: Path
) -> None:
    sim, url = served
    db = tmp_path / "s.duckdb"
    settings = sim_settings(sim, db, base_url=url, checkpoint_ids=300)
    pool = dask_pool
    assert pool.slots == 2
    pids = set(pool.dask_client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids  # real worker processes
    summary = asyncio.run(ingest_staged(settings, _scan(sim), _dask_plan(tmp_path), pool))
    assert summary.status == "completed"
    assert_db_equals_truth(sim, db)
    assert sim.stats.logins == 1


def _kill_own_process_once(
    marker: str,
    spec: ChunkSpec,
    lease: TokenLease,
    settings: Settings,
    staging: StagingArea,
    batch: int,
) -> StagedChunk:
    """Chunk 3's first attempt kills its worker process (SIGKILL) mid-chunk."""
    flag = Path(marker)
    if spec.seq == 3 and not flag.exists():
        flag.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return extract_chunk(spec, lease, settings, staging, batch)


@pytest.mark.slow
def test_killing_a_dask_worker_mid_chunk_loses_nothing(
    served: tuple[Simulator, str], dask_pool: ChunkPool, tmp_path: Path
) -> None:
    sim, url = served
    db = tmp_path / "s.duckdb"
    marker = tmp_path / "killed"
    settings = sim_settings(sim, db, base_url=url, checkpoint_ids=300)
    pool = dask_pool
    before = set(pool.dask_client.run(os.getpid).values())
    summary = asyncio.run(
        ingest_staged(
            settings,
            _scan(sim),
            _dask_plan(tmp_path),
            pool,
            extract=functools.partial(_kill_own_process_once, str(marker)),
        )
    )
    assert marker.exists() and int(marker.read_text()) in before  # a worker really died
    assert summary.status == "completed"  # Dask ran the dead worker's chunk again
    assert_db_equals_truth(sim, db)
    with connect(db, read_only=True) as conn:
        dupes = conn.execute("SELECT count(*) - count(DISTINCT id) FROM user_sessions").fetchone()
    assert dupes == (0,)
