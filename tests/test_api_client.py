"""Batching, retries and error mapping of TradovateClient against httpx.MockTransport."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
import pytest

from session_audit.api import TradovateClient
from session_audit.errors import (
    ApiError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TransportError,
)
from session_audit.settings import Settings
from support import FakeTime

START = 1_772_000_000.0
Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


class FakeApi:
    """Logs in anyone; serves sessions for ids in ``known``; ``faults`` answer data calls first."""

    def __init__(self, known: set[int], *, max_ids: int | None = None) -> None:
        self.known = known
        self.max_ids = max_ids
        self.faults: list[httpx.Response | Exception] = []
        self.data_urls: list[str] = []
        self.id_calls: list[list[int]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith(("/auth/accesstokenrequest", "/auth/renewaccesstoken")):
            expires = datetime.fromtimestamp(START + 5400, UTC).isoformat()
            return httpx.Response(
                200, json={"accessToken": "T0K3N", "expirationTime": expires, "userId": 5}
            )
        self.data_urls.append(str(request.url))
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, Exception):
                raise fault
            return fault
        if path.endswith("/user/list"):
            return httpx.Response(200, json=[{"id": 1, "name": "alice"}, {"id": 2, "name": "bob"}])
        if path.endswith("/userSessionStats/ldeps"):
            ids = [int(i) for i in request.url.params["masterids"].split(",")]
            self.id_calls.append(ids)
            stats = {"lastSessionTime": "2026-01-01T00:00:00Z", "failedPasswords": 0}
            return httpx.Response(200, json=[{**stats, "id": i} for i in ids])
        ids = [int(i) for i in request.url.params["ids"].split(",")]
        self.id_calls.append(ids)
        if self.max_ids is not None and len(ids) > self.max_ids:
            return httpx.Response(404, text="Not Found")
        return httpx.Response(200, json=[{"id": i, "userId": 1} for i in ids if i in self.known])


def make(api: Handler, time: FakeTime, **changes: Any) -> TradovateClient:
    base: dict[str, Any] = {
        "username": "alice",
        "password": "pw-not-to-leak",
        "requests_per_second": 10_000,
        "backoff_base": 1.0,
        "backoff_cap": 300.0,
        "max_attempts": 4,
    }
    base.update(changes)
    return TradovateClient(
        Settings(**base),
        transport=httpx.MockTransport(api),
        sleep=time.sleep,
        clock=time.clock,
    )


def waits(time: FakeTime) -> list[float]:
    """The client's sleeps other than its per-second pacing (0.1 ms apart at 10,000/s)."""
    return [s for s in time.sleeps if s >= 0.01]


def ids_of(pages: list[bytes]) -> list[int]:
    return [row["id"] for page in pages for row in orjson.loads(page)]


async def test_ids_go_comma_separated_in_batches_and_pages_keep_request_order() -> None:
    time = FakeTime()
    api = FakeApi(set(range(1, 26)))
    async with make(api, time, batch_size=10, concurrency=3) as client:
        pages = await client.session_item_pages(list(range(1, 26)))
    assert len(pages) == 3
    assert ids_of(pages) == list(range(1, 26))
    assert "ids=1,2,3,4,5,6,7,8,9,10" in api.data_urls[0]
    assert sorted(len(c) for c in api.id_calls) == [5, 10, 10]
    assert client.counters.rows == 25


async def test_unknown_ids_are_left_out() -> None:
    time = FakeTime()
    api = FakeApi({2, 4})
    async with make(api, time) as client:
        rows = await client.session_items([1, 2, 3, 4, 5])
    assert [r["id"] for r in rows] == [2, 4]
    assert client.counters.rows == 2


async def test_batch_halves_on_rejection_and_stays_small() -> None:
    time = FakeTime()
    api = FakeApi(set(range(1, 101)), max_ids=13)
    async with make(api, time, batch_size=50, concurrency=2) as client:
        pages = await client.session_item_pages(list(range(1, 51)))
        assert ids_of(pages) == list(range(1, 51))  # nothing lost, order kept
        assert client.batch_size == 12  # 50 -> 25 -> 12
        assert client.counters.batch_size_changes == 2
        api.id_calls.clear()
        pages = await client.session_item_pages(list(range(51, 101)))
    assert ids_of(pages) == list(range(51, 101))
    assert all(len(c) <= 12 for c in api.id_calls)  # no more rejected calls
    assert client.batch_size == 12


