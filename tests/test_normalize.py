"""normalize_pages: exact values, UTC with milliseconds, rejects with reasons, anomalies, dedupe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl
import pytest

from session_audit.errors import ApiError
from session_audit.ingest.normalize import (
    PYTHON_DISTINCT_MAX,
    REJECTED_SCHEMA,
    SESSION_SCHEMA,
    canonical_ip,
    normalize_pages,
    normalize_user_stats,
    normalize_users,
)
from session_audit.session_row import SESSION_ROW


def session(sid: Any = 1, **fields: Any) -> dict[str, Any]:
    """A valid UserSession from the field table's examples (``...`` drops a field)."""
    return SESSION_ROW.example(**{"id": sid, **fields})


def pages(*objs: Any) -> list[bytes]:
    return [orjson.dumps(list(objs))]


def one(obj: dict[str, Any]) -> dict[str, Any]:
    batch = normalize_pages(pages(obj), org="default")
    assert batch.rejected.height == 0, batch.rejected.to_dicts()
    rows = batch.sessions.to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_schema_is_explicit_and_values_typed() -> None:
    batch = normalize_pages(pages(session()), org="acme")
    assert batch.sessions.schema == pl.Schema(SESSION_SCHEMA)
    assert batch.rejected.schema == pl.Schema(REJECTED_SCHEMA)
    row = batch.sessions.row(0, named=True)
    assert row == {
        "org": "acme",
        "id": 1,
        "user_id": 10,
        "start_time": datetime(2024, 5, 1, 8, 30, 0, 123000, tzinfo=UTC),
        "end_time": datetime(2024, 5, 1, 9, 30, 0, 456000, tzinfo=UTC),
        "client_app_id": 7,
        "ip_address": "192.168.0.1",
        "app_id": "Tradovate",
        "app_version": "1.241.0",
        "anomalies": [],
        "ip": "192.168.0.1",
        "ip_family": "v4",
        "ip_network": "192.168.0.0/24",
    }
    assert (batch.max_id, batch.fetched, batch.duplicates) == (1, 1, 0)


@pytest.mark.parametrize(
    "text",
    [
        'has "quotes", and commas',
        "line one\nline two\r\n",
        '=HYPERLINK("http://evil","x")',
        "  padded  ",
        "ü" * 65 + "🙂",
        "x" * 300,
        "",
    ],
)
def test_strings_are_kept_exactly(text: str) -> None:
    row = one(session(appId=text, appVersion=text))
    assert row["app_id"] == text
    assert row["app_version"] == text
    assert ("string_over_64" in row["anomalies"]) == (len(text) > 64)


def test_timestamps_become_utc_keeping_milliseconds() -> None:
    row = one(session(startTime="2024-05-01T10:30:00.007+02:00", endTime="2024-05-01T08:30:01.5Z"))
    assert row["start_time"] == datetime(2024, 5, 1, 8, 30, 0, 7000, tzinfo=UTC)
    assert row["end_time"] == datetime(2024, 5, 1, 8, 30, 1, 500000, tzinfo=UTC)
    assert one(session(startTime="2024-05-01T08:30:00Z"))["start_time"] == datetime(
        2024, 5, 1, 8, 30, tzinfo=UTC
    )
    # a shape the vectorised format misses goes through fromisoformat
    assert one(session(startTime="2024-05-01 08:30:00.250+00:00"))["start_time"] == datetime(
        2024, 5, 1, 8, 30, 0, 250000, tzinfo=UTC
    )


def test_end_time_absent_and_null_both_mean_open() -> None:
    assert one(session(endTime=...))["end_time"] is None
    assert one(session(endTime=None))["end_time"] is None


@pytest.mark.parametrize(
    ("obj", "session_id", "reason"),
    [
        (session(sid=...), None, "missing id"),
        (session(sid=None), None, "missing id"),
        (session(sid="5"), None, "id is not a 64-bit integer"),
        (session(sid=5.0), None, "id is not a 64-bit integer"),
        (session(sid=True), None, "id is not a 64-bit integer"),
        (session(5, userId=...), 5, "missing userId"),
        (session(5, userId="10"), 5, "userId is not a 64-bit integer"),
        (session(5, startTime=...), 5, "missing startTime"),
        (session(5, startTime="yesterday"), 5, "unparseable startTime"),
        (session(5, startTime="2024-02-30T00:00:00Z"), 5, "unparseable startTime"),
        (session(5, startTime=1714552200000), 5, "unparseable startTime"),
        (session(5, endTime="soon"), 5, "unparseable endTime"),
        (session(5, clientAppId="7"), 5, "clientAppId is not a 64-bit integer"),
        (session(5, ipAddress=3232235521), 5, "ipAddress is not a string"),
        (session(5, appVersion=["1"]), 5, "appVersion is not a string"),
    ],
)
def test_unstorable_objects_are_rejected_with_the_raw_json_and_reason(
    obj: dict[str, Any], session_id: int | None, reason: str
) -> None:
    batch = normalize_pages(pages(session(1), obj), org="default")
    assert batch.sessions["id"].to_list() == [1]
    assert batch.rejected.height == 1
    rejected = batch.rejected.row(0, named=True)
    assert rejected["session_id"] == session_id
    assert rejected["reason"] == reason
    assert orjson.loads(rejected["raw_json"]) == obj
    assert batch.fetched == 2


