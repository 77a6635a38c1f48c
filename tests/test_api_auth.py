"""Login, renewal and 401 recovery of the client against a scripted httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from session_audit.api import TradovateClient
from session_audit.errors import AuthError, CaptchaRequiredError, ConfigError, TokenExpiredError
from session_audit.settings import Settings
from support import FakeTime

PASSWORD = "pw-Sup3r-s3cret"
SECRET = "sec-0123456789abcdef"
START = 1_772_000_000.0


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class FakeAuthApi:
    """Issues tokens tok-1, tok-2, ... valid ``ttl`` seconds; items echo the ids as sessions."""

    def __init__(self, time: FakeTime, *, ttl: float = 5400.0) -> None:
        self.time = time
        self.ttl = ttl
        self.valid: dict[str, float] = {}
        self.issued = 0
        self.login_bodies: list[dict[str, Any]] = []
        self.renew_calls = 0
        self.item_tokens: list[str] = []
        self.login_script: list[dict[str, Any]] = []  # answers served before real logins
        self.renew_refused = False
        self.item_delay = 0.0

    def issue(self) -> dict[str, Any]:
        self.issued += 1
        token = f"tok-{self.issued}-XYZ"
        self.valid[token] = self.time.now + self.ttl
        return {"accessToken": token, "expirationTime": iso(self.time.now + self.ttl), "userId": 7}

    def token_ok(self, request: httpx.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        expires = self.valid.get(token)
        return token if expires is not None and self.time.now < expires else None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.item_delay and request.url.path.endswith("/items"):
            await asyncio.sleep(self.item_delay)  # keep concurrent requests in flight together
        path = request.url.path
        if path == "/v1/auth/accesstokenrequest":
            body = json.loads(request.content)
            self.login_bodies.append(body)
            if self.login_script:
                return httpx.Response(200, json=self.login_script.pop(0))
            if body.get("password") != PASSWORD:
                return httpx.Response(200, json={"errorText": "Incorrect username or password."})
            return httpx.Response(200, json=self.issue())
        token = self.token_ok(request)
        if path == "/v1/auth/renewaccesstoken":
            self.renew_calls += 1
            if token is None or self.renew_refused:
                return httpx.Response(401)
            return httpx.Response(200, json=self.issue())
        if token is None:
            return httpx.Response(401)
        self.item_tokens.append(token)
        ids = [int(i) for i in request.url.params["ids"].split(",")]
        return httpx.Response(200, json=[{"id": i, "userId": 1} for i in ids])


def settings(**changes: Any) -> Settings:
    base: dict[str, Any] = {
        "base_url": "https://demo.tradovateapi.com/v1",
        "username": "alice",
        "password": PASSWORD,
        "cid": "8",
        "secret": SECRET,
        "requests_per_second": 10_000,
        "renew_margin": 600,
    }
    base.update(changes)
    return Settings(**base)


def make(
    api: Callable[[httpx.Request], Coroutine[None, None, httpx.Response]],
    time: FakeTime,
    **changes: Any,
) -> TradovateClient:
    return TradovateClient(
        settings(**changes), transport=httpx.MockTransport(api), sleep=time.sleep, clock=time.clock
    )


async def test_login_sends_the_documented_body_once_and_lazily() -> None:
    time = FakeTime()
    api = FakeAuthApi(time)
    async with make(api, time) as client:
        await client.session_items([1, 2])
        await client.session_items([3])
        await client.login()  # already logged in: no second login
    assert len(api.login_bodies) == 1
    assert api.login_bodies[0] == {
        "name": "alice",
        "password": PASSWORD,
        "appId": "session-audit",
        "appVersion": "0.1.0",
        "deviceId": "session-audit",
        "cid": "8",
        "sec": SECRET,
    }
    assert client.counters.logins == 1


async def test_p_ticket_waits_p_time_and_resends_the_same_body_plus_ticket() -> None:
    time = FakeTime()
    api = FakeAuthApi(time)
    api.login_script = [{"p-ticket": "TICKET-1", "p-time": 17, "p-captcha": False}]
    async with make(api, time) as client:
        await client.login()
    assert [s for s in time.sleeps if s >= 0.01] == [17]  # (and pacing at 10,000/s)
    first, second = api.login_bodies
    assert second == {**first, "p-ticket": "TICKET-1"}
    assert client.counters.logins == 1


async def test_captcha_stops_at_once_with_a_clear_error() -> None:
    time = FakeTime()
    api = FakeAuthApi(time)
    api.login_script = [{"p-ticket": "T", "p-time": 5, "p-captcha": True}] * 3
    async with make(api, time) as client:
        with pytest.raises(CaptchaRequiredError, match="captcha required; retry in about an hour"):
            await client.session_items([1])
    assert len(api.login_bodies) == 1
    assert [s for s in time.sleeps if s >= 0.01] == []


async def test_endless_p_tickets_give_up_instead_of_looping() -> None:
    time = FakeTime()
    api = FakeAuthApi(time)
    api.login_script = [{"p-ticket": "T", "p-time": 1, "p-captcha": False}] * 50
    async with make(api, time) as client:
        with pytest.raises(AuthError, match="p-ticket"):
            await client.login()
    assert len(api.login_bodies) <= 10


async def test_bad_credentials_name_the_cause_without_the_password() -> None:
    time = FakeTime()
    api = FakeAuthApi(time)
    async with make(api, time, password="wrong-" + PASSWORD) as client:
        with pytest.raises(AuthError) as caught:
            await client.session_items([1])
    message = str(caught.value)
    assert "Incorrect username or password" in message
    assert "alice" in message
    assert PASSWORD not in message
    assert not isinstance(caught.value, CaptchaRequiredError)


async def test_an_error_text_echoing_the_password_is_scrubbed() -> None:
    time = FakeTime()
    api = FakeAuthApi(time)
    api.login_script = [{"errorText": f"password {PASSWORD} is locked; sec {SECRET}"}]
    async with make(api, time) as client:
        with pytest.raises(AuthError) as caught:
            await client.login()
    assert PASSWORD not in str(caught.value)
    assert SECRET not in str(caught.value)
    assert "is locked" in str(caught.value)


async def test_missing_credentials_are_a_config_error_before_any_request() -> None:
    time = FakeTime()
    api = FakeAuthApi(time)
    async with make(api, time, username="", password="") as client:
        with pytest.raises(ConfigError, match="SESSION_AUDIT_USERNAME"):
            await client.login()
    assert api.login_bodies == []


async def test_token_is_renewed_ahead_of_expiry_not_logged_in_again() -> None:
    time = FakeTime()
    api = FakeAuthApi(time, ttl=3600)
    # the margin is min(600 s, 15 % of the 3600 s life) = 540 s
    async with make(api, time, renew_margin=600) as client:
        await client.session_items([1])
        time.now += 3059  # 541 s before expiry: still fine
        await client.session_items([2])
        assert api.renew_calls == 0
        time.now += 2  # inside the margin
        await client.session_items([3])
    assert api.renew_calls == 1
    assert len(api.login_bodies) == 1
    assert api.item_tokens == ["tok-1-XYZ", "tok-1-XYZ", "tok-2-XYZ"]
    assert (client.counters.logins, client.counters.renewals) == (1, 1)
    assert client.token_expires_at == pytest.approx(time.now + 3600)


async def test_concurrent_401s_share_one_recovery_and_replay() -> None:
    time = FakeTime()
    api = FakeAuthApi(time, ttl=3600)
    async with make(api, time, renew_margin=0, concurrency=8, batch_size=1) as client:
        await client.login()
        api.valid["tok-1-XYZ"] = time.now  # the server drops the token early
        api.item_delay = 0.01
        rows = await client.session_items(list(range(1, 9)))
    assert sorted(r["id"] for r in rows) == list(range(1, 9))
    # One recovery for all eight: a single renewal attempt (refused: the token is gone) and a
    # single fresh login, whose token every replay reuses.
    assert api.renew_calls == 1
    assert len(api.login_bodies) == 2
    assert set(api.item_tokens) == {"tok-2-XYZ"}
    assert client.counters.retries["unauthorized"] == 8


async def test_expired_token_that_cannot_be_renewed_logs_in_again_once() -> None:
    time = FakeTime()
    api = FakeAuthApi(time, ttl=3600)
    async with make(api, time, renew_margin=0) as client:
        await client.session_items([1])
        api.renew_refused = True
        time.now += 4000  # past expiry: the next call gets 401, renewal is refused
        rows = await client.session_items([2])
    assert [r["id"] for r in rows] == [2]
    assert len(api.login_bodies) == 2
    assert client.counters.logins == 2


async def test_a_401_after_renewal_is_token_expired() -> None:
    time = FakeTime()

    async def api(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("accesstokenrequest") or request.url.path.endswith(
            "renewaccesstoken"
        ):
            return httpx.Response(
                200,
                json={"accessToken": "tok", "expirationTime": iso(time.now + 3600), "userId": 7},
            )
        return httpx.Response(401)

    async with make(api, time) as client:
        with pytest.raises(TokenExpiredError):
            await client.session_items([1])
