"""Each analysis view: rows in, rows out, on small hand-made fixtures."""

from __future__ import annotations

import pytest

from session_audit.db.sqlfiles import load_sql
from session_audit.db.views import VIEWS
from test_views_data import add_sessions, add_stats, add_users, at, make_db, rows


def test_every_view_file_exists_documents_its_columns_and_keeps_org() -> None:
    conn = make_db()
    for name in VIEWS:
        text = load_sql(f"views/{name}")
        assert text.startswith("-- View "), name
        assert f"CREATE OR REPLACE VIEW {name} AS" in text
        columns = [r[0] for r in rows(conn, f"DESCRIBE {name}")]
        assert columns[0] == "org", name
        header = text.split("CREATE OR REPLACE VIEW")[0]
        for column in columns:
            assert f"--   {column} " in header, f"{name}.{column} is not documented"


def test_login_history_duration_open_and_gap_since_previous_session() -> None:
    conn = make_db()
    add_users(conn, [(1, "alice")])
    add_sessions(
        conn,
        [
            {"id": 3, "user_id": 1, "start": at(0), "end": at(30), "ip": "1.1.1.1"},
            {"id": 5, "user_id": 1, "start": at(90), "end": at(100), "ip": "1.1.1.1"},
            {"id": 4, "user_id": 1, "start": at(95), "end": None, "ip": "2.2.2.2"},
            {
                "id": 6,
                "user_id": 2,
                "start": at(10),
                "end": at(5),
                "ip": "3.3.3.3",
                "anomalies": ["end_before_start"],
            },
        ],
    )
    got = rows(
        conn,
        "SELECT session_id, user_name, is_open, duration_seconds, previous_session_id,"
        " gap_seconds FROM login_history ORDER BY user_id, start_time",
    )
    assert got == [
        (3, "alice", False, 1800.0, None, None),
        (5, "alice", False, 600.0, 3, 3600.0),
        (4, "alice", True, None, 5, -300.0),
        (6, None, False, -300.0, None, None),
    ]
    types = dict(rows(conn, "SELECT column_name, column_type FROM (DESCRIBE login_history)"))
    assert "duration" not in types  # contract change of schema 4: seconds only
    assert types["duration_seconds"] == types["gap_seconds"] == "DOUBLE"


def test_login_history_ties_on_start_time_are_ordered_by_id() -> None:
    conn = make_db()
    add_sessions(
        conn,
        [
            {"id": 8, "user_id": 1, "start": at(0), "end": at(10)},
            {"id": 7, "user_id": 1, "start": at(0), "end": at(20)},
        ],
    )
    got = rows(conn, "SELECT session_id, previous_session_id FROM login_history ORDER BY 1")
    assert got == [(7, None), (8, 7)]


@pytest.mark.parametrize(
    ("ip", "canonical", "family", "network"),
    [
        ("192.168.7.42", "192.168.7.42", "v4", "192.168.7.0/24"),
        ("010.001.2.3", None, None, None),
        ("10.1.2.30", "10.1.2.30", "v4", "10.1.2.0/24"),
        ("255.255.255.255", "255.255.255.255", "v4", "255.255.255.0/24"),
        ("256.1.1.1", None, None, None),
        ("1.2.3", None, None, None),
        ("2001:db8::1", "2001:db8::1", "v6", "2001:db8::/64"),
        ("2001:0DB8:0000:0001:0:0:0:1", "2001:db8:0:1::1", "v6", "2001:db8:0:1::/64"),
        ("2001:db8:0:1:ffff::", "2001:db8:0:1:ffff::", "v6", "2001:db8:0:1::/64"),
        ("::1", "::1", "v6", "::/64"),
        ("fe80::1%eth0", "fe80::1", "v6", "fe80::/64"),
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304", "v6", "1:2:3:4::/64"),
        ("::ffff:1.2.3.4", "1.2.3.4", "v4", "1.2.3.0/24"),
        ("1:2:3:4:5:6:7", None, None, None),
        ("1::2::3", None, None, None),
        ("12345::1", None, None, None),
        ("not an ip", None, None, None),
        ("", None, None, None),
    ],
)
def test_ip_networks_canonical_family_and_network(
    ip: str, canonical: str | None, family: str | None, network: str | None
) -> None:
    conn = make_db()
    add_sessions(conn, [{"id": 1, "user_id": 1, "start": at(0), "ip": ip}])
    got = rows(conn, "SELECT ip_address, ip, ip_family, ip_network FROM ip_networks")
    assert got == [(ip, canonical, family, network)]