def test_several_reasons_are_all_reported() -> None:
    batch = normalize_pages(pages({"id": 9, "endTime": "x"}), org="default")
    assert batch.rejected["reason"].to_list() == [
        "missing userId; missing startTime; unparseable endTime"
    ]
    assert batch.max_id == 9  # rejected ids count for the cursor


def test_non_objects_and_huge_ids_are_rejected() -> None:
    raw = (
        b'[5, "x", {"id": 99999999999999999999, "userId": 1, "startTime": "2024-01-01T00:00:00Z"}]'
    )
    batch = normalize_pages([raw], org="default")
    assert batch.rejected["reason"].to_list() == [
        "not a JSON object",
        "not a JSON object",
        "id is not a 64-bit integer",
    ]
    assert batch.rejected["raw_json"].to_list()[:2] == ["5", '"x"']
    assert "99999999999999999999" in batch.rejected["raw_json"][2]
    assert batch.max_id is None
    assert batch.sessions.height == 0


def test_odd_but_valid_rows_are_kept_and_flagged() -> None:
    row = one(
        session(
            endTime="2024-05-01T08:00:00Z",
            clientAppId=...,
            ipAddress="not-an-ip " + "y" * 60,
        )
    )
    assert row["anomalies"] == [
        "end_before_start",
        "string_over_64",
        "ip_not_parseable",
        "missing_client_app_id",
    ]
    assert row["end_time"] < row["start_time"]
    assert row["client_app_id"] is None


@pytest.mark.parametrize(
    ("ip", "odd"),
    [
        ("10.0.0.1", False),
        ("255.255.255.255", False),
        ("2001:db8::1", False),
        ("::ffff:10.0.0.1", False),
        ("256.1.1.1", True),
        ("10.0.0", True),
        ("10.0.0.1 ", True),
        ("", True),
        ("localhost", True),
    ],
)
def test_ip_addresses_are_checked(ip: str, odd: bool) -> None:
    row = one(session(ipAddress=ip))
    assert row["ip_address"] == ip
    assert ("ip_not_parseable" in row["anomalies"]) is odd


def test_missing_ip_is_not_an_anomaly() -> None:
    row = one(session(ipAddress=...))
    assert row["anomalies"] == []
    assert (row["ip_address"], row["ip"], row["ip_family"], row["ip_network"]) == (None,) * 4


_JUNK = "x" * 35 + "-junk-" + "y" * 29  # 70 characters


