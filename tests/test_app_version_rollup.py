"""The app_version_daily rollup (schema 6) stays exact: the rollup-backed view returns the same
rows as the pre-rollup definition over user_sessions, through a randomized simulator ingest
with re-fetch updates, duplicates and rejected rows; a failed checkpoint leaves it as it was;
only the days a checkpoint changes are recomputed; an older file is backfilled by the
migration; the data check catches a rollup that disagrees with the sessions."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from session_audit.db import app_version_rollup
from session_audit.db.app_version_rollup import MERGE_GAP_DAYS, day_groups, rebuild
from session_audit.db.checks import check_names, run_check
from session_audit.db.connection import connect
from session_audit.db.migrations import STEPS, migrate
from session_audit.errors import StorageError
from session_audit.ingest.normalize import normalize_pages
from session_audit.ingest.store import SessionStore
from support import make_sim

CHECK = "app_version_rollup_inconsistent"

# The view app_version_daily as it was before the rollup (computed from user_sessions and the
# view app_versions): the reference the rollup-backed view must equal row for row.
OLD_DEFINITION = """
WITH base AS MATERIALIZED (
    SELECT
        org,
        DATE '1970-01-01' + CAST(floor(epoch_us(start_time) / 86400000000) AS INTEGER) AS day,
        app_id,
        app_version,
        user_id
    FROM user_sessions
),
per_version AS (
    SELECT
        org, day, app_id, app_version,
        count(*)::BIGINT AS sessions,
        count(DISTINCT user_id)::BIGINT AS users
    FROM base
    WHERE app_version IS NOT NULL
    GROUP BY org, day, app_id, app_version
),
per_app AS (
    SELECT org, day, app_id, count(DISTINCT user_id)::BIGINT AS app_users
    FROM base
    GROUP BY org, day, app_id
)
SELECT
    p.org,
    p.day,
    p.app_id,
    p.app_version,
    v.version_key,
    v.is_outdated,
    p.sessions,
    p.users,
    a.app_users,
    p.users / a.app_users AS user_share
FROM per_version AS p
JOIN per_app AS a
    ON a.org = p.org AND a.day = p.day AND a.app_id IS NOT DISTINCT FROM p.app_id
JOIN app_versions AS v
    ON v.org = p.org AND v.app_id IS NOT DISTINCT FROM p.app_id AND v.app_version = p.app_version
