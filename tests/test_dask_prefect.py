"""The staged ingest inside ONE Prefect flow run (issue 7): each extraction chunk is a task run of
the flow's task runner, Dask workers through prefect-dask's ``DaskTaskRunner`` or threads, while
the flow process keeps the DuckDB writer and the only login. Runs under the session-scoped
``prefect_harness`` of conftest.py."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from uuid import UUID

import cloudpickle  # type: ignore[import-untyped]
import pytest

from session_audit.api.auth import TokenLease
from session_audit.cli.app import run_app
from session_audit.db.connection import connect
from session_audit.errors import ConfigError, TokenExpiredError
from session_audit.ingest.runner import (
    ChunkResult,
    IdSource,
    IngestSummary,
    register_transport,
    unregister_transport,
)
from session_audit.scale.executors import FutureAdapter
from session_audit.scale.staging import ChunkSpec, StagedChunk, StagingArea
from session_audit.scale.worker import extract_chunk
from session_audit.settings import Settings
from session_audit.simulator import Simulator
from session_audit.simulator.server import start_background_server
from support import assert_db_equals_truth, sim_config, sim_settings

# Dask worker processes cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


# --- plain functions: no Prefect server ----------------------------------------------------------


def test_future_adapter_hands_over_results_and_exceptions_of_foreign_futures() -> None:
    """The Executor seam the staged driver sees: a PrefectFuture-like becomes a Future."""
    handed: list[tuple[Any, ...]] = []
    foreign: list[Future[Any]] = []

    def submit(fn: Any, *args: Any) -> Future[Any]:
        handed.append((fn, *args))
        future: Future[Any] = Future()
        foreign.append(future)
        return future

    executor = FutureAdapter(submit)
    first = executor.submit(extract_chunk, "spec", 7)
    second = executor.submit(extract_chunk, "other", 8)
    assert handed == [(extract_chunk, "spec", 7), (extract_chunk, "other", 8)]
    assert not first.done() and not first.cancel()  # handed over: it cannot be withdrawn
    foreign[0].set_result("staged")
    foreign[1].set_exception(TokenExpiredError("token refused", status=401))
    assert first.result(timeout=1) == "staged"
    with pytest.raises(TokenExpiredError, match="token refused"):
        second.result(timeout=1)

    done: Future[Any] = Future()
    done.set_result(3)
    assert FutureAdapter(lambda fn, *a: done).submit(extract_chunk).result(timeout=1) == 3


def test_task_runner_for_builds_the_runner_of_each_executor() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask.task_runners import DaskTaskRunner

    from session_audit.orchestration.chunk_tasks import task_runner_for

    threads = task_runner_for("threads", workers=3)
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 3
    local = task_runner_for("dask", workers=4)
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["n_workers"] == 4
    assert local.cluster_kwargs["processes"] is True
    assert local.cluster_kwargs["threads_per_worker"] == 1
    remote = task_runner_for("dask", address="tcp://scheduler:8786")
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://scheduler:8786"

    with pytest.raises(ConfigError, match="needs --executor dask"):
        task_runner_for("threads", address="tcp://x:1")
    with pytest.raises(ConfigError, match="local cluster"):
        task_runner_for("dask", workers=2, address="tcp://x:1")
    with pytest.raises(ConfigError, match="unknown executor"):
        task_runner_for("inline")


def test_executor_parameters_of_an_in_process_flow_call() -> None:
    from session_audit.orchestration.run import executor_parameters

    assert executor_parameters("inline") == {}
    assert executor_parameters("dask", dask_workers=3) == {"executor": "dask", "dask_workers": 3}
    assert executor_parameters("threads", staging_dir="/s") == {
        "executor": "threads",
        "staging_dir": "/s",
    }
    with pytest.raises(ConfigError, match="need --executor threads"):
        executor_parameters("inline", dask_address="tcp://x:1")


# --- flow runs under the Prefect test server ------------------------------------------------------


def _sim() -> Simulator:
    return Simulator(
        sim_config(
            users=120, sessions=2500, seed=11, max_ids=40, fault_rate=0.02, slow_seconds=0.01
        )
    )


@pytest.fixture
def served() -> Iterator[tuple[Simulator, str]]:
    """The simulator over HTTP on 127.0.0.1: Dask worker processes reach it like a real API."""
    sim = _sim()
    url, stop = start_background_server(sim)
    try:
        yield sim, url
    finally:
        stop()


@pytest.fixture
def in_process() -> Iterator[Simulator]:
    sim = _sim()
    register_transport(sim.base_url, sim.transport())
    try:
        yield sim
    finally:
        unregister_transport(sim.base_url)


def _scan(sim: Simulator) -> IdSource:
    return IdSource("scan", start_id=sim.table.ids[0])


def _recorded(flow_run_id: str) -> tuple[str, bool, list[Any], str]:
    """The flow run's name and completion, its task runs, and its logs (one text)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    async def read() -> tuple[str, bool, list[Any], str]:
        async with get_client() as client:
            flow_run = await client.read_flow_run(UUID(flow_run_id))
            flow = await client.read_flow(flow_run.flow_id)
            task_runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
            )
            logs = await client.read_logs(
                LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
            )
        done = flow_run.state is not None and flow_run.state.is_completed()
        return flow.name, done, task_runs, "\n".join(log.message for log in logs)

    return asyncio.run(read())


