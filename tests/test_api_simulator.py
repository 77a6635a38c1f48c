"""TradovateClient against the in-process simulator (no sockets), sharing a fake clock.

Assertions about what reached the API use the simulator's own counters (``sim.stats``).
"""

from __future__ import annotations

import logging
import time as real_time
from typing import Any

import httpx
import pytest

from session_audit.api import TradovateClient
from session_audit.errors import AuthError, CaptchaRequiredError, RateLimitedError
from session_audit.settings import Settings
from session_audit.simulator import Fault, Simulator
from support import FakeTime, fake_time_client, fake_time_sim, sim_config

ITEMS = "/userSession/items"


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the simulator; remembers every bearer token the client sent."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.tokens: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("Authorization")
        if auth:
            self.tokens.add(auth.removeprefix("Bearer "))
        return await self.inner.handle_async_request(request)


def simulator(time: FakeTime, **config: Any) -> Simulator:
    return fake_time_sim(time, **{"users": 40, "sessions": 400, "seed": 5, **config})


def client(
    sim: Simulator,
    time: FakeTime,
    transport: httpx.AsyncBaseTransport | None = None,
    **changes: Any,
) -> TradovateClient:
    defaults = {"requests_per_second": 100_000, "batch_size": 100, "concurrency": 4}
    return fake_time_client(sim, time, transport, **{**defaults, **changes})


def id_range(sim: Simulator, extra: int = 30) -> list[int]:
    ids = [int(s["id"]) for s in sim.truth_sessions() if isinstance(s.get("id"), int)]
    return list(range(min(ids) - extra, max(ids) + extra))


def truth_ids(sim: Simulator) -> list[int]:
    return sorted(int(s["id"]) for s in sim.truth_sessions())


def got_ids(rows: list[dict[str, Any]]) -> list[int]:
    return sorted(int(r["id"]) for r in rows)


async def test_unknown_ids_are_left_out_and_every_session_arrives() -> None:
    time = FakeTime()
    sim = simulator(time)
    async with client(sim, time) as api:
        rows = await api.session_items(id_range(sim))
    assert got_ids(rows) == truth_ids(sim)
    assert rows == sorted(sim.truth_sessions(), key=lambda s: int(s["id"]))
    assert api.counters.rows == len(rows)
    assert sim.stats.logins == 1


async def test_p_ticket_login() -> None:
    time = FakeTime()
    sim = simulator(time, p_ticket_logins=1, p_time=9)
    async with client(sim, time) as api:
        rows = await api.session_items(id_range(sim)[:200])
    assert rows
    assert sim.stats.p_tickets == 1
    assert sim.stats.logins == 1
    assert sim.stats.login_attempts == 2
    assert 9 in time.sleeps


async def test_captcha_stops_without_looping() -> None:
    time = FakeTime()
    sim = simulator(time, captcha=True)
    async with client(sim, time) as api:
        with pytest.raises(CaptchaRequiredError, match="captcha required; retry in about an hour"):
            await api.session_items([1, 2, 3])
    assert sim.stats.login_attempts == 1
    assert sim.stats.by_path[ITEMS] == 0


async def test_bad_credentials_message_names_cause_and_hides_password() -> None:
    time = FakeTime()
    sim = simulator(time)
    wrong = "Wr0ng-Passw0rd-xyz"
    async with client(sim, time, password=wrong) as api:
        with pytest.raises(AuthError) as caught:
            await api.login()
    assert "Incorrect username or password" in str(caught.value)
    assert wrong not in str(caught.value)
    assert sim.credentials.password not in str(caught.value)
    assert sim.stats.login_attempts == 1


async def test_renewal_before_expiry_keeps_one_login() -> None:
    time = FakeTime()
    sim = simulator(time, token_ttl=1800)
    ids = id_range(sim)
    async with client(sim, time, renew_margin=300) as api:
        await api.session_items(ids[:100])
        time.now += 1600  # 200 s before expiry: inside the renewal margin
        rows = await api.session_items(ids)
        time.now += 1600  # the renewed token is due again
        await api.session_items(ids[:100])
    assert got_ids(rows) == truth_ids(sim)
    assert sim.stats.renewals == 2
    assert sim.stats.logins == 1
    assert sim.stats.by_status[401] == 0
    assert (api.counters.renewals, api.counters.logins) == (2, 1)


