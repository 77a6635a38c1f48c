"""Batch-size discovery and a remembered batch size, against the in-process simulator.

The simulator answers 404 above ``max_ids`` ids per call and 414 above ``max_url_length`` bytes
of request target.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from session_audit.api import BatchSizeFinding, TradovateClient
from session_audit.settings import Settings
from session_audit.simulator import Simulator
from support import FakeTime, fake_time_client, fake_time_sim

ITEMS = "/userSession/items"


class CallSizes(httpx.AsyncBaseTransport):
    """Passes requests to the simulator; records (ids in the call, HTTP status) of item calls."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.calls: list[tuple[int, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith(ITEMS):
            ids = parse_qs(urlsplit(str(request.url)).query)["ids"][0].split(",")
            self.calls.append((len(ids), response.status_code))
        return response


def setup(**config: Any) -> tuple[FakeTime, Simulator, CallSizes]:
    time = FakeTime()
    sim = fake_time_sim(time, **{"users": 30, "sessions": 600, "seed": 6, **config})
    return time, sim, CallSizes(sim.transport())


def client(
    sim: Simulator,
    time: FakeTime,
    transport: CallSizes,
    *,
    remembered: int | None = None,
    **changes: Any,
) -> TradovateClient:
    defaults = {"requests_per_second": 100_000, "batch_size": 100, "concurrency": 2}
    return fake_time_client(sim, time, transport, start_batch=remembered, **{**defaults, **changes})


def first_id(sim: Simulator) -> int:
    return min(int(s["id"]) for s in sim.truth_sessions())


async def test_a_ceiling_of_250_is_found_with_few_rejected_calls() -> None:
    time, sim, calls = setup(max_ids=250)
    async with client(sim, time, calls) as api:
        finding = await api.discover_batch_size(first_id(sim))
        assert api.batch_size == finding.size
    assert finding == BatchSizeFinding(size=250, rejected_at=300, requests=5)
    # 100, 200 accepted; 400 rejected; refined: 300 rejected, 250 accepted
    assert calls.calls == [(100, 200), (200, 200), (400, 404), (300, 404), (250, 200)]
    assert sum(1 for _, status in calls.calls if status != 200) <= 4
    assert api.smallest_rejected_size == 300
    assert api.forced_batch_size is None  # discovery rejections do not shrink the working size


async def test_nothing_rejected_up_to_the_cap() -> None:
    time, sim, calls = setup()
    async with client(sim, time, calls) as api:
        finding = await api.discover_batch_size(first_id(sim), cap=1000)
    assert finding == BatchSizeFinding(size=1000, rejected_at=None, requests=5)
    assert [n for n, _ in calls.calls] == [100, 200, 400, 800, 1000]
    assert api.smallest_rejected_size is None


async def test_a_ceiling_below_the_start_size_halves_first() -> None:
    time, sim, calls = setup(max_ids=50)
    async with client(sim, time, calls) as api:
        finding = await api.discover_batch_size(first_id(sim))
    assert finding == BatchSizeFinding(size=50, rejected_at=62, requests=4)
    # 100 rejected, 50 accepted, two refining calls (75 and 62 rejected)
    assert calls.calls == [(100, 404), (50, 200), (75, 404), (62, 404)]


async def test_the_halving_path_still_works_without_discovery() -> None:
    time, sim, calls = setup(max_ids=50)
    ids = sorted(int(s["id"]) for s in sim.truth_sessions())
    async with client(sim, time, calls, concurrency=1) as api:
        rows = await api.session_items(list(range(ids[0], ids[0] + 400)))
        assert api.batch_size == 50
        assert api.forced_batch_size == 50
        assert api.smallest_rejected_size == 100
    assert sorted(int(r["id"]) for r in rows) == [i for i in ids if i < ids[0] + 400]


async def test_a_url_length_limit_414_is_a_rejection_too() -> None:
    time, sim, calls = setup(max_url_length=2000)
    ids = sorted(int(s["id"]) for s in sim.truth_sessions())
    async with client(sim, time, calls) as api:
        finding = await api.discover_batch_size(ids[0])
        assert finding.rejected_at is not None
        assert {status for _, status in calls.calls} == {200, 414}
        calls.calls.clear()
        rows = await api.session_items(list(range(ids[0], ids[0] + 3 * finding.size)))
    # the discovered size fits: the fetch met no rejection
    assert calls.calls and {status for _, status in calls.calls} == {200}
    assert max(n for n, _ in calls.calls) == finding.size
    assert len(rows) == sum(1 for i in ids if i < ids[0] + 3 * finding.size)


async def test_discovery_grows_from_a_remembered_size() -> None:
    time, sim, calls = setup(max_ids=700)
    async with client(sim, time, calls, remembered=300) as api:
        assert api.batch_size == 300
        finding = await api.discover_batch_size(first_id(sim))
    assert calls.calls == [(300, 200), (600, 200), (1000, 404), (800, 404), (700, 200)]
    assert finding == BatchSizeFinding(size=700, rejected_at=800, requests=5)


async def test_a_client_starts_with_a_remembered_batch_size() -> None:
    time, sim, calls = setup()
    async with client(sim, time, calls, remembered=37) as api:
        assert api.batch_size == 37
        await api.session_items(list(range(first_id(sim), first_id(sim) + 74)))
    assert [n for n, _ in calls.calls] == [37, 37]


def test_a_remembered_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        TradovateClient(Settings(), batch_size=0)