def test_ip_activity_aggregates_per_ip() -> None:
    conn = make_db()
    add_sessions(
        conn,
        [
            {"id": 1, "user_id": 1, "start": at(0), "end": at(5), "ip": "10.0.0.1"},
            {"id": 2, "user_id": 2, "start": at(10), "end": None, "ip": "10.0.0.1"},
            {"id": 3, "user_id": 1, "start": at(20), "end": at(25), "ip": "10.0.0.1"},
            {"id": 4, "user_id": 1, "start": at(30), "end": at(35), "ip": "2001:db8::9"},
            {"id": 5, "user_id": 1, "start": at(40), "end": at(45), "ip": None},
            {"id": 6, "user_id": 9, "start": at(0), "ip": "10.0.0.1", "org": "other"},
            {"id": 7, "user_id": 3, "start": at(50), "end": at(55), "ip": "2001:DB8:0::9"},
            {"id": 8, "user_id": 3, "start": at(60), "end": at(65), "ip": "unknown"},
        ],
    )
    got = rows(conn, "SELECT * FROM ip_activity ORDER BY org, ip")
    assert got == [
        ("default", "10.0.0.1", "v4", "10.0.0.0/24", ["10.0.0.1"], 2, 3, 1, at(0), at(20)),
        (
            "default", "2001:db8::9", "v6", "2001:db8::/64", ["2001:DB8:0::9", "2001:db8::9"],
            2, 2, 0, at(30), at(50),
        ),
        ("other", "10.0.0.1", "v4", "10.0.0.0/24", ["10.0.0.1"], 1, 1, 1, at(0), at(0)),
    ]  # fmt: skip


def test_shared_ips_lists_ips_and_networks_of_two_or_more_users() -> None:
    conn = make_db()
    add_sessions(
        conn,
        [
            {"id": 1, "user_id": 1, "start": at(0), "ip": "10.0.0.1"},
            {"id": 2, "user_id": 2, "start": at(50), "ip": "10.0.0.1"},
            {"id": 3, "user_id": 1, "start": at(60), "ip": "10.0.0.1"},
            {"id": 4, "user_id": 3, "start": at(70), "ip": "10.0.0.2"},
            {"id": 5, "user_id": 4, "start": at(80), "ip": "10.9.9.9"},
            {"id": 6, "user_id": 4, "start": at(90), "ip": "10.9.9.8"},
            {"id": 7, "user_id": 5, "start": at(0), "ip": "10.0.0.1", "org": "other"},
        ],
    )
    got = rows(
        conn,
        "SELECT org, kind, address, ip_family, users, user_ids, ip_count, sessions, first_seen,"
        " last_seen, first_shared FROM shared_ips ORDER BY org, kind, address",
    )
    assert got == [
        ("default", "ip", "10.0.0.1", "v4", 2, [1, 2], 1, 3, at(0), at(60), at(50)),
        ("default", "network", "10.0.0.0/24", "v4", 3, [1, 2, 3], 2, 4, at(0), at(70), at(50)),
    ]


def test_new_ip_logins_marks_first_ip_and_first_network_per_user() -> None:
    conn = make_db()
    add_sessions(
        conn,
        [
            {"id": 1, "user_id": 1, "start": at(0), "ip": "10.0.0.1"},
            {"id": 2, "user_id": 1, "start": at(10), "ip": "10.0.0.1"},
            {"id": 3, "user_id": 1, "start": at(20), "ip": "10.0.0.2"},
            {"id": 4, "user_id": 1, "start": at(30), "ip": "172.16.0.1"},
            {"id": 5, "user_id": 1, "start": at(40), "ip": "172.16.0.1"},
            {"id": 6, "user_id": 1, "start": at(50), "ip": "bogus"},
            {"id": 8, "user_id": 2, "start": at(5), "ip": "10.0.0.1"},
            {"id": 7, "user_id": 2, "start": at(5), "ip": "10.0.0.1"},
        ],
    )
    got = rows(
        conn,
        "SELECT session_id, user_id, ip_address, ip, ip_network, new_network,"
        " first_user_session FROM new_ip_logins ORDER BY user_id, start_time, session_id",
    )
    assert got == [  # 'bogus' is not an IP: never a new one
        (1, 1, "10.0.0.1", "10.0.0.1", "10.0.0.0/24", True, True),
        (3, 1, "10.0.0.2", "10.0.0.2", "10.0.0.0/24", False, False),
        (4, 1, "172.16.0.1", "172.16.0.1", "172.16.0.0/24", True, False),
        (7, 2, "10.0.0.1", "10.0.0.1", "10.0.0.0/24", True, True),
    ]


