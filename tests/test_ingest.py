"""The ingest end to end against the in-process simulator: truth, economy, crash safety."""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from session_audit.db.connection import connect, writer
from session_audit.db.migrations import migrate
from session_audit.errors import ConfigError, SessionAuditError
from session_audit.ingest.counts import LedgerCounts
from session_audit.ingest.runner import (
    ChunkResult,
    IdSource,
    IngestRun,
    IngestSummary,
    InlineFetcher,
    ingest,
)
from session_audit.simulator import Fault, Simulator
from session_audit.simulator.server import start_background_server
from support import assert_db_equals_truth, sim_config, sim_env, sim_settings


async def _no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


def _sim(**config: object) -> Simulator:
    base = {"users": 150, "sessions": 3000, "seed": 7, "slow_seconds": 0.01}
    return Simulator(sim_config(**{**base, **config}))  # type: ignore[arg-type]


def _scan(sim: Simulator) -> IdSource:
    return IdSource("scan", start_id=sim.table.ids[0])


def _run(
    sim: Simulator, db: Path, source: IdSource | None = None, **settings: Any
) -> IngestSummary:
    return asyncio.run(
        ingest(
            sim_settings(sim, db, **settings),
            source or IdSource("scan"),
            transport=sim.transport(),
            sleep=_no_sleep,
        )
    )


def test_ingest_equals_truth_and_rejects_malformed(tmp_path: Path) -> None:
    sim = _sim()
    db = tmp_path / "s.duckdb"
    summary = _run(sim, db, _scan(sim))
    assert summary.status == "completed"
    assert_db_equals_truth(sim, db)
    with connect(db, read_only=True) as conn:
        next_id = conn.execute("SELECT next_id FROM ingest_state").fetchone()
        kept = conn.execute(
            "SELECT count(*) FROM user_sessions WHERE len(anomalies) > 0"
        ).fetchone()
    # the cursor is the highest id seen + 1, never the end of the last batch scanned
    assert sim.max_session_id is not None
    assert next_id == (sim.max_session_id + 1,)
    assert kept is not None and kept[0] > 0  # odd but valid rows are kept, flagged


def test_rerun_with_no_change_spends_only_the_open_refetches(tmp_path: Path) -> None:
    sim = _sim()
    db = tmp_path / "s.duckdb"
    _run(sim, db, _scan(sim), batch_size=50, gap_tolerance=5)
    with connect(db, read_only=True) as conn:
        before = conn.execute("SELECT * FROM user_sessions ORDER BY id").fetchall()
        open_count = len(
            conn.execute("SELECT id FROM user_sessions WHERE end_time IS NULL").fetchall()
        )
    sim.reset_stats()

    summary = _run(sim, db, batch_size=50, gap_tolerance=5)

    assert (summary.inserted, summary.updated, summary.rejected) == (0, 0, 0)
    items = sim.stats.by_path.get("/userSession/items", 0)
    # the stats vouch that no user has a session newer than those stored: no scan at all
    assert items == math.ceil(open_count / 50)
    assert summary.status == "completed"
    assert summary.note is not None and "scan skipped" in summary.note
    users = len(sim.truth_users())
    assert sim.stats.by_path.get("/userSessionStats/ldeps", 0) == math.ceil(users / 50)
    assert sim.stats.by_path.get("/user/list", 0) == 1
    with connect(db, read_only=True) as conn:
        after = conn.execute("SELECT * FROM user_sessions ORDER BY id").fetchall()
    assert after == before  # not even lineage columns moved


def test_after_the_api_moves_on_a_run_brings_the_database_back_to_truth(tmp_path: Path) -> None:
    sim = _sim()
    db = tmp_path / "s.duckdb"
    _run(sim, db, _scan(sim))
    open_before = set(sim.truth_open_ids())
    max_before = sim.max_session_id
    assert max_before is not None
    sim.advance(3 * 86_400)
    assert (sim.max_session_id or 0) > max_before  # new sessions arrived
    assert open_before - set(sim.truth_open_ids())  # some open sessions closed

    summary = _run(sim, db)

    assert summary.inserted > 0 and summary.updated > 0
    assert_db_equals_truth(sim, db)


