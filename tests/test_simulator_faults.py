"""Simulator faults and limits: items semantics, max ids, injected and random faults, lockout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from session_audit.simulator import Fault, Simulator, SimulatorConfig

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make(clock: FakeClock, **changes: Any) -> Simulator:
    settings: dict[str, Any] = {"users": 30, "sessions": 500, "seed": 2, "now": NOW}
    config = SimulatorConfig(**{**settings, **changes})
    return Simulator(config, clock=clock, sleep=clock.sleep)


@asynccontextmanager
async def logged_in(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``sim`` whose requests carry a fresh token."""
    async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as http:
        creds = sim.credentials
        body = {
            "name": creds.username,
            "password": creds.password,
            "cid": creds.cid,
            "sec": creds.sec,
        }
        answer = (await http.post("/auth/accesstokenrequest", json=body)).json()
        http.headers["Authorization"] = f"Bearer {answer['accessToken']}"
        yield http


def ids_param(ids: list[int]) -> dict[str, str]:
    return {"ids": ",".join(map(str, ids))}


async def test_items_leave_unknown_ids_out() -> None:
    sim = make(FakeClock())
    truth = sim.truth_sessions()
    known = [truth[3]["id"], truth[0]["id"], truth[-1]["id"]]
    unknown = [1, truth[-1]["id"] + 1_000, 99_999_999]
    async with logged_in(sim) as http:
        response = await http.get("/userSession/items", params=ids_param([*unknown, *known]))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == [truth[3], truth[0], truth[-1]]
        only_unknown = await http.get("/userSession/items", params=ids_param(unknown))
        assert only_unknown.json() == []
        single = await http.get("/userSession/item", params={"id": str(known[1])})
        assert single.json() == truth[0]
        bad = await http.get("/userSession/items", params={"ids": "1,x"})
        assert bad.status_code == 400


async def test_items_scan_in_batches_returns_every_session() -> None:
    sim = make(FakeClock(), quiet_ids=0)  # sparse ids (95% foreign), no weekend stretches
    got: list[dict[str, Any]] = []
    async with logged_in(sim) as http:
        truth = sim.truth_sessions()  # the login opened one more session, the last one
        assert truth[-1]["userId"] == sim.api_user_id
        for start in range(truth[0]["id"], truth[-1]["id"] + 1, 100):
            page = await http.get(
                "/userSession/items", params=ids_param(list(range(start, start + 100)))
            )
            got.extend(page.json())
    assert got == truth


async def test_max_ids_answers_404_above_the_ceiling() -> None:
    sim = make(FakeClock(), max_ids=13)
    first = sim.truth_sessions()[0]["id"]
    async with logged_in(sim) as http:
        at_limit = await http.get(
            "/userSession/items", params=ids_param(list(range(first, first + 13)))
        )
        above = await http.get(
            "/userSession/items", params=ids_param(list(range(first, first + 14)))
        )
    assert at_limit.status_code == 200 and at_limit.json()
    assert above.status_code == 404


async def test_injected_faults_hit_the_next_data_requests_in_order() -> None:
    clock = FakeClock()
    sim = make(clock, slow_seconds=7.0)
    first = sim.truth_sessions()[0]["id"]
    params = ids_param([first])
    sim.inject(Fault.SERVER_ERROR, times=2)
    sim.inject(Fault.RATE_LIMITED, retry_after="2")
    sim.inject(Fault.RATE_LIMITED_NO_RETRY_AFTER)
    sim.inject(Fault.SLOW)
    async with logged_in(sim) as http:  # the login is not hit by data faults
        answers = [await http.get("/userSession/items", params=params) for _ in range(6)]
    statuses = [a.status_code for a in answers]
    assert statuses == [500, 500, 429, 429, 200, 200]
    assert answers[0].headers["content-type"].startswith("text/plain") and answers[0].text
    assert answers[2].headers["retry-after"] == "2" and answers[2].content == b""
    assert "retry-after" not in answers[3].headers and answers[3].content == b""
    assert clock.slept == [7.0]  # the fifth answer was slow, the sixth was not
    assert answers[4].json() == answers[5].json() == [sim.truth_sessions()[0]]
    assert sim.stats.by_status[500] == 2 and sim.stats.by_status[429] == 2


async def test_token_expired_fault_gives_401_and_the_token_stays_dead() -> None:
    sim = make(FakeClock())
    sim.inject(Fault.TOKEN_EXPIRED)
    async with logged_in(sim) as http:
        assert (await http.get("/user/list")).status_code == 401
        assert (await http.get("/auth/renewaccesstoken")).status_code == 401
        assert (await http.get("/user/list")).status_code == 401