def test_concurrent_sessions_pairs_overlaps_from_different_ips() -> None:
    conn = make_db()
    add_users(conn, [(1, "alice")])
    add_sessions(
        conn,
        [
            # 1 overlaps 2 (other IP) and 3 (same IP: not an incident); 4 starts as 1 ends.
            {"id": 1, "user_id": 1, "start": at(0), "end": at(60), "ip": "1.1.1.1"},
            {"id": 2, "user_id": 1, "start": at(10), "end": at(20), "ip": "2.2.2.2"},
            {"id": 3, "user_id": 1, "start": at(30), "end": at(90), "ip": "1.1.1.1"},
            {"id": 4, "user_id": 1, "start": at(60), "end": at(70), "ip": "3.3.3.3"},
            # same start time, different IPs
            {"id": 11, "user_id": 2, "start": at(0), "end": at(5), "ip": "1.1.1.1"},
            {"id": 10, "user_id": 2, "start": at(0), "end": at(5), "ip": "2.2.2.2"},
            # an open session overlaps what starts within 24 h of its start (1000 min), not
            # what starts later (2000 min): a record open for days is a session never closed
            {"id": 20, "user_id": 3, "start": at(0), "end": None, "ip": "1.1.1.1"},
            {"id": 21, "user_id": 3, "start": at(1000), "end": at(1010), "ip": "2.2.2.2"},
            {"id": 22, "user_id": 3, "start": at(2000), "end": None, "ip": "3.3.3.3"},
            {"id": 23, "user_id": 3, "start": at(2010), "end": None, "ip": "4.4.4.4"},
            # end before start never overlaps
            {"id": 30, "user_id": 4, "start": at(10), "end": at(0), "ip": "1.1.1.1"},
            {"id": 31, "user_id": 4, "start": at(5), "end": at(6), "ip": "2.2.2.2"},
            # the newest data (another user's logout at 2110 min) is the views' "now": 22 and
            # 23 overlap up to it, so that overlap may be going on (still_open)
            {"id": 40, "user_id": 5, "start": at(2100), "end": at(2110), "ip": "5.5.5.5"},
        ],
    )
    got = rows(
        conn,
        "SELECT user_id, user_name, session_id, other_session_id, ip_address, other_ip_address,"
        " overlap_start, still_open FROM concurrent_sessions ORDER BY 1, 3, 4",
    )
    assert got == [
        (1, "alice", 1, 2, "1.1.1.1", "2.2.2.2", at(10), False),
        (1, "alice", 3, 4, "1.1.1.1", "3.3.3.3", at(60), False),
        (2, None, 10, 11, "2.2.2.2", "1.1.1.1", at(0), False),
        (3, None, 20, 21, "1.1.1.1", "2.2.2.2", at(1000), False),
        (3, None, 22, 23, "3.3.3.3", "4.4.4.4", at(2010), True),
    ]
    seconds = rows(
        conn,
        "SELECT overlap_seconds FROM concurrent_sessions WHERE session_id IN (1, 3, 20)"
        " AND other_session_id IN (2, 4, 21) ORDER BY session_id",
    )
    assert seconds == [(600.0,), (600.0,), (600.0,)]


def test_app_versions_sort_version_aware_and_flag_outdated() -> None:
    conn = make_db()
    versions = [
        "1.9",
        "1.10",
        "1.2.1",
        "1.2",
        "2.0-beta",
        "2.0-alpha",
        "2.0",
        "2.0-beta.10",
        "2.0-beta.2",
        "v2.1-rc1",
        "nightly",
        '3.0 "beta", build 7\nhotfix',  # malformed text: never the latest release
    ]
    add_sessions(
        conn,
        [{"id": i, "user_id": 1, "start": at(i), "version": v} for i, v in enumerate(versions)]
        + [{"id": 50, "user_id": 1, "start": at(0), "app": "Other", "version": "5.0-beta"}],
    )
    ordered = rows(
        conn,
        "SELECT app_version, is_prerelease, latest_release, is_latest_release, is_outdated"
        " FROM app_versions WHERE app_id = 'Trader' ORDER BY version_key NULLS LAST",
    )
    assert ordered == [
        ("1.2", False, "2.0", False, True),
        ("1.2.1", False, "2.0", False, True),
        ("1.9", False, "2.0", False, True),
        ("1.10", False, "2.0", False, True),
        ("2.0-alpha", True, "2.0", False, True),
        ("2.0-beta", True, "2.0", False, True),
        ("2.0-beta.2", True, "2.0", False, True),
        ("2.0-beta.10", True, "2.0", False, True),
        ("2.0", False, "2.0", True, False),
        ("v2.1-rc1", True, "2.0", False, False),
        ('3.0 "beta", build 7\nhotfix', True, "2.0", False, False),
        ("nightly", False, "2.0", False, None),
    ]
    assert rows(
        conn, "SELECT latest_release, is_outdated FROM app_versions WHERE app_id='Other'"
    ) == [(None, None)]


