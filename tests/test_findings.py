"""The detection rules (sql/rules), one planted pattern each: hand-made sessions, the exact
findings expected (rule, severity, users, sessions), and the near misses that must not fire.
Then the evaluation itself: idempotent, acknowledgement kept, incremental = full, no GeoIP files.
"""

from __future__ import annotations

import math
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
    ])  # fmt: skip
    assert run(conn, geo, "concurrent_networks") == {
        ("concurrent_networks", "high", (1,), (1, 2)),
        ("concurrent_networks", "low", (3,), (5, 6)),
    }


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
