"""The detection rules (sql/rules), one planted pattern each: hand-made sessions, the exact
findings expected (rule, severity, users, sessions), and the near misses that must not fire.
Then the evaluation itself: idempotent, acknowledgement kept, incremental = full, no GeoIP files.
"""

from __future__ import annotations

import json
import math
import random
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from findings_support import PLACES, found, geo_settings, haversine_km
from session_audit.analysis.findings import (
    NO_GEOIP,
    RULE_NAMES,
    acknowledge,
    evaluate_findings,
    evaluate_new_findings,
    list_findings,
)
from session_audit.errors import ConfigError
from session_audit.settings import Settings
from test_views_data import T0, add_sessions, add_stats, make_db

DAY = 24 * 60


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def s(sid: int, user: int, minutes: float, ip: str | None, length: float = 10, **kw: Any) -> Any:
    """One session: starts ``minutes`` after T0 and lasts ``length`` minutes."""
    return {"id": sid, "user_id": user, "start": at(minutes), "end": at(minutes + length),
            "ip": ip, **kw}  # fmt: skip


def users(conn: duckdb.DuckDBPyConnection, rows: list[tuple[int, str, int | None]]) -> None:
    """(id, status, linked_user_id) rows of the users table."""
    conn.executemany(
        "INSERT INTO users (org, id, name, status, linked_user_id) VALUES ('default', ?, ?, ?, ?)",
        [[uid, f"u{uid}", status, linked] for uid, status, linked in rows],
    )


def run(conn: duckdb.DuckDBPyConnection, settings: Settings, rule: str) -> set[Any]:
    evaluate_findings(conn, settings, org="default", rules=[rule])
    return found(conn, rule)


@pytest.fixture
def geo(tmp_path: Path) -> Settings:
    return geo_settings(tmp_path)


def _effective_km(a: str, b: str) -> float:
    pa, pb = PLACES[a], PLACES[b]
    return haversine_km((pa[2], pa[3]), (pb[2], pb[3])) - pa[4] - pb[4]


def test_impossible_travel_fires_above_the_speed_not_at_800_kmh_nor_within_the_radius(
    geo: Settings,
) -> None:
    conn = make_db()
    km = _effective_km("10.1.1.0/24", "10.2.2.0/24")  # London - Paris, 1 km radius each
    fast = math.floor(km / 1000 * 60)  # minutes: above 1,000 km/h
    slow = math.ceil(km / 800 * 60)  # minutes: below 800 km/h
    wide = _effective_km("10.5.5.0/24", "10.4.4.0/24")  # the same trip, 100 km radius each
    assert wide / (10 / 60) < 900 < (wide + 200) / (10 / 60)  # fires only without the radius
    add_sessions(conn, [
        s(1, 1, 0, "10.1.1.1"), s(2, 1, fast, "10.2.2.1"),
        s(3, 2, 0, "10.1.1.2"), s(4, 2, slow, "10.2.2.2"),
        s(5, 3, 0, "10.5.5.1"), s(6, 3, 10, "10.4.4.1"),
        s(7, 4, 0, "10.1.1.3"), s(8, 4, 5, "10.1.1.4"),  # same place, 5 minutes apart
    ])  # fmt: skip
    assert run(conn, geo, "impossible_travel") == {("impossible_travel", "high", (1,), (1, 2))}
    evidence = conn.execute("SELECT evidence FROM findings").fetchone()
    assert evidence is not None and '"threshold_kmh":900' in evidence[0].replace(".0", "")


def test_impossible_travel_threshold_is_the_setting(tmp_path: Path) -> None:
    conn = make_db()
    km = _effective_km("10.1.1.0/24", "10.2.2.0/24")
    add_sessions(conn, [s(1, 1, 0, "10.1.1.1"), s(2, 1, math.ceil(km / 800 * 60), "10.2.2.1")])
    settings = geo_settings(tmp_path, findings_travel_speed_kmh=700)
    assert run(conn, settings, "impossible_travel") == {("impossible_travel", "high", (1,), (1, 2))}


def test_new_country_and_new_asn_after_the_learning_period(geo: Settings) -> None:
    conn = make_db()
    add_sessions(conn, [
        s(1, 1, 0, "10.1.1.1"), s(2, 1, 10 * DAY, "10.1.1.1"), s(3, 1, 20 * DAY, "10.1.1.1"),
        s(4, 1, 21 * DAY, "10.2.2.1"), s(5, 1, 22 * DAY, "10.2.2.1"),  # FR after 21 days
        s(6, 2, 0, "10.1.1.2"), s(7, 2, 5 * DAY, "10.2.2.2"),  # FR after 5 days: learning
        s(8, 3, 0, "10.1.1.3"), s(9, 3, 30 * DAY, "10.5.5.3"),  # GB again, same ASN
    ])  # fmt: skip
    assert run(conn, geo, "new_country") == {("new_country", "medium", (1,), (4,))}
    assert run(conn, geo, "new_asn") == {("new_asn", "low", (1,), (4,))}