"""
ORDER = " ORDER BY ALL"
COLUMNS = (
    "org, day, app_id, app_version, version_key, is_outdated, sessions, users, app_users,"
    " user_share"
)


def new_db(path: Path | str = ":memory:") -> duckdb.DuckDBPyConnection:
    conn = connect(path)
    migrate(conn)
    return conn


def view_rows(conn: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT {COLUMNS} FROM app_version_daily" + ORDER).fetchall()


def old_rows(conn: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT {COLUMNS} FROM ({OLD_DEFINITION})" + ORDER).fetchall()


def assert_exact(conn: duckdb.DuckDBPyConnection) -> None:
    assert run_check(conn, CHECK) == []
    assert view_rows(conn) == old_rows(conn)


def write(store: SessionStore, run: int, pages: list[list[dict[str, Any]]]) -> None:
    batch = normalize_pages([orjson.dumps(page) for page in pages], org=store.org)
    store.write_checkpoint(run, batch, cursor=None)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _start(obj: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(obj.get("startTime")).replace("Z", "+00:00"))
    except ValueError:
        return None


def storable(obj: dict[str, Any]) -> bool:
    """Not one the ingest rejects (a user id and a start time that parses)."""
    return isinstance(obj.get("userId"), int) and _start(obj) is not None


def mutate(obj: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A re-fetch of ``obj`` with one thing changed as the API might change it (or a rejected
    copy: no userId, a start that is not a time)."""
    out = dict(obj)
    start = _start(obj)
    assert start is not None
    kind = rng.choice(
        ["version", "no_version", "app", "no_app", "user", "day", "close", "reject", "bad_time"]
    )
    if kind == "version":
        out["appVersion"] = rng.choice(["1.9", "1.10", "2.0", "2.0-beta", "3.0", "x"])
    elif kind == "no_version":
        out["appVersion"] = None
    elif kind == "app":
        out["appId"] = rng.choice(["tradovate_trader", "TradingView", "NewApp"])
    elif kind == "no_app":
        out.pop("appId", None)
    elif kind == "user":
        out["userId"] = rng.choice([2400002, 2400003, 2400099])
    elif kind == "day":  # the start moves across a UTC midnight, by whole days
        out["startTime"] = _iso(start + timedelta(days=rng.choice([-2, -1, 1])))
    elif kind == "close":
        out["endTime"] = _iso(start + timedelta(minutes=rng.randint(1, 600)))
    elif kind == "reject":
        out.pop("userId", None)
    else:
        out["startTime"] = "yesterday"
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollup_view_equals_the_old_definition_through_a_randomized_ingest(seed: int) -> None:
    rng = random.Random(seed)
    sim = make_sim(users=25, sessions=700, seed=seed, span_days=6)
    conn = new_db()
    stores = {org: SessionStore(conn, org) for org in ("default", "other")}
    runs = {org: store.start_run("scan") for org, store in stores.items()}
    sent: dict[str, list[dict[str, Any]]] = {org: [] for org in stores}

    def checkpoint(org: str, objs: list[dict[str, Any]]) -> None:
        """Some objects, in 1-3 pages, with duplicates (last wins) and re-fetched changes."""
        objs = list(objs)
        for old in rng.sample(sent[org], min(len(sent[org]), rng.randint(0, 8))):
            objs.append(mutate(old, rng))  # a re-fetch that changed (or broke) a stored row
        valid = [o for o in objs if storable(o)]
        for obj in rng.sample(valid, min(len(valid), rng.randint(0, 3))):
            # a repeat of an id in the same checkpoint, before or after it: the last one wins
            objs.insert(rng.randrange(len(objs) + 1), mutate(obj, rng))
        cuts = sorted(rng.sample(range(1, len(objs)), min(2, len(objs) - 1))) if objs else []
        pages = [objs[a:b] for a, b in zip([0, *cuts], [*cuts, len(objs)], strict=True)]
        write(stores[org], runs[org], pages)
        sent[org].extend(o for o in objs if storable(o))
        assert run_check(conn, CHECK) == []

    truth = sim.truth_sessions()
    position = 0
    while position < len(truth):
        size = rng.randint(1, 120)
        chunk = truth[position : position + size]
        position += size
        checkpoint("default", chunk)
        checkpoint("other", rng.sample(chunk, len(chunk) // 2))
        if rng.random() < 0.3:
            assert_exact(conn)
    assert_exact(conn)

    # time passes: open sessions close, new ones start; a re-fetch of everything updates them
    sim.advance(8 * 3600)
    later = sim.truth_sessions()
    for start in range(0, len(later), 200):
        checkpoint("default", later[start : start + 200])
    assert_exact(conn)
    # and the true values again, over every change made above: the rollup follows them back
    for start in range(0, len(later), 300):
        write(stores["default"], runs["default"], [later[start : start + 300]])
    assert_exact(conn)
    assert len(view_rows(conn)) > 20  # several days, apps and versions, both orgs
    assert {row[0] for row in view_rows(conn)} == {"default", "other"}


def session(sid: int, start: str, version: str | None = "1.0", **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": sid, "userId": 7, "startTime": start, "clientAppId": 1}
    obj["appId"] = "Trader"
    if version is not None:
        obj["appVersion"] = version
    return {**obj, **extra}


def test_only_the_days_a_checkpoint_changes_are_recomputed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = new_db()
    store = SessionStore(conn, "default")
    run = store.start_run("scan")
    write(
        store,
        run,
        [
            [
                session(1, "2024-01-01T23:59:59.999Z"),
                session(2, "2024-01-02T00:00:00Z"),
                session(3, "2024-01-05T10:00:00Z"),
            ]
        ],
    )
    refreshed: list[list[tuple[str, date]]] = []
    real = app_version_rollup.refresh_days

    def spy(conn: duckdb.DuckDBPyConnection, keys: list[tuple[str, date]]) -> int:
        refreshed.append(list(keys))
        return real(conn, keys)

    monkeypatch.setattr(app_version_rollup, "refresh_days", spy)
    # an identical re-fetch, and one that only closes a session or changes its IP: nothing
    closed = session(1, "2024-01-01T23:59:59.999Z", endTime="2024-01-02T01:00:00Z")
    write(store, run, [[{**closed, "ipAddress": "10.0.0.1"}, session(2, "2024-01-02T00:00:00Z")]])
    assert refreshed == []
    # a changed version: that session's day; a start moved to another day: the old and new day
    write(
        store,
        run,
        [[session(2, "2024-01-02T00:00:00Z", "2.0"), session(3, "2024-01-07T10:00:00Z")]],
    )
    day = date.fromisoformat
    assert refreshed == [
        [
            ("default", day("2024-01-02")),
            ("default", day("2024-01-05")),
            ("default", day("2024-01-07")),
        ]
    ]
    # a new session: its own day
    write(store, run, [[session(4, "2024-01-07T11:00:00Z")]])
    assert refreshed[-1] == [("default", day("2024-01-07"))]
    assert_exact(conn)
    got = conn.execute(
        "SELECT day, app_version, sessions, users, app_users FROM app_version_daily ORDER BY ALL"
    ).fetchall()
    assert got == [
        (day("2024-01-01"), "1.0", 1, 1, 1),
        (day("2024-01-02"), "2.0", 1, 1, 1),
        (day("2024-01-07"), "1.0", 2, 1, 1),
    ]


def test_the_days_of_a_plain_insert_are_those_touched_days_finds() -> None:
    """A checkpoint none of whose ids is stored takes its days from the frame (new_days), without
    the join: the same keys touched_days gives for new ids, at day edges, offsets and before
    1970."""
    conn = new_db()
    store = SessionStore(conn, "default")
    run = store.start_run("scan")
    write(store, run, [[session(1, "2024-01-01T12:00:00Z")]])
    starts = [
        "2024-01-01T23:59:59.999Z",
        "2024-01-02T00:00:00Z",
        "2024-01-02T01:30:00+02:00",
        "2024-01-02T22:30:00-02:00",
        "1969-12-31T23:59:59.999999Z",
        "1970-01-01T00:00:00Z",
        "1900-02-28T12:00:00Z",
    ]
    batch = normalize_pages(
        [orjson.dumps([session(10 + i, t) for i, t in enumerate(starts)])], org="default"
    )
    sessions = batch.sessions
    with app_version_rollup.staged(conn, sessions):
        joined = app_version_rollup.touched_days(conn, 10, 10 + len(starts))
    assert sorted(app_version_rollup.new_days(sessions)) == joined
    assert len(joined) == 6  # 22:30-02:00 is the next UTC day


def test_days_far_apart_are_recomputed_apart_and_exactly() -> None:
    d = date(2024, 1, 1)
    gap = timedelta(days=MERGE_GAP_DAYS)
    days = [d, d + timedelta(days=2), d + timedelta(days=2) + gap, d + 5 * gap]
    assert day_groups(days) == [
        [d, d + timedelta(days=2)],
        [d + timedelta(days=2) + gap],
        [d + 5 * gap],
    ]
    conn = new_db()
    store = SessionStore(conn, "default")
    run = store.start_run("scan")
    starts = [f"{day.isoformat()}T12:00:00Z" for day in days]
    write(store, run, [[session(i, start) for i, start in enumerate(starts)]])
    # a re-fetch changing the first and the last: two statements, the days between untouched
    conn.execute("UPDATE app_version_daily_rollup SET sessions = 99 WHERE day = ?", [days[2]])
    write(store, run, [[session(0, starts[0], "2.0"), session(3, starts[3], "2.0")]])
    assert conn.execute("SELECT max(sessions) FROM app_version_daily_rollup").fetchone() == (99,)
    conn.execute("UPDATE app_version_daily_rollup SET sessions = 1 WHERE day = ?", [days[2]])
    assert_exact(conn)
    assert app_version_rollup.refresh_days(conn, [("default", day) for day in days]) == 3
    assert_exact(conn)


def test_a_failed_checkpoint_leaves_the_rollup_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = new_db()
    store = SessionStore(conn, "default")
    run = store.start_run("scan")
    write(store, run, [[session(1, "2024-01-01T10:00:00Z"), session(2, "2024-01-02T10:00:00Z")]])
    before = view_rows(conn)

    def fail(*_: Any) -> int:
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(store, "_insert_rejected", fail)  # after the merge and the refresh
    with pytest.raises(StorageError, match="disk full"):
        write(
            store,
            run,
            [[session(1, "2024-01-01T10:00:00Z", "3.0"), session(3, "2024-01-03T10:00:00Z")]],
        )
    assert view_rows(conn) == before
    assert_exact(conn)


def _rollup_version() -> int:
    (step,) = [s for s in STEPS if "schema/app_version_daily_rollup" in s.sql]
    return step.version


def test_an_older_file_gets_its_rollup_backfilled(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    conn = connect(path)
    older = [s for s in STEPS if s.version < _rollup_version()]
    migrate(conn, steps=older, views=())
    rows = [
        (1, 1, "2024-01-01 23:59:59.999+00", "Trader", "1.9"),
        (2, 2, "2024-01-02 00:00:00+00", "Trader", "1.10"),
        (3, 5, "2024-01-02 05:00:00+00", "Trader", None),  # counts in app_users only
        (4, 3, "2024-01-02 06:00:00+00", None, "2.0-beta"),
        (5, 1, "1969-12-31 23:00:00+00", "Trader", "1.10"),  # before the epoch: floor, not trunc
        (6, 4, "2024-01-02 07:00:00+00", "Trader", "1.10"),
    ]
    conn.executemany(
        "INSERT INTO user_sessions (org, id, user_id, start_time, app_id, app_version, anomalies)"
        " VALUES ('default', ?, ?, CAST(? AS TIMESTAMPTZ), ?, ?, [])",
        [list(r) for r in rows],
    )
    conn.close()
    conn = connect(path)
    migrate(conn)
    assert_exact(conn)
    got = conn.execute(
        "SELECT day, app_id, app_version, sessions, users, app_users, is_outdated"
        " FROM app_version_daily ORDER BY ALL"
    ).fetchall()
    d = date.fromisoformat
    assert got == [
        (d("1969-12-31"), "Trader", "1.10", 1, 1, 1, False),
        (d("2024-01-01"), "Trader", "1.9", 1, 1, 1, True),
        (d("2024-01-02"), "Trader", "1.10", 2, 2, 3, False),
        (d("2024-01-02"), None, "2.0-beta", 1, 1, 1, None),
    ]


@pytest.mark.parametrize(
    "breakage",
    [
        "UPDATE app_version_daily_rollup SET users = users + 1 WHERE app_version = '1.0'",
        "UPDATE app_version_daily_rollup SET app_users = 9",
        "DELETE FROM app_version_daily_rollup WHERE app_version = '2.0'",
        "INSERT INTO app_version_daily_rollup SELECT * FROM app_version_daily_rollup LIMIT 1",
        "INSERT INTO app_version_daily_rollup VALUES ('default', DATE '2030-01-01', 'X', '1', 1,"
        " 1, 1)",
        "DELETE FROM user_sessions WHERE id = 2",
    ],
)
def test_the_check_catches_a_rollup_that_disagrees_with_the_sessions(breakage: str) -> None:
    conn = new_db()
    store = SessionStore(conn, "default")
    run = store.start_run("scan")
    write(
        store,
        run,
        [[session(1, "2024-01-01T10:00:00Z"), session(2, "2024-01-01T11:00:00Z", "2.0", userId=8)]],
    )
    assert CHECK in check_names()
    assert run_check(conn, CHECK) == []
    conn.execute(breakage)
    assert len(run_check(conn, CHECK)) >= 1
    rebuild(conn)  # the repair: recompute everything from the sessions
    assert_exact(conn)
