"""Simulator data: seeded, realistic, with the quirks the ingest must survive."""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from session_audit.errors import ConfigError
from session_audit.simulator import Simulator, SimulatorConfig
from session_audit.simulator.malformed import FORMULA

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(SimulatorConfig(users=1000, sessions=20_000, seed=7, now=NOW))


@pytest.fixture(scope="module")
def rows(sim: Simulator) -> list[dict[str, Any]]:
    return sim.truth_sessions()


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.strptime(value, ISO_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def test_same_seed_same_data_other_seed_other_data() -> None:
    config = SimulatorConfig(users=100, sessions=2000, seed=11, now=NOW)
    first, second = Simulator(config), Simulator(config)
    assert first.truth_sessions() == second.truth_sessions()
    assert first.truth_users() == second.truth_users()
    other = Simulator(SimulatorConfig(users=100, sessions=2000, seed=12, now=NOW))
    assert other.truth_sessions() != first.truth_sessions()


def test_size_ids_and_timestamp_format(sim: Simulator, rows: list[dict[str, Any]]) -> None:
    table = sim.table
    runs = sum(1 for app in table.app_index if table.apps[app][1] == "session-audit")
    assert 4 * 120 - 1 <= runs <= 4 * 120 + 1  # the API user's scheduled runs, every 6 hours
    assert len(rows) == 20_000 + runs
    ids = [r["id"] for r in rows]
    assert ids == sorted(set(ids))
    assert ids[0] > 1
    good = [r for r in rows if _parse(r.get("startTime")) is not None]
    assert len(good) >= len(rows) - 10
    assert all(len(r["startTime"]) == 24 and r["startTime"].endswith("Z") for r in good)
    assert all(_parse(r["startTime"]) <= NOW for r in good)  # type: ignore[operator]
    assert sim.max_session_id == ids[-1]


def test_dense_ids_without_foreign_firms_have_only_small_gaps() -> None:
    dense = Simulator(SimulatorConfig(users=100, sessions=5000, seed=7, now=NOW, foreign_share=0))
    ids = [r["id"] for r in dense.truth_sessions()]
    gaps = [b - a for a, b in pairwise(ids) if b - a > 1]
    assert gaps, "the id space must have gaps"
    assert max(gaps) <= 100, "no quiet stretches: gaps stay small enough for a gap tolerance"
    assert (ids[-1] - ids[0] + 1) < 1.5 * len(ids)


def test_users_follow_the_spec(sim: Simulator, rows: list[dict[str, Any]]) -> None:
    users = sim.truth_users()
    assert len(users) == 1000
    assert len({u["id"] for u in users}) == 1000
    assert users[0]["name"] == sim.credentials.username
    for user in users:
        assert {"id", "name", "timestamp", "email", "status", "professional"} <= user.keys()
        assert 3 <= len(user["name"]) <= 64
        assert _parse(user["timestamp"]) is not None
    assert {u["status"] for u in users} >= {"Active", "Closed"}
    assert any("organizationId" in u for u in users)
    known = {u["id"] for u in users}
    assert all(r["userId"] in known for r in rows if "userId" in r)


def test_open_sessions_in_both_forms(sim: Simulator, rows: list[dict[str, Any]]) -> None:
    absent = [r for r in rows if "endTime" not in r]
    null = [r for r in rows if "endTime" in r and r["endTime"] is None]
    assert absent and null
    assert sim.truth_open_ids() == sorted(r["id"] for r in [*absent, *null])
    assert 0.01 <= (len(absent) + len(null)) / len(rows) <= 0.08


def test_daily_and_weekly_rhythm(rows: list[dict[str, Any]]) -> None:
    starts = [d for d in (_parse(r["startTime"]) for r in rows) if d is not None]
    by_weekday = Counter(d.weekday() for d in starts)
    by_hour = Counter(d.hour for d in starts)
    assert by_weekday[5] < by_weekday[2] / 3  # Saturday against Wednesday
    assert by_hour[3] < by_hour[14] / 3  # night against the US session
    months = {(d.year, d.month) for d in starts}
    assert len(months) >= 4


def test_networks_shared_ips_ipv6_and_overlaps(rows: list[dict[str, Any]]) -> None:
    users_by_ip: dict[str, set[int]] = defaultdict(set)
    ips_by_user: dict[int, set[str]] = defaultdict(set)
    v4 = v6 = 0
    for r in rows:
        if "userId" not in r:
            continue
        users_by_ip[r["ipAddress"]].add(r["userId"])
        ips_by_user[r["userId"]].add(r["ipAddress"])
        try:
            version = ipaddress.ip_address(r["ipAddress"]).version
        except ValueError:
            continue
        v4 += version == 4
        v6 += version == 6
    assert v4 > v6 > 0.05 * len(rows)
    assert sum(len(u) >= 3 for u in users_by_ip.values()) >= 5  # IPs shared by several accounts
    assert sum(len(i) >= 10 for i in ips_by_user.values()) >= 3  # users with many IPs

    overlaps = 0
    by_user: dict[int, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    for r in rows:
        start = _parse(r.get("startTime"))
        if start is not None and "userId" in r:
            by_user[r["userId"]].append((start, _parse(r.get("endTime")), r["ipAddress"]))
    for sessions in by_user.values():
        sessions.sort(key=lambda s: s[0])
        for (_s1, e1, ip1), (s2, _e2, ip2) in pairwise(sessions):
            if ip1 != ip2 and (e1 is None or e1 > s2):
                overlaps += 1
    assert overlaps >= 20


def test_app_versions_roll_out_over_time(rows: list[dict[str, Any]]) -> None:
    first_seen: dict[str, datetime] = {}
    share_by_month: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for r in rows:
        start = _parse(r["startTime"])
        if start is None or r.get("appId") != "tradovate_trader":
            continue
        version = r["appVersion"]
        first_seen[version] = min(first_seen.get(version, start), start)
        share_by_month[(start.year, start.month)][version] += 1
    order = ["1.9", "1.10", "2.0-beta", "2.0"]
    assert set(order) <= first_seen.keys()
    assert [first_seen[v] for v in order] == sorted(first_seen[v] for v in order)
    months = sorted(share_by_month)
    assert share_by_month[months[0]].most_common(1)[0][0] == "1.9"
    assert share_by_month[months[-1]].most_common(1)[0][0] == "2.0"
    assert {r["clientAppId"] for r in rows if "clientAppId" in r} >= {1, 2, 8}


def test_malformed_rows_are_present(sim: Simulator, rows: list[dict[str, Any]]) -> None:
    assert any("userId" not in r for r in rows)
    assert any("clientAppId" not in r for r in rows)
    assert any("startTime" in r and _parse(r["startTime"]) is None for r in rows)
    assert any(len(str(r.get("ipAddress", ""))) > 64 for r in rows)
    assert any(len(str(r.get("appId", ""))) > 64 for r in rows)
    assert any(r.get("appId") == FORMULA for r in rows)
    tricky = [r for r in rows if "\n" in str(r.get("appVersion", ""))]
    assert tricky and '"' in tricky[0]["appVersion"] and "," in tricky[0]["appVersion"]
    ends_early = [
        r
        for r in rows
        if (s := _parse(r["startTime"])) and (e := _parse(r.get("endTime"))) and e < s
    ]
    assert ends_early
    malformed = {i for ids in sim.malformed_ids.values() for i in ids}
    assert len(malformed) <= len(rows) // 1000


def test_without_malformed_rows_every_row_is_valid() -> None:
    clean = Simulator(SimulatorConfig(users=50, sessions=3000, seed=3, now=NOW, malformed=False))
    for r in clean.truth_sessions():
        assert {"id", "userId", "startTime", "clientAppId", "ipAddress"} <= r.keys()
        start = _parse(r["startTime"])
        assert start is not None
        end = _parse(r.get("endTime"))
        assert end is None or end >= start
        assert all(len(str(v)) <= 64 for v in r.values())


def test_advance_closes_open_sessions_and_adds_new_ids() -> None:
    sim = Simulator(SimulatorConfig(users=200, sessions=5000, seed=5, now=NOW))
    before = {r["id"]: r for r in sim.truth_sessions()}
    open_before = {i for i, r in before.items() if r.get("endTime") is None}
    old_max = max(before)
    sim.advance(2 * 86_400)
    after = {r["id"]: r for r in sim.truth_sessions()}
    closed = {i for i in open_before if after[i].get("endTime") is not None}
    assert set(sim.truth_open_ids()) == {i for i, r in after.items() if r.get("endTime") is None}
    assert closed, "some open sessions must close"
    for i in closed:
        assert _parse(after[i]["endTime"]) >= _parse(after[i]["startTime"])  # type: ignore[operator]
    new_ids = sorted(set(after) - set(before))
    assert new_ids and new_ids[0] > old_max
    assert all(after[i] == before[i] for i in before if i not in open_before)
    new_starts = [_parse(after[i]["startTime"]) for i in new_ids]
    assert all(s is not None and s > NOW for s in new_starts)
    # some of the new arrivals are still open at the new present
    assert any(after[i].get("endTime") is None for i in new_ids)


def test_bad_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="fault_rate"):
        SimulatorConfig(fault_rate=1.5)
    with pytest.raises(ConfigError, match="users"):
        SimulatorConfig(users=0)