def test_hosting_asn_shipped_list_and_user_extension(geo: Settings, tmp_path: Path) -> None:
    conn = make_db()
    add_sessions(conn, [
        s(1, 1, 0, "10.6.6.1"), s(2, 1, DAY, "10.6.6.2"),  # DigitalOcean (shipped list)
        s(3, 2, 0, "10.7.7.1"),  # AS64500: listed only by the user's CSV
        s(4, 3, 0, "10.8.8.1"),  # AS64501: on no list
    ])  # fmt: skip
    assert run(conn, geo, "hosting_asn") == {("hosting_asn", "high", (1,), (1, 2))}
    extra = tmp_path / "mine.csv"
    extra.write_text("asn,name,kind\nAS64500,Example VPN,vpn\n", encoding="utf-8")
    extended = geo.with_overrides(hosting_asns=extra)
    assert run(conn, extended, "hosting_asn") == {
        ("hosting_asn", "high", (1,), (1, 2)),
        ("hosting_asn", "medium", (2,), (3,)),
    }
    extra.write_text("asn,name\nnot-a-number,x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not an ASN"):
        evaluate_findings(conn, extended, org="default", rules=["hosting_asn"])


def test_concurrent_networks_graded_by_distance(geo: Settings) -> None:
    conn = make_db()
    add_sessions(conn, [
        s(1, 1, 0, "10.1.1.1", 60), s(2, 1, 10, "10.3.3.1", 40),  # London + New York
        s(3, 2, 0, "10.1.1.2", 60), s(4, 2, 10, "10.1.1.3", 40),  # one /24: not different
        s(5, 3, 0, "172.16.0.1", 60), s(6, 3, 10, "172.17.0.1", 40),  # not placed: low
        s(7, 4, 0, "10.1.1.4", 60), s(8, 4, 70, "10.3.3.4", 40),  # no overlap
        s(9, 5, 0, "10.1.1.5", 60), s(10, 5, 60, "10.3.3.5", 40),  # touching ends: none
    ])  # fmt: skip
    assert run(conn, geo, "concurrent_networks") == {
        ("concurrent_networks", "high", (1,), (1, 2)),
        ("concurrent_networks", "low", (3,), (5, 6)),
    }


