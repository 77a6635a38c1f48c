"""ip_user_rollup: kept exact by the findings evaluation, proved by its checksum, checked.

The rollup must always equal a recomputation over the sessions it holds (every session of the
org with an ip stored by a run up to ``through_run``): after a first build, after sessions of
later runs are added, and after changes the checksum must catch (a re-fetched session whose
address, user or start changed; a session written without a run). An end time that changes
must not cost a rebuild.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pytest

from session_audit.db import ip_user_rollup
from session_audit.db.checks import run_check
from session_audit.ingest.normalize import normalize_pages
from session_audit.ingest.store import SessionStore

CHECK = "ip_user_rollup_inconsistent"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def api_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def session(sid: int, user: int, ip: str | None, minutes: int, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": sid,
        "userId": user,
        "startTime": api_time(T0 + timedelta(minutes=minutes)),
        "clientAppId": 7,
        "ipAddress": ip,
        "appId": "Tradovate",
        "appVersion": "1.0",
    }
    obj.update(extra)
    return obj


def store_run(conn: duckdb.DuckDBPyConnection, *objs: dict[str, Any], org: str = "default") -> int:
    """One run storing ``objs`` in one checkpoint; returns its run id."""
    store = SessionStore(conn, org)
    run = store.start_run("scan")
    batch = normalize_pages([orjson.dumps(list(objs))], org=org)
    store.write_checkpoint(run, batch, cursor=None)
    store.finish_run(run, "completed")
    return run


def refresh(conn: duckdb.DuckDBPyConnection, org: str = "default") -> str:
    conn.execute("BEGIN TRANSACTION")
    done = ip_user_rollup.refresh(conn, org)
    conn.execute("COMMIT")
    return done


def rollup(conn: duckdb.DuckDBPyConnection, org: str = "default") -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT ip, user_id, first_start, first_id, last_start, sessions FROM ip_user_rollup "
        "WHERE org = ? ORDER BY ip, user_id",
        [org],
    ).fetchall()


def recomputed(conn: duckdb.DuckDBPyConnection, org: str = "default") -> list[tuple[Any, ...]]:
    """The rollup rows computed in Python from the stored sessions (independent of the SQL)."""
    rows = conn.execute(
        "SELECT ip, user_id, start_time, id FROM user_sessions WHERE org = ? AND ip IS NOT NULL",
        [org],
    ).fetchall()
    groups: dict[tuple[str, int], list[tuple[datetime, int]]] = {}
    for ip, user, start, sid in rows:
        groups.setdefault((ip, user), []).append((start, sid))
    out = []
    for (ip, user), starts in sorted(groups.items()):
        first = min(starts)
        out.append((ip, user, first[0], first[1], max(s for s, _ in starts), len(starts)))
    return out


def test_built_then_added_then_unchanged(conn: duckdb.DuckDBPyConnection) -> None:
    store_run(
        conn,
        session(1, 10, "10.0.0.1", 0),
        session(2, 10, "10.0.0.1", 30),
        session(3, 11, "10.0.0.1", 5),
        session(4, 11, None, 6),  # no address: not in the rollup
    )
    assert refresh(conn) == "rebuilt"  # the first refresh of the org builds it
    assert rollup(conn) == recomputed(conn)
    assert [r[:2] + r[3:4] + r[5:] for r in rollup(conn)] == [
        ("10.0.0.1", 10, 1, 2),
        ("10.0.0.1", 11, 3, 1),
    ]
    # a later run: a known (ip, user) gets an earlier first session and its count; a new one
    # (even with an id below the stored ones' runs: ids grow with runs here, not sessions)
    store_run(
        conn,
        session(5, 10, "10.0.0.1", -10),
        session(6, 12, "10.0.0.2", 40),
    )
    assert refresh(conn) == "added"
    assert rollup(conn) == recomputed(conn)
    first_of_10 = next(r for r in rollup(conn) if r[1] == 10)
    assert (first_of_10[3], first_of_10[5]) == (5, 3)
    assert refresh(conn) == "unchanged"
    assert run_check(conn, CHECK) == []


def test_a_session_of_an_earlier_id_from_a_later_run_is_added(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    store_run(conn, session(100, 10, "10.0.0.1", 0))
    refresh(conn)
    store_run(conn, session(7, 10, "10.0.0.9", 1))  # an --ids-file import of an old id
    assert refresh(conn) == "added"
    assert rollup(conn) == recomputed(conn)


def test_a_closed_session_changes_nothing(conn: duckdb.DuckDBPyConnection) -> None:
    store_run(conn, session(1, 10, "10.0.0.1", 0))
    refresh(conn)
    store_run(conn, session(1, 10, "10.0.0.1", 0, endTime=api_time(T0 + timedelta(hours=1))))
    assert conn.execute("SELECT end_time IS NOT NULL FROM user_sessions").fetchone() == (True,)
    assert refresh(conn) == "unchanged"
    assert run_check(conn, CHECK) == []


@pytest.mark.parametrize(
    "changed",
    [{"ipAddress": "10.0.0.2"}, {"userId": 11}, {"startTime": api_time(T0 - timedelta(days=1))}],
    ids=["address", "user", "start"],
)
def test_a_refetched_session_whose_identity_changed_rebuilds(
    conn: duckdb.DuckDBPyConnection, changed: dict[str, Any]
) -> None:
    store_run(conn, session(1, 10, "10.0.0.1", 0), session(2, 10, "10.0.0.1", 9))
    refresh(conn)
    store_run(conn, {**session(1, 10, "10.0.0.1", 0), **changed})  # the MERGE path
    assert refresh(conn) == "rebuilt"
    assert rollup(conn) == recomputed(conn)
    assert run_check(conn, CHECK) == []


def test_a_session_written_without_a_run_rebuilds(conn: duckdb.DuckDBPyConnection) -> None:
    store_run(conn, session(1, 10, "10.0.0.1", 0))
    refresh(conn)
    conn.execute(
        "INSERT INTO user_sessions (org, id, user_id, start_time, ip, anomalies) "
        "VALUES ('default', 50, 10, TIMESTAMPTZ '2024-04-01 00:00:00+00', '10.0.0.1', [])"
    )
    assert refresh(conn) == "rebuilt"
    assert rollup(conn) == recomputed(conn)


def test_orgs_are_kept_apart(conn: duckdb.DuckDBPyConnection) -> None:
    store_run(conn, session(1, 10, "10.0.0.1", 0), org="a")
    store_run(conn, session(2, 10, "10.0.0.1", 0), org="b")
    refresh(conn, "a")
    assert rollup(conn, "a") == recomputed(conn, "a")
    assert rollup(conn, "b") == []  # b has not been evaluated: nothing held, nothing wrong
    assert run_check(conn, CHECK) == []
    refresh(conn, "b")
    assert rollup(conn, "b") == recomputed(conn, "b")


def test_random_runs_keep_it_exact(conn: duckdb.DuckDBPyConnection) -> None:
    """Seeded random runs of new sessions, re-fetches (some closing, some with another
    address) and refreshes: after every refresh the rollup equals the Python recomputation."""
    rng = random.Random(7)
    next_id, known = 1, []
    for step in range(12):
        objs = []
        for _ in range(rng.randint(1, 30)):
            objs.append(session(next_id, rng.randint(1, 6), f"10.0.0.{rng.randint(1, 5)}",
                                rng.randint(-500, 500)))  # fmt: skip
            known.append(next_id)
            next_id += 1
        for sid in rng.sample(known, k=min(len(known), rng.randint(0, 3))):
            row = conn.execute(
                "SELECT user_id, ip_address, start_time FROM user_sessions WHERE id = ?", [sid]
            ).fetchone()
            if row is None:  # still in this step's objs
                continue
            ip = f"10.0.0.{rng.randint(1, 5)}" if rng.random() < 0.5 else row[1]
            objs.append({**session(sid, row[0], ip, 0), "startTime": api_time(row[2]),
                         "endTime": api_time(row[2] + timedelta(minutes=5))})  # fmt: skip
        store_run(conn, *objs)
        if step % 3 != 1:  # some runs are not followed by an evaluation
            refresh(conn)
            assert rollup(conn) == recomputed(conn), f"step {step}"
            assert run_check(conn, CHECK) == []


def test_the_check_finds_a_wrong_row(conn: duckdb.DuckDBPyConnection) -> None:
    store_run(conn, session(1, 10, "10.0.0.1", 0), session(2, 11, "10.0.0.1", 0))
    refresh(conn)
    conn.execute("UPDATE ip_user_rollup SET sessions = 5 WHERE user_id = 10")
    conn.execute("INSERT INTO ip_user_rollup SELECT * FROM ip_user_rollup WHERE user_id = 11")
    bad = run_check(conn, CHECK)
    assert sorted(str(row[2]) for row in bad) == ["10", "11", "11"]  # wrong count; stored twice


def test_a_rollup_stale_by_its_own_state_is_not_reported_and_is_rebuilt(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    """A session whose address changed after the last evaluation: the state no longer matches
    the sessions, so the rollup is stale by its own account (the next evaluation rebuilds it
    before a rule reads it); the check does not call that an inconsistency."""
    store_run(conn, session(1, 10, "10.0.0.1", 0))
    refresh(conn)
    conn.execute("UPDATE user_sessions SET ip = '10.0.0.9' WHERE id = 1")
    assert run_check(conn, CHECK) == []
    assert refresh(conn) == "rebuilt"
    assert rollup(conn) == recomputed(conn)
    conn.execute("UPDATE ip_user_rollup SET sessions = 2")  # now current by its state, and wrong
    assert len(run_check(conn, CHECK)) == 1
