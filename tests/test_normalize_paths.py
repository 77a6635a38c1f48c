"""normalize_pages has two paths: msgspec's strict decoding (pages of well-typed UserSessions) and
the exact per-value path. They must give identical batches: same sessions, rejects, reasons,
raw JSON, flags, max id and counts, for clean pages, pages with odd-but-valid rows, and pages
that strict decoding refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import pytest
from polars.testing import assert_frame_equal

from session_audit.ingest import normalize
from session_audit.ingest.normalize import NormalizedBatch, normalize_pages
from session_audit.session_row import SESSION_ROW
from session_audit.simulator import Simulator, SimulatorConfig

NOW = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)


def _same(a: NormalizedBatch, b: NormalizedBatch) -> None:
    assert_frame_equal(a.sessions, b.sessions)
    assert_frame_equal(a.rejected, b.rejected)
    assert (a.max_id, a.fetched, a.duplicates, a.org) == (b.max_id, b.fetched, b.duplicates, b.org)


def _strict_ok(page: bytes) -> bool:
    try:
        normalize._STRICT_PAGE.decode(page)
    except msgspec.DecodeError:
        return False
    return True


def _session(i: int, **fields: Any) -> dict[str, Any]:
    """A valid UserSession from the field table's examples (``_DROP`` drops a field)."""
    return SESSION_ROW.example(
        **{"id": i, **{k: ... if v is _DROP else v for k, v in fields.items()}}
    )


_DROP = object()


def test_simulator_pages_take_the_strict_path_and_match_the_exact_one() -> None:
    sim = Simulator(SimulatorConfig(users=60, sessions=12_000, seed=3, foreign_share=0.0, now=NOW))
    table = sim.table
    first, last = table.ids[0], table.ids[-1]
    pages = [
        orjson.dumps(table.lookup(range(start, min(start + 100, last + 1))))
        for start in range(first, last + 1, 100)
    ]
    strict_pages = [p for p in pages if _strict_ok(p)]
    assert len(strict_pages) >= len(pages) - 3  # only a missing userId fails strict decoding
    for k in range(0, len(pages), 25):
        chunk = pages[k : k + 25]
        _same(normalize_pages(chunk, org="o"), normalize._normalize_checked(chunk, org="o"))
    batch = normalize_pages(strict_pages, org="o")
    _same(batch, normalize._normalize_checked(strict_pages, org="o"))
    # the strict batch still rejects unparseable times and flags odd rows
    assert batch.rejected.height >= 1
    assert any(batch.sessions["anomalies"].list.len() > 0)


ODD_BUT_STRICT = [
    _session(1, endTime=None),
    _session(2, endTime=_DROP, clientAppId=_DROP, ipAddress=_DROP),
    _session(3, startTime="yesterday"),  # rejected: unparseable startTime
    _session(4, endTime="2026-02-30T25:61:00.000Z"),  # rejected: unparseable endTime
    _session(5, ipAddress="unknown", appId="x" * 80),
    _session(6, endTime="2026-03-01T09:00:00Z"),  # end before start
    _session(2, appVersion="2.0"),  # repeat: the last wins
    _session(2**63 - 1, userId=-(2**63)),
    _session(8, startTime="2026-03-01T10:00:00+02:00", ipAddress="::ffff:1.2.3.4"),
    _session(9, appVersion='a "q", b\nc', ipAddress="FE80::1%eth0"),
]

NOT_STRICT = [
    _session(10, id=10.0),
    _session(11, userId=True),
    _session(12, userId=None),
    _session(13, clientAppId="5"),
    _session(14, ipAddress=7),
    _session(15, extra="an undocumented field"),
    _session(16, id=2**63),
    _session(17, startTime=_DROP),
]


@pytest.mark.parametrize("row", range(len(ODD_BUT_STRICT)))
def test_odd_rows_decode_strictly_and_give_the_exact_result(row: int) -> None:
    page = orjson.dumps([ODD_BUT_STRICT[row], _session(100)])
    assert _strict_ok(page)
    _same(normalize_pages([page], org="o"), normalize._normalize_checked([page], org="o"))


def test_a_strict_batch_keeps_raw_json_of_its_rejects_as_received() -> None:
    pages = [orjson.dumps(ODD_BUT_STRICT[:5]), orjson.dumps(ODD_BUT_STRICT[5:])]
    batch = normalize_pages(pages, org="o")
    raw = dict(zip(batch.rejected["session_id"].to_list(), batch.rejected["raw_json"], strict=True))
    assert orjson.loads(raw[3]) == ODD_BUT_STRICT[2]
    assert orjson.loads(raw[4]) == ODD_BUT_STRICT[3]
    _same(batch, normalize._normalize_checked(pages, org="o"))


@pytest.mark.parametrize("row", range(len(NOT_STRICT)))
def test_a_page_strict_decoding_refuses_goes_the_exact_way(row: int) -> None:
    bad = orjson.dumps([_session(200), NOT_STRICT[row]])
    good = orjson.dumps([_session(300), _session(301, startTime="nope")])
    assert not _strict_ok(bad)
    assert _strict_ok(good)
    batch = normalize_pages([good, bad], org="o")
    _same(batch, normalize._normalize_checked([good, bad], org="o"))
    assert 301 in batch.rejected["session_id"].to_list()  # the good page's reject is kept


def test_non_objects_and_duplicate_keys() -> None:
    pages = [b'[{"id":1,"userId":2,"startTime":"2026-03-01T10:00:00Z","id":5}]', b"[1, null, []]"]
    assert _strict_ok(pages[0]) and not _strict_ok(pages[1])
    _same(normalize_pages(pages[:1], org="o"), normalize._normalize_checked(pages[:1], org="o"))
    _same(normalize_pages(pages, org="o"), normalize._normalize_checked(pages, org="o"))
    assert normalize_pages(pages[:1], org="o").sessions["id"].to_list() == [5]