def _evidence(conn: duckdb.DuckDBPyConnection, rule: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute("SELECT finding_key, evidence FROM findings WHERE rule = ?", [rule])
    return {str(key): json.loads(evidence) for key, evidence in rows.fetchall()}


def test_concurrent_networks_one_finding_per_user_and_day(geo: Settings) -> None:
    conn = make_db()
    midnight = 15 * 60  # T0 is 09:00 UTC
    add_sessions(conn, [
        # day 1: three sessions from London, New York and an unplaced network, all at once
        s(1, 1, 0, "10.1.1.1", 120), s(2, 1, 10, "10.3.3.1", 60), s(3, 1, 20, "172.16.0.1", 30),
        s(4, 1, 30, "10.1.1.9", 10),  # London's /24 again: pairs only with New York and 172.16
        # across midnight: the pair belongs to the day the later session starts (day 2)
        s(5, 1, midnight - 30, "10.1.1.1", 60), s(6, 1, midnight + 5, "10.2.2.1", 10),
        # user 2: 25 sessions at once, each from its own network
        *[s(100 + k, 2, k, f"172.30.{k}.1", 60) for k in range(25)],
    ])  # fmt: skip
    assert run(conn, geo, "concurrent_networks") == {
        ("concurrent_networks", "high", (1,), (1, 2, 3, 4)),
        ("concurrent_networks", "medium", (1,), (5, 6)),  # London - Paris: 344 km
        ("concurrent_networks", "low", (2,), tuple(range(100, 120))),  # the first 20
    }
    evidence = _evidence(conn, "concurrent_networks")
    first = evidence["1:2024-03-01"]
    # pairs: 1-2, 1-3, 2-3, 2-4, 3-4 (1-4: one /24)
    assert (first["pairs"], first["sessions"], first["network_count"]) == (5, 4, 3)
    assert first["countries"] == ["GB", "US"]
    assert first["farthest_pair"]["session_id"] in (1, 2) and first["max_distance_km"] > 5000
    assert evidence["1:2024-03-02"]["pairs"] == 1
    crowd = evidence["2:2024-03-01"]
    assert (crowd["pairs"], crowd["sessions"], crowd["network_count"]) == (300, 25, 25)
    assert len(crowd["networks"]) == 10 and crowd["max_distance_km"] is None
    summary = conn.execute(
        "SELECT summary FROM findings WHERE finding_key = '1:2024-03-01'"
    ).fetchone()
    assert summary is not None
    assert "5 pair(s) of sessions at once from 3 different networks on 2024-03-01" in summary[0]


def test_concurrent_networks_a_new_session_joins_its_days_finding(geo: Settings) -> None:
    rows = [s(1, 1, 0, "10.1.1.1", 120), s(2, 1, 10, "10.3.3.1", 60)]
    later = [s(3, 1, 30, "10.2.2.1", 20)]  # the same day, a third network
    conn = make_db()
    add_sessions(conn, rows)
    evaluate_findings(conn, geo, org="default")
    query = "SELECT id FROM findings WHERE rule = 'concurrent_networks'"
    (fid,) = [r[0] for r in conn.execute(query).fetchall()]
    acknowledge(conn, fid, by="alice")
    add_sessions(conn, later)
    summary = evaluate_new_findings(conn, "default", 3, settings=geo)
    assert not [f for f in summary.new if f.rule == "concurrent_networks"]
    assert summary.per_rule["concurrent_networks"] == 1
    row = conn.execute(
        "SELECT id, session_ids, evidence, acknowledged_by FROM findings"
        " WHERE rule = 'concurrent_networks'"
    ).fetchall()
    assert [(r[0], r[1], json.loads(r[2])["pairs"], r[3]) for r in row] == [
        (fid, [1, 2, 3], 3, "alice")
    ]
    full = make_db()
    add_sessions(full, rows + later)
    evaluate_findings(full, geo, org="default")
    query = (
        "SELECT id, severity, session_ids, first_seen, last_seen, summary, evidence FROM findings"
        " WHERE rule = 'concurrent_networks'"
    )
    assert conn.execute(query).fetchall() == full.execute(query).fetchall()


def test_concurrent_networks_window_keeps_sessions_still_running_from_before_it() -> None:
    """An incremental evaluation reads only the sessions of its window (from 00:00 UTC of the
    earliest new session's day) plus those still running then: a long closed session and an
    open one (the open-session rule) that started the day before still pair with a new one."""
    midnight = 15 * 60  # T0 is 09:00 UTC
    history = [
        s(1, 1, midnight - 120, "10.1.1.1", 20 * 60),  # closed, runs into the next day
        s(2, 1, midnight - 60, "10.2.2.1", 10),  # over before midnight
        {**s(3, 1, midnight - 30, "10.3.3.1"), "end": None},  # open: assumed to run on
        s(4, 2, midnight - 600, "10.1.1.2", 30),  # keeps the newest data ahead
    ]
    later = [s(5, 1, midnight + 60, "10.4.4.1", 30), s(6, 2, midnight + 3 * 60, "10.5.5.2")]
    incremental = make_db()
    add_sessions(incremental, history)
    evaluate_findings(incremental, Settings(), org="default", rules=["concurrent_networks"])
    add_sessions(incremental, later)
    evaluate_new_findings(incremental, "default", 5, settings=Settings())
    full = make_db()
    add_sessions(full, history + later)
    evaluate_findings(full, Settings(), org="default", rules=["concurrent_networks"])
    query = (
        "SELECT id, severity, session_ids, first_seen, last_seen, summary, evidence FROM findings"
        " WHERE rule = 'concurrent_networks' ORDER BY id"
    )
    rows = full.execute(query).fetchall()
    assert incremental.execute(query).fetchall() == rows
    assert {tuple(r[2]) for r in rows} == {(1, 2, 3), (1, 3, 5)}  # day 1, then day 2


def test_concurrent_networks_pairs_are_the_views_pairs() -> None:
    """The rule finds its pairs with its own join (per user and day); they must be exactly the
    pairs of the view concurrent_sessions (open sessions, ties, sessions over midnight and
    ending before they start included) whose networks differ."""
    rng = random.Random(13)
    conn = make_db()
    rows = []
    for sid in range(1, 801):
        start = rng.uniform(0, 6 * DAY)
        length = rng.choice([rng.uniform(1, 600), rng.uniform(600, 3 * DAY), -30.0])
        ip = f"10.0.{rng.randint(0, 5)}.{rng.randint(1, 3)}"
        row = s(sid, rng.randint(1, 12), round(start), ip, length)
        if rng.random() < 0.05:
            row["end"] = None  # open: the open-session rule applies
        rows.append(row)
    add_sessions(conn, rows)
    evaluate_findings(conn, Settings(), org="default", rules=["concurrent_networks"])
    expected = conn.execute(
        "SELECT c.user_id, strftime(timezone('UTC', c.overlap_start), '%Y-%m-%d') AS day,"
        " count(*), list_sort(list_distinct(flatten(list([c.session_id, c.other_session_id]))))"
        " FROM concurrent_sessions AS c"
        " JOIN user_sessions AS a ON a.id = c.session_id"
        " JOIN user_sessions AS b ON b.id = c.other_session_id"
        " WHERE a.ip_network <> b.ip_network GROUP BY ALL"
    ).fetchall()
    assert len(expected) > 20
    got = {
        (int(key.split(":")[0]), key.split(":")[1]): (e["pairs"], e["sessions"])
        for key, e in _evidence(conn, "concurrent_networks").items()
    }
    assert got == {(u, day): (n, len(sessions)) for u, day, n, sessions in expected}


def test_shared_ip_counts_people_not_linked_accounts_and_skips_the_allowlist(
    tmp_path: Path,
) -> None:
    conn = make_db()
    users(conn, [(1, "Active", None), (2, "Active", None), (3, "Active", None),
                 (4, "Active", None), (5, "Active", 4)]
          + [(u, "Active", None) for u in range(6, 11)])  # fmt: skip
    add_sessions(conn, [
        s(1, 1, 0, "10.9.9.9"), s(2, 2, 10, "10.9.9.9"), s(3, 3, 20, "10.9.9.9"),
        s(4, 1, 30, "10.9.9.9"),
        s(5, 4, 0, "10.9.9.10"), s(6, 5, 10, "10.9.9.10"),  # 5 is a linked account of 4
        *[s(10 + u, u, u, "10.9.9.11") for u in range(6, 11)],  # five people: the office
    ])  # fmt: skip
    office = Settings(allowlist="10.9.9.11/32, 2001:db8::/32")
    assert run(conn, office, "shared_ip") == {("shared_ip", "medium", (1, 2, 3), (1, 2, 3))}
    conn.execute("DELETE FROM findings")
    assert run(conn, Settings(), "shared_ip") == {
        ("shared_ip", "medium", (1, 2, 3), (1, 2, 3)),
        ("shared_ip", "high", (6, 7, 8, 9, 10), (16, 17, 18, 19, 20)),
    }


def test_dormant_account_woken_from_a_new_network_only(geo: Settings) -> None:
    conn = make_db()
    add_sessions(conn, [
        s(1, 1, 0, "10.1.1.1"), s(2, 1, 61 * DAY, "10.3.3.1"),  # 61 days, new network
        s(3, 2, 0, "10.1.1.2"), s(4, 2, 59 * DAY, "10.3.3.2"),  # 59 days: not dormant
        s(5, 3, 0, "10.1.1.3"), s(6, 3, 61 * DAY, "10.1.1.200"),  # known /24
    ])  # fmt: skip
    assert run(conn, Settings(), "dormant_reactivated") == {
        ("dormant_reactivated", "medium", (1,), (2,))
    }


def test_dormant_after_a_session_that_ends_before_it_starts(geo: Settings) -> None:
    # user 1's starts leave no 60-day hole (days 0, 40, 71), but the session of day 40 ends on
    # day 10: the user was inactive for 61 days before day 71 (the rule's pre-sort filter must
    # keep such users); user 2 is the same with a sane session, so never dormant
    conn = make_db()
    add_sessions(conn, [
        s(1, 1, 0, "10.1.1.1"), s(2, 1, 40 * DAY, "10.1.1.1", length=-30 * DAY),
        s(3, 1, 71 * DAY, "10.3.3.1"),
        s(4, 2, 0, "10.1.1.2"), s(5, 2, 40 * DAY, "10.1.1.2"), s(6, 2, 71 * DAY, "10.3.3.2"),
    ])  # fmt: skip
    expected = {("dormant_reactivated", "medium", (1,), (3,))}
    assert run(conn, Settings(), "dormant_reactivated") == expected
    conn.execute("DELETE FROM findings")
    evaluate_findings(conn, geo, org="default", since_session_id=3, rules=["dormant_reactivated"])
    assert found(conn, "dormant_reactivated") == expected


def test_dormant_threshold_is_the_setting() -> None:
    conn = make_db()
    add_sessions(conn, [
        s(1, 1, 0, "10.1.1.1"), s(2, 1, 5 * DAY, "10.1.1.1"), s(3, 1, 21 * DAY, "10.3.3.1"),
        s(4, 2, 0, "10.1.1.2"), s(5, 2, 9 * DAY, "10.1.1.2"), s(6, 2, 18 * DAY, "10.3.3.2"),
    ])  # fmt: skip
    assert run(conn, Settings(findings_dormant_days=10), "dormant_reactivated") == {
        ("dormant_reactivated", "medium", (1,), (3,))
    }


def test_geo_rules_without_a_usable_ip_geo_row_are_left_out_after_an_ingest(
    geo: Settings,
) -> None:
    conn = make_db()
    # addresses the test databases do not place: the four GeoIP rules can find nothing
    add_sessions(conn, [s(1, 1, 0, "192.0.2.1"), s(2, 1, 30 * DAY, "192.0.2.2")])
    summary = evaluate_findings(conn, geo, org="default", since_session_id=2)
    geo_rules = ("impossible_travel", "new_country", "new_asn", "hosting_asn")
    assert set(geo_rules) <= set(summary.rules_run)
    assert all(summary.per_rule[rule] == 0 for rule in geo_rules)
    # a placed address (a hosting network, after the learning period): they run again
    add_sessions(conn, [s(3, 1, 31 * DAY, "10.1.1.1"), s(4, 1, 31 * DAY + 30, "10.6.6.1")])
    summary = evaluate_findings(conn, geo, org="default", since_session_id=3)
    assert summary.per_rule["impossible_travel"] == 1
    assert summary.per_rule["hosting_asn"] == 1
    assert summary.per_rule["new_asn"] == 0  # the first ASN of the user is not after learning


def test_new_ip_burst(geo: Settings) -> None:
    conn = make_db()
    add_sessions(conn, [
        s(1, 1, -10 * DAY, "10.1.1.1"), s(2, 1, 0, "10.1.1.1"),
        *[s(3 + k, 1, 20 * k, f"172.20.0.{k + 1}") for k in range(4)],  # 4 new in 60 min
        *[s(10 + k, 2, 15 * k, f"172.21.0.{k + 1}") for k in range(3)],  # only 3
        *[s(20 + k, 3, 61 * k, f"172.22.0.{k + 1}") for k in range(4)],  # 61 min apart
    ])  # fmt: skip
    assert run(conn, Settings(), "new_ip_burst") == {("new_ip_burst", "medium", (1,), (3, 4, 5, 6))}


def test_inactive_user_session() -> None:
    conn = make_db()
    users(conn, [(1, "Closed", None), (2, "TemporaryLocked", None), (3, "Active", None)])
    add_sessions(conn, [
        s(1, 1, 0, "10.1.1.1"), s(2, 1, DAY, "10.1.1.1"), s(3, 2, 0, "10.1.1.2"),
        s(4, 3, 0, "10.1.1.3"), s(5, 4, 0, "10.1.1.4"),  # user 4: status unknown
    ])  # fmt: skip
    assert run(conn, Settings(), "inactive_user_session") == {
        ("inactive_user_session", "medium", (1,), (1, 2)),
        ("inactive_user_session", "low", (2,), (3,)),
    }


def test_failed_password_jump_full_and_after_an_ingest() -> None:
    conn = make_db()
    add_stats(conn, [
        (1, 1, at(0), 0), (2, 1, at(60), 4), (3, 1, at(120), 4),  # +4 then +0
        (1, 2, at(0), 0), (2, 2, at(60), 2),  # +2: below 3
        (1, 3, at(0), 0), (3, 3, at(120), 10),  # +10, the latest observation
    ])  # fmt: skip
    evaluate_new_findings(conn, "default", 1, settings=Settings())
    assert {f[2] for f in found(conn, "failed_password_jump")} == {(3,)}  # latest only
    assert run(conn, Settings(), "failed_password_jump") == {
        ("failed_password_jump", "low", (1,), ()),
        ("failed_password_jump", "high", (3,), ()),
    }


def test_failed_password_jump_after_an_ingest_compares_the_two_latest_observations() -> None:
    conn = make_db()
    add_stats(conn, [
        (1, 5, at(0), 0), (2, 5, at(60), 5), (3, 5, at(60), 9),  # same time: run order decides
        (1, 6, at(0), 0), (2, 6, at(60), 7),  # its latest observation has no count (below)
        (1, 7, at(0), 9), (2, 7, at(60), 0), (3, 7, at(120), 3),  # only the last step counts
    ])  # fmt: skip
    conn.execute(
        "INSERT INTO user_session_stats (org, run_id, observed_at, user_id, failed_passwords)"
        " VALUES ('default', 3, ?, 6, NULL)",
        [at(120)],
    )
    evaluate_new_findings(conn, "default", 1, settings=Settings())
    rows = conn.execute(
        "SELECT user_ids, severity, evidence FROM findings"
        " WHERE rule = 'failed_password_jump' ORDER BY user_ids"
    ).fetchall()
    steps = [
        (users[0], severity, {k: json.loads(e)[k] for k in ("previous_run", "run", "jump")})
        for users, severity, e in rows
    ]
    assert steps == [
        (5, "low", {"previous_run": 2, "run": 3, "jump": 4}),
        (6, "medium", {"previous_run": 1, "run": 2, "jump": 7}),
        (7, "low", {"previous_run": 2, "run": 3, "jump": 3}),
    ]


def test_new_app_version_unknown_or_brand_new() -> None:
    conn = make_db()
    add_sessions(conn, [
        *[s(k, 1, k * DAY, "10.1.1.1") for k in range(0, 41, 5)],  # Trader 1.0, days 0..40
        s(100, 2, 5 * DAY, "10.1.1.2", version="0.9"),  # first seen in the learning period
        s(101, 2, 39 * DAY, "10.1.1.2", version="0.9"),
        s(102, 3, 30 * DAY, "10.1.1.3", version="1.2"),  # 10 days before the newest data
        s(103, 3, 38 * DAY, "10.1.1.3", version="1.1"),  # 2 days before: brand-new
        s(104, 3, 39 * DAY, "10.1.1.3", version="1.1"),
        s(105, 4, 1 * DAY, "10.1.1.4", app=None, version="beta"),  # unknown app
    ])  # fmt: skip
    assert run(conn, Settings(), "new_app_version") == {
        ("new_app_version", "info", (3,), (103,)),
        ("new_app_version", "low", (4,), (105,)),
    }


def _everything(conn: duckdb.DuckDBPyConnection) -> None:
    users(conn, [(1, "Closed", None), (2, "Active", None), (3, "Active", None)])
    add_sessions(conn, [
        s(1, 1, 0, "10.1.1.1", 60), s(2, 1, 10, "10.3.3.1", 40),
        s(3, 2, 10, "10.1.1.1"), s(4, 3, 70 * DAY, "10.6.6.1"), s(5, 3, 71 * DAY, "10.2.2.1"),
    ])  # fmt: skip


def _table(conn: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM findings ORDER BY id").fetchall()


def test_reevaluation_never_duplicates_and_keeps_acknowledgements(geo: Settings) -> None:
    conn = make_db()
    _everything(conn)
    first = evaluate_findings(conn, geo, org="default")
    table = _table(conn)
    assert len(first.new) == len(table) >= 5 and first.updated == 0
    again = evaluate_findings(conn, geo, org="default")
    assert again.new == () and again.updated == len(table)
    assert _table(conn) == table
    fid = str(table[0][0])
    ack_at = datetime(2026, 1, 2, 3, 4, tzinfo=T0.tzinfo)
    assert acknowledge(conn, fid[:8], by="alice", note="phoned", clock=lambda: ack_at) == fid
    evaluate_findings(conn, geo, org="default")
    row = conn.execute(
        "SELECT acknowledged_at, acknowledged_by, acknowledged_note FROM findings WHERE id = ?",
        [fid],
    ).fetchone()
    assert row == (ack_at, "alice", "phoned")
    assert len(_table(conn)) == len(table)
    listed = list_findings(conn, severity="high")
    assert {r[2] for r in listed.rows} == {"high"} and listed.rows
    assert list_findings(conn, user=2, rule="shared_ip").rows[0][4] == [1, 2]
    with pytest.raises(ConfigError, match="no finding"):
        acknowledge(conn, "abcdef123456", by="alice")
    with pytest.raises(ConfigError, match="--by"):
        acknowledge(conn, fid, by=" ")


def test_only_a_bounded_number_of_new_findings_comes_back(geo: Settings) -> None:
    from session_audit.orchestration.artifacts import alert_text

    conn = make_db()
    _everything(conn)
    summary = evaluate_findings(conn, geo, org="default", new_limit=2)
    stored = conn.execute("SELECT severity FROM findings").fetchall()
    order = ["high", "medium", "low", "info"]
    severities = sorted((str(r[0]) for r in stored), key=order.index)
    assert summary.new_count == len(stored) > 2 and len(summary.new) == 2
    assert [f.severity for f in summary.new] == severities[:2]  # the most severe first
    assert summary.alertable_count == sum(s in ("high", "medium") for s in severities) > 2
    subject, body = alert_text(summary.alertable, org="default", total=summary.alertable_count)
    assert subject.startswith(f"session-audit: {summary.alertable_count} new")
    assert body.endswith(f"... and {summary.alertable_count - 2} more: `session-audit findings`")
    again = evaluate_findings(conn, geo, org="default", new_limit=2)
    assert again.new == () and again.new_count == 0 and again.updated == len(stored)


def test_a_full_evaluation_runs_under_a_memory_limit_and_restores_the_default(
    geo: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_audit.analysis import findings

    def limit(conn: duckdb.DuckDBPyConnection) -> str:
        row = conn.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row is not None
        return str(row[0])

    conn = make_db()
    _everything(conn)
    default = limit(conn)
    assert findings._bytes(default) > findings._bytes(findings.EVALUATION_MEMORY_LIMIT)
    assert findings._limit_memory(conn, "1GB") and limit(conn) == "953.6 MiB"
    conn.execute("RESET memory_limit")
    seen: list[str] = []
    real = findings._stage

    def watched(c: duckdb.DuckDBPyConnection, names: list[str], values: Any) -> int:
        seen.append(limit(c))
        return real(c, names, values)

    monkeypatch.setattr(findings, "_stage", watched)
    evaluate_findings(conn, geo, org="default")
    assert seen and set(seen) == {"953.6 MiB"}  # lowered while the rules ran
    assert limit(conn) == default  # then reset
    seen.clear()
    evaluate_new_findings(conn, "default", 4, settings=geo)  # after an ingest: not lowered
    assert seen and set(seen) == {default}
    conn.execute("SET memory_limit = '3GB'")  # someone else's limit is left alone
    assert not findings._limit_memory(conn, "1GB")
    evaluate_findings(conn, geo, org="default")
    assert limit(conn) == "2.7 GiB"
    assert findings._bytes("18.8 GiB") == 18.8 * 2**30 and findings._bytes("lots") == math.inf


def test_incremental_evaluation_equals_a_full_one(geo: Settings) -> None:
    columns = "id, rule, severity, user_ids, session_ids, first_seen, last_seen, summary, evidence"
    later = [s(6, 1, 72 * DAY, "10.3.3.9"), s(7, 2, 72 * DAY + 5, "10.3.3.9")]
    incremental = make_db()
    _everything(incremental)
    evaluate_findings(incremental, geo, org="default")
    add_sessions(incremental, later)
    summary = evaluate_new_findings(incremental, "default", 6, settings=geo)
    assert summary.new and all(
        set(f.session_ids) & {6, 7} or f.rule == "inactive_user_session" for f in summary.new
    )
    full = make_db()
    _everything(full)
    add_sessions(full, later)
    evaluate_findings(full, geo, org="default")
    query = f"SELECT {columns} FROM findings ORDER BY id"
    assert incremental.execute(query).fetchall() == full.execute(query).fetchall()


def test_without_geoip_files_geo_rules_are_skipped_once(tmp_path: Path) -> None:
    conn = make_db()
    _everything(conn)
    summary = evaluate_findings(conn, Settings(), org="default")
    geo_rules = ("impossible_travel", "new_country", "new_asn", "hosting_asn")
    assert summary.skipped == geo_rules
    assert sum(m.count(NO_GEOIP) for m in summary.messages) == 1
    assert set(summary.rules_run) == set(RULE_NAMES) - set(geo_rules)
    assert {f[0] for f in found(conn)} == {
        "concurrent_networks",
        "inactive_user_session",
        "shared_ip",
    }
    missing = Settings(geoip_city_db=tmp_path / "nope.mmdb")
    summary = evaluate_findings(conn, missing, org="default")
    assert summary.skipped == geo_rules
    assert any("not found" in m for m in summary.messages)


def test_findings_and_ip_geo_are_export_datasets(geo: Settings, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from session_audit.analysis.catalog import get_dataset
    from session_audit.analysis.export import export_dataset

    conn = make_db()
    _everything(conn)
    evaluate_findings(conn, geo, org="default")
    assert get_dataset(conn, "findings").time_column == "first_seen"
    assert get_dataset(conn, "ip_geo").time_column == "looked_up_at"
    for dataset in ("findings", "ip_geo"):
        result = export_dataset(conn, dataset=dataset, fmt="parquet", out_dir=tmp_path / dataset)
        count = conn.execute(f"SELECT count(*) FROM {dataset}").fetchone()
        assert count is not None and result.row_count == count[0] > 0
        rows = sum(pq.read_table(result.directory / name).num_rows for name in result.files)
        assert rows == count[0]


def test_report_opens_with_the_open_findings(geo: Settings) -> None:
    from session_audit.analysis.report import collect, render_html

    conn = make_db()
    _everything(conn)
    evaluate_findings(conn, geo, org="default")
    acked = conn.execute("SELECT id, summary FROM findings WHERE rule = 'shared_ip'").fetchone()
    assert acked is not None
    acknowledge(conn, acked[0], by="bob")
    page = render_html(collect(conn))
    assert page.index('id="findings"') < page.index('class="cards"')
    travel = conn.execute(
        "SELECT summary FROM findings WHERE rule = 'impossible_travel'"
    ).fetchone()
    assert travel is not None and travel[0] in page  # London, then New York 10 minutes later
    assert acked[1] not in page  # acknowledged: left out
    assert "No open findings." in render_html(collect(make_db()))


def test_allowlist_setting_must_hold_networks() -> None:
    from session_audit.settings import load_settings

    with pytest.raises(ConfigError, match="not an IP network"):
        load_settings(allowlist="10.0.0.0/8, 10.0.0.0/33")
    assert load_settings(allowlist="10.0.0.0/8 2001:db8::/32").allowlist


def test_each_rule_declares_the_maintained_tables_its_sql_reads() -> None:
    """The evaluation after an ingest splits the rules into two lanes by these declarations
    (the rules that read ip_geo run after its refresh, those that read ip_user_rollup after
    that one's): a rule that reads a table it does not declare would see it stale."""
    from session_audit.analysis import findings

    for rule in findings.RULES:
        sql = findings._rule_sql(rule.name)
        for table in (findings.IP_GEO, findings.IP_USER_ROLLUP):
            reads = re.search(rf"\b{table}\b", sql) is not None
            assert reads == (table in rule.reads), (rule.name, table)
        assert not rule.needs or findings.IP_GEO in rule.reads, rule.name


def test_after_an_ingest_the_lanes_run_on_one_thread_fewer_and_restore_it(
    geo: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_audit.analysis import findings

    def threads(conn: duckdb.DuckDBPyConnection) -> int:
        row = conn.execute("SELECT current_setting('threads')").fetchone()
        assert row is not None
        return int(row[0])

    conn = make_db()
    _everything(conn)
    conn.execute("SET threads = 3")
    seen: list[tuple[tuple[str, ...], int]] = []
    real = findings._stage

    def watched(c: duckdb.DuckDBPyConnection, names: list[str], values: Any) -> int:
        seen.append((tuple(names), threads(c)))
        return real(c, names, values)

    monkeypatch.setattr(findings, "_stage", watched)
    summary = evaluate_new_findings(conn, "default", 1, settings=geo)
    lanes = {names: n for names, n in seen}
    assert set(lanes.values()) == {2} and threads(conn) == 3  # lowered by one, then restored
    assert {name for names in lanes for name in names} == set(summary.rules_run)
    side = next(names for names in lanes if "shared_ip" in names)
    assert "concurrent_networks" not in side and "impossible_travel" not in side
    seen.clear()
    evaluate_findings(conn, geo, org="default")  # a full evaluation: one rule at a time, as set
    assert {n for _, n in seen} == {3} and all(len(names) == 1 for names, _ in seen)
    monkeypatch.setattr(findings, "SMALL_HISTORY_ROWS", 3)  # a larger table keeps them all
    seen.clear()
    evaluate_new_findings(conn, "default", 1, settings=geo)
    assert {n for _, n in seen} == {3} and len(seen) == 2 and threads(conn) == 3
    conn.execute("SET threads = 1")  # one thread: nothing to spare, left alone
    monkeypatch.setattr(findings, "SMALL_HISTORY_ROWS", 10**9)
    evaluate_new_findings(conn, "default", 1, settings=geo)
    assert threads(conn) == 1


@pytest.mark.timeout(60)  # a lane left waiting would hang the evaluation
@pytest.mark.parametrize("failing", ["shared_ip", "concurrent_networks", "refresh_ip_geo"])
def test_a_failing_lane_writes_no_finding_and_leaves_the_connection_usable(
    geo: Settings, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    from session_audit.analysis import findings
    from session_audit.errors import StorageError

    conn = make_db()
    _everything(conn)
    conn.execute("SET threads = 2")
    real_stage = findings._stage

    def broken_stage(c: duckdb.DuckDBPyConnection, names: list[str], values: Any) -> int:
        if failing in names:
            raise duckdb.InvalidInputException(f"{failing} broke")
        return real_stage(c, names, values)

    def broken_geo(*args: Any, **kwargs: Any) -> Any:
        raise duckdb.InvalidInputException("refresh_ip_geo broke")  # before the window is known

    monkeypatch.setattr(findings, "_stage", broken_stage)
    if failing == "refresh_ip_geo":
        monkeypatch.setattr(findings, "refresh_ip_geo", broken_geo)
    with pytest.raises(StorageError, match=f"evaluating the findings rules failed: .*{failing}"):
        evaluate_new_findings(conn, "default", 1, settings=geo)
    assert conn.execute("SELECT count(*) FROM findings").fetchone() == (0,)
    assert conn.execute("SELECT current_setting('threads')").fetchone() == (2,)
    monkeypatch.undo()
    summary = evaluate_new_findings(conn, "default", 1, settings=geo)
    stored = conn.execute("SELECT count(*) FROM findings").fetchone()
    assert stored is not None and summary.new_count == stored[0] > 0


def test_the_window_is_bound_on_each_connection_exactly_as_computed() -> None:
    """The window is computed once, as texts, and bound on both lanes' connections: the same
    values as computed directly in SQL (microseconds kept; 'infinity' when nothing is new;
    NULL for a full evaluation)."""
    from session_audit.analysis import findings

    conn = make_db()
    odd = timedelta(microseconds=123_457)
    add_sessions(conn, [s(1, 1, 0, "10.0.0.1"), s(2, 1, DAY + 0.5, "10.0.0.2")])
    conn.execute("UPDATE user_sessions SET end_time = end_time + ? WHERE id = 2", [odd])
    direct = conn.execute(
        "SELECT min(start_time) FILTER (WHERE id >= 2), (SELECT newest_data FROM data_horizon)"
        " FROM user_sessions"
    ).fetchone()
    assert direct is not None
    day = datetime(direct[0].year, direct[0].month, direct[0].day, tzinfo=direct[0].tzinfo)
    assert direct[1].microsecond == 123_457  # the newest data: the odd end
    for since_id, full, since in [(2, False, day), (3, False, "infinity"), (0, True, None)]:
        values = {"org": "default", "since_id": since_id, "full": full}
        window = findings._window(conn, values)
        side = conn.cursor()
        findings._prepare(side, Settings(), values, window, ["dormant_reactivated"], writes=False)
        bound = side.execute(
            "SELECT getvariable('session_audit_findings_window').since,"
            " CAST(getvariable('session_audit_findings_window').since AS VARCHAR),"
            " getvariable('session_audit_findings_window').newest"
        ).fetchone()
        assert bound is not None
        if since == "infinity":
            assert bound[1] == "infinity"
        else:
            assert bound[0] == since
        assert bound[2] == direct[1]
        side.close()
