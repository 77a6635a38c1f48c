"""Period-true analysis: export --since/--until computes aggregate views over the period's sessions.

The expected figures are counted here independently, in plain Python over the hand-made
sessions (Python's ipaddress for the address identity), never by the views under test.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

from session_audit.analysis.export import export_dataset
from session_audit.analysis.filters import ExportFilters
from session_audit.analysis.period import (
    COMPUTED,
    PERIOD_VIEWS,
    ROWS,
    bind_period,
    period_name,
    period_sql,
)
from session_audit.cli import run_app
from test_views_data import add_sessions, add_users, make_db, sample_db

DAY = datetime(2024, 7, 10, tzinfo=UTC)
NEXT = DAY + timedelta(days=1)
HOURS_OPEN = 24.0


def h(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


# (id, user, start, end, ip text): each group names the case it covers.
SESSIONS: list[tuple[int, int, datetime, datetime | None, str | None]] = [
    # 10.0.0.1: users 1 and 2 on the day -> shared that day
    (1, 1, h(1), h(2), "10.0.0.1"),
    (2, 2, h(3), h(4), "10.0.0.1"),
    # 10.0.0.2: user 3 the day before (first seen then), user 1 on the day -> shared all-time only
    (3, 3, h(-20), h(-19), "10.0.0.2"),
    (4, 1, h(5), h(6), "10.0.0.2"),
    # 10.0.0.3: user 4's session starts the evening before and runs into the day; user 5 on the
    # day -> shared that day (a first_seen filter would miss it: first seen the day before)
    (5, 4, h(-1), h(1), "10.0.0.3"),
    (6, 5, h(2), h(3), "10.0.0.3"),
    # 10.0.0.4: user 6 the day before (closed before midnight), user 7 the day after -> not that day
    (7, 6, h(-5), h(-4), "10.0.0.4"),
    (8, 7, h(25), h(26), "10.0.0.4"),
    # 10.0.0.5: user 8's session is open, started 20 h before the day: assumed to run 24 h,
    # so it runs into the day; user 9 on the day -> shared that day
    (9, 8, h(-20), None, "10.0.0.5"),
    (10, 9, h(7), h(8), "10.0.0.5"),
    # 10.0.0.6: user 10's open session started 30 h before the day: its 24 h ended before it
    (11, 10, h(-30), None, "10.0.0.6"),
    (12, 11, h(9), h(10), "10.0.0.6"),
    # one IPv6 address spelled three ways by users 12, 13 (and 12 again) on the day -> shared
    (13, 12, h(10), h(11), "2001:DB8:0:0:0:0:0:1"),
    (14, 13, h(11), h(12), "2001:db8::1"),
    (15, 12, h(12), h(13), "::ffff:10.0.0.9"),
    # 10.0.0.9 (the IPv4-mapped spelling above) also used by user 14 on the day -> shared
    (16, 14, h(13), h(14), "10.0.0.9"),
    # text that is not an IP, used by two users on the day: never an IP
    (17, 15, h(14), h(15), "unknown"),
    (18, 16, h(15), h(16), "unknown"),
    # a session starting exactly at `until` belongs to the next day
    (19, 17, NEXT, NEXT + timedelta(hours=1), "10.0.0.7"),
    (20, 18, h(20), h(21), "10.0.0.7"),
    # newest data: two days after the day
    (21, 19, h(48), h(49), "10.0.0.8"),
]


def _rows() -> list[dict[str, Any]]:
    return [{"id": i, "user_id": u, "start": s, "end": e, "ip": ip} for i, u, s, e, ip in SESSIONS]


def _db(path: Path | str = ":memory:") -> duckdb.DuckDBPyConnection:
    conn = make_db(path)
    add_users(conn, [(u, f"user{u}") for u in range(1, 20)])
    add_sessions(conn, _rows())
    return conn


def _canonical(text: str | None) -> str | None:
    try:
        address = ipaddress.ip_address(text or "")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _running(start: datetime, end: datetime | None, since: datetime, until: datetime) -> bool:
    newest = max(max(s, e or s) for _, _, s, e, _ in SESSIONS)
    assumed = end if end is not None else min(start + timedelta(hours=HOURS_OPEN), newest)
    return start < until and (start >= since or assumed > since)


def expected_shared_ips(since: datetime, until: datetime) -> dict[str, list[int]]:
    users: dict[str, set[int]] = {}
    for _, user, start, end, text in SESSIONS:
        ip = _canonical(text)
        if ip is not None and _running(start, end, since, until):
            users.setdefault(ip, set()).add(user)
    return {ip: sorted(u) for ip, u in users.items() if len(u) >= 2}


def test_the_independent_count_is_what_a_human_counts() -> None:
    # guards the test's own arithmetic against the comments above
    assert expected_shared_ips(DAY, NEXT) == {
        "10.0.0.1": [1, 2],
        "10.0.0.3": [4, 5],
        "10.0.0.5": [8, 9],
        "2001:db8::1": [12, 13],
        "10.0.0.9": [12, 14],
    }


def test_period_export_of_shared_ips_for_one_day_equals_the_independent_count(
    tmp_path: Path,
) -> None:
    conn = _db()
    result = export_dataset(
        conn,
        dataset="shared_ips",
        fmt="parquet",
        out_dir=tmp_path / "day",
        filters=ExportFilters(since=DAY, until=NEXT),
    )
    rows = pq.read_table(tmp_path / "day" / "shared_ips.parquet").to_pylist()
    got = {r["address"]: r["user_ids"] for r in rows if r["kind"] == "ip"}
    assert got == expected_shared_ips(DAY, NEXT)
    for r in rows:
        assert r["users"] == len(r["user_ids"]) >= 2
    assert result.manifest["period"] == {
        "since": DAY.isoformat(),
        "until": NEXT.isoformat(),
        "applied": COMPUTED,
    }
    # the day before: 10.0.0.2 is not shared then either (user 1 came only on the day)
    before = export_dataset(
        conn,
        dataset="shared_ips",
        fmt="parquet",
        out_dir=tmp_path / "before",
        filters=ExportFilters(since=DAY - timedelta(days=1), until=DAY),
    )
    rows = pq.read_table(before.directory / "shared_ips.parquet").to_pylist()
    got = {r["address"]: r["user_ids"] for r in rows if r["kind"] == "ip"}
    assert got == expected_shared_ips(DAY - timedelta(days=1), DAY)


def test_all_time_exports_are_the_views_unchanged(tmp_path: Path) -> None:
    conn = _db()
    for view in ("shared_ips", "concurrent_sessions", "user_risk_summary"):
        result = export_dataset(conn, dataset=view, fmt="parquet", out_dir=tmp_path / view)
        assert result.manifest["period"] is None
        back = conn.execute(
            "SELECT count(*) FROM (FROM read_parquet(?) EXCEPT ALL FROM query_table(?))",
            [str(tmp_path / view / f"{view}.parquet"), view],
        ).fetchone()
        assert back == (0,)
        assert result.row_count == conn.execute(f"SELECT count(*) FROM {view}").fetchone()[0]  # type: ignore[index]


def test_an_unbounded_period_gives_every_view_exactly() -> None:
    conn = sample_db()
    bind_period(conn, None, None)
    for view in PERIOD_VIEWS:
        diff = conn.execute(
            f"SELECT (SELECT count(*) FROM (FROM {view} EXCEPT ALL FROM {period_name(view)})),"
            f" (SELECT count(*) FROM (FROM {period_name(view)} EXCEPT ALL FROM {view})),"
            f" (SELECT count(*) FROM {view})"
        ).fetchone()
        assert diff is not None and diff[:2] == (0, 0), view
        assert diff[2] > 0 or view == "concurrent_sessions", view


def test_concurrency_and_risk_in_a_period(tmp_path: Path) -> None:
    conn = make_db()
    add_users(conn, [(1, "ann"), (2, "ben")])
    add_sessions(
        conn,
        [
            # ann: a pair overlapping the evening before the day only
            {"id": 1, "user_id": 1, "start": h(-6), "end": h(-3), "ip": "10.1.0.1"},
            {"id": 2, "user_id": 1, "start": h(-5), "end": h(-4), "ip": "10.1.0.2"},
            # ann: a session from the evening before running into the day, overlapping one on it
            {"id": 3, "user_id": 1, "start": h(-1), "end": h(2), "ip": "10.1.0.1"},
            {"id": 4, "user_id": 1, "start": h(1), "end": h(3), "ip": "10.1.0.3"},
            # ben: shares 10.1.0.3 with ann on the day
            {"id": 5, "user_id": 2, "start": h(5), "end": h(6), "ip": "10.1.0.3"},
            {"id": 6, "user_id": 2, "start": h(30), "end": h(31), "ip": "10.1.0.2"},
        ],
    )
    bind_period(conn, DAY, NEXT)
    pairs = conn.execute(
        f"SELECT session_id, other_session_id FROM {period_name('concurrent_sessions')}"
    ).fetchall()
    assert pairs == [(3, 4)]
    assert conn.execute("SELECT count(*) FROM concurrent_sessions").fetchone() == (2,)
    risk = dict(
        conn.execute(
            f"SELECT user_id, [sessions, shared_ip_count, concurrency_incidents] "
            f"FROM {period_name('user_risk_summary')}"
        ).fetchall()
    )
    assert risk == {1: [2, 1, 1], 2: [1, 1, 0]}
    # all time: ann and ben share 10.1.0.2 and 10.1.0.3; ann has two incidents
    allt = dict(
        conn.execute(
            "SELECT user_id, [shared_ip_count, concurrency_incidents] FROM user_risk_summary"
        ).fetchall()
    )
    assert allt == {1: [2, 2], 2: [2, 0]}


def test_event_datasets_keep_the_rows_of_the_period(tmp_path: Path) -> None:
    conn = _db()
    result = export_dataset(
        conn,
        dataset="login_history",
        fmt="parquet",
        out_dir=tmp_path / "lh",
        filters=ExportFilters(since=DAY, until=NEXT),
    )
    back = pq.read_table(tmp_path / "lh" / "login_history.parquet").to_pylist()
    ids = sorted(r["session_id"] for r in back)
    assert ids == sorted(i for i, _, s, _, _ in SESSIONS if DAY <= s < NEXT)
    assert result.manifest["period"]["applied"] == ROWS
    # gap since the previous session stays relative to all data (user 1's session 4)
    row = conn.execute("SELECT previous_session_id FROM login_history WHERE session_id = 4")
    assert row.fetchone() == (1,)


def test_cli_period_export_on_a_read_only_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.duckdb"
    _db(db).close()
    out = tmp_path / "q"
    code = run_app(
        ["export", "--db", str(db), "--dataset", "shared_ips", "--format", "csv",
         "--out", str(out), "--since", "2024-07-10", "--until", "2024-07-11"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    ip_rows = len(expected_shared_ips(DAY, NEXT))
    networks = 2  # 10.0.0.0/24 and 2001:db8::/64
    assert f"exported {ip_rows + networks} row(s) of shared_ips" in captured.out
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["period"]["applied"] == COMPUTED
    assert run_app(["verify", str(out)]) == 0


def test_period_sql_renames_identifiers_only() -> None:
    sql = (
        "-- reads user_sessions\n"
        "SELECT s.user_sessions, 'shared_ips' AS label, \"shared_ips\".x\n"
        "FROM user_sessions AS s JOIN Shared_Ips ON TRUE JOIN data_horizon AS h ON TRUE"
    )
    assert period_sql(sql) == (
        "-- reads user_sessions\n"
        "SELECT s.user_sessions, 'shared_ips' AS label, \"shared_ips\".x\n"
        "FROM period_sessions AS s JOIN period_shared_ips ON TRUE JOIN data_horizon AS h ON TRUE"
    )
