"""Completeness in the real id space (issue 10): session ids are one sequence shared by every firm,
so an organisation sees a sparse subset, with quiet stretches of tens of thousands of foreign ids.
Every test runs the real ingest against the simulator's faithful id space and asserts the exact
stored rows."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from session_audit.cli.app import run_app
from session_audit.db.connection import connect
from session_audit.ingest.runner import (
    IdSource,
    IngestSummary,
    ingest,
)
from session_audit.scale.driver import run_ingest_staged
from session_audit.scale.executors import ExecutionPlan, open_pool
from session_audit.settings import Settings
from session_audit.simulator import Fault, Simulator
from support import (
    assert_db_equals_truth,
    make_sim,
    rejected_ids,
    served,
    sim_env,
    sim_settings,
    ts,
)

ITEMS = "/userSession/items"


def _sparse_sim(**config: Any) -> Simulator:
    """95% foreign ids, a 50,000-id quiet stretch every weekend: three weeks of one small firm."""
    base: dict[str, Any] = {"users": 60, "sessions": 1200, "seed": 21, "span_days": 21}
    return make_sim(sparse=True, **{**base, **config})


def _settings(sim: Simulator, db: Path, **settings: Any) -> Settings:
    """The defaults of a real run (batch-size discovery on), with the simulator's budget."""
    return sim_settings(sim, db, **{"batch_discovery": True, **settings})


def _run(sim: Simulator, db: Path, source: IdSource, **settings: Any) -> IngestSummary:
    return asyncio.run(ingest(_settings(sim, db, **settings), source, transport=sim.transport()))


def _first(sim: Simulator) -> int:
    return min(int(s["id"]) for s in sim.truth_sessions())


def _longest_gap(sim: Simulator) -> int:
    ids = sorted(int(s["id"]) for s in sim.truth_sessions())
    return max(b - a for a, b in itertools.pairwise(ids))


def test_the_simulated_space_is_sparse_with_quiet_stretches() -> None:
    sim = _sparse_sim()
    ids = [s["id"] for s in sim.truth_sessions()]
    share = 1 - len(ids) / (max(ids) - min(ids) + 1)
    assert share >= 0.9  # 95% foreign, and the quiet weekends on top
    assert _longest_gap(sim) >= 50_000


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_first_and_incremental_runs_with_default_settings_store_every_visible_session(
    tmp_path: Path, executor: str
) -> None:
    sim = _sparse_sim()
    db = tmp_path / "s.duckdb"
    settings = _settings(sim, db)

    def run(source: IdSource) -> IngestSummary:
        if executor == "inline":
            return asyncio.run(ingest(settings, source, transport=sim.transport()))
        plan = ExecutionPlan("threads", workers=2, transport=sim.transport())
        return run_ingest_staged(settings, source, plan)

    first = run(IdSource("scan", start_id=_first(sim)))
    assert first.status == "completed", first.error
    assert_db_equals_truth(sim, db)
    # every earlier run of the API user left a session in history: none of them ended the scan
    own = [s for s in sim.truth_sessions() if s.get("userId") == sim.api_user_id]
    assert len(own) > 50
    assert first.end_session_id == max(s["id"] for s in own)

    sim.foreign_activity(60_000)  # a quiet stretch: other firms only
    sim.advance(8 * 3600)  # then our users again
    second = run(IdSource("scan"))
    assert second.status == "completed", second.error
    assert second.inserted > 0
    assert_db_equals_truth(sim, db)


def test_since_stores_every_session_from_that_date_with_a_bounded_discovery(
    tmp_path: Path,
) -> None:
    sim = _sparse_sim()
    db = tmp_path / "s.duckdb"
    sessions = sorted(
        (s for s in sim.truth_sessions() if s["id"] not in rejected_ids(sim)),
        key=lambda s: s["id"],
    )
    since = datetime(2026, 2, 20, 9, 30, tzinfo=UTC)
    wanted = {s["id"] for s in sessions if ts(s["startTime"]) >= since}  # type: ignore[operator]
    summary = _run(sim, db, IdSource("scan", since=since))
    assert summary.status == "completed", summary.error
    assert 0 < summary.discovery_requests <= 100
    with connect(db, read_only=True) as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM user_sessions").fetchall()}
    assert wanted <= stored
    before = sorted(stored - wanted)  # started before DATE
    assert len(before) <= 3  # the start lands at (or right after) the last session before DATE