async def test_expiry_mid_run_is_recovered_with_no_lost_batch() -> None:
    time = FakeTime()
    sim = simulator(time, sessions=800)
    sim.inject(Fault.SLOW)  # a few ordinary answers first, then the token dies
    async with client(sim, time, batch_size=20, concurrency=4) as api:
        await api.login()
        sim.inject(Fault.TOKEN_EXPIRED)
        rows = await api.session_items(id_range(sim))
    assert got_ids(rows) == truth_ids(sim)
    assert sim.stats.by_status[401] >= 1
    # The expired token cannot be renewed, so exactly one fresh login recovered every request.
    assert sim.stats.logins == 2
    assert api.counters.retries["unauthorized"] >= 1


async def test_expired_session_is_renewed_without_a_new_login_when_still_valid() -> None:
    time = FakeTime()
    sim = simulator(time, token_ttl=600)
    async with client(sim, time, renew_margin=0, batch_size=50) as api:
        await api.login()
        time.now += 500  # valid 100 s more; a request now needs no renewal
        await api.session_items(id_range(sim)[:50])
        time.now += 200  # now expired: 401, renewal refused, one login
        rows = await api.session_items(id_range(sim))
    assert got_ids(rows) == truth_ids(sim)
    assert sim.stats.logins == 2
    assert sim.stats.by_status[401] >= 1


async def test_429_with_retry_after_is_honoured() -> None:
    time = FakeTime()
    sim = simulator(time)
    sim.inject(Fault.RATE_LIMITED, retry_after="40")
    async with client(sim, time) as api:
        rows = await api.session_items(id_range(sim))
    assert got_ids(rows) == truth_ids(sim)
    assert sim.stats.by_status[429] == 1
    assert any(40 <= s <= 60 for s in time.sleeps)
    assert api.counters.penalty_waits == 1


async def test_429_without_retry_after_ends_the_run_without_retry_or_sleep() -> None:
    time = FakeTime()
    sim = simulator(time)
    sim.inject(Fault.RATE_LIMITED_NO_RETRY_AFTER)
    async with client(sim, time, backoff_base=1.0, concurrency=1, batch_size=50) as api:
        with pytest.raises(RateLimitedError) as caught:
            await api.session_items(id_range(sim))
    assert caught.value.lockout is True
    assert sim.stats.by_status[429] == 1
    assert sim.stats.by_path[ITEMS] == 1
    assert max(time.sleeps, default=0.0) < 0.01  # only pacing, no back-off


async def test_persistent_429_with_retry_after_gives_up_with_rate_limited_error() -> None:
    time = FakeTime()
    sim = simulator(time)
    sim.inject(Fault.RATE_LIMITED, times=50, retry_after="2")
    async with client(sim, time, max_attempts=3, batch_size=1000) as api:
        with pytest.raises(RateLimitedError) as caught:
            await api.session_items(id_range(sim)[:1000])  # one call
    assert caught.value.lockout is False
    assert sim.stats.by_status[429] == 3


async def test_500_is_retried() -> None:
    time = FakeTime()
    sim = simulator(time)
    sim.inject(Fault.SERVER_ERROR, times=2)
    sim.inject(Fault.AUTH_SERVER_ERROR)
    async with client(sim, time) as api:
        rows = await api.session_items(id_range(sim))
    assert got_ids(rows) == truth_ids(sim)
    assert sim.stats.by_status[500] == 3
    assert api.counters.retries["server"] == 3


async def test_random_faults_do_not_lose_rows() -> None:
    time = FakeTime()
    sim = simulator(time, fault_rate=0.2, sessions=600)
    async with client(sim, time, batch_size=25, max_attempts=8) as api:
        rows = await api.session_items(id_range(sim))
    assert got_ids(rows) == truth_ids(sim)
    assert sum(sim.stats.faults.values()) > 0