async def test_single_id_404_is_an_absent_id() -> None:
    time = FakeTime()
    api = FakeApi(set())
    api.faults = [httpx.Response(404, text="Not Found")]
    async with make(api, time) as client:
        assert await client.session_item_pages([42]) == [b"[]"]


async def test_other_4xx_is_rejected_at_once() -> None:
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [httpx.Response(403, text="Access is denied")]
    async with make(api, time) as client:
        with pytest.raises(RequestRejectedError, match="403") as caught:
            await client.session_items([1, 2])
    assert caught.value.status == 403
    assert len(api.data_urls) == 1
    assert waits(time) == []


async def test_a_page_that_is_not_a_json_array_is_an_api_error() -> None:
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [httpx.Response(200, json={"errorText": "Access is denied"})]
    async with make(api, time) as client:
        with pytest.raises(ApiError, match="not a JSON array"):
            await client.session_item_pages([1])


async def test_500_is_retried_with_backoff() -> None:
    time = FakeTime()
    api = FakeApi({1, 2})
    api.faults = [httpx.Response(500, text="Internal error"), httpx.Response(503, text="busy")]
    async with make(api, time) as client:
        rows = await client.session_items([1, 2])
    assert [r["id"] for r in rows] == [1, 2]
    assert client.counters.retries == {"server": 2}
    assert 1.0 <= waits(time)[0] <= 1.5
    assert 2.0 <= waits(time)[1] <= 3.0


async def test_500_gives_up_after_max_attempts_with_the_plain_text_body() -> None:
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [httpx.Response(500, text="Internal Server Error: db down")] * 10
    async with make(api, time, max_attempts=4) as client:
        with pytest.raises(ServerError, match="db down") as caught:
            await client.session_items([1])
    assert caught.value.status == 500
    assert len(api.data_urls) == 4
    assert len(waits(time)) == 3


async def test_429_with_retry_after_waits_as_told() -> None:
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [httpx.Response(429, headers={"Retry-After": "45"})]
    async with make(api, time) as client:
        rows = await client.session_items([1])
    assert [r["id"] for r in rows] == [1]
    assert 45 <= waits(time)[0] <= 45 * 1.5
    assert client.counters.penalty_waits == 1
    assert client.counters.penalty_wait_seconds == pytest.approx(waits(time)[0])
    assert client.counters.retries == {"rate_limited": 1}


async def test_429_with_http_date_retry_after_uses_the_injected_clock() -> None:
    time = FakeTime()
    api = FakeApi({1})
    when = format_datetime(datetime.fromtimestamp(START + 120, UTC), usegmt=True)
    api.faults = [httpx.Response(429, headers={"Retry-After": when})]
    async with make(api, time) as client:
        await client.session_items([1])
    assert 120 <= waits(time)[0] <= 180


async def test_429_without_retry_after_is_a_lockout_that_ends_the_run_at_once() -> None:
    time = FakeTime()
    api = FakeApi(set(range(1, 9)))
    api.faults = [httpx.Response(429)]
    async with make(api, time, batch_size=2, concurrency=1) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.session_items(list(range(1, 9)))
        error = caught.value
        assert error.lockout is True
        assert error.retry_after is None
        assert "locked user 'alice' out for up to an hour" in str(error)
        assert "next run resumes" in str(error)
        assert "\n" not in str(error)
        assert len(api.data_urls) == 1  # no retry, and the other batches were not sent
        assert waits(time) == []  # no sleep
        assert client.counters.lockouts == 1
        assert client.counters.penalty_waits == 0
        # the client stays locked out: nothing more reaches the API
        with pytest.raises(RateLimitedError) as again:
            await client.users()
        assert again.value.lockout is True
        assert client.lockout is error
    assert len(api.data_urls) == 1