async def test_auth_server_error_hits_only_the_login() -> None:
    sim = make(FakeClock())
    sim.inject(Fault.AUTH_SERVER_ERROR)
    async with httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url) as http:
        creds = sim.credentials
        body = {
            "name": creds.username,
            "password": creds.password,
            "cid": creds.cid,
            "sec": creds.sec,
        }
        failed = await http.post("/auth/accesstokenrequest", json=body)
        ok = await http.post("/auth/accesstokenrequest", json=body)
    assert failed.status_code == 500 and failed.headers["content-type"].startswith("text/plain")
    assert ok.status_code == 200 and ok.json()["accessToken"]


async def test_random_faults_follow_the_rate_and_the_seed() -> None:
    async def statuses(seed: int) -> list[int]:
        clock = FakeClock()
        sim = Simulator(
            SimulatorConfig(users=20, sessions=100, seed=seed, now=NOW, fault_rate=0.3),
            clock=clock,
            sleep=clock.sleep,
        )
        async with logged_in(sim) as http:
            return [(await http.get("/user/list")).status_code for _ in range(300)]

    first, again = await statuses(4), await statuses(4)
    assert first == again
    bad = sum(s != 200 for s in first)
    assert 30 <= bad <= 130  # 500s and 429s; slow answers still succeed
    assert {500, 429} <= set(first)


async def test_rate_limit_locks_out_and_hammering_extends_the_lockout() -> None:
    clock = FakeClock()
    sim = make(clock, rate_limit_per_hour=20, lockout_seconds=3600, token_ttl=86_400)
    async with logged_in(sim) as http:  # the login is request 1 of the 20
        for _ in range(19):
            assert (await http.get("/user/list")).status_code == 200
            clock.now += 1
        over = await http.get("/user/list")
        assert over.status_code == 429 and over.content == b""
        locked_at = clock.now
        clock.now += 1800
        assert (await http.get("/user/list")).status_code == 429  # retrying extends the lockout
        clock.now = locked_at + 3600 + 60  # the original lockout would be over by now
        assert (await http.get("/user/list")).status_code == 429
        clock.now += 3600 + 1  # a quiet hour after the last request
        assert (await http.get("/user/list")).status_code == 200
    assert sim.stats.lockouts == 3


async def test_rate_limit_window_is_a_trailing_hour() -> None:
    clock = FakeClock()
    sim = make(clock, rate_limit_per_hour=10, token_ttl=86_400)
    async with logged_in(sim) as http:
        for _ in range(15):  # one request every 400 s: at most 10 (with the login) in any hour
            assert (await http.get("/user/list")).status_code == 200
            clock.now += 400
        for _ in range(2):  # then a burst: the 11th request within the hour is refused
            await http.get("/user/list")
        assert [(await http.get("/user/list")).status_code for _ in range(2)] == [429, 429]
    assert sim.stats.max_in_window(3600) > 10


async def test_stats_count_paths_statuses_and_concurrency() -> None:
    clock = FakeClock()
    sim = make(clock, slow_seconds=0.0)
    first = sim.truth_sessions()[0]["id"]
    async with logged_in(sim) as http:
        await http.get("/userSession/items", params=ids_param([first]))
        await http.get("/userSession/items")
        await http.get("/nope")

        gate, all_in = asyncio.Event(), asyncio.Event()
        arrived = 0
        real_sleep = sim.sleep

        async def hold(_: float) -> None:  # a slow answer that waits for the gate
            nonlocal arrived
            arrived += 1
            if arrived == 3:
                all_in.set()
            await gate.wait()

        sim.sleep = hold
        sim.inject(Fault.SLOW, times=3)
        calls = [asyncio.create_task(http.get("/user/list")) for _ in range(3)]
        await all_in.wait()
        assert sim.stats.in_flight == 3
        gate.set()
        assert [r.status_code for r in await asyncio.gather(*calls)] == [200, 200, 200]
        sim.sleep = real_sleep
    stats = sim.stats
    assert stats.total == 7
    assert stats.by_path["/auth/accesstokenrequest"] == 1
    assert stats.by_path["/userSession/items"] == 2
    assert stats.by_status[400] == 1 and stats.by_status[404] == 1
    assert stats.max_in_flight == 3 and stats.in_flight == 0
    assert len(stats.request_times) == 7
    assert stats.max_in_window(1.0) == 7  # the fake clock never moved


@pytest.mark.parametrize("window", [1.0, 3600.0])
def test_max_in_window_counts_the_busiest_window(window: float) -> None:
    sim = make(FakeClock(), sessions=10)
    sim.stats.request_log.extend((t, "/x") for t in [0.0, 0.5, 0.99, 1.0, 5000.0, 5000.5])
    assert sim.stats.max_in_window(window) == (3 if window == 1.0 else 4)