@pytest.mark.parametrize(
    ("raw", "ip", "family", "network"),
    [
        ("1.2.3.4", "1.2.3.4", "v4", "1.2.3.0/24"),
        ("0.0.0.9", "0.0.0.9", "v4", "0.0.0.0/24"),
        ("255.255.255.255", "255.255.255.255", "v4", "255.255.255.0/24"),
        ("2001:db8::1", "2001:db8::1", "v6", "2001:db8::/64"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1", "v6", "2001:db8::/64"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", "v6", "2001:db8::/64"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6", "v6", "2001:db8:1:2::/64"),
        ("::ffff:1.2.3.4", "1.2.3.4", "v4", "1.2.3.0/24"),
        ("::FFFF:102:304", "1.2.3.4", "v4", "1.2.3.0/24"),
        ("::ffff:5.6.7.8", "5.6.7.8", "v4", "5.6.7.0/24"),
        ("::1.2.3.4", "::102:304", "v6", "::/64"),
        ("::1", "::1", "v6", "::/64"),
        ("::", "::", "v6", "::/64"),
        ("fe80::1%eth0", "fe80::1", "v6", "fe80::/64"),
        ("", None, None, None),
        ("unknown", None, None, None),
        (_JUNK, None, None, None),
        (":1::2", None, None, None),
        ("fe80::1%", None, None, None),
        ("::ffff:999.1.1.1", None, None, None),
        ("010.1.2.3", None, None, None),
        ("1.2.3.4 ", None, None, None),
        ("1.2.3", None, None, None),
        ("1::2::3", None, None, None),
        ("2001:db8::1, 203.0.113.7", None, None, None),
    ],
)
def test_canonical_ip_family_and_network_per_input(
    raw: str, ip: str | None, family: str | None, network: str | None
) -> None:
    row = one(session(ipAddress=raw))
    assert row["ip_address"] == raw  # the raw text is never altered
    assert (row["ip"], row["ip_family"], row["ip_network"]) == (ip, family, network)
    assert ("ip_not_parseable" in row["anomalies"]) is (ip is None)


def test_canonical_ip_is_computed_once_per_distinct_address() -> None:
    canonical_ip.cache_clear()
    texts = ["2001:DB8::7", "bad", "9.9.9.9"] * 50
    objs = [session(i, ipAddress=ip) for i, ip in enumerate(texts)]
    batch = normalize_pages(pages(*objs), org="default")
    assert batch.sessions["ip"].to_list()[:3] == ["2001:db8::7", None, "9.9.9.9"]
    info = canonical_ip.cache_info()
    # once per distinct text of the batch (a few: all go through canonical_ip)
    assert (info.misses, info.hits) == (3, 0)
    normalize_pages(pages(*objs), org="default")
    info = canonical_ip.cache_info()
    assert (info.misses, info.hits) == (3, 3)  # and parsed once per process
    # many distinct texts: a plain dotted quad takes the Rust path and never needs it
    canonical_ip.cache_clear()
    quads = [f"10.0.{i // 250}.{i % 250}" for i in range(PYTHON_DISTINCT_MAX + 1)]
    objs = [session(i, ipAddress=ip) for i, ip in enumerate([*quads, "2001:DB8::7", "bad"])]
    batch = normalize_pages(pages(*objs), org="default")
    assert batch.sessions["ip"].to_list()[-3:] == [quads[-1], "2001:db8::7", None]
    info = canonical_ip.cache_info()
    assert (info.misses, info.hits) == (2, 0)


def test_repeated_ids_last_occurrence_in_page_order_wins() -> None:
    first = [session(1, appVersion="a"), session(2, appVersion="b")]
    second = [session(1, appVersion="c"), session(3)]
    batch = normalize_pages([orjson.dumps(first), orjson.dumps(second)], org="default")
    by_id = {r["id"]: r["app_version"] for r in batch.sessions.to_dicts()}
    assert by_id == {1: "c", 2: "b", 3: "1.241.0"}
    assert batch.duplicates == 1
    assert (batch.fetched, batch.max_id) == (4, 3)


def test_a_rejected_repeat_does_not_replace_a_valid_row() -> None:
    batch = normalize_pages(pages(session(1), session(1, startTime="bad")), org="default")
    assert batch.sessions["id"].to_list() == [1]
    assert batch.rejected["session_id"].to_list() == [1]


def test_empty_input() -> None:
    for raw in ([], [b"[]"], [b"[]", b" [ ] "]):
        batch = normalize_pages(raw, org="default")
        assert (batch.sessions.height, batch.rejected.height) == (0, 0)
        assert (batch.max_id, batch.fetched) == (None, 0)
        assert batch.sessions.schema == pl.Schema(SESSION_SCHEMA)


@pytest.mark.parametrize("raw", [b"{not json", b'{"id": 1}', b"null"])
def test_a_page_that_is_not_a_json_array_is_an_api_error(raw: bytes) -> None:
    with pytest.raises(ApiError, match="page 2 of userSession/items"):
        normalize_pages([b"[]", raw], org="default")


def test_users_and_stats_are_typed_and_keep_values() -> None:
    users = normalize_users(
        [
            {"id": 1, "name": " Ann ", "email": "a@x", "status": "Active", "professional": True,
             "organizationId": 3, "timestamp": "2020-01-02T03:04:05.678Z"},
            {"id": "bad"},
            {"id": 2, "name": "Bob", "professional": "yes"},
        ],
        org="o",
    )  # fmt: skip
    rows = users.to_dicts()
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["name"] == " Ann "
    assert rows[0]["created_at"] == datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert rows[1]["professional"] is None
    stats = normalize_user_stats(
        [{"id": 1, "lastSessionTime": "2024-01-01T00:00:00Z", "failedPasswords": 3}, {"x": 1}],
        org="o",
    )
    assert stats.to_dicts() == [
        {
            "org": "o",
            "user_id": 1,
            "stats_id": 1,
            "last_session_time": datetime(2024, 1, 1, tzinfo=UTC),
            "failed_passwords": 3,
        }
    ]


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T08:30:00Z",
        "2024-05-01T08:30:00.1Z",
        "2024-05-01T08:30:00.123Z",
        "2024-05-01T08:30:00.123456Z",
        "2024-05-01T08:30:00.123456789Z",
        "2024-05-01T08:30:00.Z",
        "2024-05-01T08:30:00.123z",
        "2024-05-01 08:30:00.123Z",
        "2024-05-01T08:30Z",
        "2024-05-01T08:30:60Z",
        "2024-02-30T08:30:00Z",
        "2024-05-01T24:00:00Z",
        "2024-5-1T8:30:00Z",
        " 2024-05-01T08:30:00Z",
        "2024-05-01T08:30:00ZZ",
        "2024-05-01T08:30:00.123+00:00",
        "",
    ],
)
def test_the_zulu_fast_path_reads_times_as_the_general_path_does(text: str) -> None:
    """Texts the cheap ``...Z`` format reads give what the offset-aware path gives: a batch
    holding an offset (which the fast format misses) takes the general path for every value."""
    from session_audit.ingest.normalize import _parse_times

    alone = _parse_times(pl.Series([text, None], dtype=pl.String))
    general = _parse_times(pl.Series([text, None, "2024-05-01T10:30:00+02:00"], dtype=pl.String))
    assert general[2] == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert alone.to_list() == general[:2].to_list()