def test_app_version_usage_counts_current_and_outdated_users() -> None:
    conn = make_db()
    add_users(conn, [(1, "alice"), (2, "bob"), (3, "carol")])
    add_sessions(
        conn,
        [
            {"id": 1, "user_id": 1, "start": at(0), "version": "1.9"},
            {"id": 2, "user_id": 1, "start": at(10), "version": "1.10"},
            {"id": 3, "user_id": 2, "start": at(5), "version": "1.9"},
            {"id": 4, "user_id": 3, "start": at(1), "version": "1.10"},
            {"id": 5, "user_id": 3, "start": at(20), "version": "1.9"},
        ],
    )
    got = rows(
        conn,
        "SELECT app_version, is_latest_release, is_outdated, sessions, users, current_users,"
        " outdated_users, first_seen, last_seen FROM app_version_usage ORDER BY version_key",
    )
    assert got == [
        ("1.9", False, True, 3, 3, 2, 2, at(0), at(20)),
        ("1.10", True, False, 2, 2, 1, 0, at(1), at(10)),
    ]
    outdated = rows(
        conn,
        "SELECT user_name, app_version, latest_release, last_seen FROM user_app_versions"
        " WHERE is_outdated ORDER BY user_id",
    )
    assert outdated == [("bob", "1.9", "1.10", at(5)), ("carol", "1.9", "1.10", at(20))]


def test_app_version_daily_counts_per_utc_day_with_user_share() -> None:
    conn = make_db()
    add_sessions(
        conn,
        [
            {"id": 1, "user_id": 1, "start": at(0), "version": "1.9"},
            {"id": 2, "user_id": 1, "start": at(5), "version": "1.9"},
            {"id": 3, "user_id": 1, "start": at(10), "version": "1.10"},
            {"id": 4, "user_id": 2, "start": at(20), "version": "1.10"},
            {"id": 5, "user_id": 2, "start": at(60 * 24), "version": "1.10"},
        ],
    )
    conn.execute("SET TimeZone = 'America/New_York'")  # the day stays the UTC day
    got = rows(
        conn,
        "SELECT CAST(day AS VARCHAR), app_version, sessions, users, app_users, user_share,"
        " is_outdated FROM app_version_daily ORDER BY day, version_key",
    )
    assert got == [
        ("2024-03-01", "1.9", 2, 1, 2, 0.5, True),
        ("2024-03-01", "1.10", 2, 2, 2, 1.0, False),
        ("2024-03-02", "1.10", 1, 1, 1, 1.0, False),
    ]


def test_user_risk_summary_combines_the_signals_per_user() -> None:
    conn = make_db()
    add_users(conn, [(1, "alice"), (2, "bob"), (3, "carol"), (4, "dave")])
    add_sessions(
        conn,
        [
            {"id": 1, "user_id": 1, "start": at(0), "end": at(60), "ip": "10.0.0.1"},
            {"id": 2, "user_id": 1, "start": at(10), "end": at(20), "ip": "10.0.1.1"},
            {"id": 3, "user_id": 2, "start": at(100), "end": None, "ip": "10.0.0.1"},
            {"id": 4, "user_id": 3, "start": at(5), "end": at(6), "ip": "192.168.0.1"},
            {"id": 5, "user_id": 5, "start": at(7), "end": at(8), "ip": "192.168.9.1"},
        ],
    )
    add_stats(conn, [(1, 3, at(0), 5), (2, 3, at(50), 2), (1, 1, at(0), 0)])
    got = rows(
        conn,
        "SELECT user_id, user_name, failed_passwords, stats_observed_at, sessions,"
        " open_sessions, ip_count, network_count, shared_ip_count, concurrency_incidents,"
        " last_login, risk_flags FROM user_risk_summary ORDER BY user_id",
    )
    assert got == [
        (1, "alice", 0, at(0), 2, 0, 2, 2, 1, 1, at(10), ["shared_ip", "concurrent_sessions"]),
        (2, "bob", None, None, 1, 1, 1, 1, 1, 0, at(100), ["shared_ip"]),
        (3, "carol", 2, at(50), 1, 0, 1, 1, 0, 0, at(5), ["failed_passwords"]),
        (4, "dave", None, None, 0, 0, 0, 0, 0, 0, None, []),
        (5, None, None, None, 1, 0, 1, 1, 0, 0, at(7), []),
    ]
