"""Login facts (LoginInfo), the token race and how often tokens are renewed.

Against the in-process simulator on one fake clock, or a scripted httpx.MockTransport where a
header must be controlled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from session_audit.api import LoginInfo, TradovateClient
from session_audit.errors import ApiError, AuthError
from session_audit.settings import Settings
from session_audit.simulator import Fault, Simulator
from support import PINNED_NOW, FakeTime, fake_time_client, fake_time_sim

ITEMS = "/userSession/items"
START = 1_772_000_000.0


def simulator(time: FakeTime, **config: Any) -> Simulator:
    return fake_time_sim(time, **{"users": 30, "sessions": 300, "seed": 4, **config})


def client(
    sim: Simulator,
    time: FakeTime,
    transport: httpx.AsyncBaseTransport | None = None,
    **changes: Any,
) -> TradovateClient:
    defaults = {"requests_per_second": 100_000, "batch_size": 10, "concurrency": 4}
    return fake_time_client(sim, time, transport, **{**defaults, "backoff_base": 0.1, **changes})


def session_ids(sim: Simulator) -> list[int]:
    return sorted(int(s["id"]) for s in sim.truth_sessions())


def scripted(time: FakeTime, date: str | None) -> httpx.MockTransport:
    """Logs in as user 4242 (``Date: date`` on the login answer); items answer ``[]``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/accesstokenrequest"):
            expires = datetime.fromtimestamp(time.now + 5400, UTC).isoformat()
            headers = {"Date": date} if date is not None else {}
            body = {"accessToken": "tok", "expirationTime": expires, "userId": 4242}
            return httpx.Response(200, json=body, headers=headers)
        return httpx.Response(200, json=[])

    return httpx.MockTransport(answer)


def plain_client(time: FakeTime, transport: httpx.AsyncBaseTransport) -> TradovateClient:
    return TradovateClient(
        Settings(username="alice", password="pw", requests_per_second=100_000),
        transport=transport,
        sleep=time.sleep,
        clock=time.clock,
    )


# --------------------------------------------------------------------------- login info
async def test_login_returns_the_api_user_and_the_server_date() -> None:
    time = FakeTime()
    sim = simulator(time)
    async with client(sim, time) as api:
        assert api.login_info is None
        info = await api.login()
    assert info == LoginInfo(user_id=int(sim.auth.account["id"]), server_date=PINNED_NOW)
    assert info.server_date is not None and info.server_date.tzinfo is not None
    assert api.login_info is info


async def test_a_later_login_does_not_replace_the_first_login_info() -> None:
    time = FakeTime()
    sim = simulator(time)
    async with client(sim, time) as api:
        first = await api.login()
        sim.advance(3600)  # the API clock (and so its Date header) moves on
        sim.expire_tokens()  # 401, renewal refused: a second login
        await api.session_items(session_ids(sim)[:10])
        assert sim.stats.logins == 2
        assert api.counters.logins == 2
        assert api.login_info is first
        assert await api.login() is first  # already logged in: no request, same answer
    assert first.server_date == PINNED_NOW


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Wed, 04 Mar 2026 15:00:07 GMT", datetime(2026, 3, 4, 15, 0, 7, tzinfo=UTC)),
        (None, None),
        ("not a date", None),
    ],
)
async def test_server_date_is_parsed_or_none(header: str | None, expected: datetime | None) -> None:
    time = FakeTime()
    async with plain_client(time, scripted(time, header)) as api:
        info = await api.login()
    assert info == LoginInfo(user_id=4242, server_date=expected)


async def test_a_login_answer_without_user_id_is_an_api_error() -> None:
    time = FakeTime()

    def answer(request: httpx.Request) -> httpx.Response:
        expires = datetime.fromtimestamp(time.now + 5400, UTC).isoformat()
        return httpx.Response(200, json={"accessToken": "tok", "expirationTime": expires})

    async with plain_client(time, httpx.MockTransport(answer)) as api:
        with pytest.raises(ApiError, match="no userId") as caught:
            await api.login()
    assert not isinstance(caught.value, AuthError)
    assert api.login_info is None


async def test_a_client_on_a_lent_token_knows_the_lenders_login() -> None:
    time = FakeTime()
    sim = simulator(time)
    async with client(sim, time) as lender:
        lease = await lender.lend_token()
        values: dict[str, Any] = {**sim.settings_overrides(), "requests_per_second": 100_000}
        borrower = TradovateClient(
            Settings(**values),
            transport=sim.transport(),
            sleep=time.sleep,
            clock=time.clock,
            token_lease=lease,
        )
        async with borrower:
            assert borrower.login_info == lender.login_info
            assert await borrower.login() == lender.login_info
            await borrower.session_items(session_ids(sim)[:5])
    assert sim.stats.logins == 1


# ------------------------------------------------------------------------- token race
async def test_a_token_shorter_lived_than_a_request_never_fails_the_run() -> None:
    """Tokens live 10 s, every answer takes 1 s, four requests in flight: requests wait for
    the renewal in progress instead of reading a cleared token (once: "not logged in")."""
    time = FakeTime()
    sim = simulator(time, token_ttl=10, slow_seconds=1.0)
    sim.inject(Fault.SLOW, times=10_000)
    ids = session_ids(sim)
    async with client(sim, time, requests_per_second=4) as api:
        rows = await api.session_items(list(range(ids[0], ids[0] + 400)))
    assert sorted(int(r["id"]) for r in rows) == [i for i in ids if i < ids[0] + 400]
    elapsed = time.now - START
    assert elapsed > 3 * 10  # the run outlived several tokens
    assert sim.stats.renewals >= 3
    # renewed about once per token life (the margin is 15 % of it), not before every request
    assert sim.stats.renewals <= elapsed / (10 * 0.85) + 2
    assert sim.stats.logins == 1
    assert sim.stats.by_status[401] == 0


async def test_requests_wait_for_a_login_in_progress() -> None:
    """A slow (p-ticket) login holds every concurrent request until the token is there."""
    time = FakeTime()
    sim = simulator(time, p_ticket_logins=1, p_time=5)
    ids = session_ids(sim)
    async with client(sim, time, concurrency=8, batch_size=5) as api:
        rows = await api.session_items(ids[:40])
    assert len(rows) == 40
    assert sim.stats.logins == 1
    assert sim.stats.by_status[401] == 0


# -------------------------------------------------------------------------- renewals
async def test_a_ten_minute_token_is_renewed_once_per_life_not_per_request() -> None:
    """renew_margin (600 s by default) is capped at 15 % of the token's life: a 600 s token is
    renewed 90 s before it expires, i.e. about every 510 s, however many requests go out."""
    time = FakeTime()
    sim = simulator(time, token_ttl=600)
    ids = session_ids(sim)
    async with client(sim, time, requests_per_second=0.5, batch_size=1, concurrency=2) as api:
        assert api.settings.renew_margin == 600
        await api.session_items(ids[:100])  # 100 calls at 0.5/s: 200 s, well within one life
        assert sim.stats.renewals == 0
        await api.session_items(ids[100:290])  # 380 s more: past 510 s, one renewal
        assert sim.stats.renewals == 1
    assert sim.stats.logins == 1
    assert sim.stats.by_status[401] == 0
    assert api.counters.renewals == 1