async def test_a_429_with_retry_after_is_not_a_lockout() -> None:
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [httpx.Response(429, headers={"Retry-After": "3"})] * 10
    async with make(api, time, max_attempts=2) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.session_items([1])
    assert caught.value.lockout is False
    assert client.lockout is None


async def test_429_pauses_the_other_concurrent_requests_too() -> None:
    time = FakeTime()
    api = FakeApi(set(range(1, 5)))
    api.faults = [httpx.Response(429, headers={"Retry-After": "100"})]
    async with make(api, time, batch_size=1, concurrency=4) as client:
        await client.session_items([1, 2, 3, 4])
    # after the 429 no request went out before the pause ended
    assert time.now >= START + 100


async def test_retry_after_zero_still_waits_between_attempts() -> None:
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [httpx.Response(429, headers={"Retry-After": "0"})] * 10
    async with make(api, time, max_attempts=4) as client:
        with pytest.raises(RateLimitedError):
            await client.session_items([1])
    assert len(waits(time)) == 3
    assert all(s >= 1.0 for s in waits(time))


async def test_timeouts_and_connection_errors_are_retried_then_reported() -> None:
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [httpx.ReadTimeout("slow"), httpx.ConnectError("refused")]
    async with make(api, time) as client:
        rows = await client.session_items([1])
    assert [r["id"] for r in rows] == [1]
    assert client.counters.retries == {"timeout": 1, "connection": 1}

    api.faults = [httpx.ConnectError("refused")] * 10
    async with make(api, time, max_attempts=3) as client:
        with pytest.raises(TransportError, match="gave up after 3 attempts") as caught:
            await client.session_items([1])
    assert isinstance(caught.value.__cause__, TransportError)


async def test_users_and_batched_user_session_stats() -> None:
    time = FakeTime()
    api = FakeApi(set())
    async with make(api, time, batch_size=2) as client:
        users = await client.users()
        stats = await client.user_session_stats([1, 2, 3])
    assert [u["name"] for u in users] == ["alice", "bob"]
    assert sorted(s["id"] for s in stats) == [1, 2, 3]
    assert sorted(api.id_calls) == [[1, 2], [3]]
    assert any("masterids=1,2" in url for url in api.data_urls)


async def test_empty_id_list_makes_no_request() -> None:
    time = FakeTime()
    api = FakeApi(set())
    async with make(api, time) as client:
        assert await client.session_item_pages([]) == []
    assert api.data_urls == []
    assert client.counters.requests == 0


async def test_counters_add_up() -> None:
    time = FakeTime()
    api = FakeApi({1, 2, 3})
    api.faults = [httpx.Response(500, text="x")]
    async with make(api, time, batch_size=2) as client:
        await client.session_items([1, 2, 3])
    counts = client.counters.as_dict()
    assert counts["requests"] == 4  # login + 2 batches + 1 retry
    assert counts["logins"] == 1
    assert counts["rows"] == 3
    assert counts["total_retries"] == 1
    assert counts["bytes_received"] > 0


async def test_no_secret_in_logs_of_a_failing_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [
        httpx.Response(500, text="oops"),
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(401),
    ]
    async with make(api, time) as client:
        await client.session_items([1])
    text = "\n".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    assert caplog.records
    assert "pw-not-to-leak" not in text
    assert "T0K3N" not in text


async def test_a_truncated_page_is_an_api_error() -> None:
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [httpx.Response(200, content=b'[{"id": 1, "userId": ]')]
    async with make(api, time) as client:
        with pytest.raises(ApiError, match="not valid JSON"):
            await client.session_item_pages([1])


async def test_a_retry_after_of_many_hours_stops_and_reports_it() -> None:
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [httpx.Response(429, headers={"Retry-After": "86400"})]
    async with make(api, time) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.session_items([1])
    assert caught.value.retry_after == 86400
    assert waits(time) == []


async def test_a_non_network_transport_error_is_not_retried() -> None:
    time = FakeTime()
    api = FakeApi({1})
    api.faults = [httpx.UnsupportedProtocol("no such scheme")]
    async with make(api, time) as client:
        with pytest.raises(TransportError, match="UnsupportedProtocol"):
            await client.session_items([1])
    assert len(api.data_urls) == 1