async def test_batch_shrinks_on_max_ids_rejection_and_stays_shrunk() -> None:
    time = FakeTime()
    sim = simulator(time, max_ids=13)
    ids = id_range(sim)
    async with client(sim, time, batch_size=100, concurrency=1) as api:
        rows = await api.session_items(ids)
        assert got_ids(rows) == truth_ids(sim)
        assert api.batch_size <= 13
        shrunk = api.batch_size
        rejected = sim.stats.by_status[404]
        assert rejected >= 1
        again = await api.session_items(ids)
    assert got_ids(again) == truth_ids(sim)
    assert sim.stats.by_status[404] == rejected  # no rejected call the second time
    assert api.batch_size == shrunk


async def test_users_and_user_session_stats() -> None:
    time = FakeTime()
    sim = simulator(time)
    async with client(sim, time, batch_size=15) as api:
        users = await api.users()
        stats = await api.user_session_stats([int(u["id"]) for u in users] + [999_999_999])
    assert users == sim.truth_users()
    assert sorted(s["id"] for s in stats) == sorted(int(u["id"]) for u in users)
    assert sim.stats.by_path["/userSessionStats/ldeps"] == -(-(len(users) + 1) // 15)


async def test_hourly_budget_holds_under_concurrency() -> None:
    time = FakeTime()
    sim = simulator(time, rate_limit_per_hour=12, lockout_seconds=3600)
    ids = id_range(sim)[:40]
    async with client(sim, time, requests_per_hour=12, batch_size=1, concurrency=8) as api:
        rows = await api.session_items(ids)
    assert got_ids(rows) == sorted(i for i in truth_ids(sim) if i in set(ids))
    assert sim.stats.max_in_window(3600) <= 12
    assert sim.stats.lockouts == 0
    assert sim.stats.by_path[ITEMS] == 40  # nothing rejected, nothing retried
    # The run outlives the 85-minute token: it is renewed on time while requests wait for the
    # budget (renewals use reserved slots), so no 401 and no second login.
    assert sim.stats.by_status[401] == 0
    assert sim.stats.logins == 1
    assert sim.stats.renewals >= 2
    assert api.counters.budget_waits > 0
    assert time.now - 1_772_000_000.0 >= 3 * 3600  # 40 data calls at 10/hour span 3+ hours


async def test_per_second_cap_holds_under_concurrency_in_real_time() -> None:
    sim = Simulator(sim_config(users=20, sessions=100, seed=2))
    values: dict[str, Any] = {
        **sim.settings_overrides(),
        "requests_per_second": 20,
        "batch_size": 1,
        "concurrency": 8,
    }
    settings = Settings(**values)
    ids = [int(s["id"]) for s in sim.truth_sessions()][:12]
    async with TradovateClient(settings, transport=sim.transport()) as api:
        rows = await api.session_items(ids)
    assert len(rows) == 12
    # 13 requests spaced >= 50 ms: no one-second window of the server saw more than 21.
    assert sim.stats.max_in_window(1.0) <= 21
    assert sim.stats.max_in_window(0.2) <= 5
    assert sim.stats.max_in_flight <= 8
    assert real_time.time() - sim.stats.request_times[0] >= 0.5


async def test_no_password_secret_or_token_in_any_log_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    time = FakeTime()
    sim = simulator(time, p_ticket_logins=1, token_ttl=900)
    sim.inject(Fault.SERVER_ERROR)
    sim.inject(Fault.RATE_LIMITED, retry_after="5")
    sim.inject(Fault.SLOW)
    sim.inject(Fault.TOKEN_EXPIRED)
    recording = Recording(sim.transport())
    async with client(sim, time, recording, renew_margin=300, batch_size=40) as api:
        await api.session_items(id_range(sim))
        await api.users()
        time.now += 800  # renewal due (margin: 15 % of the 900 s life)
        await api.user_session_stats([1, 2, 3])
    assert sim.stats.renewals >= 1
    assert len(recording.tokens) >= 3
    secrets = {sim.credentials.password, sim.credentials.sec, *recording.tokens}
    records = caplog.records
    assert records
    for record in records:
        text = f"{record.name} {record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for secret in secrets:
            assert secret not in text, record.name