def _ledger(db: Path) -> list[tuple[Any, ...]]:
    with connect(db, read_only=True) as conn:
        return conn.execute("SELECT run_id, status, flow_run_id FROM ingest_runs").fetchall()


def _pid_recording(
    marks: str,
    kill_seq: int,
    spec: ChunkSpec,
    lease: TokenLease,
    settings: Settings,
    staging: StagingArea,
    batch: int,
) -> StagedChunk:
    """extract_chunk that notes the process it ran in; chunk ``kill_seq``'s first attempt
    kills its own worker process (SIGKILL) mid-chunk."""
    folder = Path(marks)
    (folder / f"pid-{os.getpid()}").touch()
    killed = folder / "killed"
    if spec.seq == kill_seq and not killed.exists():
        killed.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return extract_chunk(spec, lease, settings, staging, batch)


def _run_dask_flow(
    sim: Simulator, url: str, tmp_path: Path, *, kill_seq: int = 0, expire_after: int = 0
) -> tuple[dict[str, Any], Path, Path, list[int]]:
    """The ``ingest_sessions`` flow with executor="dask" on a DaskTaskRunner LocalCluster of 2
    worker processes (set at call time with ``with_options``, as ``run_ingest_flow`` does).
    ``kill_seq``: that chunk's first attempt kills its worker; ``expire_after``: every token
    issued so far is refused once that many chunks are merged."""
    from flows.ingest_sessions import ingest_sessions

    from session_audit.orchestration.chunk_tasks import task_runner_for
    from session_audit.orchestration.local import local_run

    db, marks = tmp_path / "dask.duckdb", tmp_path / "marks"
    marks.mkdir()
    settings = sim_settings(sim, db, base_url=url, batch_size=40, checkpoint_ids=300)
    merged: list[int] = []

    def progress(result: ChunkResult, _summary: IngestSummary) -> None:
        merged.append(result.first_id or 0)
        if len(merged) == expire_after:
            sim.expire_tokens()

    flow = ingest_sessions.with_options(task_runner=task_runner_for("dask", workers=2))
    with local_run(
        settings=settings,
        source=_scan(sim),
        progress=progress,
        extract=functools.partial(_pid_recording, str(marks), kill_seq),
    ):
        result = asyncio.run(
            flow(executor="dask", dask_workers=2, staging_dir=str(tmp_path / "staging"))
        )
    return result, db, marks, merged


@pytest.mark.slow
def test_dask_flow_run_on_a_local_cluster_gets_truth_and_records_chunk_task_runs(
    prefect_harness: None, served: tuple[Simulator, str], tmp_path: Path
) -> None:
    sim, url = served
    result, db, marks, merged = _run_dask_flow(sim, url, tmp_path)

    assert result["status"] == "completed"
    assert_db_equals_truth(sim, db)
    assert sim.stats.logins == 1  # the flow process logs in once; task runs borrow its token
    worker_pids = {int(p.name.removeprefix("pid-")) for p in marks.glob("pid-*")}
    assert worker_pids and os.getpid() not in worker_pids  # chunks ran in Dask worker processes
    assert not any((tmp_path / "staging").iterdir())  # the run's staging dir is removed

    ledger = _ledger(db)
    assert len(ledger) == 1 and ledger[0][1] == "completed"
    flow_name, completed, task_runs, logs = _recorded(ledger[0][2])
    assert flow_name == "ingest_sessions" and completed
    # ONE flow run: every extraction chunk is one of its task runs, run to completion
    extracts = [t for t in task_runs if t.name.startswith("extract-")]
    assert len(extracts) == len(merged) == result["chunks"]
    assert all(t.state is not None and t.state.is_completed() for t in extracts)
    assert {t.name.rsplit("-", 1)[0] for t in extracts} == {"extract-scan"}  # a first run
    assert "Dask cluster of 2 worker threads" in logs
    # the lent token and the credentials never reach Prefect's records
    recorded = " ".join(t.model_dump_json() for t in task_runs) + logs
    issued = list(sim.auth._tokens)  # every token the API issued (read-only look inside)
    assert issued
    for secret in (sim.credentials.password, sim.credentials.sec, *issued):
        assert secret not in recorded