def test_faults_and_token_expiry_mid_run_still_give_truth(tmp_path: Path) -> None:
    sim = _sim(fault_rate=0.05, max_ids=30)
    db = tmp_path / "s.duckdb"
    chunks: list[ChunkResult] = []

    def expire_now_and_then(result: ChunkResult, _summary: IngestSummary) -> None:
        chunks.append(result)
        if len(chunks) % 2 == 0:
            sim.expire_tokens()

    summary = asyncio.run(
        ingest(
            sim_settings(sim, db, checkpoint_ids=600, batch_size=100),
            _scan(sim),
            transport=sim.transport(),
            sleep=_no_sleep,
            progress=expire_now_and_then,
        )
    )
    assert summary.status == "completed"
    assert sum(sim.stats.faults.values()) > 0
    assert summary.counters.renewals + summary.counters.logins > 1
    assert summary.counters.batch_size_changes >= 1  # 100 ids hit the 30-id ceiling
    assert_db_equals_truth(sim, db)


def test_ids_file_source_fetches_only_those_ids_and_keeps_the_cursor(tmp_path: Path) -> None:
    sim = _sim()
    db = tmp_path / "s.duckdb"
    wanted = sim.table.ids[10:60]
    summary = _run(sim, db, IdSource("ids", ids=tuple(wanted)))
    assert summary.status == "completed"
    with connect(db, read_only=True) as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM user_sessions").fetchall()}
        rejected = {
            r[0] for r in conn.execute("SELECT session_id FROM rejected_sessions").fetchall()
        }
        cursor = conn.execute("SELECT next_id FROM ingest_state").fetchall()
    assert stored | rejected == set(wanted)
    assert cursor == []  # an ids run does not invent a scan cursor


def test_first_scan_without_start_id_is_a_clear_config_error(tmp_path: Path) -> None:
    sim = _sim()
    with pytest.raises(ConfigError, match="--start-id"):
        _run(sim, tmp_path / "s.duckdb")


@pytest.fixture
def served() -> Iterator[tuple[Simulator, str]]:
    sim = _sim(sessions=6000)
    url, stop = start_background_server(sim)
    try:
        yield sim, url
    finally:
        stop()


def _ingest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "session_audit", "ingest", "--no-progress", *args]


