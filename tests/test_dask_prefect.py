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
)
from session_audit.ingest.scan_plan import ChunkSpec
from session_audit.scale.executors import ExecutionPlan
from session_audit.scale.staging import StagedChunk, StagingArea
from session_audit.scale.worker import extract_chunk
from session_audit.settings import Settings
from session_audit.simulator import Simulator
from support import assert_db_equals_truth, served, sim_config, sim_env, sim_settings

# Dask worker processes cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


# --- plain functions: no Prefect server ----------------------------------------------------------


def test_a_settled_future_hands_over_results_and_exceptions_of_prefect_futures() -> None:
    """The one kind of future the staged driver sees: a PrefectFuture-like becomes a Future."""
    from session_audit.orchestration.tasks import settled_future

    foreign: list[Any] = [Future(), Future()]  # what a PrefectFuture offers: the same two calls
    first: Future[Any] = settled_future(foreign[0])
    second: Future[Any] = settled_future(foreign[1])
    assert not first.done() and not first.cancel()  # handed over: it cannot be withdrawn
    foreign[0].set_result("staged")
    foreign[1].set_exception(TokenExpiredError("token refused", status=401))
    assert first.result(timeout=1) == "staged"
    with pytest.raises(TokenExpiredError, match="token refused"):
        second.result(timeout=1)

    done: Any = Future()
    done.set_result(3)
    assert settled_future(done).result(timeout=1) == 3


def test_task_runner_for_builds_the_runner_of_each_executor() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask.task_runners import DaskTaskRunner

    from session_audit.orchestration.tasks import task_runner_for
    from session_audit.scale.executors import local_cluster

    threads = task_runner_for(ExecutionPlan("threads", workers=3))
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 3
    local = task_runner_for(ExecutionPlan("dask", workers=4))
    assert isinstance(local, DaskTaskRunner) and local.address is None
    # the one place that builds a Dask cluster, for the CLI's pool and Prefect's runner alike
    assert local.cluster_class is local_cluster and local.cluster_kwargs == {"n_workers": 4}
    remote = task_runner_for(ExecutionPlan("dask", address="tcp://scheduler:8786"))
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://scheduler:8786"
    with pytest.raises(ConfigError, match="inline"):
        task_runner_for(ExecutionPlan())


# --- flow runs under the Prefect test server ------------------------------------------------------


def _sim() -> Simulator:
    return Simulator(
        sim_config(
            users=120, sessions=2500, seed=11, max_ids=40, fault_rate=0.02, slow_seconds=0.01
        )
    )


@pytest.fixture
def served_sim() -> Iterator[tuple[Simulator, str]]:
    """The simulator over HTTP on 127.0.0.1: Dask workers and the CLI reach it like a real API."""
    sim = _sim()
    with served(sim) as (url,):
        yield sim, url


@pytest.fixture
def in_process() -> Simulator:
    """A simulator reached through its in-process transport (passed in the run's plan)."""
    return _sim()


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
    """An ``ingest_sessions`` flow run with executor="dask" on a local cluster of 2 worker
    processes. ``kill_seq``: that chunk's first attempt kills its worker; ``expire_after``: every
    token issued so far is refused once that many chunks are merged."""
    from session_audit.orchestration.ingest_flow import run_ingest_flow

    db, marks = tmp_path / "dask.duckdb", tmp_path / "marks"
    marks.mkdir()
    settings = sim_settings(sim, db, base_url=url, batch_size=40, checkpoint_ids=300)
    merged: list[int] = []

    def progress(result: ChunkResult, _summary: IngestSummary) -> None:
        merged.append(result.first_id or 0)
        if len(merged) == expire_after:
            sim.expire_tokens()

    summary = run_ingest_flow(
        settings,
        _scan(sim),
        ExecutionPlan("dask", workers=2, staging_dir=str(tmp_path / "staging")),
        progress=progress,
        extract=functools.partial(_pid_recording, str(marks), kill_seq),
    )
    return summary.as_dict(), db, marks, merged


@pytest.mark.slow
def test_dask_flow_run_on_a_local_cluster_gets_truth_and_records_chunk_task_runs(
    prefect_harness: None, served_sim: tuple[Simulator, str], tmp_path: Path
) -> None:
    sim, url = served_sim
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
    prefect_harness: None, served_sim: tuple[Simulator, str], tmp_path: Path
) -> None:
    sim, url = served_sim
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
    from session_audit.orchestration.ingest_flow import run_ingest_flow

    sim, db = in_process, tmp_path / "threads.duckdb"
    settings = sim_settings(sim, db, batch_size=40, checkpoint_ids=300)
    plan = ExecutionPlan(
        "threads", workers=3, staging_dir=str(tmp_path / "staging"), transport=sim.transport()
    )
    summary = run_ingest_flow(settings, _scan(sim), plan)

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
    served_sim: tuple[Simulator, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``session-audit ingest --executor threads`` with PREFECT_API_URL set runs the flow."""
    from prefect.settings import PREFECT_API_URL

    (sim, url), db = served_sim, tmp_path / "cli.duckdb"
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    for key, value in sim_env(sim, url, db, batch_size=40, checkpoint_ids=300).items():
        monkeypatch.setenv(key, value)

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
    with pytest.raises(ConfigError, match="need executor threads"):  # the plan, before settings
        asyncio.run(ingest_sessions(dask_workers=2, db=tmp_path / "x.duckdb"))


@pytest.mark.slow
def test_a_deployment_run_with_executor_dask_starts_its_own_task_runner(
    prefect_harness: None,
    served_sim: tuple[Simulator, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As a worker runs the deployment: parameters only (``executor="dask"``), settings and
    credentials from the environment; the flow is declared with Prefect's default thread
    runner, so its body starts a DaskTaskRunner on the local cluster for the ingest."""
    from flows.ingest_sessions import ingest_sessions

    (sim, url), db = served_sim, tmp_path / "deployed.duckdb"
    for key, value in sim_env(sim, url, db, batch_size=40, checkpoint_ids=300).items():
        monkeypatch.setenv(key, value)

    result = asyncio.run(
        ingest_sessions(
            start_id=sim.table.ids[0],
            executor="dask",
            dask_workers=2,
            staging_dir=str(tmp_path / "staging"),
        )
    )

    assert result["status"] == "completed"
    assert_db_equals_truth(sim, db)
    _name, completed, task_runs, logs = _recorded(_ledger(db)[0][2])
    assert completed and "Dask cluster of 2 worker threads" in logs
    assert len([t for t in task_runs if t.name.startswith("extract-")]) == result["chunks"]
