"""Adaptive pacing against the simulator's per-second limit, on one fake clock (no real waits).

The simulator answers above ``rate_limit_per_second`` with 429 and ``Retry-After: 1``; the client
is configured faster than that, halves its pace on such a 429 and climbs back slowly (AIMD).
"""

from __future__ import annotations

from typing import Any

import httpx

from session_audit.api import TradovateClient
from session_audit.simulator import Simulator
from support import FakeTime, fake_time_client, fake_time_sim

ITEMS = "/userSession/items"


def simulator(time: FakeTime, **config: Any) -> Simulator:
    return fake_time_sim(time, **{"users": 30, "sessions": 300, "seed": 9, **config})


def client(sim: Simulator, time: FakeTime, **changes: Any) -> TradovateClient:
    defaults = {"requests_per_second": 5, "batch_size": 10, "concurrency": 4, "backoff_base": 1.0}
    return fake_time_client(sim, time, **{**defaults, **changes})


async def test_simulator_answers_429_with_retry_after_above_its_per_second_limit() -> None:
    time = FakeTime()
    sim = simulator(time, rate_limit_per_second=3)
    creds = sim.credentials
    body = {"name": creds.username, "password": creds.password, "cid": creds.cid, "sec": creds.sec}
    async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as http:
        answer = await http.post("/auth/accesstokenrequest", json=body)
        http.headers["Authorization"] = f"Bearer {answer.json()['accessToken']}"
        first = [await http.get("/user/list") for _ in range(5)]
        time.now += 1.0  # a second later the window is free again
        again = await http.get("/user/list")
    assert [a.status_code for a in first] == [200, 200, 200, 429, 429]
    assert first[3].headers["retry-after"] == "1"
    assert again.status_code == 200
    assert sim.stats.lockouts == 0  # a per-second 429 is no lockout


async def test_client_faster_than_the_server_paces_down_without_lockout() -> None:
    time = FakeTime()
    sim = simulator(time, rate_limit_per_second=3)
    first = min(int(s["id"]) for s in sim.truth_sessions())
    ids = list(range(first, first + 600))
    wanted = sorted(int(s["id"]) for s in sim.truth_sessions() if int(s["id"]) in set(ids))
    async with client(sim, time) as api:
        rows = await api.session_items(ids)
    assert sorted(int(r["id"]) for r in rows) == wanted  # all data fetched
    assert sim.stats.by_path[ITEMS] == 60 + sim.stats.by_status[429]  # each 429 retried once
    assert 1 <= sim.stats.by_status[429] <= 3  # the first few, then the pace fits the server
    assert sim.stats.lockouts == 0
    assert api.counters.lockouts == 0
    assert api.counters.rate_decreases >= 1
    assert api.budget.rate < 3  # settled below the server's limit
    # no trailing second of the server saw more than it allows, after the first episode
    settled = [t for t, p in sim.stats.request_log if p == ITEMS][10:]
    assert max_in_window(settled, 1.0) <= 3 + 1
    # and it did not crawl: 60 calls at a pace between 1.5/s and 3/s on the fake clock
    assert time.now - 1_772_000_000.0 < 60 / 1.2


def max_in_window(stamps: list[float], window: float) -> int:
    best = start = 0
    for end, stamp in enumerate(stamps):
        while stamps[start] <= stamp - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_without_a_server_limit_the_configured_pace_holds() -> None:
    time = FakeTime()
    sim = simulator(time)
    async with client(sim, time) as api:
        await api.session_items(list(range(1, 201)))
    assert api.budget.rate == 5
    assert sim.stats.by_status[429] == 0
    times = [t for t, p in sim.stats.request_log if p == ITEMS]
    assert max_in_window(times, 1.0) <= 5