def _env(sim: Simulator, url: str, db: Path, **extra: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SESSION_AUDIT_", "PREFECT_"))}
    env.update(sim_env(sim, url, db, **extra))
    return env


def _start_slow_ingest(
    sim: Simulator, url: str, db: Path, *, until_items: int
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start `session-audit ingest` in a subprocess with a slow budget (so that it runs long
    enough to be interrupted between checkpoints); return once the simulator has answered
    ``until_items`` items calls."""
    # about two 500-id windows per checkpoint (by rows, never by time): a run interrupted after
    # a few windows has committed some and holds others received but not yet stored
    env = _env(
        sim,
        url,
        db,
        requests_per_second=40,
        checkpoint_ids=500,
        batch_size=50,
        checkpoint_rows=900,
        checkpoint_seconds=3600,
    )
    proc = subprocess.Popen(
        _ingest_cmd("--start-id", str(sim.table.ids[0])),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while sim.stats.by_path.get("/userSession/items", 0) < until_items:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc, env


def _ledger(db: Path) -> list[dict[str, Any]]:
    with connect(db, read_only=True) as conn:
        cursor = conn.execute("SELECT * FROM ingest_runs ORDER BY run_id")
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_gives_truth_and_the_ledger_shows_it(
    served: tuple[Simulator, str], tmp_path: Path
) -> None:
    sim, url = served
    db = tmp_path / "s.duckdb"
    sim.inject(Fault.SERVER_ERROR, times=2)  # the run's first data requests: retried at once
    proc, _ = _start_slow_ingest(sim, url, db, until_items=40)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    # The killed run's ledger row holds exactly what its committed checkpoints stored: the
    # client's counters (requests, retries, bytes) go in with each checkpoint, not at the end.
    (killed,) = _ledger(db)
    counts = LedgerCounts.from_row(killed)
    with connect(db, read_only=True) as conn:
        stored = conn.execute(
            "SELECT count(*) FILTER (WHERE first_run_id = $run), "
            "(SELECT count(*) FROM rejected_sessions WHERE run_id = $run) FROM user_sessions",
            {"run": killed["run_id"]},
        ).fetchone()
    assert killed["status"] == "running" and killed["finished_at"] is None
    assert stored is not None and (counts.inserted, counts.rejected) == stored
    assert counts.inserted > 0 and counts.rejected > 0  # it had committed checkpoints
    assert counts.fetched == counts.inserted + counts.updated + counts.unchanged + counts.rejected
    assert counts.retries == 2  # both injected faults came before the first checkpoint
    assert 0 < counts.requests <= sim.stats.total and counts.bytes > 0

    rerun = subprocess.run(_ingest_cmd(), env=_env(sim, url, db), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert_db_equals_truth(sim, db)
    with connect(db, read_only=True) as conn:
        ledger = conn.execute("SELECT status, inserted FROM ingest_runs ORDER BY run_id").fetchall()
    assert [status for status, _ in ledger] == ["interrupted", "completed"]
    assert ledger[0][1] > 0  # the killed run had committed checkpoints


# Run in a subprocess: an ingest whose progress callback kills its own process (SIGKILL) while
# the checkpoint buffer holds two windows received but not stored. Each window is printed first:
# "first last max_id checkpoints-committed-when-it-arrived".
_KILL_BETWEEN_WINDOWS = """
import asyncio, os, signal, sys
from session_audit.ingest.runner import IdSource, ingest
from session_audit.settings import load_settings

since_commit = []

def progress(result, summary):
    print(result.first_id, result.last_id, result.max_id, summary.checkpoints, flush=True)
    if since_commit and since_commit[-1] != summary.checkpoints:
        since_commit.clear()
    since_commit.append(summary.checkpoints)
    if summary.checkpoints >= 1 and len(since_commit) >= 2:
        os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(ingest(load_settings(), IdSource("scan", start_id=int(sys.argv[1])), progress=progress))
"""


@pytest.mark.slow
def test_kill_9_between_the_windows_of_one_buffered_checkpoint_loses_only_those_windows(
    served: tuple[Simulator, str], tmp_path: Path
) -> None:
    sim, url = served
    db = tmp_path / "s.duckdb"
    env = _env(sim, url, db, checkpoint_ids=300, batch_size=50, checkpoint_rows=800)
    env["SESSION_AUDIT_CHECKPOINT_SECONDS"] = "3600"
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_BETWEEN_WINDOWS, str(sim.table.ids[0])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    windows = [tuple(int(v) for v in line.split()) for line in killed.stdout.splitlines()]
    assert windows[-1][3] >= 1  # killed after a commit, with two windows received since

    (run,) = _ledger(db)
    counts = LedgerCounts.from_row(run)
    with connect(db, read_only=True) as conn:
        cursor = conn.execute("SELECT next_id FROM ingest_state").fetchone()
    # A store runs in the background while the next windows arrive, so the progress line does
    # not say which windows the last commit held: the cursor does (a prefix of the windows).
    assert cursor is not None
    ends = [w[2] + 1 for w in windows]
    assert cursor[0] in ends
    committed = windows[: ends.index(cursor[0]) + 1]
    held = windows[len(committed) :]
    assert len(held) >= 2 and len(committed) >= 2  # >= 2 windows per checkpoint, 2 lost
    with connect(db, read_only=True) as conn:
        stored = conn.execute(
            "SELECT count(*), (SELECT count(*) FROM rejected_sessions) FROM user_sessions"
        ).fetchone()
        beyond = conn.execute(
            "SELECT count(*) FROM user_sessions WHERE id >= $lo", {"lo": held[0][0]}
        ).fetchone()
    assert run["status"] == "running"  # no end was recorded: the process died
    # the cursor is where the last committed checkpoint left it; the held windows are not stored
    assert cursor == (max(w[2] for w in committed) + 1,)
    assert beyond == (0,)
    assert stored is not None and (counts.inserted, counts.rejected) == stored
    assert counts.fetched == counts.inserted + counts.rejected  # a first run: all new

    rerun = subprocess.run(_ingest_cmd(), env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert_db_equals_truth(sim, db)  # the held windows were fetched again, stored once


def test_windows_are_stored_together_when_the_injected_clock_says_so(tmp_path: Path) -> None:
    """checkpoint_seconds on the injected monotonic clock (here: 4 s per window received):
    windows go three to a transaction, each with the cursor; the ledger and the data are exact."""
    sim = _sim()
    db = tmp_path / "s.duckdb"
    now = [0.0]

    def four_seconds_per_window(_result: ChunkResult, _summary: IngestSummary) -> None:
        now[0] += 4.0

    summary = asyncio.run(
        ingest(
            sim_settings(
                sim,
                db,
                checkpoint_ids=300,
                batch_size=100,
                checkpoint_rows=10**6,
                checkpoint_seconds=10,
            ),
            _scan(sim),
            transport=sim.transport(),
            sleep=_no_sleep,
            progress=four_seconds_per_window,
            monotonic=lambda: now[0],
        )
    )
    assert summary.status == "completed"
    assert summary.chunks > 6
    assert summary.checkpoints == math.ceil(summary.chunks / 3)
    assert_db_equals_truth(sim, db)
    (row,) = _ledger(db)
    assert LedgerCounts.from_row(row) == summary.counts


def test_a_failure_between_windows_stores_the_windows_received_first(tmp_path: Path) -> None:
    """Nothing falls due (a still clock, a large row limit); a failure after five windows stores
    those five in one transaction with the cursor, records the run failed, and the rerun
    continues from there to truth."""
    sim = _sim()
    db = tmp_path / "s.duckdb"
    received: list[ChunkResult] = []

    def fail_after_five(result: ChunkResult, summary: IngestSummary) -> None:
        received.append(result)
        if len(received) == 5:
            assert summary.checkpoints == 0
            raise RuntimeError("the disk of the progress log is full")

    settings = sim_settings(
        sim, db, checkpoint_ids=300, batch_size=100, checkpoint_rows=10**6, checkpoint_seconds=60
    )
    with pytest.raises(RuntimeError, match="disk"):
        asyncio.run(
            ingest(
                settings,
                _scan(sim),
                transport=sim.transport(),
                sleep=_no_sleep,
                progress=fail_after_five,
                monotonic=lambda: 0.0,
            )
        )
    (row,) = _ledger(db)
    with connect(db, read_only=True) as conn:
        cursor = conn.execute("SELECT next_id FROM ingest_state").fetchone()
        top = conn.execute("SELECT max(id) FROM user_sessions").fetchone()
    assert row["status"] == "failed" and "disk" in row["error"]
    assert cursor == (max(r.max_id or 0 for r in received) + 1,)
    assert top is not None and top[0] < (received[-1].last_id or 0) + 1
    assert row["inserted"] > 0 and row["last_id"] <= (received[-1].last_id or 0)

    summary = _run(sim, db, checkpoint_ids=300, batch_size=100)
    assert summary.status == "completed"
    assert_db_equals_truth(sim, db)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_cleanly_and_the_rerun_resumes(
    served: tuple[Simulator, str], tmp_path: Path, signum: int, code: int
) -> None:
    sim, url = served
    db = tmp_path / "s.duckdb"
    proc, env = _start_slow_ingest(sim, url, db, until_items=30)
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "interrupted" in errors[0]
    with connect(db, read_only=True) as conn:
        ledger = conn.execute("SELECT status, inserted, error FROM ingest_runs").fetchall()
    assert ledger[0][0] == "interrupted" and ledger[0][1] > 0  # recorded by the run itself

    rerun = subprocess.run(_ingest_cmd(), env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert_db_equals_truth(sim, db)


@pytest.mark.slow
def test_readers_succeed_throughout_a_long_ingest_which_stays_exact(
    served: tuple[Simulator, str], tmp_path: Path
) -> None:
    """The ingest holds the file only while it commits checkpoints (at most about a second at a
    time): a reader in another process (here, this one) gets in between, every time, and the
    ingest is exact."""
    sim, url = served
    db = tmp_path / "s.duckdb"
    proc, _ = _start_slow_ingest(sim, url, db, until_items=3)
    counts: list[int] = []
    failures: list[str] = []
    while proc.poll() is None:
        try:
            with connect(db, read_only=True, lock_timeout=30) as conn:
                row = conn.execute("SELECT count(*) FROM user_sessions").fetchone()
            counts.append(int(row[0]) if row else -1)
        except SessionAuditError as exc:
            failures.append(str(exc))
        time.sleep(0.05)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert failures == []
    assert len(counts) >= 8  # the reader got in again and again (each wait: about a second)
    assert counts == sorted(counts) and counts[-1] > counts[0]  # and saw it progress
    assert_db_equals_truth(sim, db)


def test_the_printed_summary_is_the_ledger_row_field_for_field(tmp_path: Path) -> None:
    """After a run with retried faults, a rate-limit wait and rejected rows, every count the
    CLI prints is the one its ledger row holds."""
    sim = _sim(sessions=1500, slow_seconds=0.0)
    sim.inject(Fault.SERVER_ERROR, times=2)
    sim.inject(Fault.RATE_LIMITED, retry_after="1")
    db = tmp_path / "s.duckdb"
    url, stop = start_background_server(sim)
    try:
        done = subprocess.run(
            _ingest_cmd("--start-id", str(sim.table.ids[0])),
            env=_env(sim, url, db, checkpoint_ids=300, batch_size=50),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop()
    assert done.returncode == 0, done.stderr
    number = r"([\d,]+)"
    patterns = {
        ("fetched",): rf"fetched +{number} sessions",
        ("inserted", "updated", "unchanged", "rejected"): (
            rf"stored +{number} new, {number} changed, {number} unchanged, {number} rejected"
        ),
        ("requests", "bytes", "retries"): (
            rf"requests +{number} \({number} bytes received\), {number} retries"
        ),
        ("penalty_waits", "renewals"): rf"penalties +{number} rate-limit waits, {number} token",
    }
    printed: dict[str, int] = {}
    for names, pattern in patterns.items():
        found = re.search(pattern, done.stdout)
        assert found is not None, (pattern, done.stdout)
        printed.update(zip(names, (int(g.replace(",", "")) for g in found.groups()), strict=True))
    (row,) = _ledger(db)
    assert row["status"] == "completed"
    assert printed == LedgerCounts.from_row(row).as_dict()
    assert printed["retries"] >= 3 and printed["penalty_waits"] >= 1 and printed["rejected"] > 0
    assert "retries (rate_limited 1, server 2)" in done.stdout


def test_second_concurrent_ingest_exits_with_a_clear_message(
    served: tuple[Simulator, str], tmp_path: Path
) -> None:
    """The test itself holds the writer (no race between two processes): the ingest started
    beside it stops at once, with one line naming the holder, and leaves the file untouched."""
    sim, url = served
    db = tmp_path / "s.duckdb"
    with writer(db) as conn:
        migrate(conn)
        second = subprocess.run(
            _ingest_cmd("--start-id", str(sim.table.ids[0])),
            env=_env(sim, url, db),
            capture_output=True,
            text=True,
            timeout=120,
        )
        runs = conn.execute("SELECT count(*) FROM ingest_runs").fetchone()

    assert second.returncode != 0
    assert "Traceback" not in second.stderr
    assert f"pid {os.getpid()}" in second.stderr  # names the running one
    assert len(second.stderr.strip().splitlines()) == 1
    assert runs == (0,)  # the second ingest wrote nothing
    assert sim.stats.by_path.get("/userSession/items", 0) == 0  # and fetched nothing


def test_a_run_starts_with_the_requests_earlier_runs_spent_in_the_hour(tmp_path: Path) -> None:
    sim = _sim()
    db = tmp_path / "s.duckdb"
    first = _run(sim, db, _scan(sim))
    spent = first.counts.requests
    with connect(db, read_only=True) as conn:
        assert conn.execute("SELECT requests FROM ingest_runs").fetchall() == [(spent,)]

    async def budget_at_start() -> int:
        run = IngestRun(sim_settings(sim, db), IdSource("scan"), transport=sim.transport())
        async with run:
            sent = int(run.client.budget.sent_last_hour)
        return sent

    # Tradovate counts a user's requests over a trailing hour, across runs
    assert asyncio.run(budget_at_start()) == spent


def test_a_store_cancelled_before_its_thread_started_is_not_waited_for(tmp_path: Path) -> None:
    """A signal cancels a checkpoint's store while the executor's threads are all busy: the
    thread never starts it, so the run's end must not wait for it (it once waited forever: the
    run hung after Ctrl-C); its windows are stored on the stop, as the windows still buffered
    are."""
    import concurrent.futures
    import threading

    sim = _sim()
    db = tmp_path / "s.duckdb"

    async def cancel_a_queued_store() -> bool:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=1))
        run = IngestRun(sim_settings(sim, db), IdSource("scan"), transport=sim.transport())
        async with run:
            fetcher = InlineFetcher(run)
            first = sim.table.ids[0]
            spec = run.new_chunk("scan", range(first, first + 200))
            await fetcher.start(spec)
            _, window = run.receive(spec, await fetcher.result(spec))
            release = threading.Event()
            busy = loop.run_in_executor(None, release.wait)  # the one thread is taken
            store = asyncio.create_task(run.store_windows([window]))
            await asyncio.sleep(0)  # handed to the executor, queued behind ``busy``
            store.cancel()
            with pytest.raises(asyncio.CancelledError):
                await store
            settled = threading.Thread(target=run._settle, daemon=True)
            settled.start()
            settled.join(timeout=10)
            hung = settled.is_alive()
            if hung:  # let the run end anyway, then fail
                with run._stores:
                    run._storing = 0
                    run._stores.notify_all()
            release.set()
            await busy
        return hung

    assert asyncio.run(cancel_a_queued_store()) is False
    first = sim.table.ids[0]
    truth = {s["id"] for s in sim.truth_sessions() if first <= s["id"] < first + 200}
    with connect(db, read_only=True) as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM user_sessions").fetchall()}
        cursor = conn.execute("SELECT next_id FROM ingest_state").fetchone()
    assert truth and stored == truth  # the window was stored on the stop, with its cursor
    assert cursor is not None and cursor[0] == max(truth) + 1


def test_a_scan_ends_at_its_own_login_session_and_its_tail_and_fetches_one_window_ahead(
    tmp_path: Path,
) -> None:
    sim = _sim()
    db = tmp_path / "s.duckdb"
    batch, checkpoint, tail = 50, 500, 200
    summary = _run(sim, db, _scan(sim), batch_size=batch, checkpoint_ids=checkpoint, scan_tail=tail)
    assert summary.status == "completed"
    assert_db_equals_truth(sim, db)
    # the one login of the run opened the newest session of the API user: that ended the scan
    own = max(s["id"] for s in sim.truth_sessions() if s.get("userId") == sim.api_user_id)
    assert summary.end_session_id == own
    needed = math.ceil((own + 1 + tail - sim.table.ids[0]) / batch)
    items = sim.stats.by_path.get("/userSession/items", 0)
    # every id up to the tail once, plus at most the rest of the window that held the end and
    # the one window fetched ahead while it was stored
    assert needed <= items <= needed + 2 * checkpoint // batch
    with connect(db, read_only=True) as conn:
        ledger = conn.execute(
            "SELECT status, end_session_id, scanned_to FROM ingest_runs"
        ).fetchall()
    assert ledger == [("completed", own, summary.scanned_to)]
    assert summary.scanned_to is not None and summary.scanned_to >= own + tail


def test_missing_credentials_fail_before_the_database_is_touched(tmp_path: Path) -> None:
    sim = _sim()
    db = tmp_path / "s.duckdb"
    settings = sim_settings(sim, db).with_overrides(username="")
    with pytest.raises(ConfigError, match="SESSION_AUDIT_USERNAME"):
        asyncio.run(ingest(settings, _scan(sim), transport=sim.transport()))
    assert not db.exists()


def test_a_backfill_above_the_limit_leaves_the_rules_to_the_explicit_command(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = _sim(sessions=600)
    db = tmp_path / "s.duckdb"
    big = _run(sim, db, _scan(sim), findings_after_ingest_max=100)
    assert big.status == "completed" and big.inserted > 100
    assert big.findings is None
    assert "findings not evaluated" in caplog.text and "findings evaluate --since-id" in caplog.text
    sim.advance(2 * 86_400)
    small = _run(sim, db, findings_after_ingest_max=100)  # an ordinary incremental run
    assert 0 < small.inserted <= 100
    assert small.findings is not None and small.findings.since_session_id == big.next_id


def test_the_users_stats_are_fetched_while_the_users_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_audit.ingest.store import SessionStore

    sim = _sim()
    db = tmp_path / "s.duckdb"
    sent_during: list[int] = []
    write_users = SessionStore.write_users

    def held(self: SessionStore, run_id: int, users: list[dict[str, Any]]) -> int:
        deadline = time.monotonic() + 60  # a hang guard: the stats request goes out at once
        while not sim.stats.by_path["/userSessionStats/ldeps"] and time.monotonic() < deadline:
            time.sleep(0.005)
        sent_during.append(sim.stats.by_path["/userSessionStats/ldeps"])
        return write_users(self, run_id, users)

    monkeypatch.setattr(SessionStore, "write_users", held)
    summary = _run(sim, db, _scan(sim))
    assert summary.status == "completed" and summary.users == 150
    assert sent_during and sent_during[0] >= 1
    with connect(db, read_only=True) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM user_session_stats)"
        ).fetchone()
    assert counts == (150, 150)


def test_users_that_cannot_be_stored_fail_the_run_with_that_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_audit.errors import StorageError
    from session_audit.ingest.store import SessionStore

    def broken(self: SessionStore, run_id: int, users: list[dict[str, Any]]) -> int:
        raise StorageError("cannot store users: disk full")

    monkeypatch.setattr(SessionStore, "write_users", broken)
    sim = _sim()
    db = tmp_path / "s.duckdb"
    with pytest.raises(StorageError, match="disk full"):
        _run(sim, db, _scan(sim))
    with connect(db, read_only=True) as conn:
        ledger = conn.execute("SELECT status, error FROM ingest_runs").fetchall()
        stats = conn.execute("SELECT count(*) FROM user_session_stats").fetchone()
    assert ledger == [("failed", "cannot store users: disk full")] and stats == (0,)
