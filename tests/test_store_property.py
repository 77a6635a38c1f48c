"""Property: normalizing and merging any sequence of batches equals last-write-wins truth."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_audit.db.checks import run_checks
from session_audit.db.connection import connect
from session_audit.db.migrations import migrate
from session_audit.ingest.normalize import normalize_pages
from session_audit.ingest.store import SessionStore

VALID_TIMES = {
    "2024-01-01T00:00:00Z": "2024-01-01T00:00:00+00:00",
    "2024-01-01T00:00:00.250Z": "2024-01-01T00:00:00.250000+00:00",
    "2024-01-01T03:00:00.001+02:00": "2024-01-01T01:00:00.001000+00:00",
}
BAD_TIMES = ["", "never", "2024-13-01T00:00:00Z"]

session_objects = st.fixed_dictionaries(
    {
        "id": st.integers(1, 12),
        "userId": st.sampled_from([1, 2, "3"]),  # "3": a string -> rejected
        "startTime": st.sampled_from([*VALID_TIMES, BAD_TIMES[1]]),
    },
    optional={
        "endTime": st.sampled_from([None, *VALID_TIMES, BAD_TIMES[0]]),
        "clientAppId": st.sampled_from([None, 4]),
        "ipAddress": st.sampled_from(["1.2.3.4", "::1", "nope", "x" * 65]),
        "appVersion": st.text(max_size=5),
    },
)
pages = st.lists(st.lists(session_objects, max_size=6), max_size=3)
batches = st.lists(pages, min_size=1, max_size=5)


def is_valid(obj: dict[str, Any]) -> bool:
    return (
        isinstance(obj["userId"], int)
        and obj["startTime"] in VALID_TIMES
        and (obj.get("endTime") is None or obj["endTime"] in VALID_TIMES)
    )


def expected_row(obj: dict[str, Any]) -> tuple[Any, ...]:
    end = obj.get("endTime")
    return (
        obj["id"],
        obj["userId"],
        VALID_TIMES[obj["startTime"]],
        VALID_TIMES[end] if end is not None else None,
        obj.get("clientAppId"),
        obj.get("ipAddress"),
        obj.get("appVersion"),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_merging_batches_equals_last_write_wins(sequence: list[list[list[dict[str, Any]]]]) -> None:
    conn = connect(":memory:")
    migrate(conn, views=())
    store = SessionStore(conn, "default")

    truth: dict[int, tuple[Any, ...]] = {}
    first_seen: dict[int, int] = {}
    rejected: set[bytes] = set()  # one row per distinct raw object, however often re-sent
    for pages_of_batch in sequence:
        run = store.start_run("scan")
        before = dict(truth)
        in_batch: dict[int, tuple[Any, ...]] = {}
        for obj in (o for page in pages_of_batch for o in page):
            if is_valid(obj):
                in_batch[obj["id"]] = expected_row(obj)
                first_seen.setdefault(obj["id"], run)
            else:
                rejected.add(orjson.dumps(obj))
        truth.update(in_batch)

        batch = normalize_pages([orjson.dumps(p) for p in pages_of_batch], org="default")
        counts = store.write_checkpoint(run, batch, cursor=(batch.max_id or 0) + 1).added

        assert counts.inserted == sum(1 for i in in_batch if i not in before)
        assert counts.updated == sum(
            1 for i, r in in_batch.items() if i in before and before[i] != r
        )
        assert counts.unchanged == sum(1 for i, r in in_batch.items() if before.get(i) == r)
        assert batch.fetched == sum(len(p) for p in pages_of_batch)

    stored = conn.execute(
        "SELECT id, user_id, strftime(start_time, '%Y-%m-%dT%H:%M:%S.%f+00:00'), "
        "strftime(end_time, '%Y-%m-%dT%H:%M:%S.%f+00:00'), client_app_id, ip_address, "
        "app_version, first_run_id FROM user_sessions ORDER BY id"
    ).fetchall()
    normal = {k: (v[0], v[1], _us(v[2]), _us(v[3]), *v[4:]) for k, v in truth.items()}
    assert [r[:7] for r in stored] == [normal[k] for k in sorted(normal)]
    assert {r[0]: r[7] for r in stored} == {k: first_seen[k] for k in truth}
    assert conn.execute("SELECT count(*) FROM rejected_sessions").fetchone() == (len(rejected),)
    assert all(v == 0 for v in run_checks(conn).values())
    all_ids = [o["id"] for b in sequence for p in b for o in p]
    assert store.next_id() == (max(all_ids) + 1 if all_ids else 1)


def _us(text: str | None) -> str | None:
    """Normalise an ISO text to microsecond precision, as strftime renders it."""
    if text is None:
        return None
    return datetime.fromisoformat(text).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