def test_since_inside_a_quiet_stretch_starts_right_below_it(tmp_path: Path) -> None:
    sim = _sparse_sim()
    db = tmp_path / "s.duckdb"
    valid = [s for s in sim.truth_sessions() if s["id"] not in rejected_ids(sim)]
    ids = sorted(s["id"] for s in valid)
    gap_at = max(range(len(ids) - 1), key=lambda k: ids[k + 1] - ids[k])
    assert ids[gap_at + 1] - ids[gap_at] >= 50_000
    starts = {s["id"]: ts(s["startTime"]) for s in valid}
    before, after = starts[ids[gap_at]], starts[ids[gap_at + 1]]
    assert before is not None and after is not None
    since = before + (after - before) / 2  # inside the quiet weekend
    summary = _run(sim, db, IdSource("scan", since=since))
    assert summary.status == "completed", summary.error
    assert summary.discovery_requests <= 100
    with connect(db, read_only=True) as conn:
        first = conn.execute("SELECT min(id) FROM user_sessions").fetchone()
    assert first == (ids[gap_at + 1],)  # the first session after DATE, nothing before it


def test_an_api_that_hides_the_callers_own_sessions_ends_incomplete_and_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = _sparse_sim(hide_own_sessions=True, sessions=400, span_days=7)
    db = tmp_path / "s.duckdb"
    with served(sim) as (url,):
        for key, value in sim_env(sim, url, db, batch_discovery=True, gap_tolerance=50).items():
            monkeypatch.setenv(key, value)
        code = run_app(["ingest", "--start-id", str(_first(sim)), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "incomplete" in lines[0] and "was not found" in lines[0]
    assert "Traceback" not in err
    with connect(db, read_only=True) as conn:
        status = conn.execute("SELECT status, error FROM ingest_runs").fetchall()
    assert status[0][0] == "incomplete" and "gave up at id" in status[0][1]


def test_a_bare_429_ends_the_run_rate_limited_and_the_run_after_the_lockout_resumes(
    tmp_path: Path,
) -> None:
    sim = _sparse_sim()
    db = tmp_path / "s.duckdb"
    settings = _settings(sim, db, checkpoint_ids=2000)
    now = [time.time()]
    chunks = [0]

    def lock_out_after_three_chunks(*_: Any) -> None:
        chunks[0] += 1
        if chunks[0] == 3:
            sim.inject(Fault.RATE_LIMITED_NO_RETRY_AFTER)

    def run(source: IdSource) -> IngestSummary:
        return asyncio.run(
            ingest(
                settings,
                source,
                transport=sim.transport(),
                clock=lambda: now[0],
                progress=lock_out_after_three_chunks,
            )
        )

    started = time.monotonic()
    first = run(IdSource("scan", start_id=_first(sim)))
    assert first.status == "rate_limited"
    assert time.monotonic() - started < 30  # no sleeping inside the lockout
    assert first.resume_at is not None
    with connect(db, read_only=True) as conn:
        stored = conn.execute("SELECT count(*) FROM user_sessions").fetchone()
    assert stored is not None and stored[0] > 0  # what was fetched before is committed

    sent = sim.stats.total
    now[0] += 600  # ten minutes later: still locked out, so not a single request
    blocked = run(IdSource("scan"))
    assert blocked.status == "rate_limited"
    assert sim.stats.total == sent

    now[0] += 3600  # after the lockout
    resumed = run(IdSource("scan"))
    assert resumed.status == "completed", resumed.error
    assert_db_equals_truth(sim, db)
    with connect(db, read_only=True) as conn:
        rows = conn.execute("SELECT status FROM ingest_runs ORDER BY run_id").fetchall()
    ledger = [r[0] for r in rows]
    assert ledger == ["rate_limited", "rate_limited", "completed"]


class _StrayAnswer(httpx.AsyncBaseTransport):
    """Adds an object with an id nobody asked for to the first items answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport, stray_id: int) -> None:
        self.inner = inner
        self.stray_id = stray_id
        self.done = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.done or not request.url.path.endswith(ITEMS) or response.status_code != 200:
            return response
        self.done = True
        body = orjson.loads(await response.aread())
        body.append(
            {
                "id": self.stray_id,
                "userId": 7,
                "startTime": "2026-03-01T10:00:00.000Z",
                "ipAddress": "10.0.0.1",
            }
        )
        return httpx.Response(200, content=orjson.dumps(body), headers=response.headers)


def test_a_stray_id_in_an_answer_never_moves_the_cursor(tmp_path: Path) -> None:
    sim = _sparse_sim(sessions=400, span_days=7)
    db = tmp_path / "s.duckdb"
    stray = 45_000_000
    summary = asyncio.run(
        ingest(
            _settings(sim, db, batch_discovery=False),  # the first items answer is a scan's
            IdSource("scan", start_id=_first(sim)),
            transport=_StrayAnswer(sim.transport(), stray),
        )
    )
    assert summary.status == "completed"
    with connect(db, read_only=True) as conn:
        cursor = conn.execute("SELECT next_id FROM ingest_state").fetchone()
        held = conn.execute("SELECT count(*) FROM user_sessions WHERE id = ?", [stray]).fetchone()
    assert cursor is not None and summary.scanned_to is not None
    assert cursor[0] <= summary.scanned_to + 1  # only requested ids moved it
    assert cursor[0] < stray  # the stray is stored as sent, but says nothing about coverage
    assert held == (1,)


def test_start_id_above_the_cursor_is_refused_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = _sparse_sim(sessions=300, span_days=7)
    db = tmp_path / "s.duckdb"
    with served(sim) as (url,):
        for key, value in sim_env(sim, url, db, batch_discovery=True).items():
            monkeypatch.setenv(key, value)
        assert run_app(["ingest", "--start-id", str(_first(sim)), "--no-progress"]) == 0
        with connect(db, read_only=True) as conn:
            row = conn.execute("SELECT next_id FROM ingest_state").fetchone()
        assert row is not None
        capsys.readouterr()
        code = run_app(["ingest", "--start-id", str(row[0] + 10), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "above the stored cursor" in err[0]


def test_a_first_run_with_no_start_names_both_ways_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = _sparse_sim(sessions=100, span_days=7)
    with served(sim) as (url,):
        for key, value in sim_env(sim, url, tmp_path / "s.duckdb", batch_discovery=True).items():
            monkeypatch.setenv(key, value)
        code = run_app(["ingest", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "--since" in err[0] and "--start-id" in err[0]


def test_the_batch_size_is_discovered_once_per_api_root_and_remembered(tmp_path: Path) -> None:
    sim = _sparse_sim(max_ids=250, sessions=600, span_days=7)
    db = tmp_path / "s.duckdb"
    settings = _settings(sim, db)  # discovery on, from the default 100 ids
    first = asyncio.run(
        ingest(settings, IdSource("scan", start_id=_first(sim)), transport=sim.transport())
    )
    assert first.status == "completed", first.error
    rejected = sim.stats.by_status.get(404, 0)
    assert 1 <= rejected <= 4
    with connect(db, read_only=True) as conn:
        state = conn.execute("SELECT batch_size, rejected_at FROM api_state").fetchall()
    assert len(state) == 1 and 200 <= state[0][0] <= 250
    assert_db_equals_truth(sim, db)

    sim.reset_stats()
    sim.advance(6 * 3600)
    second = asyncio.run(ingest(settings, IdSource("scan"), transport=sim.transport()))
    assert second.status == "completed", second.error
    assert sim.stats.by_status.get(404, 0) == 0  # the remembered size, no probing again
    assert_db_equals_truth(sim, db)


def test_a_ceiling_below_the_configured_size_shrinks_the_calls_and_is_remembered(
    tmp_path: Path,
) -> None:
    sim = _sparse_sim(max_ids=50, sessions=300, span_days=7)
    db = tmp_path / "s.duckdb"
    settings = _settings(sim, db)
    summary = asyncio.run(
        ingest(settings, IdSource("scan", start_id=_first(sim)), transport=sim.transport())
    )
    assert summary.status == "completed", summary.error
    with connect(db, read_only=True) as conn:
        state = conn.execute("SELECT batch_size FROM api_state").fetchone()
    assert state is not None and state[0] <= 50
    assert_db_equals_truth(sim, db)


def _gaps(db: Path) -> list[int]:
    with connect(db, read_only=True) as conn:
        rows = conn.execute("SELECT user_id FROM coverage_gaps ORDER BY user_id").fetchall()
    return [int(r[0]) for r in rows]


def test_coverage_gaps_is_empty_after_complete_runs_and_names_exactly_the_withheld_users(
    tmp_path: Path,
) -> None:
    # no malformed rows: a user whose newest session was rejected is a true gap (user_coverage)
    sim = _sparse_sim(sessions=600, span_days=7, malformed=False)
    db = tmp_path / "s.duckdb"
    assert _run(sim, db, IdSource("scan", start_id=_first(sim))).status == "completed"
    assert _gaps(db) == []
    skipped = _run(sim, db, IdSource("scan"))  # nothing new: the stats vouch, no scan
    assert skipped.note is not None and "scan skipped" in skipped.note
    assert _gaps(db) == []  # this run's own login session alone is not a gap

    active = sorted(
        {s["userId"] for s in sim.truth_sessions() if s.get("userId") != sim.api_user_id} - {None}
    )
    withheld = tuple(active[:3])
    hiding = _sparse_sim(sessions=600, span_days=7, malformed=False, withheld_users=withheld)
    db2 = tmp_path / "w.duckdb"
    summary = _run(hiding, db2, IdSource("scan", start_id=_first(hiding)))
    assert summary.status == "completed"  # the scan itself reached its end
    assert _gaps(db2) == sorted(withheld)  # and the stats prove these users' trail incomplete


@pytest.mark.slow
def test_dask_workers_cross_the_sparse_space_too(tmp_path: Path) -> None:
    import cloudpickle  # type: ignore[import-untyped]

    from session_audit.scale.driver import ingest_staged
    from session_audit.simulator.server import start_background_server

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    sim = _sparse_sim(sessions=600, span_days=7)
    url, stop = start_background_server(sim)
    db = tmp_path / "s.duckdb"
    try:
        plan = ExecutionPlan("dask", workers=2, staging_dir=str(tmp_path / "staging"))
        with open_pool(plan) as pool:
            summary = asyncio.run(
                ingest_staged(
                    _settings(sim, db, base_url=url),
                    IdSource("scan", start_id=_first(sim)),
                    plan,
                    pool,
                )
            )
    finally:
        stop()
    assert summary.status == "completed", summary.error
    assert summary.end_session_id is not None
    assert_db_equals_truth(sim, db)


@pytest.mark.slow
def test_the_prefect_flow_crosses_the_sparse_space_too(
    prefect_harness: None, tmp_path: Path
) -> None:
    from session_audit.orchestration.ingest_flow import run_ingest_flow

    sim = _sparse_sim(sessions=600, span_days=7)
    db = tmp_path / "s.duckdb"
    source = IdSource("scan", start_id=_first(sim))
    plan = ExecutionPlan(transport=sim.transport())
    summary = run_ingest_flow(_settings(sim, db), source, plan)
    assert summary.status == "completed", summary.error
    assert summary.end_session_id is not None
    assert_db_equals_truth(sim, db)
