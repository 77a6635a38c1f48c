"""Simulator auth: errorText, p-ticket, captcha, expiry, renewal, the two-session limit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from session_audit.simulator import Simulator, SimulatorConfig

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
T0 = 1_800_000_000.0


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def make(clock: FakeClock, **changes: Any) -> Simulator:
    config = SimulatorConfig(users=30, sessions=300, seed=1, now=NOW, **changes)
    return Simulator(config, clock=clock, sleep=clock.sleep)


def login_body(sim: Simulator, **changes: Any) -> dict[str, Any]:
    creds = sim.credentials
    body: dict[str, Any] = {
        "name": creds.username,
        "password": creds.password,
        "appId": "session-audit",
        "appVersion": "0.1.0",
        "cid": creds.cid,
        "sec": creds.sec,
        "deviceId": "tests",
    }
    body.update(changes)
    return body


def client(sim: Simulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=sim.transport(), base_url=sim.base_url)


async def login(http: httpx.AsyncClient, sim: Simulator, **changes: Any) -> dict[str, Any]:
    response = await http.post("/auth/accesstokenrequest", json=login_body(sim, **changes))
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_gives_a_token_that_reads_data() -> None:
    clock = FakeClock()
    sim = make(clock)
    async with client(sim) as http:
        answer = await login(http, sim)
        assert answer["userId"] == sim.truth_users()[0]["id"]
        expires = datetime.fromisoformat(answer["expirationTime"].replace("Z", "+00:00"))
        assert expires.timestamp() == pytest.approx(T0 + 85 * 60)
        assert answer["expirationTime"].endswith("Z")
        me = await http.get("/auth/me", headers=bearer(answer["accessToken"]))
        assert me.status_code == 200 and me.json()["name"] == sim.credentials.username
        first_id = sim.truth_sessions()[0]["id"]
        items = await http.get(
            "/userSession/items",
            params={"ids": str(first_id)},
            headers=bearer(answer["accessToken"]),
        )
        assert items.status_code == 200 and items.json() == [sim.truth_sessions()[0]]
    assert sim.stats.logins == 1


@pytest.mark.parametrize(
    "changes",
    [{"password": "wrong"}, {"name": "someone-else"}, {"sec": "bad"}, {"cid": "999"}],
)
async def test_bad_credentials_answer_200_with_error_text(changes: dict[str, str]) -> None:
    sim = make(FakeClock())
    async with client(sim) as http:
        answer = await login(http, sim, **changes)
    assert answer["errorText"]
    assert "accessToken" not in answer
    assert "wrong" not in answer["errorText"] and "bad" not in answer["errorText"]
    assert sim.stats.logins == 0


async def test_data_endpoints_need_a_token() -> None:
    sim = make(FakeClock())
    async with client(sim) as http:
        for path in ("/userSession/items?ids=100001", "/user/list", "/auth/me"):
            assert (await http.get(path)).status_code == 401
            assert (await http.get(path, headers=bearer("made-up"))).status_code == 401
        assert (await http.get("/auth/renewaccesstoken", headers=bearer("x"))).status_code == 401


async def test_p_ticket_then_success_with_the_ticket() -> None:
    clock = FakeClock()
    sim = make(clock, p_ticket_logins=1, p_time=15)
    async with client(sim) as http:
        throttled = await login(http, sim)
        assert throttled["p-time"] == 15 and throttled["p-captcha"] is False
        assert throttled["p-ticket"] and "accessToken" not in throttled
        # resending before the wait is over: another ticket, no token
        early = await login(http, sim, **{"p-ticket": throttled["p-ticket"]})
        assert "accessToken" not in early and early["p-ticket"] != throttled["p-ticket"]
        missing = await login(http, sim)  # no ticket at all during the wait
        assert "accessToken" not in missing and missing["p-ticket"]
        await clock.sleep(15)
        # a wrong ticket after the wait: another ticket
        forged = await login(http, sim, **{"p-ticket": "forged"})
        assert "accessToken" not in forged and forged["p-ticket"]
        await clock.sleep(15)
        # the right ticket with a changed body: another ticket (bound to the new body)
        changed = await login(http, sim, deviceId="other", **{"p-ticket": forged["p-ticket"]})
        assert "accessToken" not in changed
        await clock.sleep(15)
        ok = await login(http, sim, deviceId="other", **{"p-ticket": changed["p-ticket"]})
        assert ok["accessToken"]
    assert sim.stats.logins == 1
    assert sim.stats.p_tickets == 5


async def test_p_ticket_simple_flow() -> None:
    clock = FakeClock()
    sim = make(clock, p_ticket_logins=2, p_time=3)
    async with client(sim) as http:
        first = await login(http, sim)
        await clock.sleep(first["p-time"])
        second = await login(http, sim, **{"p-ticket": first["p-ticket"]})
        assert "p-ticket" in second  # two throttled attempts were configured
        await clock.sleep(second["p-time"])
        ok = await login(http, sim, **{"p-ticket": second["p-ticket"]})
        assert ok["accessToken"]
        # later logins are not throttled
        assert (await login(http, sim))["accessToken"]
    assert sim.stats.p_tickets == 2


async def test_captcha_never_lets_a_program_in() -> None:
    clock = FakeClock()
    sim = make(clock, captcha=True, p_time=5)
    async with client(sim) as http:
        answer = await login(http, sim)
        for _ in range(3):
            assert answer["p-captcha"] is True and "accessToken" not in answer
            await clock.sleep(answer["p-time"])
            answer = await login(http, sim, **{"p-ticket": answer["p-ticket"]})
    assert sim.stats.logins == 0


async def test_token_expires_by_the_clock_and_renewal_extends() -> None:
    clock = FakeClock()
    sim = make(clock, token_ttl=600)
    async with client(sim) as http:
        token = (await login(http, sim))["accessToken"]
        clock.now += 500
        renewed = (await http.get("/auth/renewaccesstoken", headers=bearer(token))).json()
        new_token = renewed["accessToken"]
        expires = datetime.fromisoformat(renewed["expirationTime"].replace("Z", "+00:00"))
        assert expires.timestamp() == pytest.approx(T0 + 500 + 600)
        clock.now += 200  # the first token is now past its 600 s; the renewed one is not
        assert (await http.get("/auth/me", headers=bearer(token))).status_code == 401
        assert (await http.get("/auth/me", headers=bearer(new_token))).status_code == 200
        assert (await http.get("/auth/renewaccesstoken", headers=bearer(token))).status_code == 401
        clock.now += 600
        assert (await http.get("/auth/me", headers=bearer(new_token))).status_code == 401
    assert sim.stats.renewals == 1


async def test_expire_tokens_makes_every_token_401() -> None:
    sim = make(FakeClock())
    async with client(sim) as http:
        token = (await login(http, sim))["accessToken"]
        assert (await http.get("/user/list", headers=bearer(token))).status_code == 200
        sim.expire_tokens()
        assert (await http.get("/user/list", headers=bearer(token))).status_code == 401
        assert (await http.get("/auth/renewaccesstoken", headers=bearer(token))).status_code == 401


async def test_third_login_revokes_the_oldest_session() -> None:
    sim = make(FakeClock())
    async with client(sim) as http:
        tokens = [(await login(http, sim))["accessToken"] for _ in range(3)]
        status = [(await http.get("/auth/me", headers=bearer(t))).status_code for t in tokens]
    assert status == [401, 200, 200]
    assert sim.auth.live_sessions() == 2


async def test_user_list_and_session_stats() -> None:
    sim = make(FakeClock())
    async with client(sim) as http:
        token = (await login(http, sim))["accessToken"]
        users = (await http.get("/user/list", headers=bearer(token))).json()
        assert users == sim.truth_users()
        ids = [u["id"] for u in users[:5]]
        stats = await http.get(
            "/userSessionStats/ldeps",
            params={"masterids": ",".join(map(str, [*ids, 1]))},
            headers=bearer(token),
        )
    answer = stats.json()
    assert [s["id"] for s in answer] == ids  # unknown user 1 left out
    for row in answer:
        assert row["lastSessionTime"].endswith("Z")
        assert isinstance(row["failedPasswords"], int)
    sessions = [s for s in sim.truth_sessions() if s.get("userId") == ids[1]]
    if sessions:
        latest = max(s["startTime"] for s in sessions if s["startTime"][:2] == "20")
        assert answer[1]["lastSessionTime"] == latest
