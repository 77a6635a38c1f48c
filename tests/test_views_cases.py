"""Issue 12, case by case: hand-made sessions through the real ingest path (normalize_pages ->
SessionStore), then the views, compared with what a human counts by hand.

Each case is one small data set and one question; the expected rows are written out by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pytest

from session_audit.analysis.report import collect
from session_audit.db.checks import run_check
from session_audit.db.views import use_open_session_hours
from session_audit.ingest.normalize import normalize_pages
from session_audit.ingest.store import SessionStore
from test_views_data import make_db, rows

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
JUNK = "x-forwarded-for: 203.0.113.7, 198.51.100.23 (proxy chain, " + "z" * 10 + ")"
NOT_IPS = ["", "unknown", JUNK, ":1::2", "fe80::1%", "::ffff:999.1.1.1"]


def _iso(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat(timespec="milliseconds")


def s(sid: int, user: int, start: float, end: float | None, ip: str | None) -> dict[str, Any]:
    """One API UserSession object: times in minutes after T0; end None = still open."""
    obj: dict[str, Any] = {
        "id": sid,
        "userId": user,
        "startTime": _iso(start),
        "clientAppId": 7,
        "appId": "Trader",
        "appVersion": "1.0",
    }
    if end is not None:
        obj["endTime"] = _iso(end)
    if ip is not None:
        obj["ipAddress"] = ip
    return obj


def ingest(conn: duckdb.DuckDBPyConnection, sessions: list[dict[str, Any]]) -> None:
    store = SessionStore(conn, "default")
    run_id = store.start_run("ids")
    batch = normalize_pages([orjson.dumps(sessions)], org="default")
    assert batch.rejected.height == 0
    store.write_checkpoint(run_id, batch, cursor=None)


@dataclass(frozen=True)
class Case:
    name: str
    sessions: list[dict[str, Any]]
    query: str
    expected: list[tuple[Any, ...]]
    hours: float | None = None


SHARED = (
    "SELECT kind, address, ip_family, user_ids, ip_count FROM shared_ips ORDER BY kind, address"
)
INCIDENTS = (
    "SELECT user_id, session_id, other_session_id, ip, other_ip, still_open"
    " FROM concurrent_sessions ORDER BY user_id, session_id, other_session_id"
)
RISK = (
    "SELECT user_id, ip_count, network_count, shared_ip_count, concurrency_incidents, risk_flags"
    " FROM user_risk_summary ORDER BY user_id"
)

CASES = [
    Case(
        "one v6 address in two spellings is one IP shared by two users",
        [s(1, 1, 0, 10, "2001:db8::1"), s(2, 2, 20, 30, "2001:DB8:0:0:0:0:0:1")],
        SHARED,
        [
            ("ip", "2001:db8::1", "v6", [1, 2], 1),
            ("network", "2001:db8::/64", "v6", [1, 2], 1),
        ],
    ),
    Case(
        "one v6 address in two spellings is no concurrency incident",
        [s(1, 1, 0, 60, "2001:db8::1"), s(2, 1, 10, 20, "2001:DB8:0:0:0:0:0:1")],
        INCIDENTS,
        [],
    ),
    Case(
        "an IPv4-mapped address is its IPv4 address",
        [s(1, 3, 0, 10, "::ffff:1.2.3.4"), s(2, 4, 20, 30, "1.2.3.4")],
        SHARED,
        [("ip", "1.2.3.4", "v4", [3, 4], 1), ("network", "1.2.3.0/24", "v4", [3, 4], 1)],
    ),
    Case(
        "IPv4-mapped addresses of unrelated users share no network",
        [s(1, 5, 0, 10, "::ffff:5.6.7.8"), s(2, 6, 20, 30, "::ffff:9.8.7.6")],
        SHARED,
        [],
    ),
    Case(
        "an IPv4-mapped spelling of the same address is no concurrency incident",
        [s(1, 9, 0, 60, "10.0.0.1"), s(2, 9, 10, 20, "::ffff:10.0.0.1")],
        INCIDENTS,
        [],
    ),
    Case(
        "text that is not an IP is never a shared IP",
        [s(10 + i, 7, i, i + 1, t) for i, t in enumerate(NOT_IPS)]
        + [s(20 + i, 8, 100 + i, 101 + i, t) for i, t in enumerate(NOT_IPS)],
        SHARED,
        [],
    ),
    Case(
        "text that is not an IP never makes a concurrency incident",
        [
            s(1, 7, 0, 60, "unknown"),
            s(2, 7, 10, 20, JUNK),
            s(3, 7, 30, 40, "10.9.9.9"),
            s(4, 7, 45, 50, ""),
            s(5, 7, 46, 49, ":1::2"),
        ],
        INCIDENTS,
        [],
    ),
    Case(
        "two real addresses overlapping are one incident, counted once per pair",
        [s(1, 9, 0, 60, "10.0.0.1"), s(2, 9, 10, 20, "10.0.0.2"), s(3, 9, 30, 40, "unknown")],
        INCIDENTS,
        [(9, 1, 2, "10.0.0.1", "10.0.0.2", False)],
    ),
    Case(
        "risk per user: spellings merge, junk never counts",
        [
            s(1, 1, 0, 60, "2001:db8::1"),
            s(2, 1, 10, 20, "2001:DB8::1"),  # same address: no incident
            s(3, 2, 100, 110, "2001:db8:0:0:0:0:0:1"),  # shared with user 1
            s(4, 7, 0, 60, "unknown"),
            s(5, 7, 10, 20, JUNK),
            s(6, 8, 0, 10, "unknown"),  # 'unknown' of users 7 and 8 is not a shared IP
            s(7, 9, 0, 60, "10.0.0.1"),
            s(8, 9, 10, 20, "10.0.0.2"),  # one incident, two IPs, one network
        ],
        RISK,
        [
            (1, 1, 1, 1, 0, ["shared_ip"]),
            (2, 1, 1, 1, 0, ["shared_ip"]),
            (7, 0, 0, 0, 0, []),
            (8, 0, 0, 0, 0, []),
            (9, 2, 1, 0, 1, ["concurrent_sessions"]),
        ],
    ),
    Case(
        "new_ip_logins: another spelling is not a new IP, junk never is",
        [
            s(1, 1, 0, 10, "2001:db8::1"),
            s(2, 1, 20, 30, "2001:DB8:0:0:0:0:0:1"),
            s(3, 1, 40, 50, "unknown"),
            s(4, 1, 60, 70, "2001:db8::2"),
        ],
        "SELECT session_id, ip_address, ip, new_network FROM new_ip_logins ORDER BY session_id",
        [(1, "2001:db8::1", "2001:db8::1", True), (4, "2001:db8::2", "2001:db8::2", False)],
    ),
    Case(
        "two open sessions overlapping up to the newest data: still open",
        [
            s(1, 20, 0, None, "10.0.0.1"),
            s(2, 20, 60, None, "10.0.0.2"),
            s(3, 23, 100, 120, "10.0.0.9"),  # the newest data: 120 min
        ],
        INCIDENTS,
        [(20, 1, 2, "10.0.0.1", "10.0.0.2", True)],
    ),
    Case(
        "open records from 60 days before the newest data overlap but are not still open",
        [
            s(1, 21, 0, None, "10.0.0.1"),
            s(2, 21, 60, None, "10.0.0.2"),
            s(3, 23, 60 * 24 * 60, 60 * 24 * 60 + 5, "10.0.0.9"),
        ],
        "SELECT session_id, other_session_id, overlap_end, overlap_seconds, still_open"
        " FROM concurrent_sessions",
        [(1, 2, T0 + timedelta(hours=24), 23 * 3600.0, False)],
    ),
    Case(
        "an open session overlapping a closed one is not still open",
        [s(1, 22, 0, None, "10.0.0.1"), s(2, 22, 30, 300, "10.0.0.2")],
        INCIDENTS,
        [(22, 1, 2, "10.0.0.1", "10.0.0.2", False)],
    ),
    Case(
        "open_session_hours = 1: the first open session ends an hour after its start",
        [
            s(1, 20, 0, None, "10.0.0.1"),
            s(2, 20, 60, None, "10.0.0.2"),  # starts as the first one's hour ends
            s(3, 20, 30, None, "10.0.0.3"),
            s(4, 23, 100, 120, "10.0.0.9"),
        ],
        "SELECT session_id, other_session_id, overlap_end, still_open FROM concurrent_sessions"
        " ORDER BY 1, 2",
        [(1, 3, T0 + timedelta(minutes=60), False), (3, 2, T0 + timedelta(minutes=90), False)],
        hours=1.0,
    ),
    Case(
        "app_users counts users whose session has no version",
        [
            s(1, 1, 0, 10, "10.0.0.1"),
            {**s(2, 2, 5, 15, "10.0.0.2"), "appVersion": None},
        ],
        "SELECT app_version, users, app_users, user_share FROM app_version_daily",
        [("1.0", 1, 2, 0.5)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_issue_12_case(case: Case) -> None:
    conn = make_db()
    ingest(conn, case.sessions)
    if case.hours is not None:
        use_open_session_hours(conn, case.hours)
    assert rows(conn, case.query) == case.expected


def test_the_report_says_how_old_an_open_record_is_relative_to_the_newest_data() -> None:
    conn = make_db()
    ingest(
        conn,
        [
            s(1, 21, 0, None, "10.0.0.1"),
            s(2, 21, 60, None, "10.0.0.2"),
            s(3, 20, 60 * 24 * 60 - 120, None, "10.1.0.1"),
            s(4, 20, 60 * 24 * 60 - 60, None, "10.1.0.2"),
            s(5, 23, 60 * 24 * 60, 60 * 24 * 60 + 5, "10.0.0.9"),
            s(6, 22, 60 * 24 * 30, 60 * 24 * 30 + 50, "10.2.0.1"),
            s(7, 22, 60 * 24 * 30 + 10, 60 * 24 * 30 + 20, "10.2.0.2"),
        ],
    )
    data = collect(conn, clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))  # the clock is unused
    states = {(r["session_id"], r["other_session_id"]): r["state"] for r in data.concurrency_latest}
    assert states == {
        (1, 2): "open, started 60 days ago",
        (3, 4): "open at the newest data",
        (6, 7): "closed",
    }
    assert data.summary["open_sessions"] == 4
    assert data.summary["running_sessions"] == 2  # 1 and 2 are stale records never closed
    assert data.summary["newest_data"] == T0 + timedelta(days=60, minutes=5)


def test_the_canonical_ip_check_passes_after_ingest_and_catches_a_mismatch() -> None:
    conn = make_db()
    ingest(
        conn, [s(i, 1, i, i + 1, t) for i, t in enumerate(["10.0.0.1", "::FFFF:1.2.3.4", *NOT_IPS])]
    )
    assert run_check(conn, "canonical_ip_inconsistent") == []
    conn.execute(
        "UPDATE user_sessions SET ip = NULL, ip_family = NULL, ip_network = NULL WHERE id = 0"
    )
    assert [r[1] for r in run_check(conn, "canonical_ip_inconsistent")] == [0]