@pytest.mark.slow
def test_a_killed_dask_worker_and_a_refused_token_during_a_flow_run_lose_nothing(
    prefect_harness: None, served: tuple[Simulator, str], tmp_path: Path
) -> None:
    sim, url = served
    result, db, marks, _merged = _run_dask_flow(sim, url, tmp_path, kill_seq=3, expire_after=6)

    assert (marks / "killed").exists()  # a worker process really died mid-chunk
    assert result["status"] == "completed"
    assert_db_equals_truth(sim, db)
    with connect(db, read_only=True) as conn:
        dupes = conn.execute("SELECT count(*) - count(DISTINCT id) FROM user_sessions").fetchone()
    assert dupes == (0,)
    # the refused lent token crossed back from the worker as TokenExpiredError: the flow process
    # logged in again once and resent the chunk(s); no worker ever logged in
    assert sim.stats.logins == 2
    _name, completed, task_runs, _logs = _recorded(_ledger(db)[0][2])
    assert completed
    extracts = [t for t in task_runs if t.name.startswith("extract-")]
    # Dask ran the dead worker's chunk again under the same task run, which completed
    chunk_3 = [t for t in extracts if t.name == "extract-scan-3"]
    assert len(chunk_3) == 1 and chunk_3[0].state is not None and chunk_3[0].state.is_completed()
    # a chunk refused its token is one failed task run, then a completed resend
    failed = [t for t in extracts if t.state is not None and t.state.is_failed()]
    assert failed
    resent = {t.name for t in extracts if t.state is not None and t.state.is_completed()}
    assert {t.name for t in failed} <= resent


@pytest.mark.slow
def test_threads_flow_run_via_run_ingest_flow_gets_truth(
    prefect_harness: None, in_process: Simulator, tmp_path: Path
) -> None:
    from session_audit.orchestration import run_ingest_flow

    sim, db = in_process, tmp_path / "threads.duckdb"
    settings = sim_settings(sim, db, batch_size=40, checkpoint_ids=300)
    summary = run_ingest_flow(
        settings,
        _scan(sim),
        executor="threads",
        dask_workers=3,
        staging_dir=str(tmp_path / "staging"),
    )

    assert summary.status == "completed"
    assert_db_equals_truth(sim, db)
    assert sim.stats.logins == 1
    ledger = _ledger(db)
    assert len(ledger) == 1 and ledger[0][2]
    _name, completed, task_runs, logs = _recorded(ledger[0][2])
    assert completed
    extracts = [t for t in task_runs if t.name.startswith("extract-")]
    assert len(extracts) == summary.chunks
    assert "3 threads (Prefect task runs)" in logs


@pytest.mark.slow
def test_cli_executor_threads_with_a_prefect_server_records_one_flow_run(
    prefect_harness: None,
    in_process: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``session-audit ingest --executor threads`` with PREFECT_API_URL set runs the flow."""
    from prefect.settings import PREFECT_API_URL

    sim, db = in_process, tmp_path / "cli.duckdb"
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    for key, value in sim_settings(sim, db, batch_size=40, checkpoint_ids=300).redacted().items():
        if key not in ("password", "secret") and value is not None:
            monkeypatch.setenv(f"SESSION_AUDIT_{key.upper()}", str(value))
    monkeypatch.setenv("SESSION_AUDIT_PASSWORD", sim.credentials.password)
    monkeypatch.setenv("SESSION_AUDIT_SECRET", sim.credentials.sec)

    argv = ["ingest", "--no-progress", "--executor", "threads", "--dask-workers", "2"]
    code = run_app([*argv, "--start-id", str(sim.table.ids[0])])

    assert code == 0, capsys.readouterr().err
    assert "completed" in capsys.readouterr().out
    assert_db_equals_truth(sim, db)
    ledger = _ledger(db)
    assert len(ledger) == 1 and ledger[0][2]  # recorded as a flow run
    _name, completed, task_runs, _logs = _recorded(ledger[0][2])
    assert completed and any(t.name.startswith("extract-scan-") for t in task_runs)


@pytest.mark.slow
def test_flow_rejects_bad_executor_parameters(prefect_harness: None, tmp_path: Path) -> None:
    from flows.ingest_sessions import ingest_sessions

    with pytest.raises(Exception, match="executor"):
        bad: Any = "spark"
        asyncio.run(ingest_sessions(executor=bad, db=tmp_path / "x.duckdb"))
    with pytest.raises(ConfigError, match="need executor threads"):
        asyncio.run(ingest_sessions(dask_workers=2, db=tmp_path / "x.duckdb"))
